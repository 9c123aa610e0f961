//! workers.properties file syntax: lines, comments, `$(var)` substitution, duplicate keys,
//! `reference=` templates and key validation, with the semantics of mod_jk's property map.
//!
//! The result is a flat, ordered `key -> value` map that remembers where every value came
//! from, so that the typed layer (`workers`) can point a sysadmin at the offending line.

use std::collections::HashMap;
use std::fmt;

use super::attributes::{AttrSpec, Multi, find_attribute, suggestable_attribute_names};

/// mod_jk stops expanding `$(…)` after this many occurrences in one value.
pub const MAX_SUBSTITUTIONS: usize = 20;
/// Longest allowed chain of `reference=` hops (mod_jk's recursion limit).
pub const MAX_REFERENCE_DEPTH: usize = 20;
/// Longest value `$(…)` substitution or the joining of repeated keys may produce. A line
/// can paste an earlier value up to twenty times, so without a cap a few hundred bytes of
/// file grow exponentially.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// Where a value was written: a workers.properties line or a `JkWorkerProperty` line of
/// httpd.conf. Line 0 denotes a built-in default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl Origin {
    pub fn new(file: impl Into<String>, line: usize) -> Origin {
        Origin {
            file: file.into(),
            line,
        }
    }

    /// Origin of values nobody wrote (implicit `worker.list=ajp13` and the like).
    pub fn builtin() -> Origin {
        Origin::new("<built-in default>", 0)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One input. `JkWorkerProperty` lines (each with its httpd.conf origin) come first, then
/// the file, because mod_jk fills its map in that order and the order decides which value
/// wins and what `$(var)` can see.
#[derive(Debug, Clone)]
pub enum Source<'a> {
    Line { origin: Origin, text: &'a str },
    File { path: &'a str, contents: &'a str },
}

/// A configuration error; `Display` renders `<file>:<line>: <key>: <problem>[ (did you mean
/// '<hint>'?)]`. `hint` holds only the suggested word.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub origin: Option<Origin>,
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(origin: Option<&Origin>, key: Option<&str>, message: impl Into<String>) -> Self {
        ConfigError {
            origin: origin.cloned(),
            key: key.map(str::to_owned),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (did you mean '{hint}'?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Renders a warning in the same shape as an error so both read alike in the log.
pub(crate) fn diagnostic(origin: Option<&Origin>, key: Option<&str>, message: &str) -> String {
    ConfigError::new(origin, key, message).to_string()
}

/// One `key=value` line as it contributed to an entry (after `$(var)` substitution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub origin: Origin,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// Effective value: the last definition, or all of them joined (see [`Multi`]).
    pub value: String,
    /// Origin of the last definition.
    pub origin: Origin,
    /// Every line that contributed, in order; lets list errors name the right line.
    pub definitions: Vec<Definition>,
    /// `worker.T` when the entry was copied from a `reference=` template.
    pub inherited_from: Option<String>,
}

/// The ordered property map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Properties {
    /// Reads all sources in order, then resolves `reference=` templates.
    /// Returns the map plus warnings, or the first error (mod_jk also stops at the first).
    pub fn parse(
        sources: &[Source<'_>],
        server_root: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Properties, Vec<String>), ConfigError> {
        let mut reader = Reader {
            props: Properties::default(),
            warnings: Vec::new(),
            server_root,
            env,
        };
        for source in sources {
            match source {
                // httpd.conf has no inline comments and mod_jk does not strip `#` from
                // JkWorkerProperty values, so a `#` there stays part of the value.
                Source::Line { origin, text } => reader.read_line(text, origin, false)?,
                Source::File { path, contents } => {
                    for (index, line) in contents.lines().enumerate() {
                        reader.read_line(line, &Origin::new(*path, index + 1), true)?;
                    }
                }
            }
        }
        let Reader {
            mut props,
            warnings,
            ..
        } = reader;
        props.resolve_references()?;
        Ok((props, warnings))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.entry(key).map(|e| &e.origin)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    /// Entries in first-definition order (inherited template keys come last).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// `(key, value)` in first-definition order; the status worker's `dump` uses this and
    /// must itself omit `*.secret`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// For a list-valued key, the origin of the first line whose value contains `item`;
    /// falls back to the origin of the last definition.
    pub fn origin_of_item(&self, key: &str, item: &str) -> Option<&Origin> {
        let entry = self.entry(key)?;
        entry
            .definitions
            .iter()
            .find(|d| split_list(&d.value).iter().any(|i| i == item))
            .map(|d| &d.origin)
            .or(Some(&entry.origin))
    }

    fn insert(&mut self, key: &str, value: String, origin: &Origin, warnings: &mut Vec<String>) {
        let definition = Definition {
            origin: origin.clone(),
            value: value.clone(),
        };
        let Some(&i) = self.index.get(key) else {
            self.push(Entry {
                key: key.to_owned(),
                value,
                origin: origin.clone(),
                definitions: vec![definition],
                inherited_from: None,
            });
            return;
        };
        let entry = &mut self.entries[i];
        match multi_for_key(key) {
            Multi::Unique => {
                warnings.push(diagnostic(
                    Some(origin),
                    Some(key),
                    &format!(
                        "Duplicate key: value '{}' from {} is replaced by '{}'",
                        shown(key, &entry.value),
                        entry.origin,
                        shown(key, &value)
                    ),
                ));
                entry.value = value;
            }
            multi => {
                let separator = multi.separator();
                entry.value = format!("{}{separator}{value}", entry.value);
                // Joining with '*' is a mod_jk quirk kept for compatibility (old JNI-era
                // settings such as `sysprops` were '*'-separated lists, and every key not
                // known to be single-valued was treated that way). It almost never is what
                // the author meant, so say so.
                if multi == Multi::Star {
                    warnings.push(diagnostic(
                        Some(origin),
                        Some(key),
                        &format!(
                            "Duplicate key: values joined with '*' as mod_jk does, giving '{}'",
                            shown(key, &entry.value)
                        ),
                    ));
                }
            }
        }
        entry.origin = origin.clone();
        entry.definitions.push(definition);
    }

    fn push(&mut self, entry: Entry) {
        self.index.insert(entry.key.clone(), self.entries.len());
        self.entries.push(entry);
    }

    /// Copies `worker.T.*` into every `worker.X` with `reference=worker.T`, after all input
    /// has been read so that the order of lines does not matter.
    fn resolve_references(&mut self) -> Result<(), ConfigError> {
        let referrers: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| reference_owner(&e.key).map(str::to_owned))
            .collect();
        let mut done = Vec::new();
        for name in referrers {
            let mut chain = Vec::new();
            self.resolve_reference(&name, &mut chain, &mut done)?;
        }
        Ok(())
    }

    fn resolve_reference(
        &mut self,
        name: &str,
        chain: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        if done.iter().any(|d| d == name) {
            return Ok(());
        }
        let key = format!("worker.{name}.reference");
        let entry = self.entry(&key).expect("referrer has a reference key");
        let origin = entry.origin.clone();
        let target_value = entry.value.clone();
        let error = |message: String| ConfigError::new(Some(&origin), Some(&key), message);

        if chain.iter().any(|c| c == name) {
            chain.push(name.to_owned());
            let path: Vec<String> = chain.iter().map(|c| format!("worker.{c}")).collect();
            return Err(error(format!("reference cycle: {}", path.join(" -> "))));
        }
        if chain.len() >= MAX_REFERENCE_DEPTH {
            return Err(error(format!(
                "more than {MAX_REFERENCE_DEPTH} chained references (starting at worker.{})",
                chain[0]
            )));
        }

        // The value is a full key prefix; tolerate a trailing dot, nothing else.
        let target = target_value.trim_end_matches('.');
        let Some(template) = target.strip_prefix("worker.").filter(|t| !t.is_empty()) else {
            let guess = format!("worker.{target}");
            let hint = self.has_worker_keys(target).then_some(guess);
            return Err(error(format!(
                "reference '{target_value}' must name a template as 'worker.<name>'"
            ))
            .with_hint(hint));
        };
        if !self.has_worker_keys(template) {
            let names = self.worker_names();
            let hint =
                suggest(template, names.iter().map(String::as_str)).map(|n| format!("worker.{n}"));
            return Err(error(format!(
                "reference target 'worker.{template}' has no attributes"
            ))
            .with_hint(hint));
        }

        chain.push(name.to_owned());
        if self
            .entry(&format!("worker.{template}.reference"))
            .is_some()
        {
            self.resolve_reference(template, chain, done)?;
        }
        chain.pop();

        let from = format!("worker.{template}.");
        let inherited: Vec<Entry> = self
            .entries
            .iter()
            .filter_map(|e| {
                let attr = e.key.strip_prefix(&from)?;
                let to = format!("worker.{name}.{attr}");
                (!self.index.contains_key(&to)).then(|| Entry {
                    key: to,
                    inherited_from: Some(format!("worker.{template}")),
                    ..e.clone()
                })
            })
            .collect();
        for entry in inherited {
            self.push(entry);
        }
        done.push(name.to_owned());
        Ok(())
    }

    /// True when some `worker.<name>.<attr>` key exists.
    pub fn has_worker_keys(&self, name: &str) -> bool {
        let prefix = format!("worker.{name}.");
        self.entries.iter().any(|e| e.key.starts_with(&prefix))
    }

    /// Names of all workers that have at least one attribute, in first-definition order.
    pub fn worker_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for entry in &self.entries {
            if let Some((name, _)) = split_worker_key(&entry.key) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
        names
    }
}

/// Splits `worker.<name>.<attr>` at the last dot (names may themselves contain dots, as in
/// mod_jk, which only ever builds such keys by concatenation). Globals yield `None`.
pub fn split_worker_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("worker.")?;
    rest.rsplit_once('.')
}

fn reference_owner(key: &str) -> Option<&str> {
    match split_worker_key(key) {
        Some((name, "reference")) if !name.is_empty() => Some(name),
        _ => None,
    }
}

/// Secrets must not leak into the log through duplicate-key warnings.
fn shown<'v>(key: &str, value: &'v str) -> &'v str {
    if key.ends_with(".secret") || key.ends_with(".secretkey") {
        "********"
    } else {
        value
    }
}

/// How repeated definitions of `key` combine. Like mod_jk this looks only at the key's last
/// dotted component, so even a user variable `my.port` is single-valued.
fn multi_for_key(key: &str) -> Multi {
    let last = key.rsplit_once('.').map_or(key, |(_, last)| last);
    if key.contains('.') {
        if let Some(spec) = find_attribute(last) {
            return spec.multi;
        }
    }
    if key.ends_with("_path") {
        Multi::PathList
    } else {
        Multi::Star
    }
}

struct Reader<'e> {
    props: Properties,
    warnings: Vec<String>,
    server_root: &'e str,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn read_line(
        &mut self,
        text: &str,
        origin: &Origin,
        strip_comment: bool,
    ) -> Result<(), ConfigError> {
        let text = if strip_comment {
            text.split_once('#').map_or(text, |(before, _)| before)
        } else {
            text
        };
        let text = text.trim_ascii();
        if text.is_empty() {
            return Ok(());
        }
        let Some((key, value)) = text.split_once('=') else {
            self.warn(origin, None, &format!("line ignored: no '=' in '{text}'"));
            return Ok(());
        };
        let (key, value) = (key.trim_ascii(), value.trim_ascii());
        if key.is_empty() {
            self.warn(origin, None, "line ignored: empty key");
            return Ok(());
        }
        if value.is_empty() {
            self.warn(origin, Some(key), "line ignored: empty value");
            return Ok(());
        }
        if let Some(warning) = validate_key(key, origin)? {
            self.warn(origin, Some(key), &warning);
        }
        let value = self.substitute(key, value, origin)?;
        let joined = match self.props.get(key) {
            Some(old) if multi_for_key(key) != Multi::Unique => old.len() + 1,
            _ => 0,
        };
        if joined + value.len() > MAX_VALUE_LEN {
            return Err(too_long(origin, key));
        }
        self.props.insert(key, value, origin, &mut self.warnings);
        Ok(())
    }

    /// Expands `$(name)` left to right without re-expanding inserted text.
    fn substitute(
        &mut self,
        key: &str,
        value: &str,
        origin: &Origin,
    ) -> Result<String, ConfigError> {
        let mut out = value.to_owned();
        let mut pos = 0;
        for _ in 0..MAX_SUBSTITUTIONS {
            let Some(start) = out[pos..].find("$(").map(|i| pos + i) else {
                break;
            };
            let Some(end) = out[start + 2..].find(')').map(|i| start + 2 + i) else {
                break;
            };
            let name = out[start + 2..end].to_owned();
            match self.lookup(&name) {
                Some(replacement) => {
                    if out.len() - (end + 1 - start) + replacement.len() > MAX_VALUE_LEN {
                        return Err(too_long(origin, key));
                    }
                    out.replace_range(start..=end, &replacement);
                    pos = start + replacement.len();
                }
                None => {
                    self.warn(
                        origin,
                        Some(key),
                        &format!("$({name}) is neither a property nor an environment variable; kept literally"),
                    );
                    pos = end + 1;
                }
            }
        }
        Ok(out)
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(value) = self.props.get(name) {
            return Some(value.to_owned());
        }
        // mod_jk pre-seeds its map with ServerRoot; we keep it out of the map (so it does
        // not show up in dumps or get '*'-joined with a user's own ServerRoot=) but let
        // it resolve exactly where mod_jk's would.
        if name == "ServerRoot" {
            return Some(self.server_root.to_owned());
        }
        (self.env)(name)
    }

    fn warn(&mut self, origin: &Origin, key: Option<&str>, message: &str) {
        self.warnings.push(diagnostic(Some(origin), key, message));
    }
}

fn too_long(origin: &Origin, key: &str) -> ConfigError {
    ConfigError::new(
        Some(origin),
        Some(key),
        format!(
            "value longer than {MAX_VALUE_LEN} bytes (after $(...) substitution and joining repeated keys)"
        ),
    )
}

/// Checks a key as mod_jk does while reading: user variables are free-form, `worker.*` keys
/// must use a known attribute. Returns a warning for accepted-but-dubious keys.
fn validate_key(key: &str, origin: &Origin) -> Result<Option<String>, ConfigError> {
    let Some(rest) = key.strip_prefix("worker.") else {
        return Ok(None);
    };
    let error = |message: String| ConfigError::new(Some(origin), Some(key), message);
    if rest == "list" || rest == "maintain" {
        return Ok(None);
    }
    let Some((name, attr)) = rest.rsplit_once('.') else {
        if find_attribute(rest).is_some() {
            // mod_jk accepts this silently (it validates by suffix only) but never reads it.
            return Ok(Some(format!(
                "ignored: a worker attribute needs a worker name, as in 'worker.<name>.{rest}'"
            )));
        }
        return Err(error(
            "unknown global key; only worker.list, worker.maintain and worker.<name>.<attribute> exist"
                .to_owned(),
        )
        .with_hint(suggest(rest, ["list", "maintain"]).map(|s| format!("worker.{s}"))));
    };
    if name.is_empty() {
        return Err(error("empty worker name".to_owned()));
    }
    if attr.is_empty() {
        return Err(error(
            "missing attribute name after the worker name".to_owned(),
        ));
    }
    let Some(spec) = find_attribute(attr) else {
        return Err(error(format!(
            "unknown attribute '{attr}'; httpd will not start with it"
        ))
        .with_hint(suggest(attr, suggestable_attribute_names())));
    };
    Ok(deprecation_warning(spec, name))
}

fn deprecation_warning(spec: &AttrSpec, name: &str) -> Option<String> {
    if spec.is_global() {
        return Some(format!(
            "'{}' is a global key and has no effect on worker '{name}'; use 'worker.{}'",
            spec.name, spec.name
        ));
    }
    if let Some(replacement) = spec.deprecated_alias_of {
        return Some(format!(
            "attribute '{}' is deprecated; use '{replacement}' instead",
            spec.name
        ));
    }
    if !spec.supported {
        return Some(format!(
            "attribute '{}' is deprecated and ignored",
            spec.name
        ));
    }
    None
}

/// mod_jk's boolean spelling: `1/0`, `on/off`, or a first letter t/y (true) or f/n (false),
/// case-insensitive. `None` for anything else (callers fall back to the default).
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim_ascii();
    if v.eq_ignore_ascii_case("off") || v == "0" {
        return Some(false);
    }
    if v.eq_ignore_ascii_case("on") || v == "1" {
        return Some(true);
    }
    match v.bytes().next()?.to_ascii_lowercase() {
        b'f' | b'n' => Some(false),
        b't' | b'y' => Some(true),
        _ => None,
    }
}

/// Result of [`parse_int`]: the value and whether anything after the number was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedInt {
    pub value: i64,
    pub trailing_garbage: bool,
}

/// Decimal integer like `strtol`, with an optional final `k/K` (×1024) or `m/M` (×1048576).
/// Leading digits are used even if junk follows (flagged), `None` if there are no digits or
/// the result overflows.
pub fn parse_int(value: &str) -> Option<ParsedInt> {
    let v = value.trim_ascii();
    let (body, multiplier) = match v.bytes().last() {
        Some(b'k' | b'K') => (&v[..v.len() - 1], 1024),
        Some(b'm' | b'M') => (&v[..v.len() - 1], 1024 * 1024),
        _ => (v, 1),
    };
    let body = body.trim_ascii_start();
    let (negative, digits) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let magnitude: i64 = digits[..len].parse().ok()?;
    let signed = if negative { -magnitude } else { magnitude };
    Some(ParsedInt {
        value: signed.checked_mul(multiplier)?,
        trailing_garbage: !digits[len..].trim_ascii().is_empty(),
    })
}

/// Splits a list value at spaces, tabs and commas, dropping empty items.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split([' ', '\t', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The closest candidate to a misspelt `word`, if it is close enough to be a plausible typo.
pub fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    let word = word.to_ascii_lowercase();
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = edit_distance(&word, &candidate.to_ascii_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that
/// `prot` is one edit away from `port`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse_file(contents: &str) -> (Properties, Vec<String>) {
        Properties::parse(
            &[Source::File {
                path: "workers.properties",
                contents,
            }],
            "/srv/httpd",
            &no_env,
        )
        .expect("parses")
    }

    fn parse_err(contents: &str) -> ConfigError {
        Properties::parse(
            &[Source::File {
                path: "workers.properties",
                contents,
            }],
            "/srv/httpd",
            &no_env,
        )
        .expect_err("must fail")
    }

    #[test]
    fn line_format_split_at_first_equals_and_trimmed() {
        let (p, _) = parse_file("  worker.a.host =  tc=1.example  \n");
        assert_eq!(p.get("worker.a.host"), Some("tc=1.example"));
        assert_eq!(
            p.origin("worker.a.host"),
            Some(&Origin::new("workers.properties", 1))
        );
    }

    #[test]
    fn lines_without_equals_or_with_empty_sides_are_ignored() {
        let (p, w) = parse_file("just words\n=value\nworker.a.host=\n   \nworker.a.port=1\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p.get("worker.a.port"), Some("1"));
        assert_eq!(p.get("worker.a.host"), None);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("workers.properties:1: line ignored: no '='"));
    }

    #[test]
    fn hash_anywhere_truncates_even_inside_a_secret() {
        let (p, _) =
            parse_file("# comment\nworker.a.secret=abc#def\nworker.a.port=8010 # trailing\n");
        assert_eq!(p.get("worker.a.secret"), Some("abc"));
        assert_eq!(p.get("worker.a.port"), Some("8010"));
        assert_eq!(p.origin("worker.a.port").unwrap().line, 3);
    }

    #[test]
    fn jk_worker_property_lines_keep_hash() {
        let sources = [Source::Line {
            origin: Origin::new("/etc/httpd/conf/httpd.conf", 12),
            text: "worker.a.secret=abc#def",
        }];
        let (p, _) = Properties::parse(&sources, "/", &no_env).unwrap();
        assert_eq!(p.get("worker.a.secret"), Some("abc#def"));
        assert_eq!(
            p.origin("worker.a.secret").unwrap().to_string(),
            "/etc/httpd/conf/httpd.conf:12"
        );
    }

    #[test]
    fn no_line_continuation() {
        let (p, w) = parse_file("worker.list=a,\\\nb\nworker.a.port=1\n");
        assert_eq!(p.get("worker.list"), Some("a,\\"));
        assert_eq!(p.get("b"), None);
        assert_eq!(w.len(), 1, "the lone 'b' line is ignored: {w:?}");
    }

    #[test]
    fn crlf_line_endings() {
        let (p, _) = parse_file("worker.a.port=8010\r\nworker.a.host=h\r\n");
        assert_eq!(p.get("worker.a.port"), Some("8010"));
        assert_eq!(p.get("worker.a.host"), Some("h"));
    }

    #[test]
    fn substitution_from_earlier_line_env_and_server_root() {
        let env = |name: &str| (name == "TC_HOST").then(|| "tc.internal".to_owned());
        let sources = [Source::File {
            path: "w.properties",
            contents: "base=80\nworker.a.port=$(base)09\nworker.a.host=$(TC_HOST)\n\
                       mydir=$(ServerRoot)/conf\nworker.a.route=$(nope)-x\n",
        }];
        let (p, w) = Properties::parse(&sources, "/srv/httpd", &env).unwrap();
        assert_eq!(p.get("worker.a.port"), Some("8009"));
        assert_eq!(p.get("worker.a.host"), Some("tc.internal"));
        assert_eq!(p.get("mydir"), Some("/srv/httpd/conf"));
        assert_eq!(p.get("worker.a.route"), Some("$(nope)-x"));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("w.properties:5: worker.a.route: $(nope)"),
            "{w:?}"
        );
        assert_eq!(
            p.get("ServerRoot"),
            None,
            "ServerRoot is not a stored property"
        );
    }

    #[test]
    fn substitution_prefers_properties_over_env_and_sees_jk_worker_property() {
        let env = |name: &str| (name == "port").then(|| "1111".to_owned());
        let sources = [
            Source::Line {
                origin: Origin::new("httpd.conf", 3),
                text: "port=2222",
            },
            Source::File {
                path: "w",
                contents: "worker.a.port=$(port)",
            },
        ];
        let (p, _) = Properties::parse(&sources, "/", &env).unwrap();
        assert_eq!(p.get("worker.a.port"), Some("2222"));
    }

    #[test]
    fn substitution_is_not_recursive_and_only_uses_earlier_lines() {
        let (p, _) = parse_file("a=$(b)\nb=x\nc=$(b)$(b)\nd=$$(b))\n");
        assert_eq!(p.get("a"), Some("$(b)"), "b was not yet defined");
        assert_eq!(p.get("c"), Some("xx"));
        assert_eq!(p.get("d"), Some("$x)"));
        let (p, _) = parse_file("loop=$(loop)\nx=$(loop)\n");
        assert_eq!(p.get("x"), Some("$(loop)"));
    }

    #[test]
    fn substitution_stops_after_twenty() {
        let value = "$(v)".repeat(21);
        let (p, _) = parse_file(&format!("v=x\nall={value}\n"));
        assert_eq!(
            p.get("all"),
            Some(format!("{}$(v)", "x".repeat(20)).as_str())
        );
    }

    #[test]
    fn substitution_and_joining_cannot_grow_a_value_without_bound() {
        // Twenty-fold pasting per line: line 4 would already be 16 * 20^3 bytes.
        let mut file = "v0=xxxxxxxxxxxxxxxx\n".to_owned();
        for i in 1..6 {
            file.push_str(&format!("v{i}={}\n", format!("$(v{})", i - 1).repeat(20)));
        }
        let e = parse_err(&file);
        assert_eq!(e.origin.as_ref().map(|o| o.line), Some(4));
        assert!(e.message.contains("longer than"), "{e}");
        // Repeated keys join with '*'; the joined value is capped the same way.
        let big = "y".repeat(MAX_VALUE_LEN / 2);
        let e = parse_err(&format!("b={big}\nb={big}\nb={big}\n"));
        assert_eq!(e.origin.as_ref().map(|o| o.line), Some(2));
        // Up to the cap everything is kept.
        let (p, _) = parse_file(&format!("c={}\n", "z".repeat(MAX_VALUE_LEN)));
        assert_eq!(p.get("c").map(str::len), Some(MAX_VALUE_LEN));
    }

    #[test]
    fn duplicate_unique_key_last_wins_with_warning() {
        let (p, w) = parse_file("worker.a.port=1\nworker.a.port=2\n");
        assert_eq!(p.get("worker.a.port"), Some("2"));
        assert_eq!(p.origin("worker.a.port").unwrap().line, 2);
        assert_eq!(
            w,
            vec![
                "workers.properties:2: worker.a.port: Duplicate key: value '1' from \
                 workers.properties:1 is replaced by '2'"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn duplicate_secret_is_not_logged() {
        let (p, w) = parse_file("worker.a.secret=one\nworker.a.secret=two\n");
        assert_eq!(p.get("worker.a.secret"), Some("two"));
        assert!(!w[0].contains("one") && !w[0].contains("two"), "{w:?}");
    }

    #[test]
    fn duplicate_list_keys_are_joined_with_comma() {
        let sources = [
            Source::Line {
                origin: Origin::new("httpd.conf", 7),
                text: "worker.list=a",
            },
            Source::File {
                path: "w",
                contents: "worker.list=b\nworker.lb.balance_workers=m1\nworker.lb.balance_workers=m2 m3\n\
                           worker.lb.balanced_workers=x\nworker.lb.balanced_workers=y\n\
                           worker.s.user=u1\nworker.s.user=u2\nworker.a.fail_on_status=500\n\
                           worker.a.fail_on_status=503\nworker.a.mount=/a\nworker.a.mount=/b\n",
            },
        ];
        let (p, w) = Properties::parse(&sources, "/", &no_env).unwrap();
        assert_eq!(p.get("worker.list"), Some("a,b"));
        assert_eq!(p.get("worker.lb.balance_workers"), Some("m1,m2 m3"));
        assert_eq!(p.get("worker.lb.balanced_workers"), Some("x,y"));
        assert_eq!(p.get("worker.s.user"), Some("u1,u2"));
        assert_eq!(p.get("worker.a.fail_on_status"), Some("500,503"));
        assert_eq!(p.get("worker.a.mount"), Some("/a,/b"));
        assert!(w.iter().all(|w| !w.contains("Duplicate")), "{w:?}");
        assert_eq!(
            p.origin_of_item("worker.list", "a").unwrap().to_string(),
            "httpd.conf:7"
        );
        assert_eq!(
            p.origin_of_item("worker.list", "b").unwrap().to_string(),
            "w:1"
        );
        assert_eq!(p.entry("worker.list").unwrap().definitions.len(), 2);
    }

    #[test]
    fn duplicate_other_keys_are_joined_with_star() {
        let (p, w) = parse_file("myvar=1\nmyvar=2\nworker.a.distance=1\nworker.a.distance=2\n");
        assert_eq!(p.get("myvar"), Some("1*2"));
        assert_eq!(p.get("worker.a.distance"), Some("1*2"));
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("joined with '*'"), "{w:?}");
        let (p, _) =
            parse_file("my_path=/a\nmy_path=/b\nworker.x.cmd_line=a\nworker.x.cmd_line=b\n");
        assert_eq!(p.get("my_path"), Some("/a:/b"));
        assert_eq!(p.get("worker.x.cmd_line"), Some("a b"));
    }

    #[test]
    fn jk_worker_property_then_file_overrides_single_valued() {
        let sources = [
            Source::Line {
                origin: Origin::new("httpd.conf", 1),
                text: "worker.a.port=1",
            },
            Source::File {
                path: "w",
                contents: "worker.a.port=2",
            },
        ];
        let (p, w) = Properties::parse(&sources, "/", &no_env).unwrap();
        assert_eq!(p.get("worker.a.port"), Some("2"));
        assert!(w[0].contains("Duplicate key"));
    }

    #[test]
    fn unknown_attribute_is_an_error_with_location_and_hint() {
        let e = parse_err("worker.list=tomcat1\n\nworker.tomcat1.prot=8009\n");
        assert_eq!(e.origin, Some(Origin::new("workers.properties", 3)));
        assert_eq!(e.key.as_deref(), Some("worker.tomcat1.prot"));
        assert_eq!(e.hint.as_deref(), Some("port"));
        assert_eq!(
            e.to_string(),
            "workers.properties:3: worker.tomcat1.prot: unknown attribute 'prot'; httpd will \
             not start with it (did you mean 'port'?)"
        );
        let e = parse_err("worker.a.connection_pool_sise=3\n");
        assert_eq!(e.hint.as_deref(), Some("connection_pool_size"));
        let e = parse_err("worker.a.zzzzzz=3\n");
        assert_eq!(e.hint, None);
    }

    #[test]
    fn unknown_attribute_from_jk_worker_property_names_httpd_conf() {
        let sources = [Source::Line {
            origin: Origin::new("/etc/httpd/httpd.conf", 44),
            text: "worker.a.hots=x",
        }];
        let e = Properties::parse(&sources, "/", &no_env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/httpd/httpd.conf:44: worker.a.hots: unknown attribute 'hots'; httpd will not \
             start with it (did you mean 'host'?)"
        );
    }

    #[test]
    fn global_key_validation() {
        let e = parse_err("worker.lst=a\n");
        assert_eq!(e.hint.as_deref(), Some("worker.list"));
        let (p, w) = parse_file("worker.port=1\nworker.maintain=30\nsomething.else=1\n");
        assert_eq!(p.get("worker.maintain"), Some("30"));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("needs a worker name"), "{w:?}");
        assert!(
            parse_err("worker..port=1\n")
                .message
                .contains("empty worker name")
        );
        let (_, w) = parse_file("worker.a.list=x\n");
        assert!(w[0].contains("global key"), "{w:?}");
    }

    #[test]
    fn deprecated_attributes_warn() {
        let (p, w) = parse_file(
            "worker.a.cachesize=10\nworker.a.mx=256\nworker.a.recycle_timeout=1\nworker.a.secretkey=k\n",
        );
        assert_eq!(p.get("worker.a.cachesize"), Some("10"));
        assert_eq!(w.len(), 4);
        assert_eq!(
            w[0],
            "workers.properties:1: worker.a.cachesize: attribute 'cachesize' is deprecated; \
             use 'connection_pool_size' instead"
        );
        assert!(w[1].ends_with("attribute 'mx' is deprecated and ignored"));
    }

    #[test]
    fn reference_templates_multi_hop_and_order_independent() {
        let (p, _) = parse_file(
            "worker.x.reference=worker.mid\nworker.x.port=1\n\
             worker.mid.reference=worker.base\nworker.mid.host=midhost\n\
             worker.base.port=9\nworker.base.host=basehost\nworker.base.lbfactor=5\n",
        );
        assert_eq!(p.get("worker.x.port"), Some("1"), "own value wins");
        assert_eq!(p.get("worker.x.host"), Some("midhost"));
        assert_eq!(p.get("worker.x.lbfactor"), Some("5"));
        assert_eq!(p.get("worker.mid.port"), Some("9"));
        assert_eq!(p.get("worker.x.reference"), Some("worker.mid"));
        let e = p.entry("worker.x.lbfactor").unwrap();
        assert_eq!(e.inherited_from.as_deref(), Some("worker.mid"));
        assert_eq!(
            e.origin.line, 7,
            "points at the template line holding the value"
        );
    }

    #[test]
    fn reference_cycle_is_an_error() {
        let e = parse_err("worker.a.reference=worker.b\nworker.b.reference=worker.a\n");
        assert_eq!(e.origin.as_ref().unwrap().line, 1);
        assert_eq!(
            e.message,
            "reference cycle: worker.a -> worker.b -> worker.a"
        );
        let e = parse_err("worker.a.reference=worker.a\n");
        assert!(e.message.contains("cycle"), "{e}");
    }

    #[test]
    fn reference_depth_limit() {
        let chain = |hops: usize| {
            let mut s = String::new();
            for i in 0..hops {
                s.push_str(&format!("worker.w{i}.reference=worker.w{}\n", i + 1));
            }
            s.push_str(&format!("worker.w{hops}.port=4242\n"));
            s
        };
        let (p, _) = parse_file(&chain(MAX_REFERENCE_DEPTH));
        assert_eq!(p.get("worker.w0.port"), Some("4242"));
        let e = parse_err(&chain(MAX_REFERENCE_DEPTH + 1));
        assert!(e.message.contains("more than 20 chained references"), "{e}");
    }

    #[test]
    fn reference_to_missing_or_malformed_template() {
        let e = parse_err("worker.tmpl.port=1\nworker.a.reference=worker.tmp\n");
        assert_eq!(e.hint.as_deref(), Some("worker.tmpl"));
        assert_eq!(e.origin.unwrap().line, 2);
        let e = parse_err("worker.tmpl.port=1\nworker.a.reference=tmpl\n");
        assert_eq!(e.hint.as_deref(), Some("worker.tmpl"));
    }

    #[test]
    fn booleans() {
        for t in ["1", "on", "ON", "true", "True", "yes", "Y", "t"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "off", "Off", "false", "no", "N", "f"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for x in ["", "2", "maybe", "01", "10"] {
            assert_eq!(parse_bool(x), None, "{x}");
        }
    }

    #[test]
    fn integers_with_suffixes() {
        let v = |s: &str| parse_int(s).map(|p| p.value);
        assert_eq!(v("8009"), Some(8009));
        assert_eq!(v("-5"), Some(-5));
        assert_eq!(v("+7"), Some(7));
        assert_eq!(v("64k"), Some(65536));
        assert_eq!(v("8K"), Some(8192));
        assert_eq!(v("2m"), Some(2 * 1048576));
        assert_eq!(v("1M"), Some(1048576));
        assert_eq!(v("abc"), None);
        assert_eq!(v(""), None);
        assert_eq!(v("k"), None);
        assert_eq!(v("99999999999999999999"), None);
        assert_eq!(
            parse_int("10s"),
            Some(ParsedInt {
                value: 10,
                trailing_garbage: true
            })
        );
        assert!(!parse_int(" 12 ").unwrap().trailing_garbage);
    }

    #[test]
    fn list_separators() {
        assert_eq!(split_list("a, b\tc,,d  e"), vec!["a", "b", "c", "d", "e"]);
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn suggestions() {
        let names = ["port", "host", "lbfactor", "route"];
        assert_eq!(suggest("prot", names).as_deref(), Some("port"));
        assert_eq!(suggest("PORT", names).as_deref(), Some("port"));
        assert_eq!(suggest("lbfactr", names).as_deref(), Some("lbfactor"));
        assert_eq!(suggest("xyz", names), None);
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn iteration_order_is_first_definition_order() {
        let (p, _) = parse_file("b=1\na=2\nb=3\n");
        let all: Vec<_> = p.iter().collect();
        assert_eq!(all, vec![("b", "1*3"), ("a", "2")]);
        assert_eq!(p.worker_names(), Vec::<String>::new());
        let (p, _) = parse_file("worker.z.port=1\nworker.a.b.port=2\nworker.z.host=h\n");
        assert_eq!(p.worker_names(), vec!["z", "a.b"]);
        assert_eq!(split_worker_key("worker.a.b.port"), Some(("a.b", "port")));
    }
}
