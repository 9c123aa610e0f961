//! Builds the worker definitions from the property map: mod_jk's defaults, clamps and
//! cross-worker validation (worker.list, lb members, routes, secrets).

use std::collections::BTreeMap;

use super::attributes::find_attribute;
use super::defs::{
    AjpParams, DEFAULT_HOST, DEFAULT_MAINTAIN_SECS, DEFAULT_PING_TIMEOUT_MS, DEFAULT_PORT,
    DEFAULT_RECOVER_TIME_SECS, DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_MS, DEFAULT_UPLOAD_WINDOW,
    DEFAULT_WORKER, LbParams, MAX_NAME_LEN, MAX_PACKET_SIZE, MIN_PACKET_SIZE, PACKET_ALIGN,
    StatusParams, WorkerDef, WorkerKind,
};
use super::enums::{Activation, LbLock, LbMethod, PingMode};
use super::properties::{
    ConfigError, Origin, Properties, diagnostic, parse_bool, parse_int, split_list,
    split_worker_key, suggest,
};

/// What building produces; `WorkersConfig` adds the properties it was built from.
pub(super) struct Built {
    pub list: Vec<String>,
    pub maintain_secs: i64,
    pub workers: BTreeMap<String, WorkerDef>,
    pub warnings: Vec<String>,
}

/// Builds and validates every listed worker (and the members of listed lbs).
pub(super) fn build(props: &Properties, warnings: Vec<String>) -> Result<Built, ConfigError> {
    let mut builder = Builder {
        props,
        warnings,
        workers: BTreeMap::new(),
    };
    let maintain_secs = builder.maintain()?;
    let list = builder.worker_list()?;
    for name in &list {
        builder.instantiate_listed(name)?;
    }
    builder.inherit_secrets(&list);
    builder.warn_unused();
    Ok(Built {
        list,
        maintain_secs,
        workers: builder.workers,
        warnings: builder.warnings,
    })
}

struct Builder<'p> {
    props: &'p Properties,
    warnings: Vec<String>,
    workers: BTreeMap<String, WorkerDef>,
}

impl<'p> Builder<'p> {
    fn maintain(&mut self) -> Result<i64, ConfigError> {
        let key = "worker.maintain";
        let Some(entry) = self.props.entry(key) else {
            return Ok(DEFAULT_MAINTAIN_SECS);
        };
        let value = match parse_int(&entry.value) {
            Some(p) => p.value,
            None => {
                self.warn(
                    &entry.origin,
                    key,
                    &format!(
                        "'{}' is not a number; using {DEFAULT_MAINTAIN_SECS}",
                        entry.value
                    ),
                );
                DEFAULT_MAINTAIN_SECS
            }
        };
        Ok(value.max(0))
    }

    fn worker_list(&mut self) -> Result<Vec<String>, ConfigError> {
        let key = "worker.list";
        let Some(entry) = self.props.entry(key) else {
            if self.props.worker_names().is_empty() {
                return Ok(vec![DEFAULT_WORKER.to_owned()]);
            }
            let first = self.props.entries().next().map(|e| e.origin.clone());
            self.warnings.push(diagnostic(
                first.as_ref(),
                Some(key),
                "not set; defaulting to the single worker 'ajp13' as mod_jk does",
            ));
            return Ok(vec![DEFAULT_WORKER.to_owned()]);
        };
        let mut list: Vec<String> = Vec::new();
        for name in split_list(&entry.value) {
            let origin = self.item_origin(key, &name);
            if name.len() > MAX_NAME_LEN {
                return Err(too_long(&origin, key, "worker name", &name));
            }
            if list.contains(&name) {
                self.warn(&origin, key, &format!("worker '{name}' is listed twice"));
            } else {
                list.push(name);
            }
        }
        if list.is_empty() {
            return Err(ConfigError::new(
                Some(&entry.origin),
                Some(key),
                "lists no workers",
            ));
        }
        Ok(list)
    }

    fn instantiate_listed(&mut self, name: &str) -> Result<(), ConfigError> {
        if self.workers.contains_key(name) {
            return Ok(());
        }
        let origin = match self.first_origin(name) {
            Some(origin) => origin,
            None => {
                let origin = self.item_origin("worker.list", name);
                if self.props.get("worker.list").is_some() {
                    let hint = self
                        .suggest_unused(name)
                        .map(|n| format!(" (did you mean '{n}'?)"))
                        .unwrap_or_default();
                    self.warn(
                        &origin,
                        "worker.list",
                        &format!(
                            "worker '{name}' has no attributes; it is an ajp13 worker at \
                             {DEFAULT_HOST}:{DEFAULT_PORT}{hint}"
                        ),
                    );
                }
                origin
            }
        };
        let worker_type = self.worker_type(name)?;
        let kind = match worker_type {
            "ajp13" => WorkerKind::Ajp13(self.ajp(name)?),
            "lb" => WorkerKind::Lb(self.lb(name)?),
            _ => WorkerKind::Status(self.status(name)),
        };
        self.finish(name, kind, origin);
        Ok(())
    }

    fn finish(&mut self, name: &str, kind: WorkerKind, origin: Origin) {
        let mut attrs = self.attrs(name);
        let mount = attrs.list("mount").unwrap_or_default();
        let def = WorkerDef {
            name: name.to_owned(),
            kind,
            mount,
            origin,
        };
        self.warn_inapplicable(&def);
        self.workers.insert(name.to_owned(), def);
    }

    /// `type`, with ajp13 as mod_jk's default.
    fn worker_type(&mut self, name: &str) -> Result<&'static str, ConfigError> {
        let key = format!("worker.{name}.type");
        let Some(entry) = self.props.entry(&key) else {
            return Ok("ajp13");
        };
        let error = |message: String| ConfigError::new(Some(&entry.origin), Some(&key), message);
        match entry.value.as_str() {
            "ajp13" => Ok("ajp13"),
            "lb" => Ok("lb"),
            "status" => Ok("status"),
            old @ ("ajp12" | "ajp14" | "jni") => Err(error(format!(
                "worker type '{old}' is not supported (mod_jk removed it); use ajp13"
            ))),
            other => Err(error(format!("unknown worker type '{other}'"))
                .with_hint(suggest(other, ["ajp13", "lb", "status"]))),
        }
    }

    fn ajp(&mut self, name: &str) -> Result<AjpParams, ConfigError> {
        let mut a = self.attrs(name);
        let mut p = AjpParams::defaults(name);
        ajp_address(&mut a, &mut p)?;
        ajp_ping(&mut a, &mut p);
        ajp_pool_and_retries(&mut a, &mut p);
        ajp_packet_and_buffers(&mut a, &mut p);
        ajp_balancing(&mut a, &mut p)?;
        Ok(p)
    }

    fn lb(&mut self, name: &str) -> Result<LbParams, ConfigError> {
        let mut a = self.attrs(name);
        let members_key = a.aliased("balance_workers", "balanced_workers");
        let members = a.list(members_key).unwrap_or_default();
        let members_key = format!("worker.{name}.{members_key}");
        let members_origin = self
            .props
            .origin(&members_key)
            .or_else(|| self.props.origin(&format!("worker.{name}.type")))
            .cloned()
            .unwrap_or_else(Origin::builtin);
        if members.is_empty() {
            return Err(ConfigError::new(
                Some(&members_origin),
                Some(&members_key),
                format!("lb worker '{name}' has no members; set worker.{name}.balance_workers"),
            ));
        }

        let mut a = self.attrs(name);
        let recover_time_secs = a.at_least("recover_time", DEFAULT_RECOVER_TIME_SECS, 1);
        let mut lb = LbParams {
            balance_workers: Vec::new(),
            sticky_session: a.boolean("sticky_session", true),
            sticky_session_force: a.boolean("sticky_session_force", false),
            method: a.enumerated(
                "method",
                LbMethod::Request,
                LbMethod::parse,
                "R, T, B, S or N",
            ),
            lock: a.enumerated("lock", LbLock::Optimistic, LbLock::parse, "O or P"),
            retries: a.at_least("retries", DEFAULT_RETRIES, 1),
            lb_retries: a.at_least("lb_retries", DEFAULT_RETRIES, 1),
            retry_interval_ms: a.non_negative("retry_interval", DEFAULT_RETRY_INTERVAL_MS),
            recover_time_secs,
            error_escalation_time_secs: a
                .non_negative("error_escalation_time", recover_time_secs / 2),
            max_reply_timeouts: a.non_negative("max_reply_timeouts", 0),
            session_cookie: a.short_string("session_cookie", "JSESSIONID")?,
            session_path: a.short_string("session_path", ";jsessionid")?,
            set_session_cookie: a.boolean("set_session_cookie", false),
            session_cookie_path: a.short_string("session_cookie_path", "/")?,
            secret: a.string("secret").map(|(v, ..)| v),
            max_packet_size: MIN_PACKET_SIZE,
        };

        let mut routes: Vec<(String, String)> = Vec::new();
        for member in members {
            let origin = self.item_origin(&members_key, &member);
            if lb.balance_workers.contains(&member) {
                return Err(ConfigError::new(
                    Some(&origin),
                    Some(&members_key),
                    format!("member '{member}' is listed twice"),
                ));
            }
            let params = self.member(name, &member, &origin, &members_key)?;
            if let Some((other, _)) = routes.iter().find(|(_, r)| *r == params.route) {
                let route_key = format!("worker.{member}.route");
                let origin = self.props.origin(&route_key).unwrap_or(&origin);
                return Err(ConfigError::new(
                    Some(origin),
                    Some(&members_key),
                    format!(
                        "members '{other}' and '{member}' of lb '{name}' share the route '{}'; \
                         each member needs its own route (Tomcat jvmRoute)",
                        params.route
                    ),
                ));
            }
            routes.push((member.clone(), params.route.clone()));
            lb.max_packet_size = lb.max_packet_size.max(params.max_packet_size);
            lb.balance_workers.push(member);
        }
        Ok(lb)
    }

    /// Builds (or reuses) an lb member, which must be an ajp13 worker with attributes.
    fn member(
        &mut self,
        lb: &str,
        member: &str,
        origin: &Origin,
        members_key: &str,
    ) -> Result<AjpParams, ConfigError> {
        let error = |message: String| ConfigError::new(Some(origin), Some(members_key), message);
        if member.len() > MAX_NAME_LEN {
            return Err(too_long(origin, members_key, "worker name", member));
        }
        if let Some(def) = self.workers.get(member) {
            return match &def.kind {
                WorkerKind::Ajp13(p) => Ok(p.clone()),
                _ => Err(error(format!(
                    "member '{member}' of lb '{lb}' is a {} worker; only ajp13 workers can be balanced",
                    def.type_name()
                ))),
            };
        }
        let Some(first) = self.first_origin(member) else {
            let hint = self.suggest_unused(member);
            return Err(
                error(format!("member '{member}' of lb '{lb}' is not defined")).with_hint(hint),
            );
        };
        let worker_type = self.worker_type(member)?;
        if worker_type != "ajp13" {
            return Err(error(format!(
                "member '{member}' of lb '{lb}' is a {worker_type} worker; only ajp13 workers can be balanced"
            )));
        }
        let params = self.ajp(member)?;
        self.finish(member, WorkerKind::Ajp13(params.clone()), first);
        Ok(params)
    }

    fn status(&mut self, name: &str) -> StatusParams {
        let mut a = self.attrs(name);
        let dash_is_none = |v: String| if v.starts_with('-') { String::new() } else { v };
        StatusParams {
            read_only: a.boolean("read_only", false),
            user: a.list("user").unwrap_or_default(),
            user_case_insensitive: a.boolean("user_case_insensitive", false),
            good: a
                .list("good")
                .unwrap_or_else(|| split_list("a.o,a.i,a.b,a.r")),
            bad: a.list("bad").unwrap_or_else(|| split_list("s,e")),
            css: a.string("css").map(|(v, ..)| v),
            prefix: a
                .string("prefix")
                .map_or_else(|| "worker".to_owned(), |(v, ..)| v),
            ns: dash_is_none(a.string("ns").map_or_else(|| "jk:".to_owned(), |(v, ..)| v)),
            xmlns: dash_is_none(a.string("xmlns").map_or_else(
                || "xmlns:jk=\"http://tomcat.apache.org\"".to_owned(),
                |(v, ..)| v,
            )),
            doctype: a.string("doctype").map(|(v, ..)| v),
            allowed_hosts: a.list("allowed_hosts").unwrap_or_default(),
        }
    }

    /// An lb's secret goes to members that have none, as in mod_jk. A member shared by lbs
    /// with different secrets keeps the first one (mod_jk would build one copy per lb).
    fn inherit_secrets(&mut self, list: &[String]) {
        for lb_name in list {
            let Some(WorkerKind::Lb(lb)) = self.workers.get(lb_name).map(|d| d.kind.clone()) else {
                continue;
            };
            let Some(secret) = lb.secret else { continue };
            for member in &lb.balance_workers {
                let Some(WorkerKind::Ajp13(p)) = self.workers.get_mut(member).map(|d| &mut d.kind)
                else {
                    continue;
                };
                match (&p.secret, &p.secret_inherited_from) {
                    (None, _) => {
                        p.secret = Some(secret.clone());
                        p.secret_inherited_from = Some(lb_name.clone());
                    }
                    (Some(own), Some(from)) if *own != secret => {
                        let from = from.clone();
                        let key = format!("worker.{lb_name}.secret");
                        let origin = self.props.origin(&key).cloned();
                        self.warnings.push(diagnostic(
                            origin.as_ref(),
                            Some(&key),
                            &format!(
                                "member '{member}' already inherits the secret of lb '{from}'; \
                                 give it its own secret"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
    }

    /// A defined worker that nothing uses is usually a typo in worker.list or
    /// balance_workers; templates (targets of `reference`) are expected to be unused.
    fn warn_unused(&mut self) {
        let templates: Vec<String> = self
            .props
            .entries()
            .filter(|e| split_worker_key(&e.key).is_some_and(|(_, attr)| attr == "reference"))
            .filter_map(|e| {
                e.value
                    .strip_prefix("worker.")
                    .map(|t| t.trim_end_matches('.').to_owned())
            })
            .collect();
        for name in self.props.worker_names() {
            if self.workers.contains_key(&name) || templates.contains(&name) {
                continue;
            }
            let origin = self.first_origin(&name);
            self.warnings.push(diagnostic(
                origin.as_ref(),
                None,
                &format!(
                    "worker '{name}' is neither in worker.list nor a member of a listed lb; ignored"
                ),
            ));
        }
    }

    fn warn_inapplicable(&mut self, def: &WorkerDef) {
        let prefix = format!("worker.{}.", def.name);
        let type_name = def.type_name();
        for entry in self.props.entries() {
            let Some(attr) = entry.key.strip_prefix(&prefix) else {
                continue;
            };
            if attr.contains('.') || entry.inherited_from.is_some() {
                continue;
            }
            let Some(spec) = find_attribute(attr) else {
                continue;
            };
            if spec.supported && !spec.is_global() && !spec.applies_to_type(type_name) {
                self.warnings.push(diagnostic(
                    Some(&entry.origin),
                    Some(&entry.key),
                    &format!("'{attr}' has no effect on a {type_name} worker"),
                ));
            }
        }
    }

    /// A misspelt worker name most likely meant a defined worker nothing uses yet.
    fn suggest_unused(&self, name: &str) -> Option<String> {
        let names = self.props.worker_names();
        let unused = names
            .iter()
            .map(String::as_str)
            .filter(|n| !self.workers.contains_key(*n));
        suggest(name, unused)
    }

    /// Origin of the worker's first own key (inherited keys are appended last).
    fn first_origin(&self, name: &str) -> Option<Origin> {
        let prefix = format!("worker.{name}.");
        self.props
            .entries()
            .find(|e| {
                e.key
                    .strip_prefix(&prefix)
                    .is_some_and(|attr| !attr.contains('.'))
            })
            .map(|e| e.origin.clone())
    }

    fn item_origin(&self, key: &str, item: &str) -> Origin {
        self.props
            .origin_of_item(key, item)
            .cloned()
            .unwrap_or_else(Origin::builtin)
    }

    fn attrs(&mut self, name: &str) -> Attrs<'_, 'p> {
        Attrs {
            props: self.props,
            name: name.to_owned(),
            warnings: &mut self.warnings,
        }
    }

    fn warn(&mut self, origin: &Origin, key: &str, message: &str) {
        self.warnings
            .push(diagnostic(Some(origin), Some(key), message));
    }
}

/// `host`, `port`, `source`, `prefer_ipv6` and the socket options.
fn ajp_address(a: &mut Attrs<'_, '_>, p: &mut AjpParams) -> Result<(), ConfigError> {
    if let Some((host, origin, key)) = a.string("host") {
        if host.len() > MAX_NAME_LEN {
            return Err(too_long(&origin, &key, "host name", &host));
        }
        p.host = host;
    }
    let port = a.int("port", i64::from(DEFAULT_PORT));
    p.port = u16::try_from(port)
        .map_err(|_| a.error("port", &format!("port {port} is outside 0..65535")))?;
    p.source = a.string("source").map(|(v, ..)| v);
    p.prefer_ipv6 = a.boolean("prefer_ipv6", false);
    super::host::check_host(&p.host).map_err(|e| a.error("host", &e))?;
    if super::host::is_unix(&p.host) {
        p.source = None;
        for (attr, why) in super::host::NOT_FOR_UNIX {
            if let Some((_, origin, key)) = a.string(attr) {
                a.warn_at(&origin, &key, why);
            }
        }
    }

    p.socket_timeout_secs = a.non_negative("socket_timeout", 0);
    p.socket_connect_timeout_ms = a.non_negative(
        "socket_connect_timeout",
        p.socket_timeout_secs.saturating_mul(1000),
    );
    p.socket_keepalive = a.boolean("socket_keepalive", false);
    Ok(())
}

/// `ping_mode` and the CPing timeouts it implies.
fn ajp_ping(a: &mut Attrs<'_, '_>, p: &mut AjpParams) {
    if let Some((value, origin, key)) = a.string("ping_mode") {
        let (mode, unknown) = PingMode::parse(&value);
        if !unknown.is_empty() {
            a.warn_at(
                &origin,
                &key,
                &format!("ignoring '{unknown}' in ping_mode; use letters C, P, I or A"),
            );
        }
        p.ping_mode = mode;
    }
    p.ping_timeout_ms = a.non_negative("ping_timeout", DEFAULT_PING_TIMEOUT_MS);
    p.connect_timeout_ms = a.non_negative("connect_timeout", 0);
    if p.ping_mode.connect && p.connect_timeout_ms == 0 {
        p.connect_timeout_ms = p.ping_timeout_ms;
    }
    p.prepost_timeout_ms = a.non_negative("prepost_timeout", 0);
    if p.ping_mode.prepost && p.prepost_timeout_ms == 0 {
        p.prepost_timeout_ms = p.ping_timeout_ms;
    }
    p.connection_ping_interval_secs = a.non_negative("connection_ping_interval", 0);
    if p.ping_mode.interval && p.connection_ping_interval_secs == 0 {
        // ping_timeout is in ms and the interval in s: mod_jk uses ten times the timeout.
        p.connection_ping_interval_secs = p.ping_timeout_ms / 100;
    }
}

/// The connection pool, reply timeout, retries and failure detection.
fn ajp_pool_and_retries(a: &mut Attrs<'_, '_>, p: &mut AjpParams) {
    let pool_key = a.aliased("connection_pool_size", "cachesize");
    p.connection_pool_size = a.optional_non_negative(pool_key);
    p.connection_pool_minsize = a.optional_non_negative("connection_pool_minsize");
    let timeout_key = a.aliased("connection_pool_timeout", "cache_timeout");
    p.connection_pool_timeout_secs = a.non_negative(timeout_key, 0);
    p.connection_acquire_timeout_ms = a.optional_non_negative("connection_acquire_timeout");
    p.reply_timeout_ms = a.non_negative("reply_timeout", 0);
    p.retries = a.at_least("retries", DEFAULT_RETRIES, 1);
    p.retry_interval_ms = a.non_negative("retry_interval", DEFAULT_RETRY_INTERVAL_MS);
    p.recovery_options = a.non_negative("recovery_options", 0);
    p.fail_on_status = a.status_codes();
    p.busy_limit = a.non_negative("busy_limit", 0);
}

/// `max_packet_size` (clamped and aligned as mod_jk does), `socket_buffer` and
/// `stray_no_reuse_time`.
fn ajp_packet_and_buffers(a: &mut Attrs<'_, '_>, p: &mut AjpParams) {
    let size = a.int("max_packet_size", i64::from(MIN_PACKET_SIZE));
    let bounded = size.clamp(i64::from(MIN_PACKET_SIZE), i64::from(MAX_PACKET_SIZE)) as u32;
    // Both bounds are multiples of the alignment, so rounding up stays within them.
    p.max_packet_size = bounded.div_ceil(PACKET_ALIGN) * PACKET_ALIGN;
    if let Some((_, origin, key)) = a
        .string("max_packet_size")
        .filter(|_| i64::from(p.max_packet_size) != size)
    {
        a.warn_at(
            &origin,
            &key,
            &format!(
                "using {} (a multiple of {PACKET_ALIGN} within {MIN_PACKET_SIZE}..{MAX_PACKET_SIZE})",
                p.max_packet_size
            ),
        );
    }
    p.socket_buffer = a.non_negative("socket_buffer", 0);
    p.upload_window = a.non_negative("upload_window", DEFAULT_UPLOAD_WINDOW);
    p.stray_no_reuse_secs = a.non_negative("stray_no_reuse_time", 60);
    if p.socket_buffer > 0 && p.socket_buffer < p.max_packet_size {
        p.socket_buffer = p.max_packet_size;
    }
}

/// The secret and what an lb needs of a member: factor, route, domain, redirect,
/// distance, activation.
fn ajp_balancing(a: &mut Attrs<'_, '_>, p: &mut AjpParams) -> Result<(), ConfigError> {
    p.secret = a.string("secret").map(|(v, ..)| v);
    p.lbfactor = a.at_least("lbfactor", 1, 1);
    let route_key = a.aliased("route", "jvm_route");
    if let Some((route, origin, key)) = a.string(route_key) {
        if route.len() > MAX_NAME_LEN {
            return Err(too_long(&origin, &key, "route", &route));
        }
        p.route = route;
    }
    for (attr, field) in [("domain", &mut p.domain), ("redirect", &mut p.redirect)] {
        if let Some((value, origin, key)) = a.string(attr) {
            if value.len() > MAX_NAME_LEN {
                return Err(too_long(&origin, &key, attr, &value));
            }
            *field = value;
        }
    }
    if p.domain.is_empty() {
        if let Some((domain, _)) = p.route.split_once('.') {
            p.domain = domain.to_owned();
        }
    }
    p.distance = a
        .int("distance", 0)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    p.activation = a.activation();
    p.lb_retries = a.at_least("lb_retries", DEFAULT_RETRIES, 1);

    if p.port == 0 && !super::host::is_unix(&p.host) {
        p.activation = Activation::Stopped;
        p.stopped_by_port_zero = true;
    }
    Ok(())
}

fn too_long(origin: &Origin, key: &str, what: &str, value: &str) -> ConfigError {
    ConfigError::new(
        Some(origin),
        Some(key),
        format!(
            "{what} '{value}' is {} characters long; at most {MAX_NAME_LEN} are supported",
            value.len()
        ),
    )
}

/// Typed reads of one worker's attributes; bad values fall back to the default with a
/// warning naming the line, as mod_jk falls back silently.
struct Attrs<'b, 'p> {
    props: &'p Properties,
    name: String,
    warnings: &'b mut Vec<String>,
}

impl Attrs<'_, '_> {
    fn key(&self, attr: &str) -> String {
        format!("worker.{}.{attr}", self.name)
    }

    fn string(&self, attr: &str) -> Option<(String, Origin, String)> {
        let key = self.key(attr);
        let entry = self.props.entry(&key)?;
        Some((entry.value.clone(), entry.origin.clone(), key))
    }

    fn error(&self, attr: &str, message: &str) -> ConfigError {
        let key = self.key(attr);
        ConfigError::new(self.props.origin(&key), Some(&key), message)
    }

    fn warn_at(&mut self, origin: &Origin, key: &str, message: &str) {
        self.warnings
            .push(diagnostic(Some(origin), Some(key), message));
    }

    /// Picks the current attribute name, or its deprecated alias when only that is set.
    fn aliased(&mut self, current: &'static str, old: &'static str) -> &'static str {
        let has_current = self.props.entry(&self.key(current)).is_some();
        match self.string(old) {
            Some((_, origin, key)) if has_current => {
                self.warn_at(
                    &origin,
                    &key,
                    &format!("ignored because '{current}' is also set"),
                );
                current
            }
            Some(_) => old,
            None => current,
        }
    }

    fn int(&mut self, attr: &str, default: i64) -> i64 {
        let Some((value, origin, key)) = self.string(attr) else {
            return default;
        };
        match parse_int(&value) {
            Some(parsed) => {
                if parsed.trailing_garbage {
                    self.warn_at(
                        &origin,
                        &key,
                        &format!(
                            "using {} and ignoring what follows the number in '{value}'",
                            parsed.value
                        ),
                    );
                }
                parsed.value
            }
            None => {
                self.warn_at(
                    &origin,
                    &key,
                    &format!("'{value}' is not a number; using the default {default}"),
                );
                default
            }
        }
    }

    fn non_negative(&mut self, attr: &str, default: u32) -> u32 {
        self.at_least(attr, default, 0)
    }

    /// Values below `min` become `min`, as mod_jk clamps lbfactor, retries and recover_time.
    fn at_least(&mut self, attr: &str, default: u32, min: u32) -> u32 {
        let value = self.int(attr, i64::from(default));
        if value < i64::from(min) {
            if let Some((raw, origin, key)) = self.string(attr) {
                self.warn_at(
                    &origin,
                    &key,
                    &format!("'{raw}' is below {min}; using {min}"),
                );
            }
            return min;
        }
        u32::try_from(value).unwrap_or(u32::MAX)
    }

    /// Unset or negative means "decide later" (mod_jk treats a negative size as unset).
    fn optional_non_negative(&mut self, attr: &str) -> Option<u32> {
        self.string(attr)?;
        let value = self.int(attr, -1);
        (value >= 0).then(|| u32::try_from(value).unwrap_or(u32::MAX))
    }

    fn boolean(&mut self, attr: &str, default: bool) -> bool {
        let Some((value, origin, key)) = self.string(attr) else {
            return default;
        };
        parse_bool(&value).unwrap_or_else(|| {
            self.warn_at(
                &origin,
                &key,
                &format!("'{value}' is not a boolean (true/false, on/off, 1/0); using {default}"),
            );
            default
        })
    }

    fn enumerated<T: Copy>(
        &mut self,
        attr: &str,
        default: T,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> T {
        let Some((value, origin, key)) = self.string(attr) else {
            return default;
        };
        parse(&value).unwrap_or_else(|| {
            self.warn_at(
                &origin,
                &key,
                &format!("'{value}' is not one of {expected}; using the default"),
            );
            default
        })
    }

    fn list(&mut self, attr: &str) -> Option<Vec<String>> {
        self.string(attr).map(|(v, ..)| split_list(&v))
    }

    fn short_string(&mut self, attr: &str, default: &str) -> Result<String, ConfigError> {
        match self.string(attr) {
            Some((value, origin, key)) if value.len() > MAX_NAME_LEN => {
                Err(too_long(&origin, &key, attr, &value))
            }
            Some((value, ..)) => Ok(value),
            None => Ok(default.to_owned()),
        }
    }

    fn status_codes(&mut self) -> Vec<i32> {
        let Some((value, origin, key)) = self.string("fail_on_status") else {
            return Vec::new();
        };
        let mut codes = Vec::new();
        for item in split_list(&value) {
            match item.parse::<i32>() {
                Ok(code) if (100..=999).contains(&code.unsigned_abs()) => codes.push(code),
                _ => self.warn_at(
                    &origin,
                    &key,
                    &format!("ignoring '{item}': not an HTTP status code"),
                ),
            }
        }
        codes
    }

    /// `activation` wins; otherwise the deprecated `stopped`, then `disabled` booleans.
    fn activation(&mut self) -> Activation {
        if self.string("activation").is_some() {
            for old in ["stopped", "disabled"] {
                if let Some((_, origin, key)) = self.string(old) {
                    self.warn_at(&origin, &key, "ignored because 'activation' is also set");
                }
            }
            return self.enumerated(
                "activation",
                Activation::Active,
                Activation::parse,
                "Active, Disabled or Stopped",
            );
        }
        if self.boolean("stopped", false) {
            Activation::Stopped
        } else if self.boolean("disabled", false) {
            Activation::Disabled
        } else {
            Activation::Active
        }
    }
}
