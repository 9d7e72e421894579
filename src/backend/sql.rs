//! What the SQL backends (MySQL, PostgreSQL) build alike: the nested `IN` restriction that
//! selects a row's dependents and the grouping of foreign-key columns into `Dependent`s. The
//! dialects differ only in how identifiers are quoted and how the root row's key is matched,
//! which each backend passes in.

use super::{DependencyPath, Dependent};
use crate::catalog::TableInfo;

/// The restriction selecting, in the last table of `path` (alias `top`; the root table when
/// `path` is empty), the rows that depend through its foreign keys on the root row: one nested
/// `IN (SELECT …)` per step, innermost the root row's key condition, which `root_key(alias)`
/// builds with its parameters.
pub fn dependents_restriction<P>(
    root: &TableInfo,
    path: &DependencyPath,
    top: &str,
    quote: fn(&str) -> String,
    root_key: &dyn Fn(&str) -> (String, Vec<P>),
) -> (String, Vec<P>) {
    let Some((last, rest)) = path.split_last() else {
        return root_key(top);
    };
    let parent_alias = format!("p{}", rest.len());
    let (parent_schema, parent_table) = match rest.last() {
        Some(d) => (d.schema.as_str(), d.table.as_str()),
        None => (root.schema.as_str(), root.name.as_str()),
    };
    let (inner, params) = dependents_restriction(root, rest, &parent_alias, quote, root_key);
    let columns = |alias: &str, pick: fn(&(String, String)) -> &String| {
        last.columns
            .iter()
            .map(|pair| format!("{alias}.{}", quote(pick(pair))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (
        format!(
            "({}) IN (SELECT {} FROM {}.{} AS {parent_alias} WHERE {inner})",
            columns(top, |(child, _)| child),
            columns(&parent_alias, |(_, parent)| parent),
            quote(parent_schema),
            quote(parent_table)
        ),
        params,
    )
}

/// One foreign-key column of a referencing table, as the catalogs list them.
pub struct ForeignKeyColumn {
    pub schema: String,
    pub table: String,
    pub constraint: String,
    pub column: String,
    pub referenced: String,
}

/// Foreign-key columns ordered by table, constraint and position, grouped one `Dependent` per
/// foreign key; DataJoint's hidden tables (`~…`: tracking, jobs, log) are left out.
pub fn group_dependents(columns: impl IntoIterator<Item = ForeignKeyColumn>) -> Vec<Dependent> {
    let mut out: Vec<(String, Dependent)> = Vec::new();
    for fk in columns {
        if fk.table.starts_with('~') {
            continue;
        }
        let pair = (fk.column, fk.referenced);
        match out.last_mut() {
            Some((constraint, d))
                if *constraint == fk.constraint && d.schema == fk.schema && d.table == fk.table =>
            {
                d.columns.push(pair)
            }
            _ => out.push((
                fk.constraint,
                Dependent {
                    schema: fk.schema,
                    table: fk.table,
                    columns: vec![pair],
                },
            )),
        }
    }
    out.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(table: &str, constraint: &str, column: &str) -> ForeignKeyColumn {
        ForeignKeyColumn {
            schema: "s".into(),
            table: table.into(),
            constraint: constraint.into(),
            column: column.into(),
            referenced: format!("p_{column}"),
        }
    }

    #[test]
    fn columns_of_one_foreign_key_make_one_dependent_and_hidden_tables_are_left_out() {
        let got = group_dependents([
            fk("a", "fk1", "x"),
            fk("a", "fk1", "y"),
            fk("a", "fk2", "x"),
            fk("~external_s", "fk3", "hash"),
            fk("b", "fk1", "x"),
        ]);
        let shape: Vec<(&str, Vec<(&str, &str)>)> = got
            .iter()
            .map(|d| {
                let cols = d.columns.iter().map(|(c, p)| (c.as_str(), p.as_str()));
                (d.table.as_str(), cols.collect())
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("a", vec![("x", "p_x"), ("y", "p_y")]),
                ("a", vec![("x", "p_x")]),
                ("b", vec![("x", "p_x")]),
            ]
        );
    }
}
