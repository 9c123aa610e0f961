//! Flat comparison records and the list of known differences kept in README.md.
//!
//! Every observation is a `key = value` pair; a key names the MPM and what was compared,
//! e.g. `event:fwd/main-query/req1.attr.query_string` or
//! `prefork:status/mime=prop/worker.lb.type`. The
//! README section "Where mod_rjk deliberately differs from mod_jk" lists each remaining
//! difference with a tag `<!-- diff: PATTERN ... -->` (deliberate) or
//! `<!-- diff pending: PATTERN ... -->` (a mod_rjk bug being fixed); `*` in a pattern
//! matches any run of characters. A difference no pattern covers fails the test, and so
//! does a pattern that covers no difference any more.

use std::collections::BTreeMap;

/// Ordered observations of one module.
#[derive(Default, Debug, Clone)]
pub struct Record(pub Vec<(String, String)>);

impl Record {
    pub fn put(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.push((key.into(), value.into()));
    }

    /// Every key of `other`, prefixed.
    pub fn extend_prefixed(&mut self, prefix: &str, other: Record) {
        for (k, v) in other.0 {
            self.0.push((format!("{prefix}{k}"), v));
        }
    }

    /// Keys made unique: a repeated key gets `#2`, `#3`, ... appended.
    fn unique(&self) -> BTreeMap<String, String> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for (k, v) in &self.0 {
            let n = seen.entry(k.clone()).or_default();
            *n += 1;
            let key = if *n == 1 {
                k.clone()
            } else {
                format!("{k}#{n}")
            };
            out.insert(key, v.clone());
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Diff {
    pub key: String,
    pub mod_jk: Option<String>,
    pub mod_rjk: Option<String>,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) if v.len() > 300 => format!("{:?}... ({} bytes)", &v[..300], v.len()),
            Some(v) => format!("{v:?}"),
            None => "(absent)".into(),
        };
        write!(
            f,
            "{}\n    mod_jk:  {}\n    mod_rjk: {}",
            self.key,
            show(&self.mod_jk),
            show(&self.mod_rjk)
        )
    }
}

pub fn diff(jk: &Record, rjk: &Record) -> Vec<Diff> {
    let (a, b) = (jk.unique(), rjk.unique());
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| Diff {
            key: k.clone(),
            mod_jk: a.get(k).cloned(),
            mod_rjk: b.get(k).cloned(),
        })
        .collect()
}

/// One tagged bullet of the README's differences section.
#[derive(Debug)]
pub struct Listed {
    pub pattern: String,
    pub pending: bool,
    /// The bullet's first line, to name it in messages.
    pub bullet: String,
}

pub const SECTION: &str = "## Where mod_rjk deliberately differs from mod_jk";

/// The `<!-- diff: ... -->` and `<!-- diff pending: ... -->` tags of the README section.
pub fn listed_differences(readme: &str) -> Vec<Listed> {
    let start = readme
        .find(SECTION)
        .unwrap_or_else(|| panic!("README.md has no section {SECTION:?}"));
    let body = &readme[start + SECTION.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut out = Vec::new();
    let mut bullet = String::new();
    for line in body.lines() {
        if line.starts_with("- ") {
            bullet = line.to_string();
        }
        let mut rest = line;
        while let Some(at) = rest.find("<!-- diff") {
            let tag = &rest[at + "<!-- diff".len()..];
            let end = tag.find("-->").expect("unterminated <!-- diff tag");
            let (pending, list) = match tag[..end].trim_start().strip_prefix("pending:") {
                Some(l) => (true, l),
                None => (
                    false,
                    tag[..end]
                        .trim_start()
                        .strip_prefix(':')
                        .expect("tag is <!-- diff: ... --> or <!-- diff pending: ... -->"),
                ),
            };
            for p in list.split_whitespace() {
                out.push(Listed {
                    pattern: p.to_string(),
                    pending,
                    bullet: bullet.clone(),
                });
            }
            rest = &tag[end..];
        }
    }
    out
}

/// `*` matches any run of characters (also `/`); everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Checks `diffs` against the README list: returns the failure report, if any.
pub fn verdict(diffs: &[Diff], listed: &[Listed]) -> Result<String, String> {
    let mut unlisted = Vec::new();
    let mut used = vec![0usize; listed.len()];
    for d in diffs {
        let mut hit = false;
        for (i, l) in listed.iter().enumerate() {
            if glob(&l.pattern, &d.key) {
                used[i] += 1;
                hit = true;
            }
        }
        if !hit {
            unlisted.push(d);
        }
    }
    let mut report = String::new();
    for (l, n) in listed.iter().zip(&used) {
        let kind = if l.pending { "pending" } else { "deliberate" };
        report.push_str(&format!("  {n:4} x {kind:10} {}\n", l.pattern));
    }
    let stale: Vec<&Listed> = listed
        .iter()
        .zip(&used)
        .filter(|(_, n)| **n == 0)
        .map(|(l, _)| l)
        .collect();
    if unlisted.is_empty() && stale.is_empty() {
        return Ok(report);
    }
    let mut msg = format!("listed differences and how often each matched:\n{report}");
    if !unlisted.is_empty() {
        msg.push_str(&format!(
            "\n{} difference(s) from mod_jk not listed in README.md ({SECTION}):\n",
            unlisted.len()
        ));
        for d in &unlisted {
            msg.push_str(&format!("  {d}\n"));
        }
    }
    for l in stale {
        msg.push_str(&format!(
            "\nREADME.md lists {:?} (in {:?}) but no difference matches it any more: remove it\n",
            l.pattern, l.bullet
        ));
    }
    Err(msg)
}

#[test]
fn glob_matches_runs() {
    assert!(glob("fwd/*/req.uri", "fwd/escaped-semi/req.uri"));
    assert!(glob("a*b*c", "a-x-b-y-c"));
    assert!(!glob("a*b*c", "a-x-c"));
    assert!(glob("exact", "exact"));
    assert!(!glob("exact", "exact2"));
    assert!(glob("*", ""));
}

#[test]
fn readme_tags_parse() {
    let md = format!(
        "{SECTION}\n\n- **A.** text <!-- diff: x/* y -->\n  more <!-- diff pending: z -->\n\n## Next\n- <!-- diff: no -->\n"
    );
    let l = listed_differences(&md);
    let got: Vec<(&str, bool)> = l.iter().map(|l| (l.pattern.as_str(), l.pending)).collect();
    assert_eq!(got, [("x/*", false), ("y", false), ("z", true)]);
}
