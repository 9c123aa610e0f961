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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mount(map: &mut UriMap, pattern: &str, worker: &str) {
        map.add_mount(pattern, worker, RuleSource::JkMount).unwrap();
    }

    fn unmount(map: &mut UriMap, pattern: &str, worker: &str) {
        map.add_unmount(pattern, worker, RuleSource::JkMount)
            .unwrap();
    }

    fn worker(map: &UriMap, uri: &str) -> Option<String> {
        map.map(uri).map(|m| m.worker)
    }

    fn patterns(map: &UriMap) -> Vec<String> {
        map.rules().map(Rule::display_pattern).collect()
    }

    #[test]
    fn worked_example_of_the_typical_setup() {
        let mut map = UriMap::new();
        mount(&mut map, "/*", "lb");
        // `<Location /jkmanager/> JkMount jkstatus` is an exact rule on the Location path.
        mount(&mut map, "/jkmanager/", "jkstatus");
        assert_eq!(patterns(&map), ["/jkmanager/", "/*"]);
        assert_eq!(worker(&map, "/jkmanager/").as_deref(), Some("jkstatus"));
        assert_eq!(worker(&map, "/jkmanager").as_deref(), Some("lb"));
        assert_eq!(worker(&map, "/x/y").as_deref(), Some("lb"));
        let m = map.map("/jkmanager/").unwrap();
        assert_eq!(m.pattern, "/jkmanager/");
        assert_eq!(m.source, RuleSource::JkMount);
        assert_eq!(map.workers(), ["jkstatus", "lb"]);
    }

    #[test]
    fn no_implicit_worker() {
        let map = UriMap::new();
        assert!(map.is_empty());
        for uri in ["/", "/x", "/jkstatus", "/index.html"] {
            assert_eq!(map.map(uri), None);
        }
        let mut map = UriMap::new();
        mount(&mut map, "/app/*", "b1");
        assert_eq!(map.map("/"), None);
        assert_eq!(map.map("/docs/"), None);
        assert_eq!(map.map("*"), None);
    }

    #[test]
    fn sort_order() {
        let mut map = UriMap::new();
        map.add_mount("/a/*", "wd", RuleSource::WorkerDefinition)
            .unwrap();
        mount(&mut map, "/*", "w1");
        mount(&mut map, "/a/*", "jk");
        mount(&mut map, "/abc/*", "w3");
        mount(&mut map, "/a/b/c", "w4");
        map.add_mount("/a/*", "uwm", RuleSource::UriWorkerMap)
            .unwrap();
        mount(&mut map, "/long-name", "w5");
        let order: Vec<_> = map
            .rules()
            .map(|r| (r.display_pattern(), r.worker().to_owned()))
            .collect();
        let expect = [
            ("/a/b/c", "w4"),
            ("/abc/*", "w3"),
            ("/a/*", "uwm"),
            ("/a/*", "jk"),
            ("/a/*", "wd"),
            ("/long-name", "w5"),
            ("/*", "w1"),
        ];
        let expect: Vec<_> = expect
            .iter()
            .map(|(p, w)| (p.to_string(), w.to_string()))
            .collect();
        assert_eq!(order, expect);
        assert_eq!(worker(&map, "/a/x").as_deref(), Some("uwm"));
        assert_eq!(worker(&map, "/a/b/c").as_deref(), Some("w4"));
        assert_eq!(worker(&map, "/long-name").as_deref(), Some("w5"));
        assert_eq!(worker(&map, "/long-name/x").as_deref(), Some("w1"));
    }

    #[test]
    fn exact_and_wildchar() {
        let mut map = UriMap::new();
        mount(&mut map, "/app", "exact");
        mount(&mut map, "/s/*.jsp", "jsp");
        mount(&mut map, "/q/?.do", "q");
        assert_eq!(worker(&map, "/app").as_deref(), Some("exact"));
        assert_eq!(worker(&map, "/app/x"), None);
        assert_eq!(worker(&map, "/app/"), None);
        assert_eq!(worker(&map, "/s/a/b/c.jsp").as_deref(), Some("jsp"));
        assert_eq!(worker(&map, "/s/.jsp").as_deref(), Some("jsp"));
        assert_eq!(worker(&map, "/s/x.JSP"), None);
        assert_eq!(worker(&map, "/q/a.do").as_deref(), Some("q"));
        assert_eq!(worker(&map, "/q/.do"), None);
        assert_eq!(worker(&map, "/q/ab.do"), None);
        let kinds: Vec<_> = map.rules().map(Rule::kind).collect();
        assert!(kinds.contains(&MatchKind::Exact) && kinds.contains(&MatchKind::Wildchar));
    }

    #[test]
    fn pipe_shortcut() {
        let mut map = UriMap::new();
        mount(&mut map, "/app|/*", "w");
        assert_eq!(patterns(&map), ["/app/*", "/app"]);
        assert_eq!(worker(&map, "/app").as_deref(), Some("w"));
        assert_eq!(worker(&map, "/app/x/y").as_deref(), Some("w"));
        assert_eq!(worker(&map, "/apple"), None);

        let mut map = UriMap::new();
        map.add_mount("-!/x|/*", "w", RuleSource::UriWorkerMap)
            .unwrap();
        assert_eq!(patterns(&map), ["-!/x/*", "-!/x"]);
    }

    #[test]
    fn same_pattern_same_source_last_wins() {
        let mut map = UriMap::new();
        mount(&mut map, "/app/*", "a");
        mount(&mut map, "/app/*", "b;reply_timeout=5");
        assert_eq!(map.len(), 1);
        let m = map.map("/app/x").unwrap();
        assert_eq!(m.worker, "b");
        assert_eq!(m.extensions.reply_timeout_ms, Some(5));

        // Different source ⇒ both kept, uriworkermap first.
        map.add_mount("/app/*", "c", RuleSource::UriWorkerMap)
            .unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(worker(&map, "/app/x").as_deref(), Some("c"));
    }

    #[test]
    fn unmount_cancels_without_fallback() {
        let mut map = UriMap::new();
        mount(&mut map, "/*", "lb");
        mount(&mut map, "/app/*", "lb");
        unmount(&mut map, "/app/static/*", "lb");
        assert_eq!(worker(&map, "/app/x").as_deref(), Some("lb"));
        // `/*` would match too, but an exclusion is final.
        assert_eq!(map.map("/app/static/a.css"), None);

        let mut map = UriMap::new();
        mount(&mut map, "/*", "other");
        mount(&mut map, "/app/*", "w");
        unmount(&mut map, "/app/static/*", "*");
        assert_eq!(map.map("/app/static/x"), None);
        assert_eq!(worker(&map, "/static/x").as_deref(), Some("other"));
        assert_eq!(map.workers(), ["other", "w"]);
    }

    #[test]
    fn unmount_for_another_worker_does_not_exclude() {
        let mut map = UriMap::new();
        mount(&mut map, "/app/*", "w");
        unmount(&mut map, "/app/static/*", "other");
        assert_eq!(worker(&map, "/app/static/x").as_deref(), Some("w"));
        // A same-pattern mount and unmount are different keys and coexist.
        mount(&mut map, "/app/static/*", "other");
        assert_eq!(map.len(), 3);
        assert_eq!(map.map("/app/static/x"), None);
    }

    #[test]
    fn disabled_rules_are_ignored() {
        let mut map = UriMap::new();
        map.add_mount("-/app/*", "w", RuleSource::UriWorkerMap)
            .unwrap();
        assert_eq!(map.map("/app/x"), None);
        mount(&mut map, "/app/*", "w");
        map.add_mount("-!/app/*", "w", RuleSource::UriWorkerMap)
            .unwrap();
        assert_eq!(worker(&map, "/app/x").as_deref(), Some("w"));
        assert_eq!(patterns(&map), ["-/app/*", "-!/app/*", "/app/*"]);
        let r = map.rules().next().unwrap();
        assert!(r.is_disabled() && !r.is_exclusion());
    }

    #[test]
    fn bad_patterns_are_config_errors() {
        let mut map = UriMap::new();
        let err = map
            .add_mount("*.jsp", "w", RuleSource::JkMount)
            .unwrap_err();
        assert!(err.message.contains("'*.jsp'"), "{err}");
        assert!(
            err.message.contains("use '/*.jsp' instead of '*.jsp'"),
            "{err}"
        );
        for bad in ["", "-", "!", "-!app", "!-/x", "app|/*", "|/x"] {
            assert!(
                map.add_mount(bad, "w", RuleSource::JkMount).is_err(),
                "{bad:?}"
            );
        }
        assert!(map.add_mount("/x", "", RuleSource::JkMount).is_err());
        assert!(map.add_unmount("!/x", "w", RuleSource::JkMount).is_err());
        assert!(map.is_empty(), "a failed add must not leave rules behind");
    }

    #[test]
    fn never_matching_patterns_warn() {
        let mut map = UriMap::new();
        for p in ["/jkstatus;", "/a//b", "/a/./b", "/a/../b", "/a/.."] {
            let w = map.add_mount(p, "w", RuleSource::JkMount).unwrap();
            assert_eq!(w.len(), 1, "{p}: {w:?}");
        }
        assert!(
            map.add_mount("/a/*.jsp", "w;x=1", RuleSource::JkMount)
                .unwrap()[0]
                .contains("unknown rule extension")
        );
    }

    #[test]
    fn inherit_copies_missing_jkmounts() {
        let mut main = UriMap::new();
        mount(&mut main, "/*", "lb");
        mount(&mut main, "/app/*", "main-app");
        unmount(&mut main, "/app/static/*", "*");
        main.add_mount("/wd/*", "wd", RuleSource::WorkerDefinition)
            .unwrap();

        let mut vhost = UriMap::new();
        mount(&mut vhost, "/app/*", "vhost-app");
        vhost.inherit(&main);
        assert_eq!(
            patterns(&vhost),
            ["!/app/static/*", "/app/*", "/*"],
            "worker-definition rules stay with the main server"
        );
        assert_eq!(worker(&vhost, "/app/x").as_deref(), Some("vhost-app"));
        assert_eq!(worker(&vhost, "/other").as_deref(), Some("lb"));
        assert_eq!(vhost.map("/app/static/x"), None);

        // Without inherit a vhost maps nothing.
        assert_eq!(UriMap::new().map("/other"), None);
    }

    fn file_lines(text: &str) -> Vec<MapLine> {
        parse_uriworkermap("uwm.properties", text, &|_| None)
            .unwrap()
            .0
    }

    #[test]
    fn inherit_mount_file_rules_only_without_own_file() {
        let mut main = UriMap::new();
        main.replace_uriworkermap(&file_lines("/file/*=fw\n"));

        let mut plain = UriMap::new();
        plain.inherit(&main);
        assert_eq!(worker(&plain, "/file/x").as_deref(), Some("fw"));
        assert_eq!(
            plain.rules().next().unwrap().source(),
            RuleSource::UriWorkerMap
        );

        let mut own = UriMap::new();
        own.replace_uriworkermap(&file_lines("/mine/*=mw\n"));
        own.inherit(&main);
        assert_eq!(worker(&own, "/file/x"), None);
        assert_eq!(worker(&own, "/mine/x").as_deref(), Some("mw"));

        // An own file that happens to be empty still counts as "has a mount file".
        let mut empty = UriMap::new();
        empty.replace_uriworkermap(&[]);
        empty.inherit(&main);
        assert!(empty.is_empty());
    }

    #[test]
    fn replace_uriworkermap_keeps_jkmounts() {
        let mut map = UriMap::new();
        mount(&mut map, "/jk/*", "jk");
        map.replace_uriworkermap(&file_lines("/a/*=a\n/b/*=b\n"));
        assert_eq!(map.len(), 3);
        map.replace_uriworkermap(&file_lines("-/a/*=a\n"));
        assert_eq!(patterns(&map), ["/jk/*", "-/a/*"]);
        assert_eq!(worker(&map, "/a/x"), None);
        assert_eq!(worker(&map, "/b/x"), None);
        assert_eq!(worker(&map, "/jk/x").as_deref(), Some("jk"));
        let from_file: Vec<_> = map
            .rules()
            .filter(|r| r.source() == RuleSource::UriWorkerMap)
            .map(Rule::pattern)
            .collect();
        assert_eq!(from_file, ["/a/*"]);
    }

    /// CVE-2014-8111 / CVE-2018-11759 / CVE-2007-1860: every spelling of the excluded path
    /// normalises onto it, and nothing is decoded twice.
    #[test]
    fn path_trick_corpus() {
        let mut map = UriMap::new();
        mount(&mut map, "/app/*", "w");
        unmount(&mut map, "/app/private/*", "w");
        for uri in [
            "/app//private/x",
            "//app/private/x",
            "/app/./private/x",
            "/app/a/../private/x",
            "/app/private;x=1/x",
            "/app/private/./x",
            "/app/private/x",
            "/app/;x/private//x;jsessionid=1",
        ] {
            let n = normalize(uri).unwrap();
            assert_eq!(n, "/app/private/x", "{uri}");
            assert_eq!(map.map(&n), None, "{uri}");
        }
        assert_eq!(
            normalize("/app/../../etc"),
            Err(NormalizeError::EscapesRoot)
        );
        assert_eq!(normalize("/.."), Err(NormalizeError::EscapesRoot));
        let n = normalize("/app/%2e%2e/private/x").unwrap();
        assert_eq!(n, "/app/%2e%2e/private/x");
        assert_eq!(worker(&map, &n).as_deref(), Some("w"));

        let mut status = UriMap::new();
        mount(&mut status, "/jkstatus", "jkstatus");
        assert_eq!(normalize("/jkstatus;").unwrap(), "/jkstatus");
        assert_eq!(normalize("/jkstatus;x=y").unwrap(), "/jkstatus");
    }

    #[test]
    fn long_uris_are_not_mapped() {
        let mut map = UriMap::new();
        mount(&mut map, "/app/*", "w");
        let fits = format!("/app/{}", "a".repeat(MAX_URI_LEN - 5));
        assert_eq!(fits.len(), 4095);
        assert_eq!(
            worker(&map, &normalize(&fits).unwrap()).as_deref(),
            Some("w")
        );
        let over = format!("{fits}a");
        assert_eq!(normalize(&over), Err(NormalizeError::TooLong));
        assert_eq!(map.map(&over), None);
    }

    #[test]
    fn uriworkermap_file() {
        let text = "\
# comment line
/app/*=lb;reply_timeout=1000   # trailing comment
  /static/* = $(STATIC)$(missing) \r
!/app/static/*=lb
/app/*=lb2
-/old/*=lb
/svc|/*=$(STATIC);stopped=m1;frobnicate=2
not a mapping line

/empty=
";
        let resolve = |name: &str| (name == "STATIC").then(|| "static-w".to_owned());
        let (lines, warnings) = parse_uriworkermap("/etc/uwm.properties", text, &resolve).unwrap();
        let summary: Vec<_> = lines
            .iter()
            .map(|l| (l.line, l.pattern.as_str(), l.worker_spec.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (5, "/app/*", "lb2"),
                (3, "/static/*", "static-w$(missing)"),
                (4, "!/app/static/*", "lb"),
                (6, "-/old/*", "lb"),
                (7, "/svc|/*", "static-w;stopped=m1;frobnicate=2"),
            ]
        );
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].starts_with("/etc/uwm.properties:5: duplicate pattern '/app/*'"));
        assert!(warnings[0].contains("line 2"));
        assert!(warnings[1].starts_with("/etc/uwm.properties:7: unknown rule extension"));
        assert!(warnings[2].starts_with("/etc/uwm.properties:8:"));
        assert!(warnings[3].starts_with("/etc/uwm.properties:10:"));

        let mut map = UriMap::new();
        map.replace_uriworkermap(&lines);
        let m = map.map("/app/x").unwrap();
        assert_eq!(
            (m.worker.as_str(), m.source),
            ("lb2", RuleSource::UriWorkerMap)
        );
        assert_eq!(
            m.extensions.reply_timeout_ms, None,
            "duplicate replaced the whole value"
        );
        assert_eq!(
            worker(&map, "/static/x").as_deref(),
            Some("static-w$(missing)")
        );
        assert_eq!(worker(&map, "/app/static/x").as_deref(), Some("lb2"));
        let m = map.map("/svc").unwrap();
        assert_eq!(m.extensions.stopped, ["m1"]);
        assert_eq!(worker(&map, "/svc/a").as_deref(), Some("static-w"));
        assert_eq!(worker(&map, "/old/x"), None);
    }

    #[test]
    fn uriworkermap_errors_name_the_position() {
        let err = parse_uriworkermap("conf/uwm", "/ok=w\n*.jsp=w\n", &|_| None).unwrap_err();
        assert!(err.message.starts_with("conf/uwm:2: "), "{err}");
        assert!(
            err.message.contains("use '/*.jsp' instead of '*.jsp'"),
            "{err}"
        );
        let err = parse_uriworkermap("conf/uwm", "/ok=;reply_timeout=1\n", &|_| None).unwrap_err();
        assert!(err.message.starts_with("conf/uwm:1: "), "{err}");
    }

    #[test]
    fn substitution() {
        let r = |n: &str| match n {
            "a" => Some("A".to_owned()),
            "loop" => Some("$(loop)".to_owned()),
            _ => None,
        };
        assert_eq!(substitute("x$(a)y$(a)", &r), "xAyA");
        assert_eq!(substitute("$(b)$(a)", &r), "$(b)A");
        assert_eq!(substitute("$(loop)", &r), "$(loop)");
        assert_eq!(substitute("$(a", &r), "$(a");
        assert_eq!(
            substitute(&"$(a)".repeat(25), &r),
            format!("{}{}", "A".repeat(20), "$(a)".repeat(5))
        );
    }

    fn reference_glob(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| reference_glob(rest, &t[i..])),
            Some((&c, rest)) => {
                !t.is_empty() && (c == b'?' || c == t[0]) && reference_glob(rest, &t[1..])
            }
        }
    }

    #[test]
    fn glob_worst_case_is_fast() {
        let text = "a".repeat(4000);
        let pattern = format!("{}b", "*a".repeat(40));
        assert!(!glob_match(pattern.as_bytes(), text.as_bytes()));
    }

    fn small(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(alphabet), 0..max)
            .prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn glob_agrees_with_reference(
            p in small(&["a", "b", "/", "*", "?"], 8),
            t in small(&["a", "b", "/", "*", "?"], 10),
        ) {
            prop_assert_eq!(
                glob_match(p.as_bytes(), t.as_bytes()),
                reference_glob(p.as_bytes(), t.as_bytes())
            );
        }

        #[test]
        fn map_follows_the_spec(
            rules in proptest::collection::vec(
                (
                    small(&["-", "!", "/", "a", "*", "?", "|", ".", ";"], 7),
                    proptest::sample::select(&["w1", "w2", "*"][..]),
                    proptest::sample::select(&[
                        RuleSource::UriWorkerMap, RuleSource::JkMount, RuleSource::WorkerDefinition,
                    ][..]),
                ),
                0..8,
            ),
            uri in small(&["/", "a", "b", ".", ";"], 8),
            junk in any::<String>(),
        ) {
            let mut map = UriMap::new();
            for (pattern, worker, source) in &rules {
                let _ = map.add_mount(pattern, worker, *source);
            }
            let _ = map.map(&junk);
            let all: Vec<&Rule> = map.rules().collect();
            for pair in all.windows(2) {
                prop_assert_ne!(pair[0].order(pair[1]), Ordering::Greater);
            }
            let first = all.iter().find(|r| {
                !r.is_disabled() && !r.is_exclusion() && reference_glob(r.pattern.as_bytes(), uri.as_bytes())
            });
            let expected = first.filter(|winner| {
                !all.iter().any(|r| {
                    r.is_exclusion()
                        && !r.is_disabled()
                        && (r.worker() == winner.worker() || r.worker() == "*")
                        && reference_glob(r.pattern.as_bytes(), uri.as_bytes())
                })
            });
            let expected = expected.filter(|_| uri.starts_with('/'));
            prop_assert_eq!(map.map(&uri), expected.map(|r| MapMatch::from(*r)));
        }
    }
}
