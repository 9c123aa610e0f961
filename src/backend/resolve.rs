//! A pool's side of re-resolution (`resolve_interval`, see `health::resolve`): which
//! address generation it last followed, and whether a connect failed since.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A pool's side of re-resolution (process-local).
#[derive(Debug, Default)]
pub struct PoolResolve {
    /// Set by the first [`PoolResolve::moved`]: only then does a failed connect forget the
    /// addresses (without `resolve_interval` they are resolved once, as in mod_jk).
    enabled: AtomicBool,
    seen: AtomicU32,
    connect_failed: AtomicBool,
}

impl PoolResolve {
    /// Whether the shared generation differs from the one this pool last saw.
    pub fn moved(&self, generation: u32) -> bool {
        self.enabled.store(true, Ordering::Relaxed);
        self.seen.swap(generation, Ordering::AcqRel) != generation
    }

    /// A connect failed; true when the cached addresses should be forgotten.
    pub fn on_connect_failed(&self) -> bool {
        let on = self.enabled.load(Ordering::Relaxed);
        if on {
            self.connect_failed.store(true, Ordering::Release);
        }
        on
    }

    pub fn take_connect_failed(&self) -> bool {
        self.connect_failed.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_follows_generations_and_forgets_after_a_failed_connect_only_when_enabled() {
        let p = PoolResolve::default();
        assert!(
            !p.on_connect_failed(),
            "resolve once without resolve_interval"
        );
        assert!(!p.take_connect_failed());
        assert!(!p.moved(0));
        assert!(p.on_connect_failed());
        assert!(p.take_connect_failed());
        assert!(!p.take_connect_failed());
        assert!(p.moved(1));
        assert!(!p.moved(1));
    }
}
