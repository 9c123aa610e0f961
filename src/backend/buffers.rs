//! The buffers an exchange borrows: receive buffers (small ones from the heap, large
//! ones mapped) and scratch buffers for packets and request bodies, pooled per child.

use memmap2::MmapMut;
use parking_lot::Mutex;

/// A connection's receive buffer for one exchange.
pub(super) enum RecvBuf {
    None,
    /// Two AJP packets, from SMALL_BUFS: enough for most replies.
    Small(Vec<u8>),
    /// READ_BUF bytes, from LARGE_BUFS, once a reply fills the small one.
    Large(MmapMut),
}

impl std::ops::Deref for RecvBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RecvBuf::None => &[],
            RecvBuf::Small(v) => v,
            RecvBuf::Large(m) => m,
        }
    }
}

impl std::ops::DerefMut for RecvBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            RecvBuf::None => &mut [],
            RecvBuf::Small(v) => v,
            RecvBuf::Large(m) => m,
        }
    }
}

/// Buffers shared by the child's threads and lent per request: their number follows
/// the requests in flight, not the threads or pooled connections. At most `keep` wait
/// idle; the rest are freed.
pub(super) struct BufPool<T> {
    pub(super) idle: Mutex<Vec<T>>,
    pub(super) keep: usize,
}

impl<T> BufPool<T> {
    const fn new(keep: usize) -> BufPool<T> {
        BufPool {
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A returned buffer (contents unspecified), if one waits.
    pub(super) fn take(&self) -> Option<T> {
        self.idle.lock().pop()
    }

    pub(super) fn give(&self, buf: T) {
        let mut idle = self.idle.lock();
        if idle.len() < self.keep {
            idle.push(buf);
        }
    }
}

/// Receive buffers of two AJP packets (heap blocks of 16 KiB: cheap to keep).
pub(super) static SMALL_BUFS: BufPool<Vec<u8>> = BufPool::new(64);

/// Buffers for packets being built and request bodies being read.
static SCRATCH: BufPool<Vec<u8>> = BufPool::new(64);

/// A byte buffer lent for one request and reused by the next instead of allocated
/// each time.
#[derive(Debug)]
pub struct Scratch(Vec<u8>);

impl Scratch {
    pub fn take() -> Scratch {
        let mut v = SCRATCH.take().unwrap_or_default();
        v.clear();
        Scratch(v)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        // One that grew unusually large is not kept.
        if v.capacity() <= 2 * READ_BUF {
            SCRATCH.give(v);
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// READ_BUF-sized buffers of this child, shared by its threads: only exchanges whose
/// reply fills the small buffer take one. Each is a memory mapping of its own, so the
/// ones beyond the few kept go back to the system when a burst of large responses
/// ends; freed heap blocks would stay resident in the C allocator's per-thread arenas.
pub(super) static LARGE_BUFS: BufPool<MmapMut> = BufPool::new(4);

/// Largest read buffer: large reads let one syscall carry many AJP packets.
pub(super) const READ_BUF: usize = 64 * 1024;
