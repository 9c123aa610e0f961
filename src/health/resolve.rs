//! Backends that move: with `resolve_interval` a worker's host name is resolved again
//! every interval (by one child for all, as the health checks are leased) and whenever a
//! connect fails. A changed address moves the worker's generation in shared memory; each
//! child compares it with what its pool last saw when it takes a connection for the
//! worker, forgets its cached addresses and closes its idle connections to the old one.
//! A name that stops resolving keeps the last good address and is logged once.

use std::net::ToSocketAddrs;

use super::config::Plan;
use crate::shm::Segment;
use crate::shm::health::ResolveEvent;

/// The per-request hook, for a worker about to be used: follows a changed address, and
/// asks for an early resolution after a failed connect. Nothing for workers without
/// `resolve_interval`.
pub fn follow(plan: &Plan, seg: &Segment, name: &str, pool: &crate::backend::Pool) {
    if !plan.resolve.contains_key(name) {
        return;
    }
    if let Some(slot) = seg.resolve_slot(name) {
        if pool.follow_address(slot.generation()) {
            slot.request_now();
        }
    }
}

/// The first address of `host:port` in the order connections try them (IPv4 first
/// unless `prefer_ipv6`, as the pools order them).
pub fn resolve(host: &str, port: u16, prefer_ipv6: bool) -> Result<std::net::SocketAddr, String> {
    let mut v: Vec<std::net::SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    v.sort_by_key(|a| a.is_ipv6() != prefer_ipv6);
    v.first().copied().ok_or_else(|| "no address".to_owned())
}

/// The log line of a resolution event, if it deserves one.
pub fn event_text(name: &str, host: &str, e: &ResolveEvent, error: &str) -> Option<String> {
    match e {
        ResolveEvent::Same | ResolveEvent::StillFailing => None,
        ResolveEvent::Changed { from, to } => Some(format!(
            "worker {name}: {host} now resolves to {to} (was {from}); idle connections to the old address are closed"
        )),
        ResolveEvent::StartedFailing { kept } => Some(format!(
            "worker {name}: cannot resolve {host} ({error}); keeping {}",
            if kept.is_empty() {
                "the address resolved at startup"
            } else {
                kept
            }
        )),
        ResolveEvent::Recovered => Some(format!("worker {name}: {host} resolves again")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_literals_in_connect_order() {
        assert_eq!(
            resolve("127.0.0.2", 8009, false).unwrap().to_string(),
            "127.0.0.2:8009"
        );
        assert!(resolve("no-such-host.invalid", 1, false).is_err());
    }
}
