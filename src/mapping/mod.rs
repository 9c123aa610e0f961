//! URI → worker mapping: `JkMount`/`JkUnMount`, uriworkermap.properties and worker `mount`
//! rules, matched against the servlet-normalised URI.
//!
//! There is deliberately no default or "first" worker anywhere: a URI that no rule maps is
//! left to httpd (CVE-2023-41081).

mod autoalias;
mod extensions;
mod normalize;

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

pub use autoalias::{AliasDecision, auto_alias};
pub use extensions::{MapError, RuleExtensions, parse_worker_spec};
pub use normalize::{
    MAX_URI_LEN, NormalizeError, escape_forward_uri, escape_uri_lower, normalize,
    strip_path_parameter,
};

/// Where a rule came from. Besides display, this decides ties in the match order and which
/// rules a mount-file reload replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleSource {
    /// `JkMountFile` (uriworkermap.properties).
    UriWorkerMap,
    /// `JkMount` / `JkUnMount`.
    JkMount,
    /// `worker.<name>.mount` in workers.properties.
    WorkerDefinition,
}

impl RuleSource {
    /// The name mod_jk shows for the source on its status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UriWorkerMap => "uriworkermap",
            Self::JkMount => "JkMount",
            Self::WorkerDefinition => "worker definition",
        }
    }

    fn priority(self) -> u8 {
        match self {
            Self::UriWorkerMap => 3,
            Self::JkMount => 2,
            Self::WorkerDefinition => 1,
        }
    }
}

/// How a rule's pattern is compared with the URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// No `*`/`?`: the whole URI must equal the pattern (`/app` does not cover `/app/x`).
    Exact,
    /// Glob over the whole URI: `*` is any run of bytes including `/` (possibly empty), `?`
    /// exactly one byte. Bytes rather than characters, as in mod_jk; case-sensitive.
    Wildchar,
}

/// One mapping rule, after `X|Y` expansion.
#[derive(Clone, Debug)]
pub struct Rule {
    pattern: String,
    kind: MatchKind,
    disabled: bool,
    exclusion: bool,
    worker: String,
    extensions: RuleExtensions,
    source: RuleSource,
    slashes: usize,
    /// Insertion order; keeps ties deterministic where mod_jk's qsort left them undefined.
    seq: u64,
}

impl Rule {
    /// The pattern without its `-`/`!` prefixes.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The pattern as written in configuration, with `-` (disabled) and `!` (exclusion).
    pub fn display_pattern(&self) -> String {
        let mut s = String::with_capacity(self.pattern.len() + 2);
        if self.disabled {
            s.push('-');
        }
        if self.exclusion {
            s.push('!');
        }
        s.push_str(&self.pattern);
        s
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn kind(&self) -> MatchKind {
        self.kind
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    pub fn source(&self) -> RuleSource {
        self.source
    }

    pub fn extensions(&self) -> &RuleExtensions {
        &self.extensions
    }

    /// Whether the pattern covers `uri` (ignores the disabled/exclusion flags).
    pub fn matches(&self, uri: &str) -> bool {
        match self.kind {
            MatchKind::Exact => self.pattern == uri,
            MatchKind::Wildchar => glob_match(self.pattern.as_bytes(), uri.as_bytes()),
        }
    }

    /// Rules with the same key and source replace each other; `-`/`!` are part of the key,
    /// as they are of the property/directive key in mod_jk.
    fn same_key(&self, other: &Rule) -> bool {
        self.pattern == other.pattern
            && self.disabled == other.disabled
            && self.exclusion == other.exclusion
    }

    /// Match order: more `/` first, then longer pattern, then source priority, then
    /// earlier definition.
    fn order(&self, other: &Rule) -> Ordering {
        other
            .slashes
            .cmp(&self.slashes)
            .then(other.pattern.len().cmp(&self.pattern.len()))
            .then(other.source.priority().cmp(&self.source.priority()))
            .then(self.seq.cmp(&other.seq))
    }
}

/// The result of mapping a URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapMatch {
    pub worker: String,
    pub extensions: RuleExtensions,
    /// The winning rule's pattern, for logging and the status page.
    pub pattern: String,
    pub source: RuleSource,
}

impl From<&Rule> for MapMatch {
    fn from(rule: &Rule) -> Self {
        Self {
            worker: rule.worker.clone(),
            extensions: rule.extensions.clone(),
            pattern: rule.pattern.clone(),
            source: rule.source,
        }
    }
}

/// One `pattern=worker` line of a uriworkermap file, already validated, so that
/// [`UriMap::replace_uriworkermap`] cannot fail halfway through a reload.
#[derive(Clone, Debug)]
pub struct MapLine {
    /// 1-based line number (of the last definition, for duplicated keys).
    pub line: usize,
    /// The key as written, including `-`/`!` prefixes and any `|`.
    pub pattern: String,
    /// The value after `$(var)` substitution.
    pub worker_spec: String,
    rules: Vec<Rule>,
}

/// The rules of one server (main server or virtual host), kept in match order.
#[derive(Default, Clone, Debug)]
pub struct UriMap {
    rules: Vec<Rule>,
    next_seq: u64,
    /// Lets `map` skip the exclusion scan in the common configuration without any.
    active_exclusions: usize,
    mount_file: bool,
}

impl UriMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a mount rule. `pattern` may carry the `-` and `!` prefixes and the `X|Y`
    /// shortcut; a later rule with the same pattern and source replaces the earlier one.
    /// Returns warnings (unknown extensions, patterns that can never match).
    pub fn add_mount(
        &mut self,
        pattern: &str,
        worker_spec: &str,
        source: RuleSource,
    ) -> Result<Vec<String>, MapError> {
        let (rules, warnings) = build_rules(pattern, worker_spec, source)?;
        for rule in rules {
            self.insert(rule);
        }
        self.reindex();
        Ok(warnings)
    }

    /// Adds an exclusion rule (stored as `!pattern`). With worker `*` it cancels any match.
    pub fn add_unmount(
        &mut self,
        pattern: &str,
        worker_spec: &str,
        source: RuleSource,
    ) -> Result<Vec<String>, MapError> {
        self.add_mount(&format!("!{pattern}"), worker_spec, source)
    }

    /// `JkMountCopy`: takes over the parent's `JkMount`/`JkUnMount` rules unless this map
    /// has its own rule for the same (prefixed) pattern, and the parent's mount-file rules
    /// only if this map has no mount file of its own.
    pub fn inherit(&mut self, parent: &UriMap) {
        let take_file = !self.uses_mount_file()
            && !self
                .rules
                .iter()
                .any(|r| r.source == RuleSource::UriWorkerMap);
        let inherited: Vec<Rule> = parent
            .rules
            .iter()
            .filter(|p| match p.source {
                RuleSource::JkMount => !self
                    .rules
                    .iter()
                    .any(|own| own.source == RuleSource::JkMount && own.same_key(p)),
                RuleSource::UriWorkerMap => take_file,
                RuleSource::WorkerDefinition => false,
            })
            .cloned()
            .collect();
        for rule in inherited {
            self.insert(rule);
        }
        self.reindex();
    }

    /// Replaces every mount-file rule with `lines` (initial `JkMountFile` load and reloads);
    /// `JkMount` and worker rules stay. Marks the map as having its own mount file, even
    /// when `lines` is empty, so that `inherit` does not pull in the parent's file.
    pub fn replace_uriworkermap(&mut self, lines: &[MapLine]) {
        self.rules.retain(|r| r.source != RuleSource::UriWorkerMap);
        for rule in lines.iter().flat_map(|l| l.rules.iter()) {
            self.insert(rule.clone());
        }
        self.mount_file = true;
        self.reindex();
    }

    /// Whether [`replace_uriworkermap`](Self::replace_uriworkermap) was ever called.
    pub fn uses_mount_file(&self) -> bool {
        self.mount_file
    }

    /// Maps an already [`normalize`]d URI. Allocates only to build the returned match.
    pub fn map(&self, normalized_uri: &str) -> Option<MapMatch> {
        self.lookup(normalized_uri).map(MapMatch::from)
    }

    /// Allocation-free form of [`map`](Self::map), borrowing the winning rule.
    pub fn lookup(&self, normalized_uri: &str) -> Option<&Rule> {
        if !normalized_uri.starts_with('/') || normalized_uri.len() > MAX_URI_LEN {
            return None;
        }
        let winner = self
            .rules
            .iter()
            .find(|r| !r.disabled && !r.exclusion && r.matches(normalized_uri))?;
        // An exclusion cancels the match outright; falling back to the next rule would turn
        // `JkUnMount /app/private/*` into "forward to whatever else matches".
        if self.active_exclusions > 0
            && self.rules.iter().any(|r| {
                r.exclusion
                    && !r.disabled
                    && (r.worker == winner.worker || r.worker == "*")
                    && r.matches(normalized_uri)
            })
        {
            return None;
        }
        Some(winner)
    }

    /// All rules in match order (disabled and exclusion rules included), for the status page
    /// and for telling mount-file rules apart via [`Rule::source`].
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Worker names referenced by any rule (sorted, deduplicated), so startup can report
    /// unknown ones. The `*` of an exclusion is a wildcard, not a worker, and is left out.
    pub fn workers(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| !(r.exclusion && r.worker == "*"))
            .map(|r| r.worker.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    fn insert(&mut self, mut rule: Rule) {
        if let Some(old) = self
            .rules
            .iter_mut()
            .find(|r| r.source == rule.source && r.same_key(&rule))
        {
            // Same key ⇒ same sort position; keep the old slot so ties stay stable.
            rule.seq = old.seq;
            *old = rule;
            return;
        }
        rule.seq = self.next_seq;
        self.next_seq += 1;
        let at = self
            .rules
            .partition_point(|r| r.order(&rule) == Ordering::Less);
        self.rules.insert(at, rule);
    }

    fn reindex(&mut self) {
        self.active_exclusions = self
            .rules
            .iter()
            .filter(|r| r.exclusion && !r.disabled)
            .count();
    }
}

/// Validates a pattern (with prefixes and `X|Y`) and a worker spec into rules, without
/// touching any map, so a bad directive or file line changes nothing.
fn build_rules(
    raw_pattern: &str,
    worker_spec: &str,
    source: RuleSource,
) -> Result<(Vec<Rule>, Vec<String>), MapError> {
    let (worker, extensions, mut warnings) = parse_worker_spec(worker_spec)
        .map_err(|e| MapError::new(format!("mount '{raw_pattern}': {}", e.message)))?;

    // `/app|/*` ⇒ `/app` and `/app/*`; prefixes apply to both because they sit in front of X.
    let expanded = match raw_pattern.split_once('|') {
        Some((first, rest)) => vec![first.to_owned(), format!("{first}{rest}")],
        None => vec![raw_pattern.to_owned()],
    };

    let mut rules = Vec::with_capacity(expanded.len());
    for full in expanded {
        let p = full.as_str();
        let (disabled, p) = p.strip_prefix('-').map_or((false, p), |rest| (true, rest));
        let (exclusion, p) = p.strip_prefix('!').map_or((false, p), |rest| (true, rest));
        if !p.starts_with('/') {
            let hint = if p.is_empty() {
                "the pattern is empty".to_owned()
            } else {
                format!("use '/{p}' instead of '{p}'")
            };
            return Err(MapError::new(format!(
                "invalid mount pattern '{raw_pattern}': after the optional '-' and '!' \
                 prefixes it must start with '/' ({hint})"
            )));
        }
        if let Some(why) = never_matches(p) {
            warnings.push(format!(
                "mount pattern '{full}' can never match a normalized URI ({why})"
            ));
        }
        rules.push(Rule {
            kind: if p.contains(['*', '?']) {
                MatchKind::Wildchar
            } else {
                MatchKind::Exact
            },
            slashes: p.bytes().filter(|&b| b == b'/').count(),
            pattern: p.to_owned(),
            disabled,
            exclusion,
            worker: worker.clone(),
            extensions: extensions.clone(),
            source,
            seq: 0,
        });
    }
    Ok((rules, warnings))
}

/// Literal pieces that normalisation removes from every URI; a pattern containing one is
/// almost certainly a mistake (e.g. `JkUnMount /app;jsessionid` excludes nothing).
fn never_matches(pattern: &str) -> Option<&'static str> {
    if pattern.contains(';') {
        Some("path parameters are stripped before matching")
    } else if pattern.contains("//") {
        Some("'//' is collapsed before matching")
    } else if pattern.contains("/./")
        || pattern.contains("/../")
        || pattern.ends_with("/.")
        || pattern.ends_with("/..")
    {
        Some("'.' and '..' segments are resolved before matching")
    } else if pattern.chars().any(char::is_control) {
        Some("URIs with control characters are rejected")
    } else {
        None
    }
}

/// Glob match over whole strings. Iterative: on a mismatch only the most recent `*` is
/// widened by one byte, which is enough for `*`/`?` globs and bounds the work to
/// O(pattern × text) whatever the input.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // (pattern index just after the last `*`, text index that `*` currently stops at)
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(&b'*') => {
                p += 1;
                backtrack = Some((p, t));
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((after_star, star_end)) => {
                    p = after_star;
                    t = star_end + 1;
                    backtrack = Some((after_star, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Parses uriworkermap.properties content.
///
/// Format as mod_jk reads it: `#` starts a comment anywhere on the line, keys and values
/// are trimmed, a later duplicate key replaces the earlier one (with a warning), and `$(x)`
/// in values is replaced by `resolve("x")` (unresolved references stay literal, at most 20
/// per value). Any invalid pattern or worker spec fails the whole file, so a reload keeps
/// the previous rules instead of silently losing some.
pub fn parse_uriworkermap(
    path: &str,
    contents: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<MapLine>, Vec<String>), MapError> {
    let mut lines: Vec<MapLine> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut warnings = Vec::new();

    for (index, raw) in contents.lines().enumerate() {
        let line_no = index + 1;
        let at = format!("{path}:{line_no}");
        let text = raw
            .split_once('#')
            .map_or(raw, |(code, _comment)| code)
            .trim();
        if text.is_empty() {
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            warnings.push(format!("{at}: line ignored, it has no '=': '{text}'"));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.is_empty() {
            warnings.push(format!(
                "{at}: line ignored, empty pattern or worker: '{text}'"
            ));
            continue;
        }
        let worker_spec = substitute(value, resolve);
        let (rules, rule_warnings) = build_rules(key, &worker_spec, RuleSource::UriWorkerMap)
            .map_err(|e| MapError::new(format!("{at}: {}", e.message)))?;
        warnings.extend(rule_warnings.into_iter().map(|w| format!("{at}: {w}")));

        let entry = MapLine {
            line: line_no,
            pattern: key.to_owned(),
            worker_spec,
            rules,
        };
        match by_key.get(key) {
            Some(&i) => {
                warnings.push(format!(
                    "{at}: duplicate pattern '{key}' (first at line {}); '{}' replaced by '{}'",
                    lines[i].line, lines[i].worker_spec, entry.worker_spec
                ));
                lines[i] = entry;
            }
            None => {
                by_key.insert(key.to_owned(), lines.len());
                lines.push(entry);
            }
        }
    }
    Ok((lines, warnings))
}

/// `$(name)` substitution with the workers.properties rule: left to right, the inserted
/// text is not rescanned, unknown names stay literal.
fn substitute(value: &str, resolve: &dyn Fn(&str) -> Option<String>) -> String {
    const MAX_SUBSTITUTIONS: usize = 20;
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    for _ in 0..MAX_SUBSTITUTIONS {
        let Some(start) = rest.find("$(") else { break };
        let Some(len) = rest[start + 2..].find(')') else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        let end = start + 2 + len + 1;
        out.push_str(&rest[..start]);
        match resolve(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
