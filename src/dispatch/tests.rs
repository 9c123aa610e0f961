//! The request policy driven by scripted member outcomes over a real balancer in an
//! in-memory segment. Tests are named after the README statement they hold to.

use std::collections::HashMap;
use std::io;

use proptest::prelude::*;

use super::*;
use crate::config::properties::Source;
use crate::config::workers::WorkersConfig;
use crate::lb::MemberState;
use crate::shm::{Segment, init_from_config};

/// An lb `lb` over `t1`, `t2`, `t3` with the given lb keys.
fn segment(lb_keys: &[&str]) -> Box<Segment> {
    let mut text =
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=t1,t2,t3\n".to_string();
    for key in lb_keys {
        text.push_str(&format!("worker.lb.{key}\n"));
    }
    for (i, m) in ["t1", "t2", "t3"].iter().enumerate() {
        text.push_str(&format!("worker.{m}.port={}\n", 8000 + i));
    }
    let config = WorkersConfig::from_sources(
        &[Source::File {
            path: "workers.properties",
            contents: &text,
        }],
        "/srv/httpd",
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let seg = Segment::new_boxed();
    init_from_config(&seg, &config).unwrap();
    seg
}

fn done() -> Outcome {
    Outcome::Done {
        status: 200,
        body_sent: 0,
        body_relayed: 0,
        cut_at_length: None,
    }
}

fn failure(error: BackendError, sent: bool) -> AttemptFailure {
    AttemptFailure {
        error,
        sent,
        upload_started: false,
        idle_close: false,
    }
}

fn refused() -> BackendError {
    BackendError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused))
}

/// What a member does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Ok,
    /// Nothing listens.
    Refused,
    /// The connection broke after the request went out.
    ClosedAfterSend,
    /// A reply_timeout after the request went out.
    Timeout,
    /// A fail_on_status code (positive).
    FailStatus,
}

impl Reply {
    fn outcome(self, method: &[u8], recovery: u32) -> Outcome {
        let failed = |error, sent| failed_outcome(failure(error, sent), method, recovery);
        match self {
            Reply::Ok => done(),
            Reply::Refused => failed(refused(), false),
            Reply::ClosedAfterSend => failed(BackendError::Closed, true),
            Reply::Timeout => failed(BackendError::ReplyTimeout, true),
            Reply::FailStatus => Outcome::FailOnStatus {
                status: 503,
                blame: true,
                replayable: may_replay_after_send(method, recovery),
            },
        }
    }
}

/// A shell whose members answer from a script (then `Ok`).
struct Script {
    method: &'static [u8],
    recovery: u32,
    replies: HashMap<String, Vec<Reply>>,
    /// Per exchange: the member and its reply.
    exchanges: Vec<(String, Reply)>,
    sleeps: Vec<Duration>,
    limits: HashMap<String, u32>,
    locked: bool,
}

impl Script {
    fn new(method: &'static [u8]) -> Script {
        Script {
            method,
            recovery: 0,
            replies: HashMap::new(),
            exchanges: Vec::new(),
            sleeps: Vec::new(),
            limits: HashMap::new(),
            locked: false,
        }
    }

    fn replies(mut self, member: &str, r: &[Reply]) -> Script {
        self.replies.insert(member.to_string(), r.to_vec());
        self
    }

    fn members(&self) -> Vec<&str> {
        self.exchanges.iter().map(|(m, _)| m.as_str()).collect()
    }
}

impl LbShell for Script {
    fn lock(&mut self) {
        assert!(!self.locked, "lock taken twice");
        self.locked = true;
    }
    fn unlock(&mut self) {
        assert!(self.locked, "unlock without lock");
        self.locked = false;
    }
    fn now_ms(&self) -> u64 {
        1_000_000
    }
    fn sleep(&mut self, pause: Duration) {
        self.sleeps.push(pause);
    }
    fn member_limit(&mut self, name: &str) -> Option<u32> {
        Some(self.limits.get(name).copied().unwrap_or(0))
    }
    fn exchange(&mut self, _pick: &Pick, name: &str) -> Exchanged {
        assert!(!self.locked, "exchange under the lb lock");
        let queue = self.replies.entry(name.to_string()).or_default();
        let reply = if queue.is_empty() {
            Reply::Ok
        } else {
            queue.remove(0)
        };
        self.exchanges.push((name.to_string(), reply));
        Exchanged {
            outcome: reply.outcome(self.method, self.recovery),
            read: 10,
            written: 20,
            elapsed_ms: 1,
        }
    }
    fn after_exchange(&mut self, _name: &str) {
        assert!(self.locked, "after_exchange without the lb lock");
    }
    fn failed_over(&mut self, _name: &str, _outcome: &Outcome) {}
}

const PLAIN: LbRequest<'static> = LbRequest {
    session_routes: &[],
    has_session: false,
    sticky_ignore: false,
    stateless: false,
    active_override: &[],
    disabled_override: &[],
    stopped_override: &[],
};

fn served_by(end: &LbEnd) -> &str {
    match end {
        LbEnd::Served { member, .. } => member,
        e => panic!("{e:?}"),
    }
}

fn state_of(bal: &Balancer<'_>, name: &str) -> MemberState {
    let m = bal.member_index(name).unwrap();
    bal.member(m).unwrap().state
}

#[test]
fn no_replay_of_non_idempotent_requests_a_post_tomcat_received_is_not_sent_to_another_member() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let mut s = Script::new(b"POST").replies("t1", &[Reply::ClosedAfterSend]);
    let end = failover(&bal, &PLAIN, &mut s);
    assert_eq!(s.members(), ["t1"]);
    match end {
        LbEnd::Served {
            outcome: Outcome::Failed { status: 502, .. },
            member,
        } => assert_eq!(member, "t1"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn no_replay_of_non_idempotent_requests_an_idempotent_one_goes_to_another_member() {
    for method in [
        &b"GET"[..],
        b"HEAD",
        b"OPTIONS",
        b"TRACE",
        b"PUT",
        b"DELETE",
    ] {
        let seg = segment(&[]);
        let bal = Balancer::new(&seg, 0);
        let mut s = Script::new(method).replies("t1", &[Reply::ClosedAfterSend]);
        let end = failover(&bal, &PLAIN, &mut s);
        assert_eq!(
            s.members(),
            ["t1", "t2"],
            "{}",
            String::from_utf8_lossy(method)
        );
        assert_eq!(served_by(&end), "t2");
        assert!(is_idempotent(method));
    }
    assert!(!is_idempotent(b"POST") && !is_idempotent(b"PATCH"));
}

#[test]
fn no_replay_of_non_idempotent_requests_unless_tomcat_cannot_have_seen_them() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let mut s = Script::new(b"POST").replies("t1", &[Reply::Refused]);
    let end = failover(&bal, &PLAIN, &mut s);
    assert_eq!(s.members(), ["t1", "t2"]);
    assert_eq!(served_by(&end), "t2");
}

#[test]
fn no_replay_of_non_idempotent_requests_recovery_options_bits_1_8_16_keep_their_meaning() {
    let sent = failure(BackendError::Closed, true);
    let unsent = failure(refused(), false);
    assert!(may_retry(&sent, b"GET", 0));
    assert!(!may_retry(&sent, b"POST", 0));
    // 1: no retry once sent, even of a GET; a request never sent still is.
    assert!(!may_retry(&sent, b"GET", recovery::NO_RETRY_AFTER_SEND));
    assert!(may_retry(&unsent, b"POST", recovery::NO_RETRY_AFTER_SEND));
    // 8 / 16: HEAD / GET retried even then.
    let head = recovery::NO_RETRY_AFTER_SEND | recovery::ALWAYS_RETRY_HEAD;
    let get = recovery::NO_RETRY_AFTER_SEND | recovery::ALWAYS_RETRY_GET;
    assert!(may_retry(&sent, b"HEAD", head) && !may_retry(&sent, b"GET", head));
    assert!(may_retry(&sent, b"GET", get) && !may_retry(&sent, b"HEAD", get));
    assert!(!may_retry(&sent, b"PUT", head | get));
    // A streamed upload is never sent twice.
    let streamed = AttemptFailure {
        upload_started: true,
        ..failure(BackendError::Closed, true)
    };
    assert!(!may_retry(&streamed, b"PUT", get));
}

#[test]
fn fail_on_status_fails_over_only_requests_that_may_be_replayed() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let mut s = Script::new(b"GET").replies("t1", &[Reply::FailStatus]);
    assert_eq!(served_by(&failover(&bal, &PLAIN, &mut s)), "t2");

    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let mut s = Script::new(b"POST").replies("t1", &[Reply::FailStatus]);
    let end = failover(&bal, &PLAIN, &mut s);
    assert_eq!(s.members(), ["t1"]);
    let LbEnd::Served { outcome, member } = end else {
        panic!("{end:?}")
    };
    // The POST is answered 503, not sent to another member.
    assert_eq!(answer(outcome, &member, "/x").status, 503);
}

#[test]
fn fail_on_status_a_negative_code_keeps_the_member_ok() {
    let v = member_verdict(&Outcome::FailOnStatus {
        status: 503,
        blame: false,
        replayable: true,
    });
    assert_eq!(
        v,
        Verdict::Failure {
            kind: FailureKind::FailOnStatus { positive: false },
            retry: true
        }
    );
}

#[test]
fn a_refused_connection_puts_the_member_into_error_at_once() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let mut s = Script::new(b"GET").replies("t1", &[Reply::Refused]);
    failover(&bal, &PLAIN, &mut s);
    assert_eq!(state_of(&bal, "t1"), MemberState::Error);
    assert_ne!(state_of(&bal, "t2"), MemberState::Error);
}

#[test]
fn a_pooled_connection_the_backend_closed_just_as_a_request_went_out_is_a_local_error() {
    let idle = AttemptFailure {
        idle_close: true,
        ..failure(BackendError::Closed, true)
    };
    let o = failed_outcome(idle, b"GET", 0);
    assert!(matches!(
        o,
        Outcome::Failed {
            backend_fault: false,
            ..
        }
    ));
    assert_eq!(
        member_verdict(&o),
        Verdict::Failure {
            kind: FailureKind::Protocol,
            retry: true
        }
    );
    let o = failed_outcome(failure(BackendError::Closed, true), b"GET", 0);
    assert!(matches!(
        member_verdict(&o),
        Verdict::Failure {
            kind: FailureKind::Backend,
            ..
        }
    ));
}

#[test]
fn retries_are_passes_over_the_members_retry_interval_apart_and_lb_retries_members_each() {
    let seg = segment(&["retries=3", "lb_retries=2", "retry_interval=250"]);
    let bal = Balancer::new(&seg, 0);
    let all_fail = [Reply::Timeout; 10];
    let mut s = Script::new(b"GET")
        .replies("t1", &all_fail)
        .replies("t2", &all_fail)
        .replies("t3", &all_fail);
    let end = failover(&bal, &PLAIN, &mut s);
    // A reply timeout does not put a member into error at once: every pass can try two.
    assert!(s.exchanges.len() <= 3 * 2, "{:?}", s.exchanges);
    assert!(s.exchanges.len() > 2, "{:?}", s.exchanges);
    assert_eq!(s.sleeps, [Duration::from_millis(250); 2]);
    assert!(matches!(end, LbEnd::Exhausted { status: 504 }), "{end:?}");
}

#[test]
fn the_last_members_failure_status_is_the_answer_else_503() {
    let seg = segment(&["retries=1"]);
    let bal = Balancer::new(&seg, 0);
    let mut s = Script::new(b"GET")
        .replies("t1", &[Reply::Refused])
        .replies("t2", &[Reply::Refused])
        .replies("t3", &[Reply::Refused]);
    let end = failover(&bal, &PLAIN, &mut s);
    assert!(matches!(end, LbEnd::Exhausted { status: 503 }), "{end:?}");
}

#[test]
fn sticky_session_force_means_no_failover_for_requests_carrying_a_session() {
    let seg = segment(&["sticky_session_force=true"]);
    let bal = Balancer::new(&seg, 0);
    let t1 = bal.member_index("t1").unwrap();
    bal.on_failure(t1, FailureKind::Refused, 1_000_000);
    let routes = ["t1"];
    let req = LbRequest {
        session_routes: &routes,
        has_session: true,
        ..PLAIN
    };
    let mut s = Script::new(b"GET");
    let end = failover(&bal, &req, &mut s);
    assert!(matches!(end, LbEnd::StickyForced), "{end:?}");
    assert!(s.exchanges.is_empty());
}

#[test]
fn sticky_sessions_go_to_the_member_of_their_route_and_fail_over_when_it_is_down() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let routes = ["t3"];
    let req = LbRequest {
        session_routes: &routes,
        has_session: true,
        ..PLAIN
    };
    let mut s = Script::new(b"GET");
    assert_eq!(served_by(&failover(&bal, &req, &mut s)), "t3");
    let mut s = Script::new(b"GET").replies("t3", &[Reply::Refused]);
    let end = failover(&bal, &req, &mut s);
    assert_eq!(s.members()[0], "t3");
    assert_ne!(served_by(&end), "t3");
}

#[test]
fn busy_limit_skips_a_member_already_serving_that_many_requests() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let t1 = bal.member_index("t1").unwrap();
    bal.on_start(t1);
    let mut s = Script::new(b"GET");
    s.limits.insert("t1".into(), 1);
    let end = failover(&bal, &PLAIN, &mut s);
    assert_ne!(served_by(&end), "t1");
    assert!(!s.members().contains(&"t1"));
    // A standalone worker counts the request itself.
    assert!(!worker_over_busy_limit(1, 1) && worker_over_busy_limit(2, 1));
    assert!(member_over_busy_limit(1, 1) && !member_over_busy_limit(0, 1));
    assert!(!worker_over_busy_limit(1000, 0) && !member_over_busy_limit(1000, 0));
}

#[test]
fn jk_stateless_and_jk_sticky_ignore_override_the_rule_extensions() {
    let ext = RuleExtensions {
        stateless: Some(true),
        sticky_ignore: Some(false),
        ..Default::default()
    };
    let none = |_: &str| None;
    assert_eq!(lb_flags(&none, &ext), (false, true));
    let set = |n: &str| (n == "JK_STICKY_IGNORE" || n == "JK_STATELESS").then(|| "1".to_string());
    assert_eq!(lb_flags(&set, &RuleExtensions::default()), (true, true));
    let zero = |n: &str| (n == "JK_STATELESS").then(|| " 0 ".to_string());
    assert_eq!(lb_flags(&zero, &ext), (false, false));
    // Any other value, even empty, sets it.
    let empty = |n: &str| (n == "JK_STATELESS").then(String::new);
    assert_eq!(lb_flags(&empty, &RuleExtensions::default()), (false, true));
}

#[test]
fn jk_sticky_ignore_sends_a_session_request_by_rotation() {
    let seg = segment(&[]);
    let bal = Balancer::new(&seg, 0);
    let routes = ["t3"];
    let req = LbRequest {
        session_routes: &routes,
        has_session: true,
        sticky_ignore: true,
        ..PLAIN
    };
    let mut s = Script::new(b"GET");
    assert_eq!(served_by(&failover(&bal, &req, &mut s)), "t1");
}

#[test]
fn jk_route_wins_over_the_session_id_of_the_request() {
    let (routes, has) = session_routes(
        Some("t2"),
        "/app;jsessionid=abc.t1",
        &["JSESSIONID=def.t3"],
        ";jsessionid",
        "JSESSIONID",
    );
    assert_eq!((routes, has), (vec!["t2"], true));
    let (routes, has) = session_routes(
        None,
        "/app;jsessionid=abc.t1",
        &["JSESSIONID=def.t3"],
        ";jsessionid",
        "JSESSIONID",
    );
    assert_eq!(routes, ["t1", "t3"]);
    assert!(has);
    let (routes, has) = session_routes(None, "/app", &[], ";jsessionid", "JSESSIONID");
    assert!(routes.is_empty() && !has);
}

#[test]
fn worker_retries_make_up_to_retries_attempts_retry_interval_apart() {
    let r = Retries {
        attempts: 3,
        interval: Duration::from_millis(100),
    };
    let unsent = failure(refused(), false);
    assert_eq!(
        r.after_failure(1, &unsent, b"POST", 0),
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        r.after_failure(2, &unsent, b"POST", 0),
        Some(Duration::from_millis(100))
    );
    assert_eq!(r.after_failure(3, &unsent, b"POST", 0), None);
    let sent = failure(BackendError::Closed, true);
    assert_eq!(r.after_failure(1, &sent, b"POST", 0), None);
}

#[test]
fn failed_attempts_answer_504_for_a_reply_timeout_502_after_sending_503_before() {
    let status = |f| match failed_outcome(f, b"GET", 0) {
        Outcome::Failed { status, .. } => status,
        o => panic!("{o:?}"),
    };
    assert_eq!(status(failure(BackendError::ReplyTimeout, true)), 504);
    assert_eq!(status(failure(BackendError::Closed, true)), 502);
    assert_eq!(status(failure(refused(), false)), 503);
    assert_eq!(status(failure(BackendError::PoolExhausted, false)), 503);
    assert!(matches!(
        member_verdict(&failed_outcome(
            failure(BackendError::PoolExhausted, false),
            b"GET",
            0
        )),
        Verdict::Failure {
            kind: FailureKind::Busy,
            ..
        }
    ));
}

#[test]
fn a_client_that_went_away_never_degrades_the_member_and_its_truncation_shows() {
    let o = Outcome::ClientGone(ClientError::Write);
    assert_eq!(
        member_verdict(&o),
        Verdict::Failure {
            kind: FailureKind::Client,
            retry: false
        }
    );
    let a = answer(o, "t1", "/x");
    assert!(a.abort && a.status == 0);
    assert_eq!(
        answer(Outcome::ClientGone(ClientError::Read), "t1", "/x").status,
        400
    );
    let a = answer(
        Outcome::Aborted {
            error: BackendError::Closed,
        },
        "t1",
        "/x",
    );
    assert!(a.abort && a.log.is_some_and(|(l, _)| l == AnswerLog::Error));
}

#[test]
fn backend_content_length_is_enforced_and_the_jk_log_names_the_worker_and_uri() {
    let a = answer(
        Outcome::Done {
            status: 200,
            body_sent: 0,
            body_relayed: 4,
            cut_at_length: Some(4),
        },
        "tomcat1",
        "/app/page.jsp",
    );
    assert_eq!(a.status, 0);
    let (level, line) = a.log.unwrap();
    assert_eq!(level, AnswerLog::Warn);
    assert!(
        line.contains("tomcat1") && line.contains("/app/page.jsp"),
        "{line}"
    );
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Ok),
        Just(Reply::Refused),
        Just(Reply::ClosedAfterSend),
        Just(Reply::Timeout),
        Just(Reply::FailStatus),
    ]
}

proptest! {
    /// Whatever the members answer and however the lb is set, a request Tomcat may have
    /// acted on is sent once unless its method may be replayed, and the loop stays
    /// within retries × lb_retries exchanges.
    #[test]
    fn no_replay_of_non_idempotent_requests_whatever_the_members_answer(
        script in proptest::collection::vec((0usize..3, reply_strategy()), 0..12),
        post in any::<bool>(),
        retries in 1u32..4,
        lb_retries in 1u32..5,
    ) {
        let keys = [format!("retries={retries}"), format!("lb_retries={lb_retries}")];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let seg = segment(&keys);
        let bal = Balancer::new(&seg, 0);
        let method: &'static [u8] = if post { b"POST" } else { b"GET" };
        let mut s = Script::new(method);
        for (m, r) in &script {
            s.replies.entry(format!("t{}", m + 1)).or_default().push(*r);
        }
        let end = failover(&bal, &PLAIN, &mut s);
        let n = s.exchanges.len();
        prop_assert!(n <= (retries * lb_retries.min(3)) as usize);
        // Every exchange but the last was failed over.
        for (_, r) in &s.exchanges[..n.saturating_sub(1)] {
            prop_assert_ne!(*r, Reply::Ok);
            if post {
                prop_assert_eq!(*r, Reply::Refused, "a POST was sent again after {:?}", r);
            }
        }
        if let LbEnd::Served { member, .. } = &end {
            prop_assert_eq!(Some(member), s.exchanges.last().map(|(m, _)| m));
        }
        prop_assert!(!s.locked);
    }
}
