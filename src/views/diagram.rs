//! `.diagram.svg` and `.diagram.dot` at a schema's root: the schema's tables and their
//! dependencies (foreign keys), drawn the way `dj.Diagram` (datajoint 0.14.10, `diagram.py`)
//! draws them. Pure logic: the SVG is laid out here, without Graphviz.
//!
//! | tier | shape | colour (fill, `#RRGGBBAA`) | label colour | font size |
//! |---|---|---|---|---|
//! | Manual | box | `#00FF0030` | darkgreen | 12 |
//! | Lookup | plain text on a grey box | `#00000020` | black | 10 |
//! | Imported | ellipse | `#00007F40` | `#00007FA0` | 12 |
//! | Computed | ellipse | `#FF000020` | `#7F0000A0` | 12 |
//! | Part | plain text | none | black | 10 |
//!
//! Edges go from parent to child (drawn top to bottom), grey (`#00000040`), solid when every
//! foreign-key column is in the child's primary key and dashed otherwise, thick (2) when the
//! foreign key is exactly the child's primary key and thin (0.75) otherwise. A foreign key with
//! renamed columns passes through a small orange dot (`#FF880080`), dj.Diagram's alias node.
//! (dj.Diagram gives parts the colour `#0000000`, which Graphviz rejects; the DOT here says
//! `#00000000`, transparent, which is what it shows.)
//!
//! The SVG layout: each table is placed on the row of its longest chain of parents; the order
//! within a row is improved by a few barycentre sweeps (parents above, then children below) to
//! cut crossings. Each table is a `<g class="node">` and each dependency a `<g class="edge">`
//! whose `<title>` is `Parent->Child` (as Graphviz titles them), with `data-parent` and
//! `data-child` attributes.

use std::collections::HashMap;
use std::fmt::Write;

use crate::catalog::{Dependency, SchemaCatalog};
use crate::naming::Tier;

/// The names of the two files at a schema's root.
pub const SVG_NAME: &str = ".diagram.svg";
pub const DOT_NAME: &str = ".diagram.dot";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Box,
    Plain,
    Ellipse,
    Circle,
}

/// dj.Diagram's node properties for a tier (`None`: an alias node).
struct Style {
    shape: Shape,
    color: &'static str,
    fontcolor: &'static str,
    fontsize: u32,
    size: f64,
    fixed: bool,
}

fn style(tier: Option<Tier>) -> Style {
    let (shape, color, fontcolor, fontsize, size, fixed) = match tier {
        Some(Tier::Manual) => (Shape::Box, "#00FF0030", "darkgreen", 12, 0.48, false),
        Some(Tier::Lookup) => (Shape::Plain, "#00000020", "black", 10, 0.48, false),
        Some(Tier::Computed) => (Shape::Ellipse, "#FF000020", "#7F0000A0", 12, 0.36, true),
        Some(Tier::Imported) => (Shape::Ellipse, "#00007F40", "#00007FA0", 12, 0.48, false),
        Some(Tier::Part) => (Shape::Plain, "#00000000", "black", 10, 0.12, false),
        None => (Shape::Circle, "#FF880080", "#FF880080", 0, 0.06, true),
    };
    Style {
        shape,
        color,
        fontcolor,
        fontsize,
        size,
        fixed,
    }
}

const EDGE_COLOR: &str = "#00000040";

/// The schema's two diagram files: (SVG, DOT).
pub fn render(catalog: &SchemaCatalog) -> (String, String) {
    let tables: Vec<(String, Tier)> = catalog
        .tables
        .iter()
        .map(|t| (t.class_name.clone(), t.tier))
        .collect();
    let deps = catalog.dependencies();
    (
        render_svg(&catalog.schema, &tables, &deps),
        render_dot(&catalog.schema, &tables, &deps),
    )
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The diagram in Graphviz's DOT language, with dj.Diagram's node and edge attributes.
pub fn render_dot(schema: &str, tables: &[(String, Tier)], deps: &[Dependency]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_quote(schema));
    let _ = writeln!(out, "    node [fontname=\"arial\", style=\"filled\"];");
    let node = |out: &mut String, name: &str, tier: Option<Tier>| {
        let s = style(tier);
        let shape = match s.shape {
            Shape::Box => "box",
            Shape::Plain => "plaintext",
            Shape::Ellipse => "ellipse",
            Shape::Circle => "circle",
        };
        let label = if tier.is_some() { name } else { "" };
        let _ = writeln!(
            out,
            "    {} [label={}, shape={shape}, color=\"{}\", fontcolor=\"{}\", fontsize={}, \
             width={}, height={}, fixedsize={}];",
            dot_quote(name),
            dot_quote(label),
            s.color,
            s.fontcolor,
            s.fontsize,
            s.size,
            s.size,
            if s.fixed { "shape" } else { "false" },
        );
    };
    for (name, tier) in tables {
        node(&mut out, name, Some(*tier));
    }
    let tier_of: HashMap<&str, Tier> = tables.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let mut aliases = 0;
    for dep in deps {
        let attrs = |to: &str| {
            let master_part =
                tier_of.get(to) == Some(&Tier::Part) && to.starts_with(&format!("{}.", dep.parent));
            format!(
                "[color=\"{EDGE_COLOR}\", style={}, arrowhead=none, penwidth={}, weight={}]",
                if dep.primary { "solid" } else { "dashed" },
                if dep.multi { "0.75" } else { "2" },
                if master_part { 3 } else { 1 },
            )
        };
        if dep.aliased {
            let alias = aliases.to_string();
            aliases += 1;
            node(&mut out, &alias, None);
            let _ = writeln!(
                out,
                "    {} -> {} {};",
                dot_quote(&dep.parent),
                dot_quote(&alias),
                attrs(&alias)
            );
            let _ = writeln!(
                out,
                "    {} -> {} {};",
                dot_quote(&alias),
                dot_quote(&dep.child),
                attrs(&dep.child)
            );
        } else {
            let _ = writeln!(
                out,
                "    {} -> {} {};",
                dot_quote(&dep.parent),
                dot_quote(&dep.child),
                attrs(&dep.child)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A Graphviz colour (`#RRGGBB[AA]` or a name used above) as an SVG colour and opacity.
fn svg_color(color: &str) -> (String, f64) {
    match color {
        "darkgreen" => ("#006400".into(), 1.0),
        "black" => ("#000000".into(), 1.0),
        c if c.len() == 9 && c.starts_with('#') => {
            let alpha = u8::from_str_radix(&c[7..9], 16).unwrap_or(255);
            (c[..7].to_string(), f64::from(alpha) / 255.0)
        }
        c => (c.to_string(), 1.0),
    }
}

/// Where a table is drawn.
struct Placed {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

const MARGIN: f64 = 16.0;
const ROW_HEIGHT: f64 = 72.0;
const GAP: f64 = 24.0;

/// The dependencies between tables of the diagram, as (parent, child) indices.
fn edges(tables: &[(String, Tier)], deps: &[Dependency]) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    deps.iter()
        .filter_map(|d| {
            Some((
                *index.get(d.parent.as_str())?,
                *index.get(d.child.as_str())?,
            ))
        })
        .filter(|(p, c)| p != c)
        .collect()
}

/// Each table's row: 1 + the deepest row of its parents (0 without parents in the schema).
fn ranks(tables: &[(String, Tier)], deps: &[Dependency]) -> Vec<usize> {
    let edges = edges(tables, deps);
    let mut rank = vec![0usize; tables.len()];
    // Longest path by relaxation; at most one pass per table (more only with a cycle).
    for _ in 0..tables.len() {
        let mut changed = false;
        for &(p, c) in &edges {
            if rank[c] < rank[p] + 1 {
                rank[c] = rank[p] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rank
}

/// The tables of each row, left to right.
fn order_rows(tables: &[(String, Tier)], deps: &[Dependency], rank: &[usize]) -> Vec<Vec<usize>> {
    let rows_n = rank.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); rows_n];
    for (i, &r) in rank.iter().enumerate() {
        rows[r].push(i);
    }
    let edges = edges(tables, deps);
    let mut pos = vec![0f64; tables.len()];
    let reposition = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for row in rows {
            for (k, &i) in row.iter().enumerate() {
                pos[i] = k as f64;
            }
        }
    };
    reposition(&rows, &mut pos);
    for _ in 0..4 {
        for down in [true, false] {
            let row_ids: Vec<usize> = if down {
                (1..rows.len()).collect()
            } else {
                (0..rows.len().saturating_sub(1)).rev().collect()
            };
            for r in row_ids {
                let mut keyed: Vec<(f64, usize)> = rows[r]
                    .iter()
                    .map(|&i| {
                        let neighbours: Vec<f64> = edges
                            .iter()
                            .filter_map(|&(p, c)| match down {
                                true if c == i && rank[p] < rank[i] => Some(pos[p]),
                                false if p == i && rank[c] > rank[i] => Some(pos[c]),
                                _ => None,
                            })
                            .collect();
                        let key = if neighbours.is_empty() {
                            pos[i]
                        } else {
                            neighbours.iter().sum::<f64>() / neighbours.len() as f64
                        };
                        (key, i)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(pos[a.1].total_cmp(&pos[b.1])));
                rows[r] = keyed.into_iter().map(|(_, i)| i).collect();
                reposition(&rows, &mut pos);
            }
        }
    }
    rows
}

/// The diagram as a standalone SVG document.
pub fn render_svg(schema: &str, tables: &[(String, Tier)], deps: &[Dependency]) -> String {
    let rank = ranks(tables, deps);
    let rows = order_rows(tables, deps, &rank);
    let size = |i: usize| {
        let (name, tier) = &tables[i];
        let s = style(Some(*tier));
        let text = name.chars().count() as f64 * f64::from(s.fontsize) * 0.6;
        match s.shape {
            Shape::Ellipse => (text * 1.25 + 24.0, 36.0),
            Shape::Box => (text + 20.0, 32.0),
            _ => (text + 12.0, 24.0),
        }
    };
    let widths: Vec<f64> = rows
        .iter()
        .map(|row| {
            row.iter().map(|&i| size(i).0).sum::<f64>() + GAP * row.len().saturating_sub(1) as f64
        })
        .collect();
    let width = widths.iter().cloned().fold(0.0, f64::max) + 2.0 * MARGIN;
    let height = rows.len() as f64 * ROW_HEIGHT - (ROW_HEIGHT - 36.0) + 2.0 * MARGIN;
    let mut placed: HashMap<usize, Placed> = HashMap::new();
    for (r, row) in rows.iter().enumerate() {
        let mut x = (width - widths[r]) / 2.0;
        let cy = MARGIN + 18.0 + r as f64 * ROW_HEIGHT;
        for &i in row {
            let (w, h) = size(i);
            placed.insert(
                i,
                Placed {
                    x: x + w / 2.0,
                    y: cy,
                    w,
                    h,
                },
            );
            x += w + GAP;
        }
    }
    let (width, height) = (width.max(2.0 * MARGIN), height.max(2.0 * MARGIN));
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}pt\" height=\"{height:.0}pt\" \
         viewBox=\"0 0 {width:.1} {height:.1}\">"
    );
    let _ = writeln!(out, "<title>{}</title>", xml_escape(schema));
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{width:.1}\" height=\"{height:.1}\" fill=\"#ffffff\"/>"
    );
    let index: HashMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let (edge_color, edge_opacity) = svg_color(EDGE_COLOR);
    // Several foreign keys between the same two tables fan out side by side.
    let mut pairs: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for dep in deps {
        pairs.entry((&dep.parent, &dep.child)).or_default().1 += 1;
    }
    for dep in deps {
        let (k, n) = {
            let slot = pairs
                .get_mut(&(&*dep.parent, &*dep.child))
                .expect("counted");
            slot.0 += 1;
            (slot.0 - 1, slot.1)
        };
        let shift = (k as f64 - (n as f64 - 1.0) / 2.0) * 14.0;
        let (Some(p), Some(c)) = (
            index.get(dep.parent.as_str()).and_then(|i| placed.get(i)),
            index.get(dep.child.as_str()).and_then(|i| placed.get(i)),
        ) else {
            continue;
        };
        let (x1, y1, x2, y2) = (
            p.x + shift / 2.0,
            p.y + p.h / 2.0,
            c.x + shift,
            c.y - c.h / 2.0,
        );
        let ym = (y1 + y2) / 2.0;
        let _ = writeln!(
            out,
            "<g class=\"edge\" data-parent=\"{}\" data-child=\"{}\"><title>{}</title>",
            xml_escape(&dep.parent),
            xml_escape(&dep.child),
            xml_escape(&format!("{}->{}", dep.parent, dep.child))
        );
        let _ = writeln!(
            out,
            "<path d=\"M{x1:.1},{y1:.1} C{x1:.1},{ym:.1} {x2:.1},{ym:.1} {x2:.1},{y2:.1}\" \
             fill=\"none\" stroke=\"{edge_color}\" stroke-opacity=\"{edge_opacity:.3}\" \
             stroke-width=\"{}\"{}/>",
            if dep.multi { "0.75" } else { "2" },
            if dep.primary {
                ""
            } else {
                " stroke-dasharray=\"5,3\""
            }
        );
        if dep.aliased {
            let (fill, opacity) = svg_color(style(None).color);
            let _ = writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{ym:.1}\" r=\"3\" fill=\"{fill}\" fill-opacity=\"{opacity:.3}\"/>",
                (x1 + x2) / 2.0
            );
        }
        out.push_str("</g>\n");
    }
    for (i, (name, tier)) in tables.iter().enumerate() {
        let Some(p) = placed.get(&i) else { continue };
        let s = style(Some(*tier));
        let (fill, opacity) = svg_color(s.color);
        let (font, font_opacity) = svg_color(s.fontcolor);
        let name_xml = xml_escape(name);
        let _ = writeln!(
            out,
            "<g class=\"node\" data-tier=\"{}\"><title>{name_xml}</title>",
            tier.as_str()
        );
        let paint = format!("fill=\"{fill}\" fill-opacity=\"{opacity:.3}\"");
        // A white underlay: edges passing behind a table do not show through its tint.
        match s.shape {
            Shape::Ellipse | Shape::Circle => {
                let _ = writeln!(
                    out,
                    "<ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" fill=\"#ffffff\"/>",
                    p.x,
                    p.y,
                    p.w / 2.0,
                    p.h / 2.0
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#ffffff\"/>",
                    p.x - p.w / 2.0,
                    p.y - p.h / 2.0,
                    p.w,
                    p.h
                );
            }
        }
        match s.shape {
            Shape::Box => {
                let _ = writeln!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" {paint} \
                     stroke=\"{fill}\" stroke-opacity=\"{opacity:.3}\"/>",
                    p.x - p.w / 2.0,
                    p.y - p.h / 2.0,
                    p.w,
                    p.h
                );
            }
            Shape::Ellipse | Shape::Circle => {
                let _ = writeln!(
                    out,
                    "<ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" {paint} \
                     stroke=\"{fill}\" stroke-opacity=\"{opacity:.3}\"/>",
                    p.x,
                    p.y,
                    p.w / 2.0,
                    p.h / 2.0
                );
            }
            Shape::Plain if *tier != Tier::Part => {
                let _ = writeln!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" {paint}/>",
                    p.x - p.w / 2.0,
                    p.y - p.h / 2.0,
                    p.w,
                    p.h
                );
            }
            Shape::Plain => {}
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-family=\"Arial, Helvetica, sans-serif\" \
             font-size=\"{}\" fill=\"{font}\" fill-opacity=\"{font_opacity:.3}\">{name_xml}</text>",
            p.x,
            p.y + f64::from(s.fontsize) * 0.35,
            s.fontsize
        );
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(parent: &str, child: &str, primary: bool, multi: bool, aliased: bool) -> Dependency {
        Dependency {
            parent: parent.into(),
            child: child.into(),
            primary,
            multi,
            aliased,
        }
    }

    fn schema() -> (Vec<(String, Tier)>, Vec<Dependency>) {
        let tables = vec![
            ("Rig".to_string(), Tier::Lookup),
            ("Session".to_string(), Tier::Manual),
            ("Session.Trial".to_string(), Tier::Part),
            ("Subject".to_string(), Tier::Manual),
            ("Summary".to_string(), Tier::Computed),
            ("Recording".to_string(), Tier::Imported),
        ];
        let deps = vec![
            dep("Subject", "Session", true, true, false),
            dep("Rig", "Session", false, true, false),
            dep("Session", "Session.Trial", true, true, false),
            dep("Session", "Summary", true, false, false),
            dep("Session", "Recording", true, false, false),
            dep("Subject", "Summary", false, true, true),
        ];
        (tables, deps)
    }

    #[test]
    fn rows_follow_the_longest_chain_of_parents() {
        let (tables, deps) = schema();
        assert_eq!(ranks(&tables, &deps), [0, 1, 2, 0, 2, 2]);
        let rows = order_rows(&tables, &deps, &ranks(&tables, &deps));
        assert_eq!(rows.len(), 3);
        let mut all: Vec<usize> = rows.concat();
        all.sort();
        assert_eq!(all, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn dot_has_djs_styles_and_alias_nodes() {
        let (tables, deps) = schema();
        let dot = render_dot("lab", &tables, &deps);
        assert!(dot
            .starts_with("digraph \"lab\" {\n    node [fontname=\"arial\", style=\"filled\"];\n"));
        assert!(dot.contains(
            "    \"Subject\" [label=\"Subject\", shape=box, color=\"#00FF0030\", \
             fontcolor=\"darkgreen\", fontsize=12, width=0.48, height=0.48, fixedsize=false];\n"
        ));
        assert!(dot.contains(
            "    \"Summary\" [label=\"Summary\", shape=ellipse, color=\"#FF000020\", \
             fontcolor=\"#7F0000A0\", fontsize=12, width=0.36, height=0.36, fixedsize=shape];\n"
        ));
        assert!(dot.contains("    \"Rig\" [label=\"Rig\", shape=plaintext, color=\"#00000020\""));
        assert!(dot.contains("    \"Recording\" [label=\"Recording\", shape=ellipse, color=\"#00007F40\", fontcolor=\"#00007FA0\""));
        assert!(dot.contains(
            "    \"Session\" -> \"Session.Trial\" [color=\"#00000040\", style=solid, \
             arrowhead=none, penwidth=0.75, weight=3];\n"
        ));
        assert!(dot.contains(
            "    \"Rig\" -> \"Session\" [color=\"#00000040\", style=dashed, arrowhead=none, \
             penwidth=0.75, weight=1];\n"
        ));
        assert!(dot.contains(
            "    \"Session\" -> \"Recording\" [color=\"#00000040\", style=solid, arrowhead=none, \
             penwidth=2, weight=1];\n"
        ));
        assert!(dot.contains("    \"0\" [label=\"\", shape=circle, color=\"#FF880080\""));
        assert!(dot.contains("    \"Subject\" -> \"0\" ["));
        assert!(dot.contains("    \"0\" -> \"Summary\" ["));
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn svg_names_every_table_and_dependency() {
        let (tables, deps) = schema();
        let svg = render_svg("lab", &tables, &deps);
        assert!(svg.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        for (name, tier) in &tables {
            assert!(
                svg.contains(&format!(
                    "<g class=\"node\" data-tier=\"{}\"><title>{name}</title>",
                    tier.as_str()
                )),
                "{name}"
            );
        }
        assert_eq!(svg.matches("<g class=\"edge\"").count(), deps.len());
        assert!(svg.contains("<title>Subject-&gt;Session</title>"));
        // Colours as dj.Diagram has them, alpha as opacity.
        assert!(svg.contains("fill=\"#00FF00\" fill-opacity=\"0.188\""));
        assert!(svg.contains("fill=\"#006400\" fill-opacity=\"1.000\">Subject</text>"));
        assert!(svg.contains("fill=\"#7F0000\" fill-opacity=\"0.627\">Summary</text>"));
        // Dashed for secondary foreign keys; one alias dot for the renamed one.
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 1);
    }

    #[test]
    fn rows_are_ordered_to_avoid_crossings() {
        // A above C and B above D, but D sorts before C by name: the sweep puts D under B.
        let tables = vec![
            ("A".to_string(), Tier::Manual),
            ("B".to_string(), Tier::Manual),
            ("C".to_string(), Tier::Manual),
            ("D".to_string(), Tier::Manual),
        ];
        let deps = vec![
            dep("A", "D", true, true, false),
            dep("B", "C", true, true, false),
        ];
        let rows = order_rows(&tables, &deps, &ranks(&tables, &deps));
        assert_eq!(rows, vec![vec![0, 1], vec![3, 2]]);
    }

    #[test]
    fn names_are_escaped() {
        let svg = render_svg("a<b", &[], &[]);
        assert!(svg.contains("<title>a&lt;b</title>"));
        assert_eq!(
            render_dot("x\"y", &[], &[]),
            "digraph \"x\\\"y\" {\n    node [fontname=\"arial\", style=\"filled\"];\n}\n"
        );
    }
}
