//! The Markdown reference tables (README.md holds their output; see
//! apxs/gen-readme-tables.sh).

use std::fmt::Write as _;

use mod_rjk::config::directives::{Args, DIRECTIVES, Scope, Support};
use mod_rjk::config::workers::ATTRIBUTES;

/// Text for a table cell: `|` would end the cell, `<` could open an HTML tag.
pub(crate) fn md_text(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;")
}

pub(crate) fn md_code(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("`{}`", s.replace('|', "\\|"))
    }
}

pub(crate) fn markdown_directives() -> String {
    let mut out = String::from(
        "| Directive | Arguments | Default | Where | Status | Meaning |\n\
         |---|---|---|---|---|---|\n",
    );
    for d in &DIRECTIVES {
        let args = match d.args {
            Args::Take1 => "1",
            Args::Take12 => "1 or 2",
            Args::RawArgs => "rest of line",
            Args::Flag => "On \\| Off",
        };
        let default = if d.default.starts_with('(') {
            md_text(d.default)
        } else {
            md_code(d.default)
        };
        let scope = match d.scope {
            Scope::Global => "main server",
            Scope::Server => "main server, virtual host",
            Scope::ServerOrLocation => "main server, virtual host, `<Location>`",
        };
        let status = match d.support {
            Support::Implemented => "supported",
            Support::AcceptedIgnored => "accepted, no effect yet (startup warning)",
        };
        let help = d.help.to_str().unwrap_or("");
        let _ = writeln!(
            out,
            "| `{}` | {args} | {default} | {scope} | {status} | {} |",
            d.name(),
            md_text(help)
        );
    }
    out
}

pub(crate) fn markdown_workers() -> String {
    let mut out = String::from(
        "| Property | Worker types | Default | Unit | Status | Meaning |\n\
         |---|---|---|---|---|---|\n",
    );
    for a in ATTRIBUTES {
        let property = if a.is_global() {
            format!("`worker.{}`", a.name)
        } else {
            format!("`{}`", a.name)
        };
        let types = if a.is_global() {
            "global".to_string()
        } else if a.applies_to.is_empty() {
            "(removed types)".to_string()
        } else {
            a.applies_to.join(", ")
        };
        let (status, meaning) = match (a.deprecated_alias_of, a.supported) {
            (Some(of), _) => (
                format!("deprecated, use `{of}`"),
                format!("old name of `{of}`"),
            ),
            (None, false) => ("accepted, ignored (warning)".to_string(), md_text(a.doc)),
            (None, true) => ("supported".to_string(), md_text(a.doc)),
        };
        let _ = writeln!(
            out,
            "| {property} | {types} | {} | {} | {status} | {meaning} |",
            md_code(a.default),
            md_text(a.unit)
        );
    }
    out
}
