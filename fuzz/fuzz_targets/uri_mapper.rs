//! Feeds arbitrary URIs through the servlet normaliser and the mapper, and arbitrary
//! uriworkermap.properties text through its parser: the path every request URI takes
//! before a `JkUnMount` can act as access control (CVE-2014-8111, CVE-2018-11759).
//!
//! Input: uriworkermap.properties text, a NUL byte, then one URI per line. Without a NUL
//! every line is a URI, mapped against the fixed rules only.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_rjk::mapping::{
    MAX_URI_LEN, RuleSource, UriMap, escape_forward_uri, escape_uri_lower, normalize,
    parse_uriworkermap, strip_path_parameter,
};

/// A main-server map in the shape of a typical migrated mod_jk configuration.
fn fixed_map() -> UriMap {
    let mut map = UriMap::new();
    for (pattern, worker) in [
        ("/app/*", "lb"),
        ("/app|/*", "lb;reply_timeout=500;fail_on_status=503"),
        ("/exact", "solo"),
        ("/jkmanager|/*", "jkstatus"),
        ("/*.jsp", "solo;stateless=1"),
        ("/x?y/*", "solo"),
        ("-/off/*", "solo"),
        ("/a*b*c*d*e/*", "lb"),
    ] {
        map.add_mount(pattern, worker, RuleSource::JkMount)
            .expect("fixed rule is valid");
    }
    map.add_unmount("/app/static/*", "lb", RuleSource::JkMount)
        .expect("fixed rule is valid");
    map.add_unmount("/*.gif", "*", RuleSource::JkMount)
        .expect("fixed rule is valid");
    map.add_mount("/w/*", "lb", RuleSource::WorkerDefinition)
        .expect("fixed rule is valid");
    map
}

fn check_normalized(n: &str) {
    assert!(n.starts_with('/'));
    assert!(n.len() <= MAX_URI_LEN);
    assert!(!n.contains("//") && !n.contains(';'));
    assert!(!n.split('/').any(|s| s == "." || s == ".."));
    assert_eq!(
        normalize(n).as_deref(),
        Ok(n),
        "normalisation is not idempotent"
    );
}

fn check_escaped(raw: &[u8], escaped: &[u8]) {
    assert!(escaped.len() <= raw.len() * 3);
    assert!(
        escaped
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'"' | b'<' | b'>'))
    );
}

fn map_one(map: &UriMap, uri: &str) {
    check_escaped(uri.as_bytes(), &escape_forward_uri(uri.as_bytes()));
    let lower = escape_uri_lower(uri.as_bytes());
    check_escaped(uri.as_bytes(), &lower);
    // The two ForwardURI encodings differ only in the case of their hex digits.
    assert!(lower.eq_ignore_ascii_case(&escape_forward_uri(uri.as_bytes())));
    if let Some(stripped) = strip_path_parameter(uri, "jsessionid=") {
        assert!(!stripped.contains("jsessionid=") && stripped.len() < uri.len());
    }
    let Ok(n) = normalize(uri) else {
        return;
    };
    check_normalized(&n);
    let found = map.map(&n);
    match map.lookup(&n) {
        Some(rule) => {
            assert!(!rule.is_disabled() && !rule.is_exclusion() && rule.matches(&n));
            let m = found.expect("map and lookup agree");
            assert_eq!(
                (m.worker.as_str(), m.pattern.as_str()),
                (rule.worker(), rule.pattern())
            );
        }
        None => assert!(found.is_none()),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, uris) = text.split_once('\0').unwrap_or(("", &text));
    let mut map = fixed_map();
    let resolve = |name: &str| (name == "W").then(|| "lb".to_owned());
    if let Ok((lines, _warnings)) = parse_uriworkermap("uriworkermap.properties", file, &resolve) {
        map.replace_uriworkermap(&lines);
    }
    let _ = map.workers();
    // A virtual host with JkMountCopy sees the same rules through `inherit`.
    let mut vhost = UriMap::new();
    vhost.inherit(&map);
    for uri in uris.lines() {
        map_one(&map, uri);
        map_one(&vhost, uri);
    }
});
