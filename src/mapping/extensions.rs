//! Worker specs: `worker[;ext=val;...]`, as found after the pattern of a `JkMount`, in a
//! uriworkermap value, or in a `JK_WORKER_NAME` environment value.

use std::fmt;

/// Per-rule overrides of worker settings. `None`/empty means "use the worker's own value".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleExtensions {
    /// `reply_timeout=ms`. A negative value means "not set" and is stored as `None`.
    pub reply_timeout_ms: Option<u32>,
    /// `sticky_ignore=0/1`.
    pub sticky_ignore: Option<bool>,
    /// `stateless=0/1`.
    pub stateless: Option<bool>,
    /// `active=m1,m2` (lb only): members forced to activation "active" for this rule.
    pub active: Vec<String>,
    /// `disabled=...` (lb only).
    pub disabled: Vec<String>,
    /// `stopped=...` (lb only).
    pub stopped: Vec<String>,
    /// `fail_on_status=list`; negative codes keep their sign (same meaning as the worker key).
    pub fail_on_status: Vec<i32>,
    /// `use_server_errors=N`: backend statuses >= N get httpd's error page. 0 is stored as `None`.
    pub use_server_errors: Option<u16>,
    /// `session_cookie=` (lb only).
    pub session_cookie: Option<String>,
    /// `session_path=` (lb only). Written `session_path=;jsessionid` in configs; the `;` that
    /// the spec splitter consumed is put back so the value has the worker key's form.
    pub session_path: Option<String>,
    /// `set_session_cookie=0/1` (lb only).
    pub set_session_cookie: Option<bool>,
    /// `session_cookie_path=` (lb only).
    pub session_cookie_path: Option<String>,
}

impl RuleExtensions {
    /// True when no extension was given, so the worker's configuration applies unchanged.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A mapping configuration error; `message` names the offending pattern or spec (and the
/// file position for uriworkermap files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    pub message: String,
}

impl MapError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MapError {}

/// The extensions in rule syntax (`reply_timeout=100;stateless=1`), for status pages and
/// configuration listings.
impl std::fmt::Display for RuleExtensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self;
        let mut parts: Vec<String> = Vec::new();
        if let Some(v) = e.reply_timeout_ms {
            parts.push(format!("reply_timeout={v}"));
        }
        if let Some(v) = e.sticky_ignore {
            parts.push(format!("sticky_ignore={}", u8::from(v)));
        }
        if let Some(v) = e.stateless {
            parts.push(format!("stateless={}", u8::from(v)));
        }
        for (k, v) in [
            ("active", &e.active),
            ("disabled", &e.disabled),
            ("stopped", &e.stopped),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", v.join(",")));
            }
        }
        if !e.fail_on_status.is_empty() {
            let codes: Vec<String> = e.fail_on_status.iter().map(i32::to_string).collect();
            parts.push(format!("fail_on_status={}", codes.join(",")));
        }
        if let Some(v) = e.use_server_errors {
            parts.push(format!("use_server_errors={v}"));
        }
        for (k, v) in [
            ("session_cookie", &e.session_cookie),
            ("session_path", &e.session_path),
            ("session_cookie_path", &e.session_cookie_path),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(v) = e.set_session_cookie {
            parts.push(format!("set_session_cookie={}", u8::from(v)));
        }
        f.write_str(&parts.join(";"))
    }
}

/// Splits `worker[;ext=val;...]` into the worker name and its extensions.
///
/// Only a missing worker name is an error; anything odd about an extension becomes a
/// warning, because mod_jk starts with such configurations and refusing them would break
/// a drop-in upgrade.
pub fn parse_worker_spec(spec: &str) -> Result<(String, RuleExtensions, Vec<String>), MapError> {
    let mut parts = spec.split(';');
    let worker = parts.next().unwrap_or_default().trim();
    if worker.is_empty() {
        return Err(MapError::new(format!(
            "worker spec '{spec}' does not name a worker"
        )));
    }

    let mut ext = RuleExtensions::default();
    let mut warnings = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    while let Some(param) = parts.next() {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((key, value)) = param.split_once('=') else {
            warnings.push(format!(
                "unknown rule extension '{param}' for worker '{worker}' ignored"
            ));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let repeated = seen.contains(&key);

        // mod_jk lets the last value of the scalar extensions win but keeps the first of
        // the list/string ones; both are kept here so a migrated config behaves the same.
        match key {
            "reply_timeout" | "sticky_ignore" | "stateless" | "use_server_errors" => {
                if repeated {
                    warnings.push(format!(
                        "rule extension '{key}' given more than once for worker '{worker}'; last value wins"
                    ));
                }
                scalar_extension(&mut ext, key, value, worker, &mut warnings);
            }
            "active"
            | "disabled"
            | "stopped"
            | "fail_on_status"
            | "session_cookie"
            | "session_path"
            | "set_session_cookie"
            | "session_cookie_path"
                if repeated =>
            {
                warnings.push(format!(
                    "rule extension '{key}' given more than once for worker '{worker}'; first value kept"
                ));
                if key == "session_path" && value.is_empty() {
                    parts.next();
                }
            }
            "active" => ext.active = split_list(value),
            "disabled" => ext.disabled = split_list(value),
            "stopped" => ext.stopped = split_list(value),
            "fail_on_status" => {
                for code in value.split([',', ' ', '\t']).filter(|c| !c.is_empty()) {
                    match code.parse::<i32>() {
                        Ok(code) => ext.fail_on_status.push(code),
                        Err(_) => warnings.push(bad_value(key, code, worker, "an HTTP status")),
                    }
                }
            }
            "session_cookie" => ext.session_cookie = Some(value.to_owned()),
            "session_path" if value.is_empty() => match parts.next().map(str::trim) {
                Some(id) if !id.is_empty() => ext.session_path = Some(format!(";{id}")),
                _ => warnings.push(bad_value(key, value, worker, "a path parameter name")),
            },
            "session_path" => ext.session_path = Some(value.to_owned()),
            "set_session_cookie" => match parse_flag(value) {
                Some(flag) => ext.set_session_cookie = Some(flag),
                None => warnings.push(bad_value(key, value, worker, "0 or 1")),
            },
            "session_cookie_path" => ext.session_cookie_path = Some(value.to_owned()),
            _ => {
                warnings.push(format!(
                    "unknown rule extension '{param}' for worker '{worker}' ignored"
                ));
                continue;
            }
        }
        seen.push(key);
    }
    Ok((worker.to_owned(), ext, warnings))
}

/// The extensions whose last value wins: `reply_timeout`, `use_server_errors`,
/// `sticky_ignore`, `stateless`.
fn scalar_extension(
    ext: &mut RuleExtensions,
    key: &str,
    value: &str,
    worker: &str,
    warnings: &mut Vec<String>,
) {
    match key {
        "reply_timeout" => match value.parse::<i64>() {
            Ok(ms) if ms < 0 => ext.reply_timeout_ms = None,
            Ok(ms) => ext.reply_timeout_ms = Some(u32::try_from(ms).unwrap_or(u32::MAX)),
            Err(_) => warnings.push(bad_value(key, value, worker, "a number of ms")),
        },
        "use_server_errors" => match value.parse::<u16>() {
            Ok(status) => ext.use_server_errors = (status != 0).then_some(status),
            Err(_) => warnings.push(bad_value(key, value, worker, "an HTTP status")),
        },
        _ => match parse_flag(value) {
            Some(flag) if key == "sticky_ignore" => ext.sticky_ignore = Some(flag),
            Some(flag) => ext.stateless = Some(flag),
            None => warnings.push(bad_value(key, value, worker, "0 or 1")),
        },
    }
}

fn bad_value(key: &str, value: &str, worker: &str, expected: &str) -> String {
    format!("rule extension '{key}={value}' for worker '{worker}' ignored: expected {expected}")
}

/// Same vocabulary as workers.properties booleans, plus plain integers (mod_jk reads these
/// extensions with `atoi`, so any non-zero number is true).
fn parse_flag(value: &str) -> Option<bool> {
    if let Ok(n) = value.parse::<i64>() {
        return Some(n != 0);
    }
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "f" | "n" => Some(false),
        _ => None,
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split([',', ' ', '\t'])
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_worker() {
        let (w, ext, warn) = parse_worker_spec(" lb ").unwrap();
        assert_eq!(w, "lb");
        assert!(ext.is_empty());
        assert!(warn.is_empty());
    }

    #[test]
    fn all_extensions() {
        let spec = "lb;reply_timeout=60000;sticky_ignore=1;stateless=0;active=m1, m2;\
                    disabled=m3;stopped=m4,m5;fail_on_status=-404,500 503;use_server_errors=400;\
                    session_cookie=SID;session_path=;jsessionid;set_session_cookie=1;\
                    session_cookie_path=/app";
        let (w, ext, warn) = parse_worker_spec(spec).unwrap();
        assert_eq!(w, "lb");
        assert!(warn.is_empty(), "{warn:?}");
        assert_eq!(
            ext,
            RuleExtensions {
                reply_timeout_ms: Some(60000),
                sticky_ignore: Some(true),
                stateless: Some(false),
                active: vec!["m1".into(), "m2".into()],
                disabled: vec!["m3".into()],
                stopped: vec!["m4".into(), "m5".into()],
                fail_on_status: vec![-404, 500, 503],
                use_server_errors: Some(400),
                session_cookie: Some("SID".into()),
                session_path: Some(";jsessionid".into()),
                set_session_cookie: Some(true),
                session_cookie_path: Some("/app".into()),
            }
        );
    }

    #[test]
    fn odd_extensions_only_warn() {
        let (w, ext, warn) = parse_worker_spec(
            "w;;bogus=1;nokey;reply_timeout=x;stopped=a;stopped=b;reply_timeout=5;reply_timeout=7",
        )
        .unwrap();
        assert_eq!(w, "w");
        assert_eq!(ext.reply_timeout_ms, Some(7));
        assert_eq!(ext.stopped, vec!["a".to_string()]);
        assert_eq!(warn.len(), 6, "{warn:?}");
        assert!(warn[0].contains("bogus=1"));
        assert!(warn[1].contains("nokey"));
        assert!(warn[2].contains("reply_timeout=x"));
        assert!(warn[3].contains("stopped") && warn[3].contains("first"));
        assert!(warn[5].contains("last value wins"));

        let (_, ext, warn) = parse_worker_spec("w;reply_timeout=-1;use_server_errors=0").unwrap();
        assert_eq!(ext.reply_timeout_ms, None);
        assert_eq!(ext.use_server_errors, None);
        assert!(warn.is_empty());
    }

    #[test]
    fn repeated_session_path_does_not_leak_its_value_as_an_extension() {
        let (_, ext, warn) =
            parse_worker_spec("lb;session_path=;a;session_path=;b;stateless=1").unwrap();
        assert_eq!(ext.session_path.as_deref(), Some(";a"));
        assert_eq!(ext.stateless, Some(true));
        assert_eq!(warn.len(), 1, "{warn:?}");
    }

    #[test]
    fn missing_worker_is_an_error() {
        for spec in ["", "  ", ";reply_timeout=1"] {
            let err = parse_worker_spec(spec).unwrap_err();
            assert!(err.message.contains("does not name a worker"), "{err}");
        }
    }
}
