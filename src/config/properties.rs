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
mod tests;
