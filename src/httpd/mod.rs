//! The httpd skin: thin safe wrappers over httpd/APR structures. Every `unsafe` line of
//! mod_rjk lives in this folder (plus the `jk_module` static the entry layer must export).
//!
//! Wrappers borrow httpd's objects for the duration of one callback; none of them is ever
//! stored beyond it, so lifetimes are those httpd guarantees for the callback.

pub mod ffi;

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::os::fd::{FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};

/// httpd's log levels (APLOG_*).
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Emerg = ffi::APLOG_EMERG as isize,
    Err = ffi::APLOG_ERR as isize,
    Warning = ffi::APLOG_WARNING as isize,
}

/// The module record of the entry layer, given by [`register_module`].
static MODULE: AtomicPtr<ffi::module> = AtomicPtr::new(std::ptr::null_mut());

/// Tells the skin which module record is ours (for per-module log levels and the
/// per-server configuration). The entry layer calls it from `register_hooks`, before any
/// other callback.
///
/// # Safety
/// `m` must point to the module record httpd loaded, valid for the life of the process.
pub unsafe fn register_module(m: *mut ffi::module) {
    MODULE.store(m, Ordering::Release);
}

/// Index httpd assigned to our module, needed by per-module log levels (-1, httpd's
/// "no module", before [`register_module`]).
pub fn module_index() -> c_int {
    let m = MODULE.load(Ordering::Acquire);
    if m.is_null() {
        return -1;
    }
    // SAFETY: `m` is the module record register_module was given (valid for the
    // process); httpd writes module_index once while loading the module, before any
    // callback runs, so reading an int through the pointer is sound.
    unsafe { (*m).module_index }
}

/// The type the entry layer stores as this module's per-server configuration.
///
/// # Safety
/// Only the type `create_server_config` and `merge_server_config` store may implement
/// it (the skin casts httpd's per-server pointer to it).
pub unsafe trait ModuleConfig: 'static {}

/// Runs `f` with `s` as a C string, built on the stack when short (variable names).
fn with_cstr<R>(s: &str, f: impl FnOnce(&CStr) -> R) -> R {
    let mut buf = [0u8; 128];
    if s.len() < buf.len() && !s.as_bytes().contains(&0) {
        buf[..s.len()].copy_from_slice(s.as_bytes());
        if let Ok(c) = CStr::from_bytes_until_nul(&buf) {
            return f(c);
        }
    }
    f(&to_cstring(s))
}

fn to_cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "\\0")).unwrap_or_default())
}

/// Runs `f`, turning a panic into `fallback` so no unwind ever crosses into httpd.
/// The panic message reaches httpd's error log through the panic hook.
pub fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            log_error(
                None,
                Level::Err,
                &format!(
                    "mod_rjk: internal error in {what}; the request or step was aborted safely"
                ),
            );
            fallback
        }
    }
}

/// Sends panic messages to httpd's error log instead of stderr (which httpd may have
/// closed); installed once, the hook is process-wide and survives module reloads.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log_error(None, Level::Err, &format!("mod_rjk: panic: {info}"));
        }));
    });
}

/// Logs to httpd's error log for `server` (or the main server when `None`).
pub fn log_error(server: Option<&Server>, level: Level, msg: &str) {
    let m = to_cstring(msg);
    let s = server.map_or(std::ptr::null(), |s| s.raw as *const _);
    // SAFETY: the shim passes `msg` as a "%s" argument, never as a format; a NULL server
    // makes httpd log to the main server's log.
    unsafe {
        ffi::rjk_log_error(
            c"mod_rjk".as_ptr(),
            0,
            module_index(),
            level as c_int | ffi::APLOG_NOERRNO as c_int,
            0,
            s,
            m.as_ptr(),
        )
    };
}

/// Logs a startup message that must be seen even before httpd's own logs are open
/// (`apache2 -t`): APLOG_STARTUP prints to stderr without a prefix.
pub fn log_startup(level: Level, msg: &str) {
    let m = to_cstring(msg);
    // SAFETY: as in log_error.
    unsafe {
        ffi::rjk_log_error(
            c"mod_rjk".as_ptr(),
            0,
            module_index(),
            level as c_int | ffi::APLOG_STARTUP as c_int,
            0,
            std::ptr::null(),
            m.as_ptr(),
        )
    };
}

/// The main lifecycle state (`AP_SQ_MS_*`) and run mode (`AP_SQ_RM_*`).
pub fn is_first_config_pass() -> bool {
    // SAFETY: ap_state_query only reads process globals.
    unsafe { ap_state(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int }
}

/// # Safety
/// Only valid while httpd's process globals exist (any hook or directive call).
unsafe fn ap_state(q: u32) -> c_int {
    // SAFETY: caller's contract; query codes are the AP_SQ_* constants.
    unsafe { ffi::ap_state_query(q as c_int) }
}

/// The platform pieces of the JK log: local-time strftime and the kernel thread id
/// (the same id httpd's error log shows as `tid`).
pub fn log_clock() -> crate::log::Clock {
    crate::log::Clock {
        strftime: local_strftime,
        thread_id: || {
            // SAFETY: gettid has no preconditions.
            unsafe { libc::gettid() as u64 }
        },
    }
}

fn local_strftime(fmt: &str, secs: i64) -> String {
    let Ok(cfmt) = CString::new(fmt) else {
        return String::new();
    };
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t = secs as libc::time_t;
    // SAFETY: both pointers are valid for the call and localtime_r is thread-safe.
    unsafe { libc::localtime_r(&t, &mut tm) };
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length, the format is NUL-terminated and tm was
    // filled above; strftime writes at most buf.len() bytes and returns how many.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm) };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Threads each child runs (1 for prefork): mod_jk's default connection_pool_size.
pub fn mpm_threads_per_child() -> u32 {
    let mut v: c_int = 0;
    // SAFETY: v is a valid out-pointer for the duration of the call.
    let rc = unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_MAX_THREADS as c_int, &mut v) };
    if rc == ffi::APR_SUCCESS as c_int && v > 0 {
        v as u32
    } else {
        1
    }
}

/// A borrowed APR pool.
#[derive(Clone, Copy)]
pub struct Pool<'a> {
    raw: *mut ffi::apr_pool_t,
    _p: PhantomData<&'a ()>,
}

impl<'a> Pool<'a> {
    /// # Safety
    /// `raw` must be a live pool for `'a`.
    pub unsafe fn from_raw(raw: *mut ffi::apr_pool_t) -> Pool<'a> {
        Pool {
            raw,
            _p: PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *mut ffi::apr_pool_t {
        self.raw
    }

    /// Copies `s` into the pool as a C string that lives as long as the pool.
    pub fn strdup(&self, s: &str) -> *const c_char {
        // SAFETY: apr_pstrmemdup copies exactly len bytes and NUL-terminates; the source
        // slice is valid for len bytes.
        unsafe { ffi::apr_pstrmemdup(self.raw, s.as_ptr().cast(), s.len()) }
    }

    /// Copies the concatenation of `parts` into the pool as a C string fit for a
    /// response header: CR, LF and NUL become spaces, so nothing a backend sends can
    /// split the header block.
    pub fn header_copy(&self, parts: &[&[u8]]) -> *const c_char {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        // SAFETY: apr_palloc returns len + 1 writable bytes from a live pool (it aborts
        // the process on allocation failure rather than returning NULL); exactly len
        // bytes are written, then the NUL.
        unsafe {
            let dst = ffi::apr_palloc(self.raw, len + 1) as *mut u8;
            let out = std::slice::from_raw_parts_mut(dst, len + 1);
            for (o, &b) in out.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
                *o = if matches!(b, b'\r' | b'\n' | 0) {
                    b' '
                } else {
                    b
                };
            }
            out[len] = 0;
            dst as *const c_char
        }
    }

    /// Moves `value` into pool-owned memory: it is dropped when the pool is cleared.
    pub fn adopt<T>(&self, value: T) -> *mut T {
        /// # Safety
        /// `p` must come from `Box::into_raw::<T>` and be dropped only once.
        unsafe extern "C" fn drop_box<T>(p: *mut c_void) -> ffi::apr_status_t {
            // SAFETY: registered below with a pointer from Box::into_raw::<T>, run once.
            let value = unsafe { Box::from_raw(p as *mut T) };
            // A panicking destructor must not unwind into APR.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(value)));
            ffi::APR_SUCCESS as ffi::apr_status_t
        }
        let ptr = Box::into_raw(Box::new(value));
        // SAFETY: the pool is live; the cleanup runs once when the pool is cleared, after
        // which httpd no longer uses the pointer (it is only reachable via this pool's config).
        unsafe {
            ffi::apr_pool_cleanup_register(
                self.raw,
                ptr as *const c_void,
                Some(drop_box::<T>),
                Some(ffi::apr_pool_cleanup_null),
            )
        };
        ptr
    }

    /// Opens httpd's reliable piped logger for `program` and returns its write end.
    pub fn open_piped_log(&self, program: &str) -> Option<OwnedFd> {
        let c = to_cstring(program);
        // SAFETY: httpd spawns and supervises the program; the returned piped_log lives in
        // this pool. We duplicate the descriptor so our copy outlives nothing it depends on.
        unsafe {
            let pl = ffi::ap_open_piped_log(self.raw, c.as_ptr());
            if pl.is_null() {
                return None;
            }
            let f = ffi::ap_piped_log_write_fd(pl);
            let mut fd: ffi::apr_os_file_t = -1;
            if f.is_null() || ffi::apr_os_file_get(&mut fd, f) != 0 || fd < 0 {
                return None;
            }
            let dup = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
            if dup < 0 {
                return None;
            }
            Some(OwnedFd::from_raw_fd(dup))
        }
    }

    pub fn server_root_relative(&self, p: &str) -> String {
        let c = to_cstring(p);
        // SAFETY: returns a pool string (or NULL) built from a valid C string.
        unsafe { cstr_opt(ffi::ap_server_root_relative(self.raw, c.as_ptr())) }
            .unwrap_or(p)
            .to_string()
    }
}

/// # Safety
/// `p` must be NULL or a NUL-terminated string valid for `'a`.
unsafe fn cstr_opt<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        // SAFETY: caller's contract.
        unsafe { CStr::from_ptr(p) }.to_str().ok()
    }
}

/// # Safety
/// as `cstr_opt`; non-UTF-8 bytes are kept by lossy conversion.
unsafe fn cstr_lossy<'a>(p: *const c_char) -> Option<std::borrow::Cow<'a, str>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: caller's contract.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy())
    }
}

/// A borrowed `server_rec`.
#[derive(Clone, Copy)]
pub struct Server<'a> {
    raw: *mut ffi::server_rec,
    _p: PhantomData<&'a ()>,
}

impl<'a> Server<'a> {
    /// # Safety
    /// `raw` must be a live server_rec for `'a`.
    pub unsafe fn from_raw(raw: *mut ffi::server_rec) -> Server<'a> {
        Server {
            raw,
            _p: PhantomData,
        }
    }

    pub fn is_virtual(&self) -> bool {
        // SAFETY: live server_rec per constructor contract.
        unsafe { (*self.raw).is_virtual != 0 }
    }

    pub fn next(&self) -> Option<Server<'a>> {
        // SAFETY: the vhost list is owned by the config pool and outlives 'a.
        let n = unsafe { (*self.raw).next };
        (!n.is_null()).then_some(Server {
            raw: n,
            _p: PhantomData,
        })
    }

    /// The server as mod_jk's status worker names it: `host:port` for the main server
    /// (`host` when no port was configured), `host [address:port]` for a virtual host
    /// (its first `<VirtualHost>` address; `:port` left out for a wildcard port).
    pub fn label(&self) -> String {
        // SAFETY: live server_rec; server_hostname is NULL or a pool string.
        let host = unsafe { cstr_lossy((*self.raw).server_hostname) }
            .map(|c| c.into_owned())
            .unwrap_or_default();
        if !self.is_virtual() {
            // SAFETY: plain field read of a live server_rec.
            let port = unsafe { (*self.raw).port };
            return if port != 0 {
                format!("{host}:{port}")
            } else {
                host
            };
        }
        // SAFETY: addrs is NULL or the config-pool list of this vhost's addresses.
        let addr = unsafe { (*self.raw).addrs.as_ref() };
        let Some(addr) = addr else { return host };
        // SAFETY: virthost is NULL or a pool string of the live address record.
        let virthost = unsafe { cstr_lossy(addr.virthost) }
            .map(|c| c.into_owned())
            .unwrap_or_default();
        if addr.host_port != 0 {
            format!("{host} [{virthost}:{}]", addr.host_port)
        } else {
            format!("{host} [{virthost}]")
        }
    }

    pub fn iter(self) -> impl Iterator<Item = Server<'a>> {
        std::iter::successors(Some(self), |s| s.next())
    }

    /// The pool that lives as long as the httpd process (across restarts).
    pub fn process_pool(&self) -> Pool<'a> {
        // SAFETY: s->process and its pool live until the process exits.
        unsafe { Pool::from_raw((*(*self.raw).process).pool) }
    }

    /// `ServerName` and every `ServerAlias` (wildcard ones as written), lower-case.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        // SAFETY: live server_rec; server_hostname is NULL or a pool string.
        if let Some(n) = unsafe { cstr_lossy((*self.raw).server_hostname) } {
            out.push(n.to_ascii_lowercase());
        }
        // SAFETY: names and wild_names are NULL or arrays of `char *` owned by the config
        // pool, nelts entries long, each entry NULL or a NUL-terminated pool string.
        for arr in unsafe { [(*self.raw).names, (*self.raw).wild_names] } {
            if arr.is_null() {
                continue;
            }
            // SAFETY: see above.
            let (elts, n) = unsafe { ((*arr).elts as *const *const c_char, (*arr).nelts) };
            for i in 0..usize::try_from(n).unwrap_or(0) {
                // SAFETY: i < nelts.
                if let Some(a) = unsafe { cstr_lossy(*elts.add(i)) } {
                    out.push(a.to_ascii_lowercase());
                }
            }
        }
        out
    }

    pub fn defined_at(&self) -> String {
        // SAFETY: live server_rec; defn_name is NULL or a pool string.
        let file = unsafe { cstr_lossy((*self.raw).defn_name) }
            .map(|c| c.into_owned())
            .unwrap_or_default();
        // SAFETY: plain field read.
        format!("{}:{}", file, unsafe { (*self.raw).defn_line_number })
    }

    /// This module's per-server configuration (created by `create_server_config` or
    /// `merge_server_config` for every server), for request-time reads.
    pub fn config<T: ModuleConfig>(&self) -> &'a T {
        // SAFETY: the entry layer stores a T (ModuleConfig's contract) for every server and httpd keeps it
        // in the config pool for the whole generation; request threads only read it.
        unsafe { &*self.config_ptr() }
    }

    /// Mutable access, for the single-threaded configuration phase only (directives,
    /// check_config, post_config) where no other reference is alive.
    pub fn config_mut<T: ModuleConfig>(&self) -> &'a mut T {
        // SAFETY: as `config`; callers hold no other reference while mutating, and
        // nothing runs concurrently during configuration.
        unsafe { &mut *self.config_ptr() }
    }

    fn config_ptr<T: ModuleConfig>(&self) -> *mut T {
        // SAFETY: module_config is the live conf vector of a live server_rec, and MODULE
        // the module record httpd loaded (registered before any configuration exists).
        unsafe {
            ffi::ap_get_module_config((*self.raw).module_config, MODULE.load(Ordering::Acquire))
                as *mut T
        }
    }
}

/// A borrowed `cmd_parms` during directive parsing.
pub struct Cmd<'a> {
    raw: *mut ffi::cmd_parms,
    _p: PhantomData<&'a ()>,
}

impl<'a> Cmd<'a> {
    /// # Safety
    /// `raw` must be the cmd_parms httpd passed to the directive handler.
    pub unsafe fn from_raw(raw: *mut ffi::cmd_parms) -> Cmd<'a> {
        Cmd {
            raw,
            _p: PhantomData,
        }
    }

    /// Index of the directive in our table (stored as the command's cmd_data).
    pub fn info_index(&self) -> usize {
        // SAFETY: live cmd_parms; `info` is the cmd_data pointer from our table.
        unsafe { (*self.raw).info as usize }
    }

    pub fn server(&self) -> Server<'a> {
        // SAFETY: cmd->server is live during config parsing.
        unsafe { Server::from_raw((*self.raw).server) }
    }

    pub fn pool(&self) -> Pool<'a> {
        // SAFETY: cmd->pool is the config pool.
        unsafe { Pool::from_raw((*self.raw).pool) }
    }

    /// `<Location>`/`<Directory>` path enclosing the directive, if any.
    pub fn path(&self) -> Option<String> {
        // SAFETY: cmd->path is NULL or a pool string.
        unsafe { cstr_lossy((*self.raw).path) }.map(|c| c.into_owned())
    }

    /// File and line of the directive being parsed.
    pub fn origin(&self) -> (String, usize) {
        // SAFETY: cmd->directive points to the config tree node being processed.
        unsafe {
            let d = (*self.raw).directive;
            if d.is_null() {
                return ("httpd.conf".to_string(), 0);
            }
            let file = cstr_lossy((*d).filename)
                .map(|c| c.into_owned())
                .unwrap_or_else(|| "httpd.conf".to_string());
            (file, (*d).line_num.max(0) as usize)
        }
    }

    /// Hands an error message to httpd, which keeps the pointer: copy it into the pool.
    pub fn error(&self, msg: &str) -> *const c_char {
        self.pool().strdup(msg)
    }
}

/// The process environment, for `$(var)` substitution in workers.properties.
pub fn getenv(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A borrowed `request_rec` for the duration of one hook call.
pub struct Request<'a> {
    raw: *mut ffi::request_rec,
    _p: PhantomData<&'a mut ()>,
}

/// Body batches from this size on are written through rather than buffered.
const BLOCKING_WRITE_MIN: usize = 16 * 1024;

impl<'a> Request<'a> {
    /// # Safety
    /// `raw` must be the live request_rec httpd passed to the hook, used on its thread.
    pub unsafe fn from_raw(raw: *mut ffi::request_rec) -> Request<'a> {
        Request {
            raw,
            _p: PhantomData,
        }
    }

    fn pool(&self) -> Pool<'a> {
        // SAFETY: r->pool lives as long as the request.
        unsafe { Pool::from_raw((*self.raw).pool) }
    }

    pub fn server(&self) -> Server<'a> {
        // SAFETY: r->server is live for the request.
        unsafe { Server::from_raw((*self.raw).server) }
    }

    pub fn uri(&self) -> Option<String> {
        // SAFETY: r->uri is NULL or a pool string.
        unsafe { cstr_lossy((*self.raw).uri) }.map(|c| c.into_owned())
    }

    /// Replaces `r->uri` (so later phases, e.g. `<Location>` checks, see the same path
    /// that was mapped).
    pub fn set_uri(&mut self, uri: &str) {
        let p = self.pool().strdup(uri);
        // SAFETY: the new string lives in r->pool, as httpd expects of r->uri.
        unsafe { (*self.raw).uri = p as *mut c_char };
    }

    pub fn filename(&self) -> Option<String> {
        // SAFETY: NULL or pool string.
        unsafe { cstr_lossy((*self.raw).filename) }.map(|c| c.into_owned())
    }

    pub fn set_filename(&mut self, f: &str) {
        let p = self.pool().strdup(f);
        // SAFETY: pool string, as httpd expects of r->filename.
        unsafe { (*self.raw).filename = p as *mut c_char };
    }

    pub fn method(&self) -> String {
        // SAFETY: NULL or pool string.
        unsafe { cstr_lossy((*self.raw).method) }
            .map(|c| c.into_owned())
            .unwrap_or_default()
    }

    pub fn is_proxy_request(&self) -> bool {
        // SAFETY: plain field read.
        unsafe { (*self.raw).proxyreq != 0 }
    }

    /// Whether `r->handler` is `h` (checked for every request httpd serves, so no copy).
    pub fn handler_is(&self, h: &CStr) -> bool {
        // SAFETY: NULL or a string httpd keeps for the request.
        let cur = unsafe { (*self.raw).handler };
        // SAFETY: non-NULL handler strings are NUL-terminated.
        !cur.is_null() && unsafe { CStr::from_ptr(cur) } == h
    }

    pub fn set_handler(&mut self, h: &'static CStr) {
        // SAFETY: a static string outlives the request.
        unsafe { (*self.raw).handler = h.as_ptr() };
    }

    pub fn note(&self, key: &CStr) -> Option<String> {
        // SAFETY: r->notes is a live table; apr_table_get returns NULL or a table value.
        unsafe { cstr_lossy(ffi::apr_table_get((*self.raw).notes, key.as_ptr())) }
            .map(|c| c.into_owned())
    }

    pub fn set_note(&mut self, key: &CStr, value: &str) {
        let v = self.pool().strdup(value);
        // SAFETY: the table copies the key; the value is a pool copy.
        unsafe { ffi::apr_table_set((*self.raw).notes, key.as_ptr(), v) };
    }

    /// A variable of the request's environment (`SetEnv`, `SetEnvIf`, mod_unique_id...).
    /// Most looked-up variables are unset: that case allocates nothing.
    pub fn env(&self, key: &str) -> Option<String> {
        with_cstr(key, |k| {
            // SAFETY: live table; NULL or value string.
            unsafe { cstr_lossy(ffi::apr_table_get((*self.raw).subprocess_env, k.as_ptr())) }
                .map(|c| c.into_owned())
        })
    }

    /// httpd's own request log id, when one was generated.
    pub fn log_id(&self) -> Option<String> {
        // SAFETY: NULL or pool string.
        unsafe { cstr_lossy((*self.raw).log_id) }.map(|c| c.into_owned())
    }
}

/// Everything about the request that is forwarded to the backend, borrowed from
/// httpd's structures: every string lives in the request's or the connection's pool,
/// which outlive the handler call. (The type is the request policy's.)
pub use crate::dispatch::forward::RequestInfo;

/// See [`Request::log_info`].
pub struct LogInfo {
    pub status: c_int,
    pub sent_body: bool,
    pub bytes_sent: i64,
    pub request_line: String,
    pub virtual_host: Option<String>,
    pub port: u16,
}

/// # Safety
/// `p` must be NULL or a NUL-terminated string that stays valid and unchanged for `'a`.
unsafe fn bytes_opt<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

impl<'a> Request<'a> {
    pub fn info(&self) -> RequestInfo<'a> {
        // SAFETY: every pointer read here belongs to the live request or its connection
        // and is NULL or a NUL-terminated string allocated from r->pool or c->pool,
        // both of which live past the handler; httpd never frees or rewrites such
        // strings in place while a handler runs (tables that drop an entry only drop
        // the pointer). The table entries are copied as pointers, so a later change of
        // the table itself does not matter.
        unsafe {
            let r = &*self.raw;
            let c = &*r.connection;
            let port_of = |a: *mut ffi::apr_sockaddr_t| if a.is_null() { 0 } else { (*a).port };
            let mut headers = Vec::new();
            let arr = ffi::apr_table_elts(r.headers_in);
            if !arr.is_null() {
                let n = (*arr).nelts.max(0) as usize;
                headers.reserve(n);
                let elts = (*arr).elts as *const ffi::apr_table_entry_t;
                for i in 0..n {
                    let e = &*elts.add(i);
                    if let (Some(k), Some(v)) = (bytes_opt(e.key), bytes_opt(e.val)) {
                        headers.push((k, v));
                    }
                }
            }
            RequestInfo {
                method: bytes_opt(r.method).unwrap_or_default(),
                protocol: bytes_opt(r.protocol).unwrap_or_default(),
                uri: bytes_opt(r.uri).unwrap_or_default(),
                unparsed_uri: bytes_opt(r.unparsed_uri).unwrap_or_default(),
                args: bytes_opt(r.args),
                user: bytes_opt(r.user),
                auth_type: bytes_opt(r.ap_auth_type),
                client_ip: bytes_opt(r.useragent_ip).unwrap_or_default(),
                client_port: port_of(r.useragent_addr),
                peer_ip: bytes_opt(c.client_ip).unwrap_or_default(),
                peer_port: port_of(c.client_addr),
                remote_host: bytes_opt(ffi::ap_get_remote_host(
                    r.connection,
                    r.per_dir_config as *mut c_void,
                    ffi::REMOTE_HOST as c_int,
                    std::ptr::null_mut(),
                )),
                local_ip: bytes_opt(c.local_ip).unwrap_or_default(),
                server_name: bytes_opt(ffi::ap_get_server_name(self.raw)).unwrap_or_default(),
                server_port: ffi::ap_get_server_port(self.raw),
                headers,
                header_only: r.header_only != 0,
            }
        }
    }

    /// The values of a finished request that `JkRequestLogFormat` items need, besides
    /// [`Self::info`]: status, bytes, request line, canonical host and port.
    pub fn log_info(&self) -> LogInfo {
        // SAFETY: log_transaction runs with the live request; its strings are NULL or
        // NUL-terminated pool strings, copied here.
        unsafe {
            let r = &*self.raw;
            let s = &*r.server;
            let text =
                |p: *const c_char| bytes_opt(p).map(|b| String::from_utf8_lossy(b).into_owned());
            // A request line with a password (absolute URI with user:pass@) is rebuilt
            // with the password masked, as httpd's own %r does.
            let request_line = if r.parsed_uri.password.is_null() {
                text(r.the_request)
            } else {
                let uri = text(ffi::apr_uri_unparse(r.pool, &r.parsed_uri, 0)).unwrap_or_default();
                let method = text(r.method).unwrap_or_default();
                let protocol = text(r.protocol).unwrap_or_default();
                Some(format!("{method} {uri} {protocol}"))
            };
            LogInfo {
                status: r.status,
                sent_body: r.sent_bodyct != 0,
                bytes_sent: r.bytes_sent,
                request_line: request_line.unwrap_or_default(),
                virtual_host: text(s.server_hostname),
                port: if s.port != 0 {
                    s.port
                } else {
                    ffi::ap_run_default_port(self.raw)
                },
            }
        }
    }

    /// Prepares reading the request body, de-chunked by httpd. Returns the announced
    /// length (`None` when chunked) or the HTTP status to answer on a malformed body.
    pub fn setup_body(&mut self) -> Result<Option<u64>, c_int> {
        // SAFETY: live request; called once before any body read.
        unsafe {
            let rc = ffi::ap_setup_client_block(self.raw, ffi::REQUEST_CHUNKED_DECHUNK as c_int);
            if rc != OK {
                return Err(rc);
            }
            let r = &*self.raw;
            if r.read_chunked != 0 {
                Ok(None)
            } else {
                Ok(Some(r.remaining.max(0) as u64))
            }
        }
    }

    /// Reads request body bytes; `Ok(0)` at the end, `Err` when the client failed.
    pub fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: live request after setup_body; buf is writable for its length.
        let n = unsafe {
            ffi::ap_get_client_block(
                self.raw,
                buf.as_mut_ptr().cast(),
                buf.len() as ffi::apr_size_t,
            )
        };
        if n < 0 { Err(()) } else { Ok(n as usize) }
    }

    /// Sets status, reason and headers of the response. Content-Type goes through
    /// httpd (so output filters by type work); everything else is added as received,
    /// bytes as they are except CR, LF and NUL, which become spaces.
    pub fn set_response(&mut self, status: u16, reason: &[u8], headers: &[(&[u8], &[u8])]) {
        let pool = self.pool();
        // SAFETY: live request; every string handed over is a NUL-terminated copy in
        // r->pool.
        unsafe {
            let r = &mut *self.raw;
            r.status = c_int::from(status);
            if !reason.is_empty() {
                let line = [
                    b'0' + (status / 100 % 10) as u8,
                    b'0' + (status / 10 % 10) as u8,
                    b'0' + (status % 10) as u8,
                ];
                r.status_line = pool.header_copy(&[&line, b" ", reason]);
            }
            for &(name, value) in headers {
                if name.eq_ignore_ascii_case(b"content-type") {
                    let ct = pool.header_copy(&[value]) as *mut c_char;
                    ffi::ap_content_type_tolower(ct);
                    ffi::ap_set_content_type(self.raw, ct);
                } else if name.eq_ignore_ascii_case(b"content-length") {
                    let len = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.trim().parse::<i64>().ok());
                    if let Some(len) = len {
                        ffi::ap_set_content_length(self.raw, len);
                    }
                } else {
                    ffi::apr_table_addn(
                        r.headers_out,
                        pool.header_copy(&[name]),
                        pool.header_copy(&[value]),
                    );
                }
            }
        }
    }

    /// Sends a complete page generated by mod_rjk itself (the status manager).
    pub fn send_status_page(
        &mut self,
        status: u16,
        content_type: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> c_int {
        let hs: Vec<(&[u8], &[u8])> =
            std::iter::once((&b"Content-Type"[..], content_type.as_bytes()))
                .chain(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
                .collect();
        self.set_response(status, b"", &hs);
        // SAFETY: plain field read of the live request.
        let head = unsafe { (*self.raw).header_only != 0 };
        if !head && !body.is_empty() {
            let _ = self.write(body);
        }
        OK
    }

    /// Sets a response header that goes out with the backend's response only (an error
    /// page generated by httpd drops it); a second call replaces the first.
    pub fn set_out_header(&mut self, name: &CStr, value: &[u8]) {
        let v = self
            .pool()
            .strdup(&String::from_utf8_lossy(value).replace(['\r', '\n'], " "));
        // SAFETY: live table; key copied by apr_table_set, value is a pool copy.
        unsafe { ffi::apr_table_set((*self.raw).headers_out, name.as_ptr(), v) };
    }

    /// Adds a header that survives httpd's own error page (e.g. a 401 challenge).
    pub fn set_err_header(&mut self, name: &CStr, value: &[u8]) {
        let v = self
            .pool()
            .strdup(&String::from_utf8_lossy(value).replace(['\r', '\n'], " "));
        // SAFETY: live table; key copied by apr_table_set, value is a pool copy.
        unsafe { ffi::apr_table_set((*self.raw).err_headers_out, name.as_ptr(), v) };
    }

    /// Writes response body bytes; `Err` when the client connection is gone.
    pub fn write(&mut self, data: &[u8]) -> Result<(), ()> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(i32::MAX as usize);
            // SAFETY: live request; the slice is valid for n bytes.
            let w = unsafe { ffi::ap_rwrite(rest.as_ptr().cast(), n as c_int, self.raw) };
            if w < 0 || self.aborted() {
                return Err(());
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Writes `parts` (ranges of `buf`) as one brigade without copying them: the buckets
    /// are transient, so a filter that keeps data past the call sets it aside (copies it)
    /// itself, and `buf` is free again when this returns. One brigade is made per
    /// request and emptied after each pass.
    pub fn write_parts(&mut self, buf: &[u8], parts: &[(usize, usize)]) -> Result<(), ()> {
        if parts.is_empty() {
            return Ok(());
        }
        // SAFETY: live request and connection; the brigade is allocated from r->pool and
        // lives as long as the request; each bucket points into `buf` for exactly
        // `len` bytes (checked by the slice index) and is consumed or set aside by the
        // filters before ap_pass_brigade returns; the brigade is emptied afterwards.
        unsafe {
            let r = &mut *self.raw;
            let list = (*r.connection).bucket_alloc;
            let bb = self.body_brigade();
            let mut total = 0;
            for &(off, len) in parts {
                let data = &buf[off..off + len];
                let b = ffi::apr_bucket_transient_create(data.as_ptr().cast(), data.len(), list);
                ffi::rjk_brigade_insert_tail(bb, b);
                total += len;
            }
            if total >= BLOCKING_WRITE_MIN {
                // A large batch is written out before returning (as a slow client
                // allows) instead of being partly copied aside by the core output
                // filter: no copy, and no buffered memory per connection.
                ffi::rjk_brigade_insert_tail(bb, ffi::apr_bucket_flush_create(list));
            }
            let rc = ffi::ap_pass_brigade(r.output_filters, bb);
            ffi::apr_brigade_cleanup(bb.cast());
            if rc != ffi::APR_SUCCESS as ffi::apr_status_t || self.aborted() {
                return Err(());
            }
        }
        Ok(())
    }

    /// The request's body brigade: made once, found again through r->pool's userdata.
    fn body_brigade(&mut self) -> *mut ffi::apr_bucket_brigade {
        const KEY: &CStr = c"mod_rjk.body_brigade";
        // SAFETY: live request; the userdata lives in r->pool like the brigade it names,
        // and is only ever set by this function to a brigade of this request.
        unsafe {
            let r = &*self.raw;
            let mut data: *mut c_void = std::ptr::null_mut();
            ffi::apr_pool_userdata_get(&mut data, KEY.as_ptr(), r.pool);
            if data.is_null() {
                let bb = ffi::apr_brigade_create(r.pool, (*r.connection).bucket_alloc);
                ffi::apr_pool_userdata_setn(bb as *const c_void, KEY.as_ptr(), None, r.pool);
                data = bb.cast();
            }
            data.cast()
        }
    }

    /// Ends a complete response now instead of after the handler: the end of the body
    /// goes through the filters (httpd's own finalize step, which it then skips) and
    /// the connection's filters are flushed, so the client has the whole response
    /// before the request's logging and cleanup, and httpd's check for a next
    /// request on the connection can find one already sent. Not for subrequests,
    /// whose end belongs to the main request.
    pub fn end_response(&mut self) {
        // SAFETY: live request and connection; ap_finalize_request_protocol is httpd's
        // own end-of-request step (it discards any unread body and passes EOS once,
        // recording that in r->eos_sent); the flush brigade is the request's body
        // brigade, emptied after the pass, and c->output_filters is where httpd passes
        // its own end-of-request flush.
        unsafe {
            let (main, c) = ((*self.raw).main, (*self.raw).connection);
            if !main.is_null() || (*c).aborted != 0 {
                return;
            }
            ffi::ap_finalize_request_protocol(self.raw);
            let bb = self.body_brigade();
            ffi::rjk_brigade_insert_tail(bb, ffi::apr_bucket_flush_create((*c).bucket_alloc));
            ffi::ap_pass_brigade((*c).output_filters, bb);
            ffi::apr_brigade_cleanup(bb.cast());
        }
    }

    pub fn flush(&mut self) -> Result<(), ()> {
        // SAFETY: live request.
        let rc = unsafe { ffi::ap_rflush(self.raw) };
        if rc < 0 || self.aborted() {
            Err(())
        } else {
            Ok(())
        }
    }

    pub fn aborted(&self) -> bool {
        // SAFETY: live request and connection.
        unsafe { (*(*self.raw).connection).aborted != 0 }
    }

    /// Cuts the client connection: whatever is still buffered is dropped and the client
    /// sees the connection end mid-response (no final chunk, no keep-alive), so a
    /// truncated body can never pass for a complete one.
    pub fn abort_connection(&mut self) {
        // SAFETY: live connection; httpd's own filters set these fields the same way. The
        // socket stays owned by httpd: shutting it down (not closing) only makes every
        // later write fail, which httpd handles as a client abort.
        unsafe {
            let c = (*self.raw).connection;
            (*c).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE;
            (*c).aborted = 1;
            let sock = ffi::ap_get_conn_socket(c);
            if !sock.is_null() {
                ffi::apr_socket_shutdown(sock, ffi::apr_shutdown_how_e_APR_SHUTDOWN_READWRITE);
            }
        }
    }
}

/// The Server header value httpd sends (`Apache/2.4.x (Debian) mod_rjk/x.y.z`).
pub fn server_banner() -> String {
    // SAFETY: returns a static string owned by httpd.
    unsafe { cstr_lossy(ffi::ap_get_server_banner()) }
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

pub fn add_version_component(pconf: &Pool, component: &str) {
    let c = pconf.strdup(component);
    // SAFETY: pool string kept by httpd for the config generation.
    unsafe { ffi::ap_add_version_component(pconf.as_ptr(), c) };
}

pub const OK: c_int = ffi::OK as c_int;
pub const DECLINED: c_int = ffi::DECLINED as c_int;
pub const HTTP_FORBIDDEN: c_int = ffi::HTTP_FORBIDDEN as c_int;
pub const HTTP_NOT_FOUND: c_int = ffi::HTTP_NOT_FOUND as c_int;
pub const HTTP_BAD_REQUEST: c_int = ffi::HTTP_BAD_REQUEST as c_int;
pub const HTTP_INTERNAL_SERVER_ERROR: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;
pub const HTTP_REQUEST_ENTITY_TOO_LARGE: c_int = ffi::HTTP_REQUEST_ENTITY_TOO_LARGE as c_int;
pub const HTTP_SERVICE_UNAVAILABLE: c_int = ffi::HTTP_SERVICE_UNAVAILABLE as c_int;

/// The file-backed shared memory that holds the balancer state (`JkShmFile`). Created by
/// the httpd parent before it forks; children inherit the mapping, so they never reopen
/// the file (it stays root-owned, mode 0600).
pub struct SharedMemory {
    map: memmap2::MmapRaw,
}

impl SharedMemory {
    /// Opens or creates `path` (mode 0600, never through a symlink, refusing a file that
    /// is not ours or is readable by others) and maps it shared. An existing file of the
    /// right size keeps its contents, which the caller validates before trusting them.
    pub fn open(path: &str, file_len: usize) -> Result<SharedMemory, String> {
        let len = crate::shm::SEGMENT_SIZE;
        let file = crate::shm::open_file(path, file_len.max(len) as u64)?;
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(|e| format!("cannot map {path}: {e}"))?;
        // mmap returns page-aligned memory, more than Segment's alignment needs.
        if map.as_ptr() as usize % crate::shm::SEGMENT_ALIGN != 0 || map.len() < len {
            return Err(format!("cannot map {path}: unaligned or short mapping"));
        }
        Ok(SharedMemory { map })
    }

    pub fn segment(&self) -> &crate::shm::Segment {
        // SAFETY: the shared mapping is live for self's lifetime (unmapped when `map` is
        // dropped), page-aligned and at least SEGMENT_SIZE bytes long (checked in `open`);
        // Segment consists only of atomics and integer arrays, for which every bit pattern
        // is valid (zeros from a new file included), and it is only ever accessed through
        // shared references and atomic operations.
        unsafe { &*self.map.as_ptr().cast::<crate::shm::Segment>() }
    }
}

/// The global lock of `lock=Pessimistic` load balancers: a POSIX record lock on
/// `<JkShmFile>.<pid>.lock` between processes, plus a mutex between the threads of one
/// process (record locks belong to the process). The parent opens the file before fork;
/// children inherit the descriptor, so the file stays root-owned with mode 0600.
pub struct GlobalLock {
    file: std::fs::File,
    threads: parking_lot::Mutex<()>,
}

/// Held while alive; dropping it releases the lock.
pub struct GlobalLockGuard<'a> {
    lock: &'a GlobalLock,
    _threads: parking_lot::MutexGuard<'a, ()>,
}

impl GlobalLock {
    pub fn open(path: &str) -> Result<GlobalLock, String> {
        Ok(GlobalLock {
            file: crate::shm::open_file(path, 0)?,
            threads: parking_lot::Mutex::new(()),
        })
    }

    /// Waits for the lock; `None` when the system refuses it (the caller goes on
    /// unlocked, as before a lock existed).
    pub fn lock(&self) -> Option<GlobalLockGuard<'_>> {
        let threads = self.threads.lock();
        loop {
            match self.fcntl(libc::F_WRLCK) {
                Ok(()) => {
                    return Some(GlobalLockGuard {
                        lock: self,
                        _threads: threads,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
    }

    fn fcntl(&self, kind: c_int) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock is plain data; all-zero is a valid value (whole file from 0).
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        let cmd = if kind == libc::F_UNLCK {
            libc::F_SETLK
        } else {
            libc::F_SETLKW
        };
        // SAFETY: fcntl on a descriptor we own, with a pointer to a live flock.
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for GlobalLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.fcntl(libc::F_UNLCK);
    }
}
