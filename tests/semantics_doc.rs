//! `doc/SEMANTICS.md` names, for each claim, the tests that assert it (`tests/<file>.rs::<test>`
//! or `src/<file>.rs::<module>::<test>`). This fails when a named test does not exist (its file is
//! missing, has no `fn <test>(`, or that function is not a `#[test]`), when a claim (a row of a
//! table whose last column is `tests`) names no test and is not marked `untested`, and when the
//! document names fewer than `MIN_REFERENCES` tests (an emptied document). The README's file-tool
//! table is held to the same rules. Reads files only: no services needed.

use std::collections::BTreeSet;
use std::path::Path;

/// Fewer distinct tests than this named in SEMANTICS.md: the document was emptied or mangled.
const MIN_REFERENCES: usize = 30;

/// A test named in a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    /// `tests/tools.rs`, `src/rowname.rs`: relative to the crate root.
    file: String,
    /// The modules between the file and the test (`tests` in `src/rowname.rs::tests::escapes`).
    modules: Vec<String>,
    name: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        for m in &self.modules {
            write!(f, "::{m}")?;
        }
        write!(f, "::{}", self.name)
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Every `tests/<file>.rs::<name>` and `src/<path>.rs::<module>::…::<name>` in `text`, in order;
/// a word that starts like one but does not parse (`tests/x.rs::`, `src/a.rs::b-c`) is an error.
fn references(text: &str) -> Result<Vec<Reference>, Vec<String>> {
    let mut found = Vec::new();
    let mut bad = Vec::new();
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | ':' | '-');
    for word in text.split(|c: char| !is_word(c)) {
        // Punctuation that ends a sentence or a list is not part of the name.
        let word = word.trim_end_matches('.');
        if !(word.starts_with("tests/") || word.starts_with("src/")) {
            continue;
        }
        let Some((path, rest)) = word.split_once(".rs::") else {
            continue; // a file mentioned, not a test
        };
        let file = format!("{path}.rs");
        let mut parts: Vec<&str> = rest.split("::").collect();
        let name = parts.pop().unwrap_or_default();
        let path_ok = path
            .split('/')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !path_ok || !is_identifier(name) || !parts.iter().all(|m| is_identifier(m)) {
            bad.push(format!("`{word}` is not a test reference (`tests/<file>.rs::<name>` or `src/<path>.rs::<module>::<name>`)"));
            continue;
        }
        found.push(Reference {
            file,
            modules: parts.iter().map(|m| m.to_string()).collect(),
            name: name.to_string(),
        });
    }
    if bad.is_empty() {
        Ok(found)
    } else {
        Err(bad)
    }
}

/// Why `r` does not name a test under `root`, or None when it does: the file exists, declares the
/// modules in order, and has `fn <name>(` (also inside `proptest!`) marked `#[test]`.
fn missing(root: &Path, r: &Reference) -> Option<String> {
    let Ok(source) = std::fs::read_to_string(root.join(&r.file)) else {
        return Some(format!("{r}: {} does not exist", r.file));
    };
    let mut from = 0;
    for m in &r.modules {
        let at = [format!("mod {m} {{"), format!("mod {m}{{")]
            .iter()
            .filter_map(|pattern| source[from..].find(pattern.as_str()))
            .min();
        match at {
            Some(at) => from += at,
            None => return Some(format!("{r}: {} has no `mod {m}`", r.file)),
        }
    }
    let pattern = format!("fn {}(", r.name);
    let mut at = from;
    let mut found_fn = false;
    while let Some(i) = source[at..].find(&pattern) {
        let i = at + i;
        at = i + pattern.len();
        // A whole word: not the end of `fn xname(`'s name (impossible) nor `myfn name(`.
        if i > 0 && source[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        found_fn = true;
        // What precedes `fn` on its own line (indentation, `pub`), and the attributes and
        // comments right above it, which must include a test attribute.
        let before = &source[..i];
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        let own_line = before[line_start..].trim();
        let marked = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .take_while(|l| l.starts_with("#[") || l.starts_with("//") || l.is_empty())
            .any(|l| l.starts_with("#[") && l.contains("test"));
        if marked && (own_line.is_empty() || own_line == "pub") {
            return None;
        }
    }
    Some(if found_fn {
        format!("{r}: `fn {}(` in {} is not a #[test]", r.name, r.file)
    } else {
        format!("{r}: {} has no `fn {}(`", r.file, r.name)
    })
}

/// Rows of tables whose last column is `tests` that name no test and are not marked `untested`.
fn unmarked_claims(text: &str) -> Vec<String> {
    let cells = |line: &str| -> Vec<String> {
        let line = line.replace("\\|", "");
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner.split('|').map(|c| c.trim().to_string()).collect()
    };
    let mut out = Vec::new();
    let mut claims_table = false;
    let mut row_in_table = 0;
    for (n, line) in text.lines().enumerate() {
        if !line.trim_start().starts_with('|') {
            row_in_table = 0;
            continue;
        }
        row_in_table += 1;
        if row_in_table == 1 {
            claims_table = cells(line).last().is_some_and(|c| c == "tests");
            continue;
        }
        if row_in_table == 2 || !claims_table {
            continue; // the separator row, or a table of something else
        }
        let last = cells(line).pop().unwrap_or_default();
        let named = references(&last).map(|r| !r.is_empty()).unwrap_or(true);
        if !named && !last.contains("untested") {
            let claim: String = line.chars().take(100).collect();
            out.push(format!(
                "line {}: names no test and is not marked `untested`: {claim}",
                n + 1
            ));
        }
    }
    out
}

/// Everything wrong with the document `text` (named `what`), checked against the crate at `root`;
/// and the distinct tests it names.
fn check(root: &Path, what: &str, text: &str) -> (Vec<String>, BTreeSet<Reference>) {
    let mut problems = Vec::new();
    let refs: BTreeSet<Reference> = match references(text) {
        Ok(refs) => refs.into_iter().collect(),
        Err(bad) => {
            problems.extend(bad.into_iter().map(|b| format!("{what}: {b}")));
            BTreeSet::new()
        }
    };
    for r in &refs {
        if let Some(why) = missing(root, r) {
            problems.push(format!("{what}: {why}"));
        }
    }
    problems.extend(
        unmarked_claims(text)
            .into_iter()
            .map(|p| format!("{what} {p}")),
    );
    (problems, refs)
}

fn root() -> std::path::PathBuf {
    // At run time first: the compiled-in path is stale when another checkout shares the target folder.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

#[test]
fn every_test_named_in_semantics_md_exists() {
    let path = root().join("doc/SEMANTICS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut problems, refs) = check(&root(), "doc/SEMANTICS.md", &text);
    if refs.len() < MIN_REFERENCES {
        problems.push(format!(
            "doc/SEMANTICS.md names {} distinct tests, fewer than {MIN_REFERENCES}",
            refs.len()
        ));
    }
    // The README's file-tool table names tests in the same form.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    problems.extend(check(&root(), "README.md", &readme).0);
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_made_up_name_is_reported() {
    let doc = "\
Intro naming `tests/semantics_doc.rs::a_made_up_name_is_reported` and `tests/tools.rs` (a file).

| claim | tests |
|---|---|
| real | `tests/semantics_doc.rs::every_test_named_in_semantics_md_exists`, `src/rowname.rs::tests::escapes` |
| made up | `tests/semantics_doc.rs::no_such_test_anywhere` |
| no file | tests/no_such_file.rs::anything. |
| no module | `src/rowname.rs::nope::escapes` |
| a helper | `tests/semantics_doc.rs::references` |
| said so | untested |
| forgot | nothing here |

| other table | meaning |
|---|---|
| not a claim | no tests needed |
";
    let (problems, refs) = check(&root(), "doc", doc);
    let names: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        names,
        [
            "src/rowname.rs::nope::escapes",
            "src/rowname.rs::tests::escapes",
            "tests/no_such_file.rs::anything",
            "tests/semantics_doc.rs::a_made_up_name_is_reported",
            "tests/semantics_doc.rs::every_test_named_in_semantics_md_exists",
            "tests/semantics_doc.rs::no_such_test_anywhere",
            "tests/semantics_doc.rs::references",
        ]
    );
    let text = problems.join("\n");
    // (`fn` written apart, so that this file does not itself hold `fn <made-up name>(`.)
    let fn_ = "fn";
    for reported in [
        format!("tests/semantics_doc.rs::no_such_test_anywhere: tests/semantics_doc.rs has no `{fn_} no_such_test_anywhere(`"),
        "tests/no_such_file.rs::anything: tests/no_such_file.rs does not exist".to_string(),
        "src/rowname.rs::nope::escapes: src/rowname.rs has no `mod nope`".to_string(),
        format!("tests/semantics_doc.rs::references: `{fn_} references(` in tests/semantics_doc.rs is not a #[test]"),
        "names no test and is not marked `untested`: | forgot |".to_string(),
    ] {
        assert!(text.contains(reported.as_str()), "{reported:?} not in:\n{text}");
    }
    assert_eq!(problems.len(), 5, "{text}");

    // A word shaped like a reference that does not parse is reported too.
    let (problems, _) = check(&root(), "doc", "see `tests/tools.rs::` and `src/a.rs::b-c`");
    assert_eq!(problems.len(), 2, "{problems:?}");
}
