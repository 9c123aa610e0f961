use std::sync::atomic::Ordering;

use super::*;
use crate::config::properties::Source;
use crate::config::workers::WorkersConfig;
use crate::shm::{Segment, init_from_config};

const MINUTE: u64 = 60_000;

fn config(contents: &str) -> WorkersConfig {
    WorkersConfig::from_sources(
        &[Source::File {
            path: "workers.properties",
            contents,
        }],
        "/srv/httpd",
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// One lb `lb` with members given as `"name key=value ..."` and lb keys as `"key=value"`.
fn build(members: &[&str], lb_keys: &[&str]) -> Box<Segment> {
    let names: Vec<&str> = members
        .iter()
        .map(|m| m.split_whitespace().next().unwrap())
        .collect();
    let mut text = format!(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers={}\n",
        names.join(",")
    );
    for key in lb_keys {
        text.push_str(&format!("worker.lb.{key}\n"));
    }
    for (i, m) in members.iter().enumerate() {
        let mut words = m.split_whitespace();
        let name = words.next().unwrap();
        text.push_str(&format!("worker.{name}.port={}\n", 8000 + i));
        for attr in words {
            text.push_str(&format!("worker.{name}.{attr}\n"));
        }
    }
    let seg = Segment::new_boxed();
    init_from_config(&seg, &config(&text)).unwrap();
    seg
}

fn three() -> Box<Segment> {
    build(&["t1", "t2", "t3"], &[])
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

fn sticky_to<'a>(routes: &'a [&'a str]) -> LbRequest<'a> {
    LbRequest {
        session_routes: routes,
        has_session: true,
        ..PLAIN
    }
}

/// A complete successful request; returns the member.
fn serve(b: &Balancer, req: &LbRequest, now: u64) -> usize {
    let pick = b.choose(req, &[], now).expect("a member");
    b.on_start(pick.member);
    b.on_success(pick.member, 100, 1000, now);
    pick.member
}

fn values(b: &Balancer) -> Vec<u64> {
    b.members().map(|m| m.lb_value).collect()
}

fn state(b: &Balancer, m: usize) -> MemberState {
    b.member(m).unwrap().state
}

fn counts(picks: &[usize], n: usize) -> Vec<usize> {
    (0..n)
        .map(|m| picks.iter().filter(|&&p| p == m).count())
        .collect()
}

/// Deterministic pseudo-random numbers for traffic mixes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

// ---------------------------------------------------------------------------------------
// The balancing guarantee
// ---------------------------------------------------------------------------------------

/// Other traffic: plain, sticky and stateless requests through several views
/// ("processes"), plus maintenance runs.
fn random_prefix(seg: &Segment, seed: u64, len: usize, now: &mut u64) {
    let views: Vec<Balancer> = (0..4).map(|_| Balancer::new(seg, 0)).collect();
    let mut rng = Lcg(seed);
    let routes = [["t1"], ["t2"], ["t3"]];
    for k in 0..len {
        let b = &views[k % views.len()];
        match rng.next(6) {
            0 | 1 => {
                serve(b, &PLAIN, *now);
            }
            2 | 3 => {
                let r = &routes[rng.next(3) as usize];
                serve(b, &sticky_to(r), *now);
            }
            4 => {
                let req = LbRequest {
                    stateless: true,
                    ..PLAIN
                };
                serve(b, &req, *now);
            }
            _ => {
                *now += rng.next(3 * MINUTE);
                b.maintain(*now, MINUTE);
            }
        }
    }
}

/// Picks `count` plain requests round-robin over several views, optionally running
/// maintenance every `maintain_every` picks.
fn record(seg: &Segment, count: usize, now: &mut u64, maintain_every: Option<usize>) -> Vec<usize> {
    let views: Vec<Balancer> = (0..3).map(|_| Balancer::new(seg, 0)).collect();
    if maintain_every.is_some() {
        views[0].maintain(*now, MINUTE); // starts the clock on a fresh lb
    }
    (0..count)
        .map(|k| {
            if let Some(every) = maintain_every {
                if k % every == every - 1 {
                    *now += MINUTE;
                    assert!(views[0].maintain(*now, MINUTE).is_some());
                }
            }
            serve(&views[k % views.len()], &PLAIN, *now)
        })
        .collect()
}

fn assert_every_window_balanced(picks: &[usize], n: usize) {
    for (start, window) in picks.windows(3 * n).enumerate() {
        assert_eq!(
            counts(window, n),
            vec![3; n],
            "window at {start}: {window:?} of {picks:?}"
        );
    }
    for pair in picks.windows(2) {
        assert_eq!(pair[1], (pair[0] + 1) % n, "strict rotation: {picks:?}");
    }
}

#[test]
fn equal_members_rotate_strictly_from_a_fresh_lb() {
    let seg = three();
    let mut now = MINUTE;
    let picks = record(&seg, 90, &mut now, None);
    assert_eq!(&picks[..6], &[0, 1, 2, 0, 1, 2]);
    assert_every_window_balanced(&picks, 3);
}

#[test]
fn equal_members_rotate_strictly_after_any_other_traffic() {
    for seed in 1..=40 {
        let seg = three();
        let b = Balancer::new(&seg, 0);
        let mut now = MINUTE;
        random_prefix(&seg, seed, 10 + seed as usize * 7, &mut now);

        // The backlog the prefix left is paid back first, one pick per missing unit.
        let vals = values(&b);
        let max = *vals.iter().max().unwrap();
        let deficit: u64 = vals.iter().map(|v| max - v).sum();
        for _ in 0..deficit {
            let before = values(&b);
            let m = serve(&b, &PLAIN, now);
            assert!(before[m] < max, "seed {seed}: paid to a member at max");
        }
        let vals = values(&b);
        assert!(vals.iter().all(|&v| v == vals[0]), "seed {seed}: {vals:?}");

        // From then on: every window of 9 has 3/3/3, with and without maintenance.
        let picks = record(&seg, 90, &mut now, None);
        assert_every_window_balanced(&picks, 3);
        let picks = record(&seg, 90, &mut now, Some(7));
        assert_every_window_balanced(&picks, 3);
    }
}

#[test]
fn a_sticky_backlog_is_paid_back_before_the_rotation_resumes() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let mut now = MINUTE;
    // Five sticky requests for t1: t2 and t3 get the next ten new requests.
    for _ in 0..5 {
        assert_eq!(serve(&b, &sticky_to(&["t1"]), now), 0);
    }
    let picks = record(&seg, 10, &mut now, None);
    assert_eq!(counts(&picks, 3), vec![0, 5, 5]);
    let picks = record(&seg, 27, &mut now, None);
    assert_every_window_balanced(&picks, 3);
}

#[test]
fn stateless_requests_rotate_from_any_state() {
    for seed in 1..=10 {
        let seg = three();
        let mut now = MINUTE;
        random_prefix(&seg, seed, 50, &mut now);
        let b = Balancer::new(&seg, 0);
        let req = LbRequest {
            stateless: true,
            ..PLAIN
        };
        let picks: Vec<usize> = (0..30).map(|_| serve(&b, &req, now)).collect();
        assert_every_window_balanced(&picks, 3);
    }
}

#[test]
fn weights_one_two_three_split_six_hundred_requests() {
    let seg = build(&["t1 lbfactor=1", "t2 lbfactor=2", "t3 lbfactor=3"], &[]);
    let mut now = MINUTE;
    let picks = record(&seg, 600, &mut now, None);
    // The documented bound holds after every pick: |count_i - share_i| <= f_i / f_min.
    for n in 1..=picks.len() {
        let got = counts(&picks[..n], 3);
        for (i, f) in [1.0f64, 2.0, 3.0].into_iter().enumerate() {
            let share = n as f64 * f / 6.0;
            assert!((got[i] as f64 - share).abs() <= f, "after {n}: {got:?}");
        }
    }
    let got = counts(&picks, 3);
    for (count, expected) in got.iter().zip([100usize, 200, 300]) {
        assert!(count.abs_diff(expected) * 20 <= expected, "{got:?}");
    }
    // In fact exact: lb_value is weighted request counting.
    assert_eq!(got, vec![100, 200, 300]);
    // And with maintenance halving along the way.
    let picks = record(&seg, 600, &mut now, Some(50));
    let got = counts(&picks, 3);
    for (count, expected) in got.iter().zip([100usize, 200, 300]) {
        assert!(count.abs_diff(expected) * 20 <= expected, "{got:?}");
    }
}

#[test]
fn runtime_lbfactor_change_reweights_every_process() {
    let seg = three();
    let admin = Balancer::new(&seg, 0);
    admin.set_lbfactor(2, 2);
    assert_eq!(
        admin.members().map(|m| m.lb_mult).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let mut now = MINUTE;
    let picks = record(&seg, 400, &mut now, None);
    assert_eq!(counts(&picks, 3), vec![100, 100, 200]);
}

// ---------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------

#[test]
fn request_values_decay_by_halving_per_interval() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    assert_eq!(
        b.maintain(1_000, MINUTE),
        None,
        "first call starts the clock"
    );
    for _ in 0..24 {
        serve(&b, &PLAIN, 1_000);
    }
    assert_eq!(values(&b), vec![8, 8, 8]);
    assert_eq!(b.maintain(1_000 + 30_000, MINUTE), None, "not due");
    let report = b.maintain(1_000 + MINUTE, MINUTE).unwrap();
    assert_eq!(report.decay_exponent, 1);
    assert_eq!(values(&b), vec![4, 4, 4]);
    assert_eq!(
        b.maintain(1_000 + MINUTE + 5, MINUTE),
        None,
        "one run per interval"
    );
    // Two intervals elapsed: divided by four. 2 s early still counts (mod_jk tolerance).
    let report = b.maintain(1_000 + 3 * MINUTE - 2_000, MINUTE).unwrap();
    assert_eq!(report.decay_exponent, 2);
    assert_eq!(values(&b), vec![1, 1, 1]);
    // A very long pause cannot overflow the shift.
    b.maintain(u64::MAX / 2, MINUTE).unwrap();
    assert_eq!(values(&b), vec![0, 0, 0]);
}

#[test]
fn traffic_counts_bytes() {
    let seg = build(&["t1", "t2"], &["method=T"]);
    let b = Balancer::new(&seg, 0);
    let p = b.choose(&PLAIN, &[], 1).unwrap();
    assert_eq!(p.member, 0);
    assert_eq!(
        values(&b),
        vec![0, 0],
        "nothing counted before the transfer"
    );
    b.on_start(0);
    b.on_success(0, 400, 600, 1);
    assert_eq!(values(&b), vec![1000, 0]);
    for _ in 0..5 {
        let m = b.choose(&PLAIN, &[], 1).unwrap().member;
        assert_eq!(m, 1);
        b.on_start(m);
        b.on_success(m, 100, 0, 1);
    }
    assert_eq!(values(&b), vec![1000, 500]);
    let snap = b.member(0).unwrap();
    assert_eq!((snap.bytes_read, snap.bytes_written), (400, 600));
}

#[test]
fn busyness_counts_requests_in_flight() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    b.set_settings(&LbSettings {
        method: LbMethod::Busyness,
        ..b.settings()
    });
    let a = b.choose(&PLAIN, &[], 1).unwrap().member;
    b.on_start(a);
    let c = b.choose(&PLAIN, &[], 1).unwrap().member;
    b.on_start(c);
    assert_ne!(a, c);
    assert_eq!(values(&b).iter().sum::<u64>(), 2);
    // Activation changes keep Busyness values: they are live counts, not history.
    b.set_activation(2, Activation::Disabled);
    assert_eq!(values(&b).iter().sum::<u64>(), 2);
    b.set_activation(2, Activation::Active);
    let third = b.choose(&PLAIN, &[], 1).unwrap().member;
    assert!(third != a && third != c);
    b.on_start(third);
    b.on_success(a, 0, 0, 1);
    assert_eq!(
        b.choose(&PLAIN, &[], 1).unwrap().member,
        a,
        "a is idle again"
    );
    b.on_start(a);
    b.on_failure(a, FailureKind::Protocol, 1);
    b.on_success(c, 0, 0, 1);
    b.on_failure(third, FailureKind::Client, 1);
    assert_eq!(values(&b), vec![0, 0, 0]);
    assert!(b.members().all(|m| m.busy == 0));
    // No decay for Busyness.
    b.on_start(0);
    b.maintain(10, MINUTE);
    b.maintain(10 + 5 * MINUTE, MINUTE).unwrap();
    assert_eq!(values(&b), vec![1, 0, 0]);
}

#[test]
fn sessions_counts_only_new_sessions() {
    let seg = build(&["t1", "t2"], &["method=S"]);
    let b = Balancer::new(&seg, 0);
    // A session without route (or with a stale one) is balanced but is no new session.
    let stale = LbRequest {
        session_routes: &["gone"],
        has_session: true,
        ..PLAIN
    };
    serve(&b, &stale, 1);
    serve(&b, &stale, 1);
    assert_eq!(values(&b), vec![0, 0]);
    let stateless = LbRequest {
        stateless: true,
        ..PLAIN
    };
    serve(&b, &stateless, 1);
    assert_eq!(values(&b), vec![0, 0]);
    serve(&b, &PLAIN, 1);
    serve(&b, &PLAIN, 1);
    assert_eq!(values(&b), vec![1, 1]);
    assert_eq!(b.members().map(|m| m.sessions).sum::<u64>(), 2);
    assert_eq!(b.members().map(|m| m.elected).sum::<u64>(), 5);
}

#[test]
fn next_subtracts_the_minimum_instead_of_halving() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    b.set_settings(&LbSettings {
        method: LbMethod::Next,
        ..b.settings()
    });
    b.maintain(1, MINUTE);
    for _ in 0..7 {
        serve(&b, &PLAIN, 1);
    }
    assert_eq!(values(&b), vec![3, 2, 2]);
    b.maintain(1 + MINUTE, MINUTE).unwrap();
    assert_eq!(values(&b), vec![1, 0, 0]);
    // Members in error do not hold the minimum down.
    for _ in 0..4 {
        serve(&b, &PLAIN, 1);
    }
    assert_eq!(values(&b), vec![2, 2, 1]);
    seg.members[2]
        .state
        .store(MemberState::Error.code(), Ordering::Relaxed);
    seg.members[2]
        .last_error_ms
        .store(2 * MINUTE, Ordering::Relaxed);
    b.maintain(1 + 2 * MINUTE, MINUTE).unwrap();
    assert_eq!(values(&b), vec![0, 0, 0]);
}

#[test]
fn lower_distance_wins_over_lower_load() {
    let seg = build(&["t1 distance=1", "t2", "t3 distance=2"], &[]);
    let b = Balancer::new(&seg, 0);
    for _ in 0..10 {
        assert_eq!(serve(&b, &PLAIN, 1), 1);
    }
    b.on_start(1);
    assert!(b.on_failure(1, FailureKind::Backend, 1));
    for _ in 0..5 {
        assert_eq!(serve(&b, &PLAIN, 1), 0);
    }
    // Excluding the member that failed for this request goes on to distance 2.
    assert_eq!(b.choose(&PLAIN, &[0], 1).unwrap().member, 2);
    b.set_distance(2, -1);
    b.set_settings(&b.settings());
    assert_eq!(serve(&b, &PLAIN, 1), 2);
}

// ---------------------------------------------------------------------------------------
// Sticky sessions
// ---------------------------------------------------------------------------------------

#[test]
fn session_ids_come_from_the_path_then_every_cookie() {
    let path = ";jsessionid";
    let cookie = "JSESSIONID";
    assert_eq!(
        extract_session_id("/app;jsessionid=abc.t2/x", &[], path, cookie),
        vec!["abc.t2"]
    );
    assert_eq!(
        extract_session_id("/a;jsessionid=abc.t2;foo=1?q", &[], path, cookie),
        vec!["abc.t2"]
    );
    assert_eq!(
        extract_session_id("/a;jsessionid=abc.t3?x=1", &[], path, cookie),
        vec!["abc.t3"]
    );
    assert!(extract_session_id("/a;jsessionid=/x;jsessionidx=1", &[], path, cookie).is_empty());
    assert_eq!(
        extract_session_id("/a;jsessionid=;jsessionid=x.t1", &[], path, cookie),
        vec!["x.t1"]
    );
    let headers = [
        "theme=dark; JSESSIONID=one.t1 ;XJSESSIONID=no.t9",
        " JSESSIONID = \"two.t2\" , other=1;JSESSIONID=",
        "JSESSIONID=three",
    ];
    assert_eq!(
        extract_session_id("/p;jsessionid=zero.t3", &headers, path, cookie),
        vec!["zero.t3", "one.t1", "two.t2", "three"]
    );
    assert!(extract_session_id("/", &["jsessionid=lower.t1"], path, cookie).is_empty());

    assert_eq!(session_route("abc.t2"), Some("t2"));
    assert_eq!(
        session_route("abc.t2.dc1"),
        Some("t2.dc1"),
        "after the first dot"
    );
    assert_eq!(session_route("abc"), None);
    assert_eq!(session_route("abc."), None);
    assert_eq!(session_routes(&["a.t1", "b", "c.t3"]), vec!["t1", "t3"]);
}

#[test]
fn sticky_requests_go_to_their_route() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    for _ in 0..10 {
        let p = b.choose(&sticky_to(&["t2"]), &[], 1).unwrap();
        assert_eq!((p.member, p.sticky, p.route.as_str()), (1, true, "t2"));
        b.on_start(1);
        b.on_success(1, 0, 0, 1);
    }
    // Sticky requests count (Request method) and do not move the rotation.
    assert_eq!(values(&b), vec![0, 10, 0]);
    assert_eq!(b.member(1).unwrap().sessions, 0);
    // Several session ids: the first with a usable member wins.
    assert_eq!(serve(&b, &sticky_to(&["nope", "t3", "t1"]), 1), 2);
    // sticky_ignore and sticky_session=false balance normally.
    let ignore = LbRequest {
        sticky_ignore: true,
        ..sticky_to(&["t2"])
    };
    assert_eq!(b.choose(&ignore, &[], 1).unwrap().member, 0);
    b.set_settings(&LbSettings {
        sticky_session: false,
        ..b.settings()
    });
    let p = b.choose(&sticky_to(&["t2"]), &[], 1).unwrap();
    assert!(!p.sticky);
    assert_ne!(p.member, 1);
}

#[test]
fn a_disabled_member_keeps_its_sessions_but_gets_no_new_ones() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    b.set_activation(1, Activation::Disabled);
    for _ in 0..30 {
        assert_ne!(serve(&b, &PLAIN, 1), 1);
    }
    for _ in 0..10 {
        let p = b.choose(&sticky_to(&["t2"]), &[], 1).unwrap();
        assert_eq!((p.member, p.activation), (1, Activation::Disabled));
    }
    // Stopped: nothing, not even its sessions (they fail over).
    b.set_activation(1, Activation::Stopped);
    for _ in 0..10 {
        let p = b.choose(&sticky_to(&["t2"]), &[], 1).unwrap();
        assert_ne!(p.member, 1);
        assert!(!p.sticky);
    }
    // ... or are refused with sticky_session_force.
    b.set_settings(&LbSettings {
        sticky_session_force: true,
        ..b.settings()
    });
    assert_eq!(
        b.choose(&sticky_to(&["t2"]), &[], 1),
        Err(NoMember::StickyForced)
    );
}

#[test]
fn sticky_force_refuses_ids_without_a_usable_route() {
    let seg = build(&["t1", "t2"], &["sticky_session_force=true"]);
    let b = Balancer::new(&seg, 0);
    let no_route = LbRequest {
        session_routes: &[],
        has_session: true,
        ..PLAIN
    };
    assert_eq!(b.choose(&no_route, &[], 1), Err(NoMember::StickyForced));
    assert_eq!(
        b.choose(&sticky_to(&["removed"]), &[], 1),
        Err(NoMember::StickyForced)
    );
    b.on_start(0);
    b.on_failure(0, FailureKind::Backend, 1);
    assert_eq!(
        b.choose(&sticky_to(&["t1"]), &[], 1),
        Err(NoMember::StickyForced)
    );
    // The member that failed for this request is not retried for it either.
    assert_eq!(
        b.choose(&sticky_to(&["t2"]), &[1], 1),
        Err(NoMember::StickyForced)
    );
    // Without a session id, balancing is normal.
    assert_eq!(b.choose(&PLAIN, &[], 1).unwrap().member, 1);
}

#[test]
fn an_unusable_owner_redirects_or_falls_back_to_its_domain() {
    let seg = build(
        &[
            "a redirect=standby",
            "standby activation=disabled",
            "c route=dc1.c",
            "d route=dc1.d",
            "e",
        ],
        &[],
    );
    let b = Balancer::new(&seg, 0);
    // a fails: its sessions go to the (disabled) hot standby.
    b.on_start(0);
    b.on_failure(0, FailureKind::Backend, 1);
    let p = b.choose(&sticky_to(&["a"]), &[], 1).unwrap();
    assert_eq!(
        (p.member, p.sticky, p.route.as_str()),
        (1, false, "standby")
    );
    // c fails: its sessions go to the best member of its domain dc1 (the domain defaults
    // to the route's part before the first dot).
    b.on_start(2);
    b.on_failure(2, FailureKind::Backend, 1);
    let p = b.choose(&sticky_to(&["dc1.c"]), &[], 1).unwrap();
    assert_eq!((p.member, p.sticky, p.route.as_str()), (3, false, "dc1"));
    // A route nobody has but whose domain part matches: domain members (Active only).
    let p = b.choose(&sticky_to(&["gone.x"]), &[], 1);
    assert_ne!(p.unwrap().route, "dc1");
    let p = b.choose(&sticky_to(&["dc1.x"]), &[], 1).unwrap();
    assert_eq!((p.member, p.route.as_str()), (3, "dc1"));
    // Everything Active down: new requests fail over to the redirect target.
    for m in [3, 4] {
        b.on_start(m);
        b.on_failure(m, FailureKind::Backend, 1);
    }
    let p = b.choose(&PLAIN, &[], 1).unwrap();
    assert_eq!((p.member, p.sticky), (1, false));
}

#[test]
fn rule_overrides_change_activation_for_one_request() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let stopped = vec!["t1".to_owned(), "t2".to_owned()];
    let req = LbRequest {
        stopped_override: &stopped,
        ..PLAIN
    };
    for _ in 0..5 {
        assert_eq!(serve(&b, &req, 1), 2);
    }
    let disabled = vec!["t2".to_owned()];
    let active = vec!["t2".to_owned()];
    let req = LbRequest {
        disabled_override: &disabled,
        active_override: &active,
        ..sticky_to(&["t2"])
    };
    let p = b.choose(&req, &[], 1).unwrap();
    assert_eq!((p.member, p.activation), (1, Activation::Disabled));
    b.set_activation(0, Activation::Stopped);
    let active = vec!["t1".to_owned()];
    let req = LbRequest {
        active_override: &active,
        ..sticky_to(&["t1"])
    };
    assert_eq!(b.choose(&req, &[], 1).unwrap().member, 0);
}

#[test]
fn single_member_shortcut() {
    let seg = build(&["only"], &[]);
    let b = Balancer::new(&seg, 0);
    let p = b.choose(&PLAIN, &[], 1).unwrap();
    assert_eq!((p.member, p.sticky), (0, true));
    b.set_activation(0, Activation::Disabled);
    assert_eq!(b.choose(&PLAIN, &[], 1), Err(NoMember::NoneUsable));
    assert_eq!(b.choose(&sticky_to(&["only"]), &[], 1).unwrap().member, 0);
}

// ---------------------------------------------------------------------------------------
// Error states
// ---------------------------------------------------------------------------------------

#[test]
fn backend_failure_without_other_traffic_is_an_error() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let now = 10 * MINUTE;
    let m = b.choose(&PLAIN, &[], now).unwrap().member;
    b.on_start(m);
    assert!(b.on_failure(m, FailureKind::Backend, now));
    let snap = b.member(m).unwrap();
    assert_eq!(snap.state, MemberState::Error);
    assert_eq!((snap.errors, snap.busy), (1, 0));
    assert_eq!((snap.first_error_ms, snap.last_error_ms), (now, now));
    // Not chosen again until recovered.
    for _ in 0..10 {
        assert_ne!(serve(&b, &PLAIN, now), m);
    }
}

#[test]
fn a_failure_beside_other_requests_stays_local_until_escalation() {
    // recover_time 60 s, error_escalation_time 30 s.
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let t0 = 10 * MINUTE;
    b.maintain(t0, MINUTE);
    b.on_start(0); // a long request in flight
    b.on_start(0);
    assert!(!b.on_failure(0, FailureKind::Backend, t0));
    assert_eq!(state(&b, 0), MemberState::Ok, "local error only");
    assert_eq!(b.member(0).unwrap().first_error_ms, t0);
    assert_eq!(b.member(0).unwrap().interval_errors, 1);
    assert_eq!(b.choose(&PLAIN, &[], t0).unwrap().member, 0, "still used");
    b.on_start(0);
    assert!(!b.on_failure(0, FailureKind::Backend, t0 + 29_000));
    // First error older than the escalation time: global.
    b.on_start(0);
    assert!(b.on_failure(0, FailureKind::Backend, t0 + 30_000));
    assert_eq!(state(&b, 0), MemberState::Error);
    b.on_success(0, 0, 0, t0 + 31_000); // the long request finally ends well
    assert_eq!(state(&b, 0), MemberState::Ok);
    assert_eq!(b.member(0).unwrap().busy, 0);

    // Maintenance escalates a local error that stayed without success.
    b.on_start(1);
    b.on_start(1);
    assert!(!b.on_failure(1, FailureKind::Backend, t0 + 40_000));
    b.on_success(1, 0, 0, t0 + 41_000);
    assert_eq!(b.member(1).unwrap().first_error_ms, 0, "success clears it");
    b.on_start(1);
    b.on_start(1);
    assert!(!b.on_failure(1, FailureKind::Backend, t0 + 42_000));
    let report = b.maintain(t0 + MINUTE, MINUTE).unwrap();
    assert!(report.escalated.is_empty(), "only 18 s old");
    let report = b.maintain(t0 + 2 * MINUTE, MINUTE).unwrap();
    assert_eq!(report.escalated, vec![1]);
    assert_eq!(state(&b, 1), MemberState::Error);
    b.on_failure(1, FailureKind::Client, t0 + 2 * MINUTE);
    assert_eq!(b.member(1).unwrap().busy, 0);
}

#[test]
fn a_refused_connect_is_a_global_error_beside_other_requests() {
    // The same load as above (two more requests in flight), but the backend refused the
    // connection: nothing listens, so every child stops choosing the member at once.
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let t0 = 10 * MINUTE;
    b.maintain(t0, MINUTE);
    b.on_start(0);
    b.on_start(0);
    b.on_start(0);
    assert!(b.on_failure(0, FailureKind::Refused, t0));
    assert_eq!(state(&b, 0), MemberState::Error);
    let m = b.member(0).unwrap();
    assert_eq!((m.busy, m.errors, m.first_error_ms), (2, 1, t0));
    for _ in 0..6 {
        assert_ne!(b.choose(&PLAIN, &[], t0 + 1).unwrap().member, 0);
    }
    // The requests still in flight fail as local errors and leave it in ERR.
    assert!(!b.on_failure(0, FailureKind::Protocol, t0 + 2));
    assert_eq!(state(&b, 0), MemberState::Error);
    b.on_failure(0, FailureKind::Refused, t0 + 3);
    assert_eq!(
        b.member(0).unwrap().first_error_ms,
        t0,
        "the first error is kept"
    );
    assert_eq!(b.member(0).unwrap().busy, 0);
    // It comes back through recover_time like any other error.
    let report = b.maintain(t0 + 2 * MINUTE, MINUTE).unwrap();
    assert_eq!(report.recovered, vec![0]);
}

#[test]
fn errors_recover_through_a_single_probe() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let t0 = 10 * MINUTE;
    b.maintain(t0, MINUTE);
    for _ in 0..6 {
        serve(&b, &PLAIN, t0);
    }
    b.on_start(0);
    b.on_failure(0, FailureKind::Backend, t0);
    for _ in 0..4 {
        serve(&b, &PLAIN, t0);
    }
    assert_eq!(values(&b), vec![2, 4, 4]);
    // 60 s recover_time not yet over at the next run.
    let report = b.maintain(t0 + MINUTE, MINUTE).unwrap();
    assert!(report.recovered.is_empty());
    assert_eq!(state(&b, 0), MemberState::Error);
    let report = b.maintain(t0 + 2 * MINUTE, MINUTE).unwrap();
    assert_eq!(report.recovered, vec![0]);
    assert_eq!(state(&b, 0), MemberState::Recover);
    // Recovered at the current maximum, so it is not flooded.
    let v = values(&b);
    assert_eq!(v[0], *v.iter().max().unwrap());

    let now = t0 + 2 * MINUTE;
    let probe = loop {
        let p = b.choose(&PLAIN, &[], now).unwrap();
        b.on_start(p.member);
        if p.member == 0 {
            break p;
        }
        b.on_success(p.member, 0, 0, now);
    };
    assert_eq!(probe.member, 0);
    assert_eq!(state(&b, 0), MemberState::Probe);
    for _ in 0..6 {
        assert_ne!(serve(&b, &PLAIN, now), 0, "one probe at a time");
    }
    b.on_success(0, 0, 0, now);
    assert_eq!(state(&b, 0), MemberState::Ok);
    assert_eq!(b.member(0).unwrap().first_error_ms, 0);

    // A failed probe is an error at once, even beside other requests.
    b.on_start(0);
    b.on_start(0);
    b.on_failure(0, FailureKind::Backend, now);
    b.on_failure(0, FailureKind::Backend, now);
    assert_eq!(state(&b, 0), MemberState::Error);
    assert!(b.recover(0));
    assert_eq!(state(&b, 0), MemberState::Recover);
    assert_eq!(b.choose(&PLAIN, &[1, 2], now).unwrap().member, 0);
    b.on_start(0);
    b.on_start(0);
    assert!(b.on_failure(0, FailureKind::Backend, now));
    b.on_success(0, 0, 0, now);
    assert!(b.members().all(|m| m.busy == 0));
}

#[test]
fn reply_timeouts_tolerated_up_to_the_limit_and_decayed() {
    let seg = build(&["t1", "t2"], &["max_reply_timeouts=2"]);
    let b = Balancer::new(&seg, 0);
    b.maintain(1, MINUTE);
    for _ in 0..2 {
        b.on_start(0);
        assert!(!b.on_failure(0, FailureKind::ReplyTimeout, 1));
        assert_eq!(state(&b, 0), MemberState::Ok);
    }
    b.maintain(1 + MINUTE, MINUTE).unwrap();
    assert_eq!(b.member(0).unwrap().reply_timeouts, 1);
    b.on_start(0);
    assert!(!b.on_failure(0, FailureKind::ReplyTimeout, 2));
    b.on_start(0);
    assert!(b.on_failure(0, FailureKind::ReplyTimeout, 3));
    let snap = b.member(0).unwrap();
    assert_eq!(
        (snap.state, snap.errors, snap.busy),
        (MemberState::Error, 1, 0)
    );
}

#[test]
fn status_failures_and_protocol_errors() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    b.on_start(0);
    assert!(b.on_failure(0, FailureKind::FailOnStatus { positive: true }, 5));
    assert_eq!(state(&b, 0), MemberState::Error);
    b.on_start(1);
    assert!(!b.on_failure(1, FailureKind::FailOnStatus { positive: false }, 5));
    assert_eq!(state(&b, 1), MemberState::Ok);
    b.on_start(2);
    assert!(!b.on_failure(2, FailureKind::Protocol, 5));
    let snap = b.member(2).unwrap();
    assert_eq!((snap.state, snap.errors), (MemberState::Ok, 0));
    assert!(b.members().all(|m| m.busy == 0));
}

#[test]
fn client_failures_never_change_the_member() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    for s in [
        MemberState::Idle,
        MemberState::Ok,
        MemberState::Recover,
        MemberState::Force,
        MemberState::Busy,
        MemberState::Error,
    ] {
        seg.members[0].state.store(s.code(), Ordering::Relaxed);
        seg.members[0].first_error_ms.store(7, Ordering::Relaxed);
        b.on_start(0);
        assert!(!b.on_failure(0, FailureKind::Client, 100));
        let snap = b.member(0).unwrap();
        assert_eq!(snap.state, s);
        assert_eq!((snap.errors, snap.first_error_ms), (0, 7));
    }
    // An inconclusive probe hands the probe to the next request.
    seg.members[0]
        .state
        .store(MemberState::Recover.code(), Ordering::Relaxed);
    assert_eq!(b.choose(&PLAIN, &[1, 2], 100).unwrap().member, 0);
    b.on_start(0);
    b.on_failure(0, FailureKind::Client, 100);
    assert_eq!(state(&b, 0), MemberState::Recover);
    let snap = b.member(0).unwrap();
    assert_eq!(
        (snap.client_errors, snap.busy, snap.interval_errors),
        (14, 0, 0),
        "7 client errors, counted twice each as mod_jk does"
    );
}

#[test]
fn busy_members_take_no_new_requests_until_cleared() {
    let seg = build(&["t1", "t2"], &[]);
    let b = Balancer::new(&seg, 0);
    b.maintain(1, MINUTE);
    b.on_start(0);
    assert!(!b.on_failure(0, FailureKind::Busy, 1));
    assert_eq!(state(&b, 0), MemberState::Busy);
    for _ in 0..4 {
        assert_eq!(serve(&b, &PLAIN, 1), 1);
    }
    // Its sessions still try it (mod_jk: busy is transient, failing over loses them).
    assert_eq!(b.choose(&sticky_to(&["t1"]), &[], 1).unwrap().member, 0);
    b.on_start(1);
    b.on_failure(1, FailureKind::Busy, 1);
    assert_eq!(b.choose(&PLAIN, &[], 1), Err(NoMember::AllBusy));
    assert!(b.clear_busy(1));
    assert!(!b.clear_busy(1));
    assert_eq!(b.choose(&PLAIN, &[], 1).unwrap().member, 1);
    // Maintenance clears it when nothing is in flight anywhere.
    b.maintain(1 + MINUTE, MINUTE).unwrap();
    assert_eq!(state(&b, 0), MemberState::Ok);
    assert_eq!(b.snapshot().busy, 0);
}

#[test]
fn all_members_down_forces_recovery_once_then_gives_up() {
    let seg = three();
    let b = Balancer::new(&seg, 0);
    let now = 5 * MINUTE;
    // One request tries every member in turn.
    let mut tried = Vec::new();
    for _ in 0..3 {
        let p = b.choose(&PLAIN, &tried, now).unwrap();
        b.on_start(p.member);
        b.on_failure(p.member, FailureKind::Backend, now);
        tried.push(p.member);
    }
    assert!(b.members().all(|m| m.state == MemberState::Error));
    // Nothing left for this request: all ERR become ERR/FRC, but they were tried.
    assert_eq!(b.choose(&PLAIN, &tried, now), Err(NoMember::NoneUsable));
    assert!(b.members().all(|m| m.state == MemberState::Force));
    // The next request gets forced members without waiting for recover_time.
    let p = b.choose(&PLAIN, &[], now).unwrap();
    assert_eq!(p.forced, 0);
    b.on_start(p.member);
    assert!(b.on_failure(p.member, FailureKind::Backend, now));
    assert_eq!(state(&b, p.member), MemberState::Error);
    for m in 0..3 {
        seg.members[m]
            .state
            .store(MemberState::Error.code(), Ordering::Relaxed);
    }
    let p = b.choose(&PLAIN, &[], now).unwrap();
    assert_eq!(p.forced, 3);
    // With force, a dead lb also recovers for pinned sessions.
    let seg = build(&["t1", "t2"], &["sticky_session_force=1"]);
    let b = Balancer::new(&seg, 0);
    for m in 0..2 {
        b.on_start(m);
        b.on_failure(m, FailureKind::Backend, now);
    }
    let p = b.choose(&sticky_to(&["t2"]), &[], now).unwrap();
    assert_eq!((p.member, p.forced), (1, 2));
    // Maintenance forces recovery when no member is outside ERR.
    for m in 0..2 {
        seg.members[m]
            .state
            .store(MemberState::Error.code(), Ordering::Relaxed);
        seg.members[m].last_error_ms.store(now, Ordering::Relaxed);
    }
    b.maintain(now, MINUTE);
    let report = b.maintain(now + MINUTE - 2_000, MINUTE).unwrap();
    assert_eq!(report.forced, 2);
    assert_eq!(state(&b, 0), MemberState::Force);
}

#[test]
fn stopped_and_disabled_everywhere_is_none_usable() {
    let seg = build(&["t1", "t2"], &[]);
    let b = Balancer::new(&seg, 0);
    b.set_activation(0, Activation::Stopped);
    b.set_activation(1, Activation::Disabled);
    assert_eq!(b.choose(&PLAIN, &[], 1), Err(NoMember::NoneUsable));
}

#[test]
fn idle_members_are_marked_at_maintenance() {
    let seg = build(&["t1", "t2"], &[]);
    let b = Balancer::new(&seg, 0);
    b.maintain(1, MINUTE);
    serve(&b, &PLAIN, 1);
    serve(&b, &PLAIN, 1);
    let report = b.maintain(1 + MINUTE, MINUTE).unwrap();
    assert!(report.idled.is_empty());
    serve(&b, &PLAIN, 1);
    let report = b.maintain(1 + 2 * MINUTE, MINUTE).unwrap();
    assert_eq!(report.idled, vec![1]);
    assert_eq!(state(&b, 1), MemberState::Idle);
    assert_eq!(state(&b, 0), MemberState::Ok);
}

#[test]
fn maintenance_runs_once_per_interval_across_processes() {
    let seg = three();
    let views: Vec<Balancer> = (0..5).map(|_| Balancer::new(&seg, 0)).collect();
    views[0].maintain(1_000, MINUTE);
    let runs = views
        .iter()
        .filter(|b| b.maintain(1_000 + MINUTE, MINUTE).is_some())
        .count();
    assert_eq!(runs, 1);
    // A lock left by a process that died is taken over once stale.
    seg.lbs[0]
        .maintain_lock
        .store(1_000 + MINUTE, Ordering::Relaxed);
    assert!(
        views[1]
            .maintain(1_000 + 2 * MINUTE - 55_000, MINUTE)
            .is_none()
    );
    assert!(views[1].maintain(1_000 + 3 * MINUTE, MINUTE).is_some());
    // The clock going back restarts the schedule instead of stopping it.
    assert!(views[2].maintain(5_000, MINUTE).is_none());
    assert!(views[2].maintain(5_000 + MINUTE, MINUTE).is_some());
    assert!(views[2].maintain(10 * MINUTE, 0).is_none(), "0 disables");
}

// ---------------------------------------------------------------------------------------
// Status worker edits and snapshots
// ---------------------------------------------------------------------------------------

#[test]
fn edits_are_shared_and_validated() {
    let seg = three();
    let admin = Balancer::new(&seg, 0);
    let worker = Balancer::find(&seg, "lb").unwrap();
    for _ in 0..6 {
        serve(&worker, &PLAIN, 1);
    }
    let seq = worker.member(1).unwrap().sequence;
    admin.set_route(1, "blue").unwrap();
    admin.set_domain(1, "dc1").unwrap();
    admin.set_redirect(1, "t3").unwrap();
    assert!(admin.set_route(1, &"x".repeat(64)).is_err());
    assert!(admin.set_route(1, "a\0b").is_err());
    assert!(admin.set_route(7, "t7").is_err());
    let snap = worker.member(1).unwrap();
    assert_eq!(
        (
            snap.route.as_str(),
            snap.domain.as_str(),
            snap.redirect.as_str()
        ),
        ("blue", "dc1", "t3")
    );
    assert_eq!(snap.sequence, seq + 6);
    assert_eq!(serve(&worker, &sticky_to(&["blue"]), 1), 1);

    assert_eq!(values(&worker), vec![2, 3, 2]);
    admin.set_activation(0, Activation::Disabled);
    assert_eq!(values(&worker), vec![0, 0, 0], "mod_jk resets lb_values");
    assert_eq!(worker.member(0).unwrap().activation, Activation::Disabled);

    assert_eq!(worker.member_index("t2"), Some(1));
    assert_eq!(worker.member_index("nope"), None);
    assert_eq!(worker.members().count(), 3);
    assert_eq!(worker.snapshot().name, "lb");
    assert_eq!(worker.snapshot().members, 0..3);

    admin.reset_stats(None, 99);
    assert!(
        worker
            .members()
            .all(|m| m.elected == 0 && m.last_reset_ms == 99)
    );
    assert!(!admin.recover(1), "only members in error");
    assert!(!admin.set_activation(3, Activation::Active));
}

// ---------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------

#[test]
fn concurrent_requests_keep_counters_exact() {
    let seg = three();
    let threads = 8;
    let per_thread = 10_000u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let seg = &*seg;
            s.spawn(move || {
                let b = Balancer::new(seg, 0);
                let routes = ["t2"];
                for i in 0..per_thread {
                    let req = if (i + t) % 5 == 0 {
                        sticky_to(&routes)
                    } else {
                        PLAIN
                    };
                    let now = MINUTE + i * 10;
                    let p = b.choose(&req, &[], now).expect("healthy members");
                    b.on_start(p.member);
                    b.on_success(p.member, 10, 20, now);
                    if t == 0 && i % 500 == 0 {
                        b.maintain(now, 1_000);
                    }
                }
            });
        }
    });
    let b = Balancer::new(&seg, 0);
    let snaps: Vec<MemberSnapshot> = b.members().collect();
    assert!(snaps.iter().all(|m| m.busy == 0), "{snaps:?}");
    assert_eq!(b.snapshot().busy, 0);
    assert_eq!(
        snaps.iter().map(|m| m.elected).sum::<u64>(),
        threads * per_thread
    );
    assert!(snaps.iter().all(|m| m.elected > threads * per_thread / 5));
    assert_eq!(
        snaps.iter().map(|m| m.bytes_read).sum::<u64>(),
        10 * threads * per_thread
    );
}

#[test]
fn garbage_in_the_segment_never_panics() {
    let mut rng = Lcg(7);
    let extremes = [
        0u64,
        1,
        2,
        63,
        64,
        65,
        u32::MAX as u64,
        u64::MAX / 2,
        u64::MAX,
    ];
    for round in 0..300 {
        let seg = three();
        let pick = |rng: &mut Lcg| {
            if rng.next(2) == 0 {
                extremes[rng.next(extremes.len() as u64) as usize]
            } else {
                rng.next(u64::MAX)
            }
        };
        let h = &seg.header;
        h.lb_count.store(pick(&mut rng) as u32, Ordering::Relaxed);
        h.member_count
            .store(pick(&mut rng) as u32, Ordering::Relaxed);
        let lb = &seg.lbs[0];
        for a in [
            &lb.first_member,
            &lb.member_count,
            &lb.method,
            &lb.sticky_session,
            &lb.sticky_session_force,
            &lb.recover_time_secs,
            &lb.error_escalation_time_secs,
            &lb.max_reply_timeouts,
        ] {
            if rng.next(3) == 0 {
                a.store(pick(&mut rng) as u32, Ordering::Relaxed);
            }
        }
        for a in [
            &lb.rotation,
            &lb.maintain_lock,
            &lb.last_maintain_ms,
            &lb.busy,
        ] {
            if rng.next(3) == 0 {
                a.store(pick(&mut rng), Ordering::Relaxed);
            }
        }
        for m in seg.members.iter().take(6) {
            for a in [&m.state, &m.activation, &m.lbfactor, &m.lb_index] {
                if rng.next(2) == 0 {
                    a.store(pick(&mut rng) as u32, Ordering::Relaxed);
                }
            }
            for a in [
                &m.lb_mult,
                &m.lb_value,
                &m.busy,
                &m.reply_timeouts,
                &m.first_error_ms,
                &m.last_error_ms,
                &m.elected,
                &m.elected_snapshot,
            ] {
                if rng.next(2) == 0 {
                    a.store(pick(&mut rng), Ordering::Relaxed);
                }
            }
            m.distance.store(pick(&mut rng) as i64, Ordering::Relaxed);
            if rng.next(4) == 0 {
                m.route.words[rng.next(8) as usize].store(pick(&mut rng), Ordering::Relaxed);
                // Odd values (a dead writer) cost a one-second repair, tested in shm.
                m.sequence
                    .store(pick(&mut rng) as u32 & !1, Ordering::Relaxed);
            }
        }
        let now = pick(&mut rng);
        for lb_index in [0, 1, 15, 16, usize::MAX] {
            let b = Balancer::new(&seg, lb_index);
            let tried = [0usize, 63, 64, usize::MAX];
            for req in [PLAIN, sticky_to(&["t1", "t2"])] {
                if let Ok(p) = b.choose(&req, &tried[..(round % 4)], now) {
                    b.on_start(p.member);
                    b.on_success(p.member, u64::MAX, u64::MAX, now);
                }
            }
            for m in [0usize, 2, 63, 64, usize::MAX] {
                b.on_start(m);
                for kind in [
                    FailureKind::Backend,
                    FailureKind::ReplyTimeout,
                    FailureKind::Busy,
                    FailureKind::Client,
                ] {
                    b.on_failure(m, kind, now);
                }
                b.set_lbfactor(m, u32::MAX);
                b.set_activation(m, Activation::Active);
                b.recover(m);
                b.clear_busy(m);
            }
            b.maintain(now, pick(&mut rng).max(1));
            b.maintain(now.wrapping_add(MINUTE), MINUTE);
            b.reset_stats(None, now);
            let _ = b.members().count();
            let _ = b.snapshot();
        }
        let _ = crate::shm::validate(&seg, crate::shm::SEGMENT_SIZE);
    }
}

#[test]
fn set_session_cookie_value_names_the_route_with_path_httponly_and_secure() {
    assert_eq!(
        route_cookie("JSESSIONID", "tomcat2", "/", false),
        "JSESSIONID=.tomcat2;PATH=/;HttpOnly"
    );
    assert_eq!(
        route_cookie("sid", "a.b", "", true),
        "sid=.a.b;HttpOnly;Secure"
    );
}
