//! Feeds arbitrary text through the workers.properties reader and the worker builder, then
//! lays the result out in a shared-memory segment: everything an administrator's file (or
//! a `JkWorkerProperty` line) reaches before httpd starts.
//!
//! Input: optional `JkWorkerProperty` lines, a NUL byte, then the file. Without a NUL the
//! whole input is the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_rjk::config::properties::{Origin, Source, parse_bool, parse_int, split_list};
use mod_rjk::config::workers::WorkersConfig;
use mod_rjk::shm::{Segment, check_capacity, init_from_config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (lines, file) = text.split_once('\0').unwrap_or(("", text));
    let mut sources: Vec<Source<'_>> = lines
        .lines()
        .enumerate()
        .map(|(i, line)| Source::Line {
            origin: Origin::new("httpd.conf", i + 1),
            text: line,
        })
        .collect();
    sources.push(Source::File {
        path: "workers.properties",
        contents: file,
    });
    // One variable that is set and one whose value looks like a reference itself, so
    // `$(...)` substitution sees both outcomes.
    let env = |name: &str| match name {
        "JK_HOST" => Some("127.0.0.1".to_owned()),
        "JK_LOOP" => Some("$(JK_LOOP)".to_owned()),
        _ => None,
    };
    let config = match WorkersConfig::from_sources(&sources, "/srv/httpd", &env) {
        Ok(config) => config,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    for name in &config.list {
        assert!(config.get(name).is_some(), "listed worker {name} not built");
    }
    for (key, value) in config.properties.iter() {
        assert!(!key.is_empty() && !value.is_empty());
        let _ = (parse_bool(value), parse_int(value), split_list(value));
    }
    if check_capacity(&config).is_ok() {
        let seg = Segment::new_boxed();
        init_from_config(&seg, &config).expect("a configuration that fits initialises");
    }
});
