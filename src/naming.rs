//! DataJoint table names ↔ class names and tiers (spec §4.1). Pure logic.

/// The table tier, decided from the MySQL table name's prefix the way DataJoint does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Manual,
    Lookup,
    Imported,
    Computed,
    Part,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Manual => "Manual",
            Tier::Lookup => "Lookup",
            Tier::Imported => "Imported",
            Tier::Computed => "Computed",
            Tier::Part => "Part",
        }
    }
}

/// `[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*`: DataJoint's snake_case base name.
fn is_base(s: &str) -> bool {
    !s.is_empty()
        && s.split('_').all(|word| {
            let mut chars = word.chars();
            matches!(chars.next(), Some('a'..='z'))
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Splits a tier prefix (`#`, `_`, `__`) off a master name, returning (tier, base).
fn master_tier(name: &str) -> Option<(Tier, &str)> {
    if is_base(name) {
        Some((Tier::Manual, name))
    } else if let Some(base) = name.strip_prefix('#').filter(|b| is_base(b)) {
        Some((Tier::Lookup, base))
    } else if let Some(base) = name.strip_prefix("__").filter(|b| is_base(b)) {
        Some((Tier::Computed, base))
    } else if let Some(base) = name.strip_prefix('_').filter(|b| is_base(b)) {
        Some((Tier::Imported, base))
    } else {
        None
    }
}

/// Classifies a MySQL table name. `None` for hidden/system tables (`~log`, `~jobs`,
/// `~external_*`) and for anything else DataJoint would not treat as a user table.
/// Returns the tier and the class name (`Master.Part` for part tables).
pub fn classify_table(name: &str) -> Option<(Tier, String)> {
    if let Some((tier, base)) = master_tier(name) {
        return Some((tier, to_camel_case(base)));
    }
    // Part: `<master incl. tier prefix>__<base>`. The master itself has no `__` inside its base,
    // so the split point is the last `__` that leaves a valid master.
    let mut search_end = name.len();
    while let Some(pos) = name[..search_end].rfind("__") {
        let (master, part) = (&name[..pos], &name[pos + 2..]);
        if is_base(part) {
            if let Some((_, master_base)) = master_tier(master) {
                return Some((
                    Tier::Part,
                    format!("{}.{}", to_camel_case(master_base), to_camel_case(part)),
                ));
            }
        }
        if pos == 0 {
            break;
        }
        search_end = pos;
    }
    None
}

/// `session_type` → `SessionType` (DataJoint's `to_camel_case`).
pub fn to_camel_case(base: &str) -> String {
    let mut out = String::with_capacity(base.len());
    let mut upper_next = true;
    for c in base.chars() {
        if c == '_' || !(c.is_alphanumeric()) {
            upper_next = true;
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str) -> Option<(Tier, String)> {
        classify_table(name)
    }

    #[test]
    fn tiers_and_class_names() {
        assert_eq!(class("test"), Some((Tier::Manual, "Test".into())));
        assert_eq!(class("#web_image"), Some((Tier::Lookup, "WebImage".into())));
        assert_eq!(
            class("_original_file"),
            Some((Tier::Imported, "OriginalFile".into()))
        );
        assert_eq!(class("__slide"), Some((Tier::Computed, "Slide".into())));
        assert_eq!(
            class("session__trial"),
            Some((Tier::Part, "Session.Trial".into()))
        );
        assert_eq!(
            class("#rig__channel"),
            Some((Tier::Part, "Rig.Channel".into()))
        );
        assert_eq!(class("_scan__unit"), Some((Tier::Part, "Scan.Unit".into())));
        assert_eq!(
            class("__spikes__unit_info"),
            Some((Tier::Part, "Spikes.UnitInfo".into()))
        );
        assert_eq!(
            class("table2_value"),
            Some((Tier::Manual, "Table2Value".into()))
        );
    }

    #[test]
    fn hidden_and_foreign_tables_are_not_user_tables() {
        for name in [
            "~log",
            "~jobs",
            "~external_local",
            "Upper",
            "bad-name",
            "",
            "___x",
            "a__",
        ] {
            assert_eq!(class(name), None, "{name}");
        }
    }

    #[test]
    fn camel_case_rules() {
        assert_eq!(to_camel_case("this_is_mixed"), "ThisIsMixed");
        assert_eq!(to_camel_case("a1_b"), "A1B");
        assert_eq!(to_camel_case("session_analysis"), "SessionAnalysis");
    }
}
