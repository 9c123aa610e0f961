//! The `health_check_*` worker properties. Set on an ajp13 worker, or on an lb for all of
//! its members that do not set them themselves (a member of several lbs takes the first
//! lb's, in `worker.list` order). Nothing is checked unless `health_check_interval` is
//! above 0, so configurations without these properties behave exactly as before.

use std::collections::BTreeMap;

use crate::config::properties::{ConfigError, Properties, parse_int};
use crate::config::workers::WorkerKind;

/// Defaults, following mod_proxy_hcheck where it has an equivalent (one pass and one
/// failure flip the verdict).
pub const DEFAULT_STATUS: u32 = 200;
pub const DEFAULT_DRAIN_STATUS: u32 = 503;
pub const DEFAULT_PASSES: u32 = 1;
pub const DEFAULT_FAILS: u32 = 1;
pub const DEFAULT_TIMEOUT_MS: u32 = 2000;

/// The attributes, for the table in `config::workers` and the coverage check.
pub const ATTRIBUTES: [&str; 8] = [
    "resolve_interval",
    "health_check_interval",
    "health_check_uri",
    "health_check_status",
    "health_check_drain_status",
    "health_check_passes",
    "health_check_fails",
    "health_check_timeout",
];

/// How one ajp13 worker is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthParams {
    pub interval_ms: u32,
    /// Empty: CPing/CPong. Else a GET of this URI (path and optional `?query`) over AJP.
    pub uri: String,
    pub status: u32,
    /// 0: no drain status.
    pub drain_status: u32,
    pub passes: u32,
    pub fails: u32,
    /// Bounded by the interval, so checks of one worker never overlap.
    pub timeout_ms: u32,
}

/// Every checked worker (interval above 0), by name, and every worker whose host name is
/// resolved again (`resolve_interval` above 0, in seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub workers: BTreeMap<String, HealthParams>,
    pub resolve: BTreeMap<String, u32>,
}

impl Plan {
    /// Nothing to check and nothing to resolve: no thread, no per-request work.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty() && self.resolve.is_empty()
    }

    /// Reads the properties of every ajp13 worker in `workers` (lb values as fallback).
    pub fn from_parts(
        props: &Properties,
        list: &[String],
        workers: &BTreeMap<String, crate::config::workers::WorkerDef>,
    ) -> Result<Plan, ConfigError> {
        let mut plan = Plan::default();
        for (name, def) in workers {
            if !matches!(def.kind, WorkerKind::Ajp13(_)) {
                continue;
            }
            let lb = list.iter().find(|l| {
                matches!(workers.get(*l).map(|d| &d.kind),
                    Some(WorkerKind::Lb(p)) if p.balance_workers.contains(name))
            });
            let r = Reader {
                props,
                own: name,
                lb: lb.map(String::as_str),
            };
            if let Some(p) = r.params()? {
                plan.workers.insert(name.clone(), p);
            }
            let secs = r.number("resolve_interval", 0, 0, 86_400)?;
            if secs > 0 {
                plan.resolve.insert(name.clone(), secs);
            }
        }
        Ok(plan)
    }
}

struct Reader<'a> {
    props: &'a Properties,
    own: &'a str,
    lb: Option<&'a str>,
}

impl Reader<'_> {
    /// The member's own entry, else its lb's: `(value, key)`.
    fn entry(&self, attr: &str) -> Option<(&str, String)> {
        [Some(self.own), self.lb]
            .into_iter()
            .flatten()
            .find_map(|w| {
                let key = format!("worker.{w}.{attr}");
                self.props.get(&key).map(|v| (v, key))
            })
    }

    fn error(&self, key: &str, message: String) -> ConfigError {
        ConfigError::new(self.props.origin(key), Some(key), message)
    }

    fn number(&self, attr: &str, default: u32, min: u32, max: u32) -> Result<u32, ConfigError> {
        let Some((value, key)) = self.entry(attr) else {
            return Ok(default);
        };
        let parsed = parse_int(value).filter(|p| !p.trailing_garbage);
        match parsed.map(|p| p.value) {
            Some(n) if n >= i64::from(min) && n <= i64::from(max) => Ok(n as u32),
            _ => Err(self.error(
                &key,
                format!("'{value}' is not a whole number within {min}..{max}"),
            )),
        }
    }

    fn params(&self) -> Result<Option<HealthParams>, ConfigError> {
        let interval_ms = self.number("health_check_interval", 0, 0, 86_400_000)?;
        let uri = match self.entry("health_check_uri") {
            Some((v, key))
                if !v.is_empty()
                    && (!v.starts_with('/') || v.chars().any(|c| c == ' ' || c.is_control())) =>
            {
                return Err(self.error(
                    &key,
                    format!("'{v}' is not a URI path (for example /health or /app/status.jsp)"),
                ));
            }
            Some((v, _)) => v.to_owned(),
            None => String::new(),
        };
        let status = self.number("health_check_status", DEFAULT_STATUS, 100, 599)?;
        let drain_status =
            self.number("health_check_drain_status", DEFAULT_DRAIN_STATUS, 0, 599)?;
        let passes = self.number("health_check_passes", DEFAULT_PASSES, 1, 1000)?;
        let fails = self.number("health_check_fails", DEFAULT_FAILS, 1, 1000)?;
        let timeout_ms = self.number("health_check_timeout", DEFAULT_TIMEOUT_MS, 1, 86_400_000)?;
        if drain_status != 0 && drain_status == status {
            let key = self.entry("health_check_drain_status").map_or_else(
                || format!("worker.{}.health_check_status", self.own),
                |(_, k)| k,
            );
            return Err(self.error(
                &key,
                format!("the drain status {drain_status} equals the expected status"),
            ));
        }
        Ok((interval_ms > 0).then(|| HealthParams {
            interval_ms,
            uri,
            status,
            drain_status,
            passes,
            fails,
            timeout_ms: timeout_ms.min(interval_ms),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::Source;
    use crate::config::workers::WorkersConfig;

    fn build(text: &str) -> Result<WorkersConfig, ConfigError> {
        WorkersConfig::from_sources(
            &[Source::File {
                path: "workers.properties",
                contents: text,
            }],
            "/",
            &|_| None,
        )
    }

    #[test]
    fn off_by_default_and_inherited_from_the_lb() {
        let c = build(
            "worker.list=lb,solo\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
             worker.lb.health_check_interval=500\nworker.lb.health_check_uri=/h\n\
             worker.b.health_check_uri=/own\nworker.b.health_check_fails=3\n\
             worker.a.port=1\nworker.solo.port=2\n",
        )
        .unwrap();
        assert_eq!(c.health.workers.len(), 2);
        let a = &c.health.workers["a"];
        assert_eq!(
            (a.interval_ms, a.uri.as_str(), a.status, a.drain_status),
            (500, "/h", 200, 503)
        );
        assert_eq!((a.passes, a.fails, a.timeout_ms), (1, 1, 500));
        let b = &c.health.workers["b"];
        assert_eq!((b.uri.as_str(), b.fails), ("/own", 3));
        assert!(!c.health.workers.contains_key("solo"));
        assert!(c.health.resolve.is_empty());
        let c = build("worker.list=a,b\nworker.a.resolve_interval=30\nworker.b.port=1\n").unwrap();
        assert_eq!(c.health.resolve.get("a"), Some(&30));
        assert!(c.health.workers.is_empty() && !c.health.is_empty());
    }

    #[test]
    fn bad_values_name_the_line() {
        let e = build("worker.list=a\nworker.a.health_check_interval=soon\n").unwrap_err();
        assert_eq!(e.origin.map(|o| o.line), Some(2));
        assert!(e.message.contains("'soon'"), "{}", e.message);
        let e = build(
            "worker.list=a\nworker.a.health_check_interval=1\nworker.a.health_check_uri=health\n",
        )
        .unwrap_err();
        assert!(e.message.contains("not a URI path"), "{}", e.message);
        let e = build(
            "worker.list=a\nworker.a.health_check_interval=1\nworker.a.health_check_uri=/h\u{7}\n",
        )
        .unwrap_err();
        assert!(e.message.contains("not a URI path"), "{}", e.message);
        let e = build("worker.list=a\nworker.a.health_check_interval=1\nworker.a.health_check_drain_status=200\n")
            .unwrap_err();
        assert!(e.message.contains("equals"), "{}", e.message);
        assert!(build("worker.list=a\nworker.a.health_check_passes=0\n").is_err());
    }
}
