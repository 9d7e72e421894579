//! `Table/.definition`: a table's definition in DataJoint's syntax, byte for byte what the
//! client's `describe()` (datajoint 0.14.10) returns for it, rendered from the catalog. Pure logic.
//!
//! The rules, as the client reads a table back (`heading.py`, `table.describe`):
//! * the table comment, if any, on a first `# comment` line;
//! * attributes in column order (hidden `_…` ones left out), `---` before the first one that is
//!   not in the primary key;
//! * a foreign-key attribute is not listed itself: the key is written once all its attributes have
//!   been seen, as `-> Parent` (class name; a table of another schema by its full name), or
//!   `-> Parent.proj(new="old")` when columns are renamed; an index on exactly its columns adds
//!   its properties: `-> [unique, nullable] Parent`;
//! * other attributes as `"%-20s : %-28s %s"` of `name` or `name=default`, the type, and
//!   `# comment`: integer and float display widths are dropped (`int(11)` → `int`), a `:type:`
//!   comment prefix gives the DataJoint type (`uuid`, `attach`, `blob@store`…), `auto_increment`
//!   is appended; defaults of string, enum and date/time columns are double-quoted (all but
//!   `CURRENT_TIMESTAMP`, which MariaDB spells `current_timestamp()`), nullable ones are `null`;
//! * the remaining secondary indexes as `UNIQUE INDEX (a, b)` / `INDEX (a)`; these include the
//!   indexes InnoDB adds for the foreign keys of external attributes (`blob@store`…), which the
//!   client does not count as dependencies (`INDEX (b1)` for `b1 : blob@shared`).

use std::collections::HashSet;

use crate::catalog::{ColumnDef, SchemaCatalog, TableInfo};

/// The name of the file in each table folder.
pub const FILE_NAME: &str = ".definition";

/// The definition of `table` (a table of `catalog`), as `describe()` returns it.
pub fn render(catalog: &SchemaCatalog, table: &TableInfo) -> String {
    let Some(def) = catalog.definitions.get(&table.name) else {
        return String::new();
    };
    let mut out = String::new();
    if !def.comment.is_empty() {
        out.push_str(&format!("# {}\n", def.comment));
    }
    // Secondary indexes by their columns (a later index on the same columns replaces an earlier
    // one in place, as in the client's dict).
    let mut indexes: Vec<(Vec<&str>, bool, bool)> = Vec::new();
    for ix in &def.indexes {
        let columns: Vec<&str> = ix.columns.iter().map(String::as_str).collect();
        match indexes.iter_mut().find(|(c, _, _)| *c == columns) {
            Some(slot) => *slot = (columns, ix.unique, ix.nullable),
            None => indexes.push((columns, ix.unique, ix.nullable)),
        }
    }
    let parents: Vec<(String, &crate::catalog::ForeignKey)> = def
        .foreign_keys
        .iter()
        .map(|fk| {
            let name = catalog
                .by_table_name(&fk.referenced_table)
                .filter(|_| fk.referenced_schema == catalog.schema)
                .map(|t| t.class_name.clone())
                .unwrap_or_else(|| format!("`{}`.`{}`", fk.referenced_schema, fk.referenced_table));
            (name, fk)
        })
        .collect();
    let mut in_key = true;
    let mut seen: HashSet<&str> = HashSet::new();
    for column in def.columns.iter().filter(|c| !c.name.starts_with('_')) {
        if in_key && !column.in_key {
            out.push_str("---\n");
            in_key = false;
        }
        seen.insert(&column.name);
        let mut include = true;
        for (parent, fk) in &parents {
            if !fk.columns.iter().any(|(c, _)| *c == column.name) {
                continue;
            }
            include = false;
            if !fk.columns.iter().all(|(c, _)| seen.contains(c.as_str())) {
                continue;
            }
            let columns: Vec<&str> = fk.columns.iter().map(|(c, _)| c.as_str()).collect();
            let props = match indexes.iter().position(|(c, _, _)| *c == columns) {
                Some(i) => {
                    let (_, unique, nullable) = indexes.remove(i);
                    let names: Vec<&str> = [(unique, "unique"), (nullable, "nullable")]
                        .into_iter()
                        .filter_map(|(on, name)| on.then_some(name))
                        .collect();
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", names.join(", "))
                    }
                }
                None => String::new(),
            };
            if fk.columns.iter().all(|(c, r)| c == r) {
                out.push_str(&format!("->{props} {parent}\n"));
            } else {
                let renames: Vec<String> = fk
                    .columns
                    .iter()
                    .filter(|(c, r)| c != r)
                    .map(|(c, r)| format!("{c}=\"{r}\""))
                    .collect();
                out.push_str(&format!("->{props} {parent}.proj({})\n", renames.join(",")));
            }
        }
        if include {
            out.push_str(&attribute_line(column));
        }
    }
    for (columns, unique, _) in indexes {
        out.push_str(&format!(
            "{}INDEX ({})\n",
            if unique { "UNIQUE " } else { "" },
            columns.join(", ")
        ));
    }
    out
}

/// One attribute line: `name[=default] : type # comment`, padded as the client pads it.
fn attribute_line(column: &ColumnDef) -> String {
    let sql_type = column.column_type.to_ascii_lowercase();
    let mut ty = column.column_type.clone();
    if is_integer(&sql_type) || type_is(&sql_type, &["double", "float", "real"], Parens::Optional) {
        ty = strip_display_width(&ty);
    }
    let mut comment = column.comment.as_str();
    if let Some((special, rest)) = special_type(&column.comment) {
        ty = special.to_string();
        comment = rest;
    }
    if column.auto_increment {
        ty.push_str(" auto_increment");
    }
    let is_string = type_is(&sql_type, &["enum"], Parens::Required)
        || type_is(
            &sql_type,
            &["date", "datetime", "time", "timestamp", "year"],
            Parens::Optional,
        )
        || type_is(&sql_type, &["varchar", "char"], Parens::Required)
        // PostgreSQL's names (`character varying(16)`, `timestamp(3) without time zone`).
        || sql_type.starts_with("character")
        || sql_type.starts_with("timestamp");
    let default = if column.nullable {
        Some("null".to_string())
    } else {
        match &column.default {
            Some(d) if is_string && d != "CURRENT_TIMESTAMP" => Some(format!("\"{d}\"")),
            other => other.clone(),
        }
    };
    let name = match default {
        Some(d) => format!("{}={d}", column.name),
        None => column.name.clone(),
    };
    let comment = if comment.is_empty() {
        String::new()
    } else {
        format!("# {comment}")
    };
    format!("{name:<20} : {ty:<28} {comment}\n")
}

/// The client's INTEGER pattern, matched at the start: `(tiny|small|medium|big|)int…` or `serial`.
fn is_integer(ty: &str) -> bool {
    ["int", "tinyint", "smallint", "mediumint", "bigint"]
        .iter()
        .any(|base| ty.starts_with(base))
        || ty == "serial"
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parens {
    Optional,
    Required,
}

/// Whether `ty` (lowercase) is `base\s*\(.+\)` (parentheses optional or required), optionally
/// followed by ` unsigned`, and nothing else: the client's FLOAT, ENUM, TEMPORAL and STRING
/// patterns.
fn type_is(ty: &str, bases: &[&str], parens: Parens) -> bool {
    let tail_ok = |t: &str| {
        t.is_empty() || (t.starts_with(char::is_whitespace) && t.trim_start() == "unsigned")
    };
    bases.iter().any(|base| {
        let Some(rest) = ty.strip_prefix(base) else {
            return false;
        };
        if parens == Parens::Optional && tail_ok(rest) {
            return true;
        }
        let Some(inner) = rest.trim_start().strip_prefix('(') else {
            return false;
        };
        inner
            .char_indices()
            .any(|(i, c)| c == ')' && i > 0 && tail_ok(&inner[i + 1..]))
    })
}

/// `int(11) unsigned` → `int unsigned`: the first `(digits)` removed.
fn strip_display_width(ty: &str) -> String {
    let bytes = ty.as_bytes();
    let mut from = 0;
    while let Some(open) = ty[from..].find('(').map(|i| i + from) {
        let digits = bytes[open + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 && bytes.get(open + 1 + digits) == Some(&b')') {
            return format!("{}{}", &ty[..open], &ty[open + digits + 2..]);
        }
        from = open + 1;
    }
    ty.to_string()
}

/// A `:type:comment` column comment → (type, comment up to the first line break).
fn special_type(comment: &str) -> Option<(&str, &str)> {
    let rest = comment.strip_prefix(':')?;
    let end = rest.find(':')?;
    if end == 0 {
        return None;
    }
    let after = &rest[end + 1..];
    Some((&rest[..end], after.split('\n').next().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{build_catalog, RawColumn, RawForeignKeyColumn, RawIndexColumn};

    /// (name, type, nullable, default as information_schema has it, comment, extra)
    type Col<'a> = (&'a str, &'a str, bool, Option<&'a str>, &'a str, &'a str);

    struct Schema {
        columns: Vec<RawColumn>,
        indexes: Vec<RawIndexColumn>,
        fks: Vec<RawForeignKeyColumn>,
    }

    impl Schema {
        fn new() -> Schema {
            Schema {
                columns: vec![],
                indexes: vec![],
                fks: vec![],
            }
        }

        fn table(mut self, name: &str, comment: &str, key: &[&str], cols: &[Col]) -> Schema {
            for (n, ty, nullable, default, col_comment, extra) in cols {
                self.columns.push(RawColumn {
                    table: name.into(),
                    name: (*n).into(),
                    column_type: (*ty).into(),
                    nullable: *nullable,
                    has_default: default.is_some(),
                    comment: (*col_comment).into(),
                    default: default.map(str::to_string),
                    extra: (*extra).into(),
                    table_comment: comment.into(),
                    enum_type: None,
                });
            }
            self.index(name, "PRIMARY", true, key)
        }

        fn index(mut self, table: &str, index: &str, unique: bool, cols: &[&str]) -> Schema {
            for (i, c) in cols.iter().enumerate() {
                let nullable = self
                    .columns
                    .iter()
                    .any(|r| r.table == table && r.name == *c && r.nullable);
                self.indexes.push(RawIndexColumn {
                    table: table.into(),
                    index: index.into(),
                    seq: i as u32 + 1,
                    column: (*c).into(),
                    unique,
                    nullable,
                });
            }
            self
        }

        fn fk(mut self, table: &str, name: &str, parent: &str, cols: &[(&str, &str)]) -> Schema {
            for (i, (c, r)) in cols.iter().enumerate() {
                self.fks.push(RawForeignKeyColumn {
                    table: table.into(),
                    constraint: name.into(),
                    position: i as u32 + 1,
                    column: (*c).into(),
                    referenced_schema: "lab".into(),
                    referenced_table: parent.into(),
                    referenced_column: (*r).into(),
                });
            }
            self
        }

        fn render(self, class: &str) -> String {
            let catalog = build_catalog("lab", self.columns, self.indexes, self.fks);
            render(&catalog, catalog.by_class(class).unwrap())
        }
    }

    const NN: bool = false;

    #[test]
    fn key_attributes_defaults_and_comments() {
        let text = Schema::new()
            .table(
                "subject",
                "experimental subject",
                &["subject_id"],
                &[
                    ("subject_id", "int(11)", NN, None, "", ""),
                    ("subject_name", "varchar(64)", NN, None, "", ""),
                    ("sex", "enum('M','F','U')", NN, Some("'U'"), "", ""),
                    ("dob", "date", true, Some("NULL"), "", ""),
                    ("weight", "float", true, Some("NULL"), "grams", ""),
                    (
                        "note",
                        "varchar(32)",
                        NN,
                        Some("'say ''hi'''"),
                        "a \"quoted\" note",
                        "",
                    ),
                    ("count", "smallint(5) unsigned", NN, Some("0"), "", ""),
                    ("ts", "timestamp", NN, Some("current_timestamp()"), "", ""),
                    ("_hidden", "int(11)", NN, None, "", ""),
                ],
            )
            .render("Subject");
        assert_eq!(
            text,
            "# experimental subject\n\
             subject_id           : int                          \n\
             ---\n\
             subject_name         : varchar(64)                  \n\
             sex=\"U\"              : enum('M','F','U')            \n\
             dob=null             : date                         \n\
             weight=null          : float                        # grams\n\
             note=\"say 'hi'\"      : varchar(32)                  # a \"quoted\" note\n\
             count=0              : smallint unsigned            \n\
             ts=\"current_timestamp()\" : timestamp                    \n"
        );
    }

    #[test]
    fn special_types_and_auto_increment() {
        let text = Schema::new()
            .table(
                "#thing",
                "",
                &["thing_id", "item"],
                &[
                    ("thing_id", "int(11)", NN, None, "", "auto_increment"),
                    ("item", "binary(16)", NN, None, ":uuid:unique id", ""),
                    ("doc", "longblob", NN, None, ":attach:a file", ""),
                    ("ext", "binary(16)", true, Some("NULL"), ":blob@store:", ""),
                    ("flag", "tinyint(1)", NN, Some("1"), "", ""),
                    ("ratio", "double(5,2)", NN, None, "", ""),
                ],
            )
            .render("Thing");
        assert_eq!(
            text,
            "thing_id             : int auto_increment           \n\
             item                 : uuid                         # unique id\n\
             ---\n\
             doc                  : attach                       # a file\n\
             ext=null             : blob@store                   \n\
             flag=1               : tinyint                      \n\
             ratio                : double(5,2)                  \n"
        );
    }

    #[test]
    fn foreign_keys_renamed_nullable_and_indexes() {
        let text = Schema::new()
            .table(
                "subject",
                "",
                &["subject_id"],
                &[("subject_id", "int(11)", NN, None, "", "")],
            )
            .table(
                "#rig",
                "",
                &["rig"],
                &[("rig", "varchar(8)", NN, None, "", "")],
            )
            .table(
                "cross",
                "pairs",
                &["subject_id", "mother"],
                &[
                    ("subject_id", "int(11)", NN, None, "", ""),
                    ("mother", "int(11)", NN, None, "", ""),
                    ("rig", "varchar(8)", true, Some("NULL"), "", ""),
                    ("label", "varchar(8)", NN, None, "", ""),
                    ("a", "int(11)", NN, None, "", ""),
                    ("b", "int(11)", NN, None, "", ""),
                ],
            )
            .fk(
                "cross",
                "cross_ibfk_1",
                "subject",
                &[("subject_id", "subject_id")],
            )
            .fk(
                "cross",
                "cross_ibfk_2",
                "subject",
                &[("mother", "subject_id")],
            )
            .fk("cross", "cross_ibfk_3", "#rig", &[("rig", "rig")])
            .index("cross", "mother", false, &["mother"])
            .index("cross", "label", true, &["label"])
            .index("cross", "rig", true, &["rig"])
            .index("cross", "a", false, &["a", "b"])
            .render("Cross");
        assert_eq!(
            text,
            "# pairs\n\
             -> Subject\n\
             -> Subject.proj(mother=\"subject_id\")\n\
             ---\n\
             -> [unique, nullable] Rig\n\
             label                : varchar(8)                   \n\
             a                    : int                          \n\
             b                    : int                          \n\
             UNIQUE INDEX (label)\n\
             INDEX (a, b)\n"
        );
    }

    #[test]
    fn overlapping_keys_are_written_where_they_complete() {
        // A part table with `-> master` and `-> Session.Trial`, which share the master's key.
        let text = Schema::new()
            .table("session", "", &["s"], &[("s", "int(11)", NN, None, "", "")])
            .table(
                "session__trial",
                "",
                &["s", "t"],
                &[
                    ("s", "int(11)", NN, None, "", ""),
                    ("t", "int(11)", NN, None, "", ""),
                ],
            )
            .table(
                "__summary",
                "",
                &["s"],
                &[("s", "int(11)", NN, None, "", "")],
            )
            .table(
                "__summary__stat",
                "",
                &["s", "t"],
                &[
                    ("s", "int(11)", NN, None, "", ""),
                    ("t", "int(11)", NN, None, "", ""),
                    ("d", "double", NN, None, "", ""),
                ],
            )
            .fk(
                "__summary__stat",
                "__summary__stat_ibfk_1",
                "__summary",
                &[("s", "s")],
            )
            .fk(
                "__summary__stat",
                "__summary__stat_ibfk_2",
                "session__trial",
                &[("s", "s"), ("t", "t")],
            )
            .render("Summary.Stat");
        assert_eq!(
            text,
            "-> Summary\n\
             -> Session.Trial\n\
             ---\n\
             d                    : double                       \n"
        );
    }

    #[test]
    fn keys_of_other_schemas_and_key_only_tables() {
        let mut schema = Schema::new().table(
            "tag",
            "",
            &["owner"],
            &[("owner", "varchar(16)", NN, None, "", "")],
        );
        schema.fks.push(RawForeignKeyColumn {
            table: "tag".into(),
            constraint: "tag_ibfk_1".into(),
            position: 1,
            column: "owner".into(),
            referenced_schema: "people".into(),
            referenced_table: "#owner".into(),
            referenced_column: "owner".into(),
        });
        assert_eq!(schema.render("Tag"), "-> `people`.`#owner`\n");
    }

    #[test]
    fn type_patterns() {
        assert!(is_integer("bigint(20) unsigned"));
        assert!(!is_integer("point"));
        assert_eq!(strip_display_width("int(10) unsigned"), "int unsigned");
        assert_eq!(strip_display_width("decimal(6,2)"), "decimal(6,2)");
        assert!(type_is(
            "datetime(3)",
            &["date", "datetime"],
            Parens::Optional
        ));
        assert!(!type_is("text", &["varchar", "char"], Parens::Required));
        assert!(type_is("char(8)", &["varchar", "char"], Parens::Required));
        assert!(!type_is("char", &["varchar", "char"], Parens::Required));
        assert!(type_is(
            "double(5,2) unsigned",
            &["double"],
            Parens::Optional
        ));
        assert_eq!(special_type(":blob@s:x\ny"), Some(("blob@s", "x")));
        assert_eq!(special_type("::x"), None);
        assert_eq!(special_type("plain"), None);
    }
}
