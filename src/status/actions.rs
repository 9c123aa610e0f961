//! The state-changing commands `update`, `reset` and `recover`: every value is validated
//! before the first change is applied.

use super::params::{Params, check_name_value, glob, is_wildcard, parse_ranged, quote_short};
use super::{Failure, StatusContext};
use crate::config::properties::parse_bool;
use crate::config::workers::{Activation, AjpParams, LbLock, LbMethod, LbParams, WorkerKind};
use crate::lb::{Balancer, LbSettings, MemberSnapshot};
use crate::shm::{AjpSettings, AjpSlot};

/// A member attribute that `att` may name, with its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttrSpec {
    pub param: &'static str,
    pub label: &'static str,
}

pub(crate) const MEMBER_ATTRS: [AttrSpec; 6] = [
    AttrSpec {
        param: "vwa",
        label: "Activation",
    },
    AttrSpec {
        param: "vwf",
        label: "LB Factor",
    },
    AttrSpec {
        param: "vwn",
        label: "Route",
    },
    AttrSpec {
        param: "vwr",
        label: "Redirect Route",
    },
    AttrSpec {
        param: "vwc",
        label: "Cluster Domain",
    },
    AttrSpec {
        param: "vwd",
        label: "Distance",
    },
];

pub(super) fn member_attr(param: &str) -> Option<AttrSpec> {
    MEMBER_ATTRS.iter().copied().find(|a| a.param == param)
}

/// The ajp13 parameters mod_jk can edit and mod_rjk cannot: (param, key, configured value).
pub(crate) fn ajp_attrs(p: &AjpParams) -> [(&'static str, &'static str, String); 13] {
    [
        ("vahst", "host", p.host.clone()),
        ("vaprt", "port", p.port.to_string()),
        (
            "vacpt",
            "connection_pool_timeout",
            p.connection_pool_timeout_secs.to_string(),
        ),
        ("vapng", "ping_timeout", p.ping_timeout_ms.to_string()),
        ("vact", "connect_timeout", p.connect_timeout_ms.to_string()),
        ("vapt", "prepost_timeout", p.prepost_timeout_ms.to_string()),
        ("vart", "reply_timeout", p.reply_timeout_ms.to_string()),
        ("var", "retries", p.retries.to_string()),
        ("vari", "retry_interval", p.retry_interval_ms.to_string()),
        (
            "vacpi",
            "connection_ping_interval",
            p.connection_ping_interval_secs.to_string(),
        ),
        ("varo", "recovery_options", p.recovery_options.to_string()),
        ("vabl", "busy_limit", p.busy_limit.to_string()),
        ("vamps", "max_packet_size", p.max_packet_size.to_string()),
    ]
}

pub(super) fn not_editable(key: &str, worker: &str) -> Failure {
    (
        400,
        format!(
            "'{key}' of worker '{worker}' is not editable at runtime in mod_rjk: change \
             workers.properties and restart httpd (graceful)."
        ),
    )
}

/// A planned edit of a worker's ajp13 values: the slot, the new values, and for the log
/// (key, old, new) of each change.
pub(super) struct AjpEdit<'s> {
    worker: String,
    slot: &'s AjpSlot,
    new: AjpSettings,
    changes: Vec<(&'static str, String, String)>,
}

/// Validates one ajp13 value. A value equal to the current one is always accepted (mod_jk's
/// form sends every value back); others must be in mod_jk's range.
pub(super) fn parse_ajp_value(
    param: &str,
    key: &str,
    value: &str,
    current: u32,
) -> Result<u32, String> {
    let v = value.trim();
    if v.parse::<i64>().ok() == Some(i64::from(current)) {
        return Ok(current);
    }
    let (min, max) = match param {
        "vaprt" => (0, i64::from(u16::MAX)),
        "var" | "vari" | "vacpi" => (1, i64::from(i32::MAX)),
        "vamps" => (
            crate::ajp::MIN_PACKET_SIZE as i64,
            crate::ajp::MAX_PACKET_SIZE as i64,
        ),
        _ => (0, i64::from(i32::MAX)),
    };
    let n = parse_ranged(v, min, max, key)?;
    if param == "vamps" && n % crate::ajp::PACKET_SIZE_ALIGN as i64 != 0 {
        return Err(format!(
            "Invalid max_packet_size {n}: use a multiple of {}.",
            crate::ajp::PACKET_SIZE_ALIGN
        ));
    }
    Ok(n as u32)
}

/// Plans the ajp13 edits (`vahst`, `vaprt`, `vacpt`, ...) of worker `name`; `None` when the
/// request carries none of them.
pub(super) fn plan_ajp<'s>(
    get: &dyn Fn(&str) -> Option<String>,
    ctx: &StatusContext<'s>,
    name: &str,
) -> Result<Option<AjpEdit<'s>>, Failure> {
    let (Some(p), Some(mut params)) = (
        ctx.segment.and_then(|seg| seg.ajp(name)),
        ctx.workers.get(name).and_then(|d| d.ajp()).cloned(),
    ) else {
        return Ok(None);
    };
    let old = p.settings();
    let mut new = old.clone();
    let mut changes = Vec::new();
    let mut any = false;
    old.apply_to(&mut params);
    for (param, key, current) in ajp_attrs(&params) {
        let Some(value) = get(param) else { continue };
        any = true;
        if param == "vahst" {
            let host = check_name_value(&value, "host", false).map_err(|e| (400, e))?;
            if host != old.host {
                changes.push((key, old.host.clone(), host.clone()));
                new.host = host;
            }
            continue;
        }
        let cur: u32 = current.parse().unwrap_or(0);
        let v = parse_ajp_value(param, key, &value, cur).map_err(|e| (400, e))?;
        if v != cur {
            changes.push((key, current, v.to_string()));
            set_ajp_value(&mut new, param, v);
        }
    }
    if new.host != old.host || new.port != old.port {
        resolvable(&new.host, new.port, name)?;
    }
    Ok(any.then(|| AjpEdit {
        worker: name.to_owned(),
        slot: p,
        new,
        changes,
    }))
}

pub(super) fn set_ajp_value(s: &mut AjpSettings, param: &str, v: u32) {
    let field = match param {
        "vaprt" => &mut s.port,
        "vacpt" => &mut s.connection_pool_timeout,
        "vapng" => &mut s.ping_timeout,
        "vact" => &mut s.connect_timeout,
        "vapt" => &mut s.prepost_timeout,
        "vart" => &mut s.reply_timeout,
        "var" => &mut s.retries,
        "vari" => &mut s.retry_interval,
        "vacpi" => &mut s.connection_ping_interval,
        "varo" => &mut s.recovery_options,
        "vabl" => &mut s.busy_limit,
        "vamps" => &mut s.max_packet_size,
        _ => return,
    };
    *field = v;
}

/// mod_jk refuses a host and port it cannot resolve.
pub(super) fn resolvable(host: &str, port: u32, worker: &str) -> Result<(), Failure> {
    use std::net::ToSocketAddrs;
    if crate::endpoint::check_host(host).is_ok() && crate::endpoint::is_unix(host) {
        return Ok(());
    }
    let ok = u16::try_from(port)
        .ok()
        .and_then(|port| (host, port).to_socket_addrs().ok())
        .is_some_and(|mut a| a.next().is_some());
    if ok {
        Ok(())
    } else {
        Err((
            400,
            format!(
                "Could not resolve address {}:{port} for worker {}.",
                quote_short(host),
                quote_short(worker)
            ),
        ))
    }
}

/// Applies planned ajp13 edits; log lines in mod_jk's wording.
pub(super) fn apply_ajp(edits: &[AjpEdit], sw_name: &str, lb: Option<&str>, log: &mut Vec<String>) {
    for e in edits {
        if e.changes.is_empty() {
            continue;
        }
        e.slot.set_settings(&e.new);
        for (key, from, to) in &e.changes {
            log.push(match lb {
                Some(lb) => format!(
                    "Status worker '{sw_name}' changing '{key}' for sub worker '{}' of lb worker \
                     '{lb}' from '{from}' to '{to}'",
                    e.worker
                ),
                None => format!(
                    "Status worker '{sw_name}' changing '{key}' for ajp worker '{}' from '{from}' \
                     to '{to}'",
                    e.worker
                ),
            });
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct MemberEdit {
    activation: Option<Activation>,
    lbfactor: Option<u32>,
    route: Option<String>,
    redirect: Option<String>,
    domain: Option<String>,
    distance: Option<i32>,
}

pub(super) fn parse_member_edit(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<MemberEdit, String> {
    let mut e = MemberEdit::default();
    if let Some(v) = get("vwa") {
        e.activation = Some(Activation::parse(&v).ok_or_else(|| {
            format!(
                "Invalid activation {}: use Active, Disabled or Stopped.",
                quote_short(&v)
            )
        })?);
    }
    if let Some(v) = get("vwf") {
        e.lbfactor = Some(parse_ranged(&v, 1, i64::from(i32::MAX), "lbfactor")? as u32);
    }
    if let Some(v) = get("vwn") {
        e.route = Some(check_name_value(&v, "route", false)?);
    }
    if let Some(v) = get("vwr") {
        e.redirect = Some(check_name_value(&v, "redirect", true)?);
    }
    if let Some(v) = get("vwc") {
        e.domain = Some(check_name_value(&v, "domain", true)?);
    }
    if let Some(v) = get("vwd") {
        e.distance = Some(parse_ranged(&v, 0, i64::from(i32::MAX), "distance")? as i32);
    }
    Ok(e)
}

/// The shared slot of `w` when it is an ajp13 worker (`None` for other kinds).
pub(super) fn standalone<'s>(
    ctx: &StatusContext<'s>,
    w: &str,
) -> Result<Option<&'s AjpSlot>, Failure> {
    match ctx.workers.get(w).map(|d| &d.kind) {
        Some(WorkerKind::Ajp13(_)) => ctx.segment.and_then(|seg| seg.ajp(w)).map(Some).ok_or((
            409,
            format!("Worker {} has no shared runtime state.", quote_short(w)),
        )),
        _ => Ok(None),
    }
}

/// The lb of `w`, or the right 4xx.
pub(super) fn balancer<'s>(
    ctx: &StatusContext<'s>,
    w: &str,
) -> Result<(Balancer<'s>, &'s LbParams), Failure> {
    let def = ctx
        .workers
        .get(w)
        .ok_or_else(|| (404, format!("Unknown worker {}.", quote_short(w))))?;
    let Some(params) = def.lb() else {
        return Err((
            400,
            format!(
                "Worker {} is not a load balancer; mod_rjk keeps runtime state for lb members only.",
                quote_short(w)
            ),
        ));
    };
    let bal = ctx
        .segment
        .and_then(|seg| Balancer::find(seg, w))
        .ok_or_else(|| {
            (
                409,
                format!(
                    "Load balancer {} has no shared runtime state.",
                    quote_short(w)
                ),
            )
        })?;
    Ok((bal, params))
}

/// Members whose name matches `sw` (wildcards allowed); 404 when none does.
pub(super) fn matching_members(bal: &Balancer, sw: &str) -> Result<Vec<MemberSnapshot>, Failure> {
    let found: Vec<MemberSnapshot> = if is_wildcard(sw) {
        bal.members()
            .filter(|m| glob(sw.as_bytes(), m.name.as_bytes()))
            .collect()
    } else {
        bal.members().filter(|m| m.name == sw).collect()
    };
    if found.is_empty() {
        return Err((
            404,
            format!(
                "No member of load balancer '{}' matches {}.",
                bal.name(),
                quote_short(sw)
            ),
        ));
    }
    Ok(found)
}

pub(super) fn update(ctx: &StatusContext, params: &Params) -> Result<Vec<String>, Failure> {
    let w = params.get_nonempty("w").ok_or((
        400,
        "Missing parameter w (the worker to update).".to_owned(),
    ))?;
    let def = ctx
        .workers
        .get(w)
        .ok_or_else(|| (404, format!("Unknown worker {}.", quote_short(w))))?;
    match &def.kind {
        WorkerKind::Lb(_) => {}
        WorkerKind::Ajp13(_) => {
            let get = |k: &str| params.get(k).map(str::to_owned);
            let edits: Vec<AjpEdit> = plan_ajp(&get, ctx, w)?.into_iter().collect();
            let mut log = Vec::new();
            apply_ajp(&edits, ctx.worker, None, &mut log);
            return Ok(log);
        }
        WorkerKind::Status(_) => {
            return Err((
                400,
                format!("Worker {} is a status worker.", quote_short(w)),
            ));
        }
    }
    let (bal, lb_params) = balancer(ctx, w)?;
    let lb_name = def.name.as_str();
    let members: Vec<MemberSnapshot> = bal.members().collect();

    // Plan: validate everything, change nothing yet.
    let mut plan = Plan::default();
    if let Some(sw) = params.get_nonempty("sw") {
        for m in matching_members(&bal, sw)? {
            let get = |k: &str| params.get(k).map(str::to_owned);
            plan.member(ctx, m, &get)?;
        }
    } else if let Some(att) = params.get_nonempty("att") {
        plan_attribute(ctx, params, att, &members, &mut plan)?;
    } else {
        plan.lb = Some(parse_lb_edit(params, bal.settings(), lb_params, lb_name)?);
    }
    check_routes(&members, &plan.members)?;

    // Apply.
    let who = Who {
        status: ctx.worker,
        lb: lb_name,
    };
    let mut log = Vec::new();
    apply_ajp(&plan.ajp, who.status, Some(lb_name), &mut log);
    for (m, e) in &plan.members {
        apply_member(&bal, m, e, who, &mut log)?;
    }
    if let Some(new) = plan.lb {
        apply_lb(&bal, new, who, &mut log);
    }
    Ok(log)
}

/// The validated changes of one `update` of an lb.
#[derive(Default)]
struct Plan<'s> {
    members: Vec<(MemberSnapshot, MemberEdit)>,
    ajp: Vec<AjpEdit<'s>>,
    lb: Option<LbSettings>,
}

impl<'s> Plan<'s> {
    /// The member values and the ajp13 values of member `m` that `get` carries.
    fn member(
        &mut self,
        ctx: &StatusContext<'s>,
        m: MemberSnapshot,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Failure> {
        self.ajp.extend(plan_ajp(get, ctx, &m.name)?);
        let edit = parse_member_edit(get).map_err(|e| (400, e))?;
        self.members.push((m, edit));
        Ok(())
    }
}

/// `att` with `val0..valN`: one attribute for the members in `balance_workers` order.
fn plan_attribute<'s>(
    ctx: &StatusContext<'s>,
    params: &Params,
    att: &str,
    members: &[MemberSnapshot],
    plan: &mut Plan<'s>,
) -> Result<(), Failure> {
    let ajp_param = members
        .first()
        .and_then(|m| ctx.workers.get(&m.name))
        .and_then(|d| d.ajp())
        .map(|p| ajp_attrs(p).iter().any(|(param, ..)| *param == att))
        .unwrap_or(false);
    if member_attr(att).is_none() && !ajp_param {
        return Err((400, format!("Unknown attribute {}.", quote_short(att))));
    }
    for (i, m) in members.iter().enumerate() {
        let key = format!("val{i}");
        let Some(value) = params.get(&key).map(str::to_owned) else {
            continue;
        };
        let get = |k: &str| (k == att).then(|| value.clone());
        plan.member(ctx, m.clone(), &get)?;
    }
    Ok(())
}

/// The status worker and the lb, for the log lines.
#[derive(Clone, Copy)]
struct Who<'a> {
    status: &'a str,
    lb: &'a str,
}

/// Applies the member values that differ from the current ones.
fn apply_member(
    bal: &Balancer,
    m: &MemberSnapshot,
    e: &MemberEdit,
    who: Who,
    log: &mut Vec<String>,
) -> Result<(), Failure> {
    let mut changed = |attr: &str, from: &str, to: &str| {
        log.push(format!(
            "Status worker '{}' changing '{attr}' for sub worker '{}' of lb worker '{}' from \
             '{from}' to '{to}'",
            who.status, m.name, who.lb
        ));
    };
    let g = m.index;
    if let Some(a) = e.activation.filter(|a| *a != m.activation) {
        bal.set_activation(g, a);
        changed("activation", m.activation.as_str(), a.as_str());
    }
    if let Some(f) = e.lbfactor.filter(|f| *f != m.lbfactor) {
        bal.set_lbfactor(g, f);
        changed("lbfactor", &m.lbfactor.to_string(), &f.to_string());
    }
    if let Some(r) = e.route.as_ref().filter(|r| **r != m.route) {
        bal.set_route(g, r).map_err(|e| (400, e))?;
        changed("route", &m.route, r);
    }
    if let Some(r) = e.redirect.as_ref().filter(|r| **r != m.redirect) {
        bal.set_redirect(g, r).map_err(|e| (400, e))?;
        changed("redirect", &m.redirect, r);
    }
    if let Some(d) = e.domain.as_ref().filter(|d| **d != m.domain) {
        bal.set_domain(g, d).map_err(|e| (400, e))?;
        changed("domain", &m.domain, d);
    }
    if let Some(d) = e.distance.filter(|d| i64::from(*d) != m.distance) {
        bal.set_distance(g, d);
        changed("distance", &m.distance.to_string(), &d.to_string());
    }
    Ok(())
}

/// Applies new lb settings; one log line per changed value.
fn apply_lb(bal: &Balancer, new: LbSettings, who: Who, log: &mut Vec<String>) {
    let old = bal.settings();
    if new == old {
        return;
    }
    bal.set_settings(&new);
    let b = |v: bool| if v { "True" } else { "False" }.to_owned();
    let changes = [
        ("retries", old.retries.to_string(), new.retries.to_string()),
        (
            "retry_interval",
            old.retry_interval_ms.to_string(),
            new.retry_interval_ms.to_string(),
        ),
        (
            "recover_time",
            old.recover_time_secs.to_string(),
            new.recover_time_secs.to_string(),
        ),
        (
            "error_escalation_time",
            old.error_escalation_time_secs.to_string(),
            new.error_escalation_time_secs.to_string(),
        ),
        (
            "max_reply_timeouts",
            old.max_reply_timeouts.to_string(),
            new.max_reply_timeouts.to_string(),
        ),
        (
            "sticky_session",
            b(old.sticky_session),
            b(new.sticky_session),
        ),
        (
            "sticky_session_force",
            b(old.sticky_session_force),
            b(new.sticky_session_force),
        ),
        (
            "method",
            old.method.as_str().to_owned(),
            new.method.as_str().to_owned(),
        ),
    ];
    for (attr, from, to) in changes {
        if from != to {
            log.push(format!(
                "Status worker '{}' changing '{attr}' for lb worker '{}' from '{from}' to \
                 '{to}'",
                who.status, who.lb
            ));
        }
    }
}

/// No two members of the lb may end up with the same route.
pub(super) fn check_routes(
    members: &[MemberSnapshot],
    plan: &[(MemberSnapshot, MemberEdit)],
) -> Result<(), Failure> {
    let routes: Vec<(&str, &str)> = members
        .iter()
        .map(|m| {
            let new = plan
                .iter()
                .find(|(p, _)| p.index == m.index)
                .and_then(|(_, e)| e.route.as_deref());
            (m.name.as_str(), new.unwrap_or(m.route.as_str()))
        })
        .collect();
    for (i, (name, route)) in routes.iter().enumerate() {
        if let Some((other, _)) = routes[i + 1..].iter().find(|(_, r)| r == route) {
            return Err((
                400,
                format!("Members '{name}' and '{other}' would both have route '{route}'."),
            ));
        }
    }
    Ok(())
}

pub(super) fn parse_lb_edit(
    params: &Params,
    current: LbSettings,
    lb: &LbParams,
    lb_name: &str,
) -> Result<LbSettings, Failure> {
    let bad = |e: String| (400, e);
    let mut s = current;
    let num = |key: &str, min: i64, max: i64, what: &str| -> Result<Option<u32>, Failure> {
        match params.get(key) {
            None => Ok(None),
            Some(v) => parse_ranged(v, min, max, what)
                .map(|n| Some(n as u32))
                .map_err(bad),
        }
    };
    let flag = |key: &str, what: &str| -> Result<Option<bool>, Failure> {
        match params.get(key) {
            None => Ok(None),
            Some(v) => parse_bool(v).map(Some).ok_or_else(|| {
                bad(format!(
                    "Invalid value {} for {what}: use True or False.",
                    quote_short(v)
                ))
            }),
        }
    };
    if let Some(n) = num("vlr", 1, 100, "retries")? {
        s.retries = n;
    }
    if let Some(n) = num("vlri", 1, 3_600_000, "retry_interval")? {
        s.retry_interval_ms = n;
    }
    if let Some(n) = num("vlt", 1, 604_800, "recover_time")? {
        s.recover_time_secs = n;
    }
    if let Some(n) = num("vlee", 0, 604_800, "error_escalation_time")? {
        s.error_escalation_time_secs = n;
    }
    if let Some(n) = num("vlx", 0, 1_000_000, "max_reply_timeouts")? {
        s.max_reply_timeouts = n;
    }
    if let Some(b) = flag("vls", "sticky_session")? {
        s.sticky_session = b;
    }
    if let Some(b) = flag("vlf", "sticky_session_force")? {
        s.sticky_session_force = b;
    }
    if let Some(v) = params.get("vlm") {
        s.method = LbMethod::parse(v).ok_or_else(|| {
            bad(format!(
                "Invalid method {}: use Request, Traffic, Busyness, Sessions or Next.",
                quote_short(v)
            ))
        })?;
    }
    if let Some(v) = params.get("vll") {
        let lock = LbLock::parse(v).ok_or_else(|| {
            bad(format!(
                "Invalid lock {}: use Optimistic or Pessimistic.",
                quote_short(v)
            ))
        })?;
        if lock != lb.lock {
            return Err(not_editable("lock", lb_name));
        }
    }
    Ok(s)
}

pub(super) fn reset(ctx: &StatusContext, params: &Params) -> Result<Vec<String>, Failure> {
    let w = params
        .get_nonempty("w")
        .ok_or((400, "Missing parameter w (the worker to reset).".to_owned()))?;
    if let Some(slot) = standalone(ctx, w)? {
        slot.reset(ctx.now_ms);
        return Ok(vec![format!(
            "Status worker '{}' resetting statistics of ajp worker '{w}'",
            ctx.worker
        )]);
    }
    let (bal, _) = balancer(ctx, w)?;
    let lb_name = bal.name();
    let sw_name = ctx.worker;
    let mut log = Vec::new();
    // A member's connection counts live in its ajp13 slot, which mod_jk resets too.
    let reset_ajp = |name: &str| {
        if let Some(a) = ctx.segment.and_then(|seg| seg.ajp(name)) {
            a.reset(ctx.now_ms);
        }
    };
    match params.get_nonempty("sw") {
        None => {
            bal.reset_stats(None, ctx.now_ms);
            bal.members().for_each(|m| reset_ajp(&m.name));
            log.push(format!(
                "Status worker '{sw_name}' resetting statistics of lb worker '{lb_name}'"
            ));
        }
        Some(sw) => {
            for m in matching_members(&bal, sw)? {
                bal.reset_stats(Some(m.index), ctx.now_ms);
                reset_ajp(&m.name);
                log.push(format!(
                    "Status worker '{sw_name}' resetting statistics of sub worker '{}' of lb \
                     worker '{lb_name}'",
                    m.name
                ));
            }
        }
    }
    Ok(log)
}

pub(super) fn recover(ctx: &StatusContext, params: &Params) -> Result<Vec<String>, Failure> {
    let w = params
        .get_nonempty("w")
        .ok_or((400, "Missing parameter w (the load balancer).".to_owned()))?;
    if let Some(slot) = standalone(ctx, w)? {
        slot.recover();
        return Ok(vec![format!(
            "Status worker '{}' marking ajp worker '{w}' for recovery",
            ctx.worker
        )]);
    }
    let sw = params.get_nonempty("sw").ok_or((
        400,
        "Missing parameter sw (the member to recover).".to_owned(),
    ))?;
    let (bal, _) = balancer(ctx, w)?;
    let lb_name = bal.name();
    let sw_name = ctx.worker;
    let mut log = Vec::new();
    let matched = matching_members(&bal, sw)?;
    for m in &matched {
        if bal.recover(m.index) {
            log.push(format!(
                "Status worker '{sw_name}' marking worker '{}' of lb worker '{lb_name}' for \
                 recovery",
                m.name
            ));
        }
    }
    if log.is_empty() {
        let states: Vec<String> = matched
            .iter()
            .map(|m| format!("{} is {}", m.name, m.state.as_str()))
            .collect();
        return Err((
            409,
            format!(
                "Nothing to recover: only members in ERR or ERR/FRC can be recovered ({}).",
                states.join(", ")
            ),
        ));
    }
    Ok(log)
}
