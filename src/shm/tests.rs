use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::config::properties::Source;
use crate::config::workers::WorkersConfig;

#[test]
fn jk_shm_size_sets_the_file_length() {
    assert_eq!(file_size(None), SEGMENT_SIZE);
    assert_eq!(
        file_size(Some(1)),
        MIN_REQUESTED_SIZE,
        "raised to the minimum"
    );
    let big = file_size(Some(200));
    assert!(big >= 200 * 1024 && big % SIZE_ALIGN == 0 && big - 200 * 1024 < SIZE_ALIGN);
    assert_eq!(file_size(Some(u32::MAX)) % SIZE_ALIGN, 0);
}

pub(crate) fn config(contents: &str) -> WorkersConfig {
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

const TWO_LBS: &str = "\
worker.list=lb,other
worker.a.port=1
worker.a.lbfactor=2
worker.a.redirect=b
worker.b.port=2
worker.b.route=b.x
worker.b.activation=disabled
worker.c.port=3
worker.lb.type=lb
worker.lb.balance_workers=a,b
worker.lb.method=B
worker.other.type=lb
worker.other.balance_workers=c,a
";

#[test]
fn init_over_a_segment_left_writer_held_does_not_wait() {
    let cfg = config(TWO_LBS);
    let seg = Segment::new_boxed();
    for s in &seg.lbs {
        s.sequence.store(u32::MAX, Ordering::Relaxed);
    }
    for s in &seg.members {
        s.sequence.store(7, Ordering::Relaxed);
    }
    let t = Instant::now();
    init_from_config(&seg, &cfg).unwrap();
    // Not a speed check: one dead-writer wait per slot would take over a minute.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    validate(&seg, SEGMENT_SIZE).unwrap();
    assert_eq!(seg.member(1).unwrap().name(), "b");
}

#[test]
fn init_lays_out_lbs_and_members() {
    let cfg = config(TWO_LBS);
    let seg = Segment::new_boxed();
    init_from_config(&seg, &cfg).unwrap();
    validate(&seg, SEGMENT_SIZE).unwrap();
    assert_eq!(seg.lb_count(), 2);
    assert_eq!(seg.member_count(), 4);
    assert_eq!(seg.find_lb("lb"), Some(0));
    assert_eq!(seg.find_lb("other"), Some(1));
    assert_eq!(seg.find_lb("nope"), None);
    let lb = seg.lb(0).unwrap();
    assert_eq!(lb.name(), "lb");
    assert_eq!(
        method_from_code(lb.method.load(Ordering::Relaxed)),
        LbMethod::Busyness
    );
    assert_eq!(lb.recover_time_secs.load(Ordering::Relaxed), 60);
    assert_eq!(lb.error_escalation_time_secs.load(Ordering::Relaxed), 30);
    let a = seg.member(0).unwrap();
    let b = seg.member(1).unwrap();
    assert_eq!(
        (a.name(), a.route(), a.redirect()),
        ("a".into(), "a".into(), "b".into())
    );
    assert_eq!((b.route(), b.domain()), ("b.x".into(), "b".into()));
    assert_eq!(b.activation(), Activation::Disabled);
    assert_eq!(a.state(), MemberState::Idle);
    // lbfactors 2 and 1: LCM 2.
    assert_eq!(a.lb_mult.load(Ordering::Relaxed), 1);
    assert_eq!(b.lb_mult.load(Ordering::Relaxed), 2);
    let other = seg.lb(1).unwrap();
    assert_eq!(other.first_member.load(Ordering::Relaxed), 2);
    assert_eq!(seg.member(3).unwrap().name(), "a");
    assert_eq!(seg.member(3).unwrap().lb_index.load(Ordering::Relaxed), 1);
}

#[test]
fn capacity_is_checked() {
    let mut text = String::from("worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=");
    let names: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("m{i}")).collect();
    text.push_str(&names.join(","));
    text.push('\n');
    for (i, n) in names.iter().enumerate() {
        text.push_str(&format!("worker.{n}.port={}\n", i + 1));
    }
    let cfg = config(&text);
    let err = check_capacity(&cfg).unwrap_err();
    assert!(err.contains("at most 64"), "{err}");
    let seg = Segment::new_boxed();
    assert!(init_from_config(&seg, &cfg).is_err());
    assert!(adopt_or_init(&seg, &cfg).is_err());

    let mut text = String::from("worker.list=");
    let lbs: Vec<String> = (0..=MAX_LBS).map(|i| format!("lb{i}")).collect();
    text.push_str(&lbs.join(","));
    text.push_str("\nworker.m.port=1\n");
    for lb in &lbs {
        text.push_str(&format!(
            "worker.{lb}.type=lb\nworker.{lb}.balance_workers=m\n"
        ));
    }
    assert!(
        check_capacity(&config(&text))
            .unwrap_err()
            .contains("at most 16")
    );
}

#[test]
fn mults_are_lcm_over_factor() {
    assert_eq!(compute_mults(&[1, 2, 3]), vec![6, 3, 2]);
    assert_eq!(compute_mults(&[4, 4]), vec![1, 1]);
    assert_eq!(compute_mults(&[0, 2]), vec![2, 1]);
    // Pairwise coprime factors whose LCM overflows: still proportional, never 0.
    let big = [4_294_967_291, 4_294_967_279, 4_294_967_231, 1];
    let mults = compute_mults(&big);
    assert!(mults.iter().all(|&m| m >= 1));
    assert_eq!(mults[3], 1 << 32);
}

#[test]
fn strings_round_trip_and_truncate() {
    let slot = MemberSlot::new();
    write_str(&slot.sequence, &slot.route, "node1.dc-east");
    assert_eq!(slot.route(), "node1.dc-east");
    assert_eq!(slot.sequence() % 2, 0);
    assert_eq!(slot.sequence(), 2);
    assert!(str_eq(&slot.sequence, &slot.route, "node1.dc-east"));
    assert!(!str_eq(&slot.sequence, &slot.route, "node1"));

    let long = "é".repeat(40); // 80 bytes
    write_str(&slot.sequence, &slot.route, &long);
    let read = slot.route();
    assert_eq!(read.len(), 62, "cut on a char boundary");
    assert!(long.starts_with(&read));
    write_str(&slot.sequence, &slot.route, &"x".repeat(63));
    assert_eq!(slot.route().len(), 63);
    write_str(&slot.sequence, &slot.route, "a\0b");
    assert_eq!(slot.route(), "a");
    write_str(&slot.sequence, &slot.route, "");
    assert!(str_is_empty(&slot.sequence, &slot.route));
}

#[test]
fn readers_and_writers_survive_a_dead_writer() {
    let slot = MemberSlot::new();
    write_str(&slot.sequence, &slot.route, "t1");
    // A writer killed between its two stores leaves the sequence odd forever.
    slot.sequence.store(7, Ordering::Relaxed);
    assert_eq!(slot.route(), "t1");
    write_str(&slot.sequence, &slot.route, "t2");
    assert_eq!(slot.sequence() % 2, 0);
    assert_eq!(slot.route(), "t2");
}

#[test]
fn garbage_strings_decode_to_a_valid_prefix() {
    let slot = MemberSlot::new();
    for w in &slot.route.words {
        w.store(u64::MAX, Ordering::Relaxed);
    }
    assert_eq!(slot.route(), "");
    slot.route.words[0].store(
        u64::from_le_bytes(*b"ok\xff\xfe\0\0\0\0"),
        Ordering::Relaxed,
    );
    for w in &slot.route.words[1..] {
        w.store(0, Ordering::Relaxed);
    }
    assert_eq!(slot.route(), "ok");
}

#[test]
fn seqlock_readers_never_see_torn_values() {
    let slot = MemberSlot::new();
    let a = "a".repeat(63);
    let b = "b".repeat(63);
    write_str(&slot.sequence, &slot.route, &a);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..20_000 {
                write_str(
                    &slot.sequence,
                    &slot.route,
                    if i % 2 == 0 { &b } else { &a },
                );
                // Real writers (status edits) pause; one that never does could starve
                // readers into their give-up path, which may return a torn value.
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
        });
        for _ in 0..20_000 {
            let v = slot.route();
            assert!(v == a || v == b, "torn read {v}");
        }
    });
}

#[test]
fn validate_rejects_corruption() {
    let cfg = config(TWO_LBS);
    let seg = Segment::new_boxed();
    assert!(validate(&seg, SEGMENT_SIZE).unwrap_err().contains("magic"));
    init_from_config(&seg, &cfg).unwrap();
    assert!(validate(&seg, SEGMENT_SIZE).is_ok());
    assert!(
        validate(&seg, SEGMENT_SIZE - 8)
            .unwrap_err()
            .contains("size")
    );

    type Corrupt = fn(&Segment);
    let cases: [(Corrupt, &str); 12] = [
        (
            |s| {
                s.header
                    .magic
                    .store(u64::from_le_bytes(*b"!JKSHM13"), Ordering::Relaxed)
            },
            "magic",
        ),
        (|s| s.header.version.store(99, Ordering::Relaxed), "version"),
        (|s| s.header.total_size.store(12, Ordering::Relaxed), "size"),
        (
            |s| s.header.member_count.store(1000, Ordering::Relaxed),
            "member count",
        ),
        (
            |s| s.header.member_count.store(3, Ordering::Relaxed),
            "lb 1",
        ),
        (
            |s| s.header.lb_count.store(17, Ordering::Relaxed),
            "lb count",
        ),
        (
            |s| s.lbs[1].member_count.store(u32::MAX, Ordering::Relaxed),
            "lb 1",
        ),
        (
            |s| s.lbs[0].first_member.store(1, Ordering::Relaxed),
            "lb 0",
        ),
        (
            |s| s.members[2].lb_index.store(0, Ordering::Relaxed),
            "member 2",
        ),
        (|s| s.members[0].state.store(42, Ordering::Relaxed), "state"),
        (
            |s| s.members[1].lb_mult.store(0, Ordering::Relaxed),
            "lb_mult",
        ),
        (
            |s| s.members[1].route.words[7].store(u64::MAX, Ordering::Relaxed),
            "NUL",
        ),
    ];
    for (corrupt, expect) in cases {
        init_from_config(&seg, &cfg).unwrap();
        corrupt(&seg);
        let err = validate(&seg, SEGMENT_SIZE).unwrap_err();
        assert!(err.contains(expect), "{err} should mention {expect}");
        // A corrupted segment is rebuilt, not adopted.
        assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Initialised);
        validate(&seg, SEGMENT_SIZE).unwrap();
    }
}

#[test]
fn adopt_keeps_runtime_edits_when_the_worker_set_matches() {
    let cfg = config(TWO_LBS);
    let seg = Segment::new_boxed();
    assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Initialised);
    let a = seg.member(0).unwrap();
    // Admin edits at runtime, plus runtime state.
    a.activation
        .store(activation_code(Activation::Stopped), Ordering::Relaxed);
    a.lbfactor.store(7, Ordering::Relaxed);
    write_str(&a.sequence, &a.route, "edited");
    a.state.store(MemberState::Error.code(), Ordering::Relaxed);
    a.errors.store(5, Ordering::Relaxed);
    seg.lbs[0].sticky_session.store(0, Ordering::Relaxed);
    let b = seg.member(1).unwrap();
    b.busy.store(3, Ordering::Relaxed);
    b.state.store(MemberState::Probe.code(), Ordering::Relaxed);

    assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Adopted);
    assert_eq!(a.activation(), Activation::Stopped);
    assert_eq!(a.lbfactor.load(Ordering::Relaxed), 7);
    assert_eq!(a.route(), "edited");
    assert_eq!(a.state(), MemberState::Error);
    assert_eq!(a.errors.load(Ordering::Relaxed), 5);
    assert_eq!(seg.lbs[0].sticky_session.load(Ordering::Relaxed), 0);
    assert_eq!(b.busy.load(Ordering::Relaxed), 0);
    assert_eq!(b.state(), MemberState::Recover);
    // lb_mult follows the kept lbfactor (7 and 1).
    assert_eq!(a.lb_mult.load(Ordering::Relaxed), 1);
    assert_eq!(seg.member(1).unwrap().lb_mult.load(Ordering::Relaxed), 7);

    // The file changed a's lbfactor: the file wins for that value only.
    let changed = config(&TWO_LBS.replace("worker.a.lbfactor=2", "worker.a.lbfactor=3"));
    assert_eq!(adopt_or_init(&seg, &changed).unwrap(), Adoption::Adopted);
    assert_eq!(a.lbfactor.load(Ordering::Relaxed), 3);
    assert_eq!(a.activation(), Activation::Stopped);
    assert_eq!(a.route(), "edited");
}

#[test]
fn ajp_slots_are_laid_out_validated_and_keep_edits_across_adoption() {
    let cfg = config(TWO_LBS);
    let seg = Segment::new_boxed();
    init_from_config(&seg, &cfg).unwrap();
    assert_eq!(seg.ajp_count(), 3);
    let a = seg.ajp("a").unwrap();
    assert_eq!(a.name(), "a");
    assert!(seg.ajp("lb").is_none() && seg.ajp("nope").is_none());
    assert_eq!(
        (a.settings().host.as_str(), a.settings().port),
        ("localhost", 1)
    );
    assert!(a.stats().last_reset_ms > 0, "statistics start at init");
    let mut edited = a.settings();
    edited.reply_timeout = 1234;
    edited.host = "127.0.0.1".into();
    let (seq, addr) = (a.sequence(), a.addr_sequence());
    a.set_settings(&edited);
    assert!(a.sequence() > seq && a.addr_sequence() == addr + 1);
    a.connections_changed(3);
    a.connections_changed(-5);
    assert_eq!((a.stats().connected, a.stats().max_connected), (0, 3));
    assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Adopted);
    assert_eq!(
        a.settings(),
        edited,
        "runtime edits survive a graceful restart"
    );
    // The file changed a's values: the file wins.
    let changed = config(&TWO_LBS.replace("worker.a.port=1", "worker.a.port=9"));
    assert_eq!(adopt_or_init(&seg, &changed).unwrap(), Adoption::Adopted);
    assert_eq!((a.settings().port, a.settings().reply_timeout), (9, 0));
    // A corrupt ajp slot makes the segment unusable for adoption.
    seg.ajps[1].values[0].store(70_000, Ordering::Relaxed);
    assert!(validate(&seg, SEGMENT_SIZE).unwrap_err().contains("ajp 1"));
    seg.header.ajp_count.store(999, Ordering::Relaxed);
    assert!(
        validate(&seg, SEGMENT_SIZE)
            .unwrap_err()
            .contains("ajp count")
    );
    assert_eq!(seg.ajp_count(), MAX_AJPS);
}

#[test]
fn a_different_worker_set_reinitialises() {
    let cfg = config(TWO_LBS);
    let seg = Segment::new_boxed();
    init_from_config(&seg, &cfg).unwrap();
    let a = seg.member(0).unwrap();
    a.activation
        .store(activation_code(Activation::Stopped), Ordering::Relaxed);
    a.errors.store(5, Ordering::Relaxed);

    let reordered = config(&TWO_LBS.replace("balance_workers=a,b", "balance_workers=b,a"));
    assert_ne!(fingerprint(&cfg), fingerprint(&reordered));
    assert_eq!(
        adopt_or_init(&seg, &reordered).unwrap(),
        Adoption::Initialised
    );
    assert_eq!(seg.member(0).unwrap().name(), "b");
    let a = seg.member(1).unwrap();
    assert_eq!(a.name(), "a");
    assert_eq!(a.activation(), Activation::Active);
    assert_eq!(a.errors.load(Ordering::Relaxed), 0);
    assert!(seg.generation() >= 2);
}

#[test]
fn shm_file_is_private_and_never_followed_through_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("rjk-shmfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("jk-runtime-status.1");
    let ps = p.to_str().unwrap();
    let f = open_file(ps, 4096).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 4096);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A symlink planted where the file goes is refused, and its target untouched.
    let target = dir.join("victim");
    std::fs::write(&target, b"keep").unwrap();
    let link = dir.join("jk-runtime-status.2");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = open_file(link.to_str().unwrap(), 4096).unwrap_err();
    assert!(e.contains("cannot open"), "{e}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    // A pre-existing file others can read is refused too.
    let open = dir.join("jk-runtime-status.3");
    std::fs::write(&open, b"").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = open_file(open.to_str().unwrap(), 4096).unwrap_err();
    assert!(e.contains("mode 0600"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
