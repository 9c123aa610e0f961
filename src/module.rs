//! Entry: the exported `jk_module`, the directive table and the hooks httpd calls.
//! Each `extern "C"` function guards against panics, converts its arguments with the
//! httpd skin and calls down into the request flow or the configuration core.

use std::ffi::{c_char, c_int, c_void};

use crate::config::directives::{Args, DIRECTIVES, DirectiveCtx, Scope};
use crate::handler::{self, ServerSlot};
use crate::httpd::{self, Cmd, Pool, Request, Server, ffi, guard};

const N_DIRECTIVES: usize = DIRECTIVES.len();

const fn command(i: usize) -> ffi::command_rec {
    let info = &DIRECTIVES[i];
    let (func, how) = match info.args {
        Args::Take1 => (
            ffi::cmd_func {
                take1: Some(directive_take1),
            },
            ffi::cmd_how_TAKE1,
        ),
        Args::Take12 => (
            ffi::cmd_func {
                take2: Some(directive_take12),
            },
            ffi::cmd_how_TAKE12,
        ),
        Args::RawArgs => (
            ffi::cmd_func {
                raw_args: Some(directive_raw),
            },
            ffi::cmd_how_RAW_ARGS,
        ),
        Args::Flag => (
            ffi::cmd_func {
                flag: Some(directive_flag),
            },
            ffi::cmd_how_FLAG,
        ),
    };
    let req_override = match info.scope {
        Scope::ServerOrLocation => (ffi::RSRC_CONF | ffi::ACCESS_CONF) as c_int,
        Scope::Global | Scope::Server => ffi::RSRC_CONF as c_int,
    };
    ffi::command_rec {
        name: info.cname.as_ptr(),
        func,
        // The table index travels as cmd->info, so one handler per arity suffices.
        cmd_data: std::ptr::without_provenance_mut(i),
        req_override,
        args_how: how,
        errmsg: info.help.as_ptr(),
    }
}

const fn command_table() -> [ffi::command_rec; N_DIRECTIVES + 1] {
    // httpd walks the table until an entry with a NULL name: the last slot stays zeroed.
    let mut t = [ffi::command_rec {
        name: std::ptr::null(),
        func: ffi::cmd_func { no_args: None },
        cmd_data: std::ptr::null_mut(),
        req_override: 0,
        args_how: 0,
        errmsg: std::ptr::null(),
    }; N_DIRECTIVES + 1];
    let mut i = 0;
    while i < N_DIRECTIVES {
        t[i] = command(i);
        i += 1;
    }
    t
}

static mut JK_CMDS: [ffi::command_rec; N_DIRECTIVES + 1] = command_table();

/// The module record httpd looks up by name after `LoadModule jk_module ...`. httpd
/// writes into it (index, next, handle), so it must be a mutable static.
#[unsafe(no_mangle)]
pub static mut jk_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    // `<IfModule mod_jk.c>` finds modules by this name.
    name: c"mod_jk.c".as_ptr(),
    dynamic_load_handle: std::ptr::null_mut(),
    next: std::ptr::null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as std::ffi::c_ulong,
    rewrite_args: None,
    create_dir_config: None,
    merge_dir_config: None,
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_server_config),
    cmds: &raw const JK_CMDS as *const ffi::command_rec,
    register_hooks: Some(register_hooks),
    // Without this, httpd hands a vhost with no Jk directive the main server's config
    // object itself, and main-server JkMounts would apply there without JkMountCopy.
    flags: ffi::AP_MODULE_FLAG_ALWAYS_MERGE as c_int,
};

// SAFETY: ServerSlot is the only type create_server_config and merge_server_config
// store as this module's per-server configuration.
unsafe impl httpd::ModuleConfig for ServerSlot {}

/// # Safety
/// httpd's module loader calls it once, with a live pool.
unsafe extern "C" fn register_hooks(_p: *mut ffi::apr_pool_t) {
    guard("register_hooks", (), || {
        // SAFETY: jk_module is the record httpd loaded, a static for the process.
        unsafe { httpd::register_module(&raw mut jk_module) };
        httpd::install_panic_hook();
        let middle = ffi::APR_HOOK_MIDDLE as c_int;
        let null = std::ptr::null();
        // SAFETY: registering plain function pointers with httpd's hook tables.
        unsafe {
            ffi::ap_hook_check_config(Some(check_config), null, null, middle);
            ffi::ap_hook_post_config(Some(post_config), null, null, middle);
            ffi::ap_hook_child_init(Some(child_init), null, null, middle);
            ffi::ap_hook_translate_name(Some(translate_name), null, null, middle);
            ffi::ap_hook_map_to_storage(Some(map_to_storage), null, null, middle);
            ffi::ap_hook_handler(Some(handler), null, null, middle);
            ffi::ap_hook_log_transaction(Some(log_transaction), null, null, middle);
        }
    })
}

/// # Safety
/// httpd calls it with the live config pool and the server_rec being created.
unsafe extern "C" fn create_server_config(
    p: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> *mut c_void {
    // SAFETY: httpd passes the live config pool and the server being created.
    let (pool, server) = unsafe { (Pool::from_raw(p), Server::from_raw(s)) };
    guard("create_server_config", std::ptr::null_mut(), || {
        pool.adopt(ServerSlot::new(server.is_virtual())) as *mut c_void
    })
}

/// # Safety
/// httpd calls it with the config pool and two configs that
/// `create_server_config`/`merge_server_config` returned for this generation.
unsafe extern "C" fn merge_server_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    // SAFETY: both pointers were produced by create/merge_server_config in this
    // generation and are only read here (config time is single-threaded).
    let pool = unsafe { Pool::from_raw(p) };
    guard("merge_server_config", add, || {
        // SAFETY: as above, two ServerSlots of this generation, only read.
        let (base, add) = unsafe { (&*(base as *const ServerSlot), &*(add as *const ServerSlot)) };
        pool.adopt(ServerSlot::merge(base, add)) as *mut c_void
    })
}

/// Shared body of the directive handlers: find the directive, apply it to the server's
/// configuration, and hand any error text back to httpd (which prints it with file:line).
fn directive(parms: *mut ffi::cmd_parms, args: &[&str]) -> *const c_char {
    // SAFETY: httpd passes the live cmd_parms of the directive being parsed.
    let cmd = unsafe { Cmd::from_raw(parms) };
    let fallback = cmd.error("mod_rjk: internal error while reading this directive");
    guard("directive", fallback, || {
        let Some(info) = DIRECTIVES.get(cmd.info_index()) else {
            return cmd.error("mod_rjk: unknown directive");
        };
        let server = cmd.server();
        let slot: &mut ServerSlot = server.config_mut();
        let (file, line) = cmd.origin();
        let location = cmd.path();
        let server_root = cmd.pool().server_root_relative("");
        let ctx = DirectiveCtx {
            file: &file,
            line,
            location: location.as_deref(),
            in_vhost: server.is_virtual(),
            server_root: server_root.trim_end_matches('/'),
            env: &httpd::getenv,
        };
        match slot.conf.apply(info, args, &ctx) {
            Ok(()) => std::ptr::null(),
            Err(msg) => cmd.error(&msg),
        }
    })
}

/// # Safety
/// `p` must be NULL or a NUL-terminated string valid for the call.
unsafe fn arg<'a>(p: *const c_char) -> Option<std::borrow::Cow<'a, str>> {
    // SAFETY: caller's contract.
    (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy())
}

/// # Safety
/// httpd calls it while parsing the directive, with its live cmd_parms and a
/// NUL-terminated argument.
unsafe extern "C" fn directive_take1(
    parms: *mut ffi::cmd_parms,
    _m: *mut c_void,
    a: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes a NUL-terminated argument.
    let a = unsafe { arg(a) }.unwrap_or_default();
    directive(parms, &[&a])
}

/// # Safety
/// httpd calls it while parsing the directive, with its live cmd_parms, a
/// NUL-terminated argument and a second one or NULL.
unsafe extern "C" fn directive_take12(
    parms: *mut ffi::cmd_parms,
    _m: *mut c_void,
    a: *const c_char,
    b: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes one or two NUL-terminated arguments (the second may be NULL).
    let (a, b) = unsafe { (arg(a).unwrap_or_default(), arg(b)) };
    match b {
        Some(b) => directive(parms, &[&a, &b]),
        None => directive(parms, &[&a]),
    }
}

/// # Safety
/// httpd calls it while parsing the directive, with its live cmd_parms and the rest
/// of the line NUL-terminated.
unsafe extern "C" fn directive_raw(
    parms: *mut ffi::cmd_parms,
    _m: *mut c_void,
    a: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes the rest of the line as one NUL-terminated string.
    let a = unsafe { arg(a) }.unwrap_or_default();
    directive(parms, &[a.trim()])
}

/// # Safety
/// httpd calls it while parsing the directive, with its live cmd_parms.
unsafe extern "C" fn directive_flag(
    parms: *mut ffi::cmd_parms,
    _m: *mut c_void,
    on: c_int,
) -> *const c_char {
    directive(parms, &[if on != 0 { "On" } else { "Off" }])
}

/// Runs after the whole configuration was read, also for `apache2 -t`, where httpd runs
/// no post_config: every configuration error must surface here at the latest.
///
/// # Safety
/// httpd calls it with live pools and the main server_rec.
unsafe extern "C" fn check_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    // SAFETY: live pool and main server during the config phase.
    let (pool, server) = unsafe { (Pool::from_raw(pconf), Server::from_raw(s)) };
    guard("check_config", httpd::HTTP_INTERNAL_SERVER_ERROR, || {
        handler::check_config(&pool, server)
    })
}

/// # Safety
/// httpd calls it with live pools and the main server_rec.
unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    // SAFETY: live pool and main server, parent process, single-threaded.
    let (pool, server) = unsafe { (Pool::from_raw(pconf), Server::from_raw(s)) };
    guard("post_config", httpd::HTTP_INTERNAL_SERVER_ERROR, || {
        handler::post_config(&pool, server)
    })
}

/// # Safety
/// httpd calls it in each new child with the child pool and the main server_rec.
unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    // SAFETY: live child pool and main server in the new child process.
    let (pool, server) = unsafe { (Pool::from_raw(pchild), Server::from_raw(s)) };
    guard("child_init", (), || handler::child_init(&pool, server))
}

/// # Safety
/// httpd calls it with the live request_rec, on the request's thread.
unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: the live request of this hook call.
    let mut req = unsafe { Request::from_raw(r) };
    guard("translate_name", httpd::DECLINED, || {
        handler::translate(&mut req)
    })
}

/// # Safety
/// httpd calls it with the live request_rec, on the request's thread.
unsafe extern "C" fn map_to_storage(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: the live request of this hook call.
    let req = unsafe { Request::from_raw(r) };
    guard("map_to_storage", httpd::DECLINED, || {
        handler::map_to_storage(&req)
    })
}

/// # Safety
/// httpd calls it with the live request_rec, on the request's thread.
unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: the live request of this hook call.
    let mut req = unsafe { Request::from_raw(r) };
    guard("handler", httpd::HTTP_INTERNAL_SERVER_ERROR, || {
        handler::handle(&mut req)
    })
}

/// # Safety
/// httpd calls it with the live request_rec once the response is complete.
unsafe extern "C" fn log_transaction(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: the live request of this hook call.
    let req = unsafe { Request::from_raw(r) };
    guard("log_transaction", httpd::DECLINED, || {
        handler::log_transaction(&req)
    })
}
