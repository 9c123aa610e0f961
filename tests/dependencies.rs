//! Every crate in Cargo.toml has its line in README.md's "Dependencies" section, and the
//! section names no crate the manifest does not have (except those it lists as not used).

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// Crate names of the `[dependencies]`, `[build-dependencies]` and `[dev-dependencies]`.
fn manifest_crates() -> Vec<String> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in read("Cargo.toml").lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

#[test]
fn every_dependency_has_its_line_in_the_readme() {
    let readme = read("README.md");
    let section = readme
        .split("\n## Dependencies\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README.md has a Dependencies section");
    let crates = manifest_crates();
    assert!(crates.len() >= 6, "{crates:?}");
    for c in &crates {
        assert!(
            section.contains(&format!("\n- `{c}`")),
            "{c} is in Cargo.toml but has no line in README's Dependencies section"
        );
    }
    for line in section.lines().filter(|l| l.starts_with("- `")) {
        let name = line[3..].split('`').next().unwrap();
        assert!(
            crates.iter().any(|c| c == name),
            "README lists {name}, which Cargo.toml does not have"
        );
    }
}
