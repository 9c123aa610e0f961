//! Every directive and worker attribute marked supported must have a test. A test counts
//! for an entry when its name carries the entry's name as whole words (the naming
//! convention: `jk_request_log_format_...` for `JkRequestLogFormat`, `worker_socket_buffer_...`
//! for `socket_buffer`, not shadowed by a longer entry such as `jk_mount_file` for
//! `JkMount`), or when [`EXISTING`] names an existing test for it. Test names are read
//! from `src/` and `tests/`; a mapped test that does not exist fails the check too.

use super::attributes::ATTRIBUTES;
use super::directives::{DIRECTIVES, Support};

/// Entries tested under names that predate the convention: (entry, test fn).
const EXISTING: &[(&str, &str)] = &[
    (
        "JkWorkersFile",
        "config_test_reports_workers_errors_with_file_and_line",
    ),
    (
        "JkWatchdogInterval",
        "idle_connections_are_closed_by_the_watchdog",
    ),
    (
        "JkMountFile",
        "jkmountfile_is_read_and_reloaded_and_stripsession_applies",
    ),
    (
        "JkStripSession",
        "jkmountfile_is_read_and_reloaded_and_stripsession_applies",
    ),
    (
        "JkLogFile",
        "log_lines_carry_stamp_pid_tid_request_id_and_go_to_pipes",
    ),
    (
        "JkLogLevel",
        "log_lines_carry_stamp_pid_tid_request_id_and_go_to_pipes",
    ),
    (
        "JkLogStampFormat",
        "jk_request_log_format_writes_one_line_per_served_request",
    ),
    (
        "JkEnvVar",
        "methods_bodies_and_request_data_reach_tomcat_exactly",
    ),
    (
        "maintain",
        "killing_a_tomcat_under_load_loses_only_responses_in_flight_and_runs_no_post_twice",
    ),
    (
        "type",
        "config_test_reports_workers_errors_with_file_and_line",
    ),
    (
        "socket_connect_timeout",
        "f07_connect_black_hole_fails_after_socket_connect_timeout",
    ),
    (
        "ping_mode",
        "no_lost_or_mixed_responses_while_tomcats_restart_one_at_a_time",
    ),
    (
        "ping_timeout",
        "no_lost_or_mixed_responses_while_tomcats_restart_one_at_a_time",
    ),
    (
        "connection_pool_size",
        "cve_2008_5519_client_abort_mid_upload_never_mixes_responses",
    ),
    (
        "connection_pool_minsize",
        "idle_connections_are_closed_by_the_watchdog",
    ),
    (
        "connection_pool_timeout",
        "idle_connections_are_closed_by_the_watchdog",
    ),
    (
        "connection_acquire_timeout",
        "f23_slow_uploading_client_is_ended_by_timeout_and_the_slot_released",
    ),
    (
        "reply_timeout",
        "cve_2012_4557_slow_backend_does_not_error_the_member",
    ),
    (
        "fail_on_status",
        "no_lost_or_mixed_responses_while_tomcats_restart_one_at_a_time",
    ),
    (
        "busy_limit",
        "f28_busy_limit_moves_requests_and_all_busy_is_503_not_error",
    ),
    (
        "max_packet_size",
        "worker_socket_buffer_is_at_least_max_packet_size",
    ),
    ("lbfactor", "weights_split_600_requests_within_five_percent"),
    (
        "activation",
        "cve_2007_6420_status_manager_csrf_xss_and_crafted_requests",
    ),
    (
        "balance_workers",
        "config_test_reports_workers_errors_with_file_and_line",
    ),
    (
        "sticky_session_force",
        "sticky_session_force_answers_503_instead_of_moving_the_session",
    ),
    (
        "recover_time",
        "cve_2009_0033_marker_close_never_takes_members_to_err",
    ),
    (
        "error_escalation_time",
        "cve_2009_0033_marker_close_never_takes_members_to_err",
    ),
    (
        "max_reply_timeouts",
        "cve_2012_4557_slow_backend_does_not_error_the_member",
    ),
    (
        "session_cookie",
        "worker_session_cookie_path_and_session_cookie_shape_the_cookie",
    ),
    (
        "read_only",
        "f35_status_page_refuses_cross_site_readonly_and_script_attacks",
    ),
    (
        "JkShmFile",
        "nine_requests_hit_each_member_three_times_under_prefork",
    ),
    (
        "JkMountFileReload",
        "jkmountfile_is_read_and_reloaded_and_stripsession_applies",
    ),
    (
        "JkRequestIdIndicator",
        "log_lines_carry_stamp_pid_tid_request_id_and_go_to_pipes",
    ),
];

/// Supported entries without a test yet. The check fails when one gains a test (take it
/// off this list) and when an entry not listed here has none.
const WITHOUT_TEST: &[&str] = &[];

/// `JkRequestLogFormat` -> `jk_request_log_format`; runs of capitals stay one word
/// (`JkHTTPSIndicator` -> `jk_https_indicator`).
fn snake(name: &str) -> String {
    let c: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &ch) in c.iter().enumerate() {
        let next_lower = c.get(i + 1).is_some_and(|n| n.is_lowercase());
        if ch.is_uppercase()
            && i > 0
            && (c[i - 1].is_lowercase() || next_lower && c[i - 1].is_uppercase())
        {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The names of every `#[test]` function under `src/` and `tests/`.
fn test_names() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for part in text.split("#[test]").skip(1) {
                    let after = part.split_once("fn ").map(|(_, a)| a).unwrap_or("");
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("src"), &mut out);
    walk(&root.join("tests"), &mut out);
    out
}

/// Supported entries with the name the convention expects in a test.
fn entries() -> Vec<(&'static str, String)> {
    let dirs = DIRECTIVES
        .iter()
        .filter(|d| d.support == Support::Implemented)
        .map(|d| (d.name(), snake(d.name())));
    let attrs = ATTRIBUTES
        .iter()
        .filter(|a| a.supported && a.deprecated_alias_of.is_none())
        .map(|a| (a.name, format!("worker_{}", a.name)));
    dirs.chain(attrs).collect()
}

/// Whether `test` carries `word` as whole words not belonging to a longer entry word.
fn names_entry(test: &str, word: &str, all: &[String]) -> bool {
    test.match_indices(word).any(|(at, _)| {
        let rest = &test[at..];
        let bounded = |len: usize| rest.len() == len || rest.as_bytes()[len] == b'_';
        (at == 0 || test.as_bytes()[at - 1] == b'_')
            && bounded(word.len())
            && !all
                .iter()
                .any(|o| o.len() > word.len() && rest.starts_with(o.as_str()) && bounded(o.len()))
    })
}

#[test]
fn every_supported_directive_and_worker_attribute_has_a_test() {
    let tests = test_names();
    assert!(tests.len() > 100, "found only {} tests", tests.len());
    let entries = entries();
    let words: Vec<String> = entries.iter().map(|(_, w)| w.clone()).collect();
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for (name, word) in &entries {
        let by_name = tests.iter().any(|t| names_entry(t, word, &words));
        let mapped: Vec<&str> = EXISTING
            .iter()
            .filter(|(e, _)| e == name)
            .map(|(_, t)| *t)
            .collect();
        for t in &mapped {
            assert!(
                tests.iter().any(|x| x == t),
                "{name}: the mapped test {t} does not exist"
            );
        }
        let tested = by_name || !mapped.is_empty();
        match (tested, WITHOUT_TEST.contains(name)) {
            (false, false) => missing.push(format!("{name} (a test named ...{word}...)")),
            (true, true) => stale.push(*name),
            _ => {}
        }
    }
    assert!(missing.is_empty(), "supported without a test: {missing:?}");
    assert!(
        stale.is_empty(),
        "tested now, take off WITHOUT_TEST: {stale:?}"
    );
    for (e, _) in EXISTING {
        assert!(
            entries.iter().any(|(n, _)| n == e),
            "EXISTING names unknown entry {e}"
        );
    }
}

#[test]
fn coverage_naming_convention() {
    assert_eq!(snake("JkRequestLogFormat"), "jk_request_log_format");
    assert_eq!(snake("JkHTTPSIndicator"), "jk_https_indicator");
    assert_eq!(snake("JkIgnoreCLIndicator"), "jk_ignore_cl_indicator");
    let all = [
        "jk_mount".to_string(),
        "jk_mount_file".to_string(),
        "jk_mount_file_reload".to_string(),
    ];
    assert!(names_entry("jk_mount_rules_apply", "jk_mount", &all));
    assert!(!names_entry("jk_mount_file_reloads", "jk_mount", &all));
    assert!(names_entry("jk_mount_file_reloads", "jk_mount_file", &all));
    assert!(!names_entry("xjk_mount", "jk_mount", &all));
}
