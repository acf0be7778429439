//! Fault injection for tests: an SQLite allocator (`SQLITE_CONFIG_MALLOC`) that wraps SQLite's
//! own and fails on demand, so a test can make the N-th allocation of a statement fail and
//! check that vindex answers with an error (never a crash) and leaves its tables consistent.
//!
//! Only SQLite's allocator is failed: a failed Rust allocation aborts the process by design, so
//! there is nothing to test there. The schedule is per thread: allocations made by other threads
//! are passed through and not counted, so tests running in parallel do not disturb each other.
//!
//! [`install`] must run before SQLite initialises (before the first connection is opened and
//! before `vindex::register_auto_extension`, which initialises SQLite): use it in a test binary
//! of its own. Not part of vindex's API; not available in the loadable build (an extension
//! cannot configure the host's allocator).

use libsqlite3_sys as ffi;
use std::cell::Cell;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

/// One thread's schedule: `countdown` allocations until the next failure (0 = disarmed).
struct Schedule {
    countdown: Cell<u64>,
    persistent: Cell<bool>,
    calls: Cell<u64>,
    failures: Cell<u64>,
}

thread_local! {
    static SCHEDULE: Schedule = const {
        Schedule { countdown: Cell::new(0), persistent: Cell::new(false), calls: Cell::new(0), failures: Cell::new(0) }
    };
}

/// SQLite's own allocator, saved by [`install`].
struct Orig(ffi::sqlite3_mem_methods);
// SAFETY: the methods are plain function pointers and a null app-data pointer (SQLite's default
// allocator), written once before any other thread can see them.
unsafe impl Send for Orig {}
unsafe impl Sync for Orig {}

static ORIG: OnceLock<Result<Orig, c_int>> = OnceLock::new();

fn orig() -> &'static ffi::sqlite3_mem_methods {
    match ORIG.get() {
        Some(Ok(o)) => &o.0,
        _ => unreachable!("the fault allocator runs only after install() saved SQLite's allocator"),
    }
}

/// Count one allocation attempt on this thread; true when it must fail.
fn should_fail() -> bool {
    // try_with: during thread teardown the schedule may be gone; then never fail.
    SCHEDULE
        .try_with(|s| {
            let n = s.countdown.get();
            if n == 0 {
                return false;
            }
            s.calls.set(s.calls.get() + 1);
            if n > 1 {
                s.countdown.set(n - 1);
                return false;
            }
            if !s.persistent.get() {
                s.countdown.set(0);
            }
            s.failures.set(s.failures.get() + 1);
            true
        })
        .unwrap_or(false)
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    if should_fail() {
        return std::ptr::null_mut();
    }
    // SAFETY: forwarded to SQLite's own allocator with the same argument.
    unsafe { (orig().xMalloc.expect("xMalloc"))(n) }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    // SAFETY: p came from the same underlying allocator.
    unsafe { (orig().xFree.expect("xFree"))(p) }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if should_fail() {
        return std::ptr::null_mut();
    }
    // SAFETY: as x_malloc; a failed realloc leaves p untouched, as SQLite expects.
    unsafe { (orig().xRealloc.expect("xRealloc"))(p, n) }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    // SAFETY: p came from the same underlying allocator.
    unsafe { (orig().xSize.expect("xSize"))(p) }
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    // SAFETY: pure function of n.
    unsafe { (orig().xRoundup.expect("xRoundup"))(n) }
}

unsafe extern "C" fn x_init(app: *mut c_void) -> c_int {
    // SAFETY: SQLite calls xInit once, with the app data we registered (the original's).
    unsafe { (orig().xInit.expect("xInit"))(app) }
}

unsafe extern "C" fn x_shutdown(app: *mut c_void) {
    // SAFETY: as x_init.
    unsafe { (orig().xShutdown.expect("xShutdown"))(app) }
}

/// Install the failing allocator (idempotent) and turn lookaside off, so that every
/// allocation SQLite makes is counted and can fail. Errors when SQLite is already initialised
/// (SQLITE_MISUSE): call it first thing in the process.
pub fn install() -> Result<(), String> {
    let r = ORIG.get_or_init(|| {
        // SAFETY: sqlite3_config before sqlite3_initialize, with the argument types its
        // documentation gives for GETMALLOC (a pointer to fill) and MALLOC (a pointer that
        // SQLite copies).
        unsafe {
            let mut o: ffi::sqlite3_mem_methods = std::mem::zeroed();
            let rc = ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETMALLOC, &mut o as *mut ffi::sqlite3_mem_methods);
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            if o.xMalloc.is_none() {
                // GETMALLOC fills in SQLite's defaults itself; a build without them has no
                // allocator we could wrap.
                return Err(ffi::SQLITE_ERROR);
            }
            let mine = ffi::sqlite3_mem_methods {
                xMalloc: Some(x_malloc),
                xFree: Some(x_free),
                xRealloc: Some(x_realloc),
                xSize: Some(x_size),
                xRoundup: Some(x_roundup),
                xInit: Some(x_init),
                xShutdown: Some(x_shutdown),
                pAppData: o.pAppData,
            };
            // No lookaside: every small allocation goes through the allocator and can fail.
            let rc = ffi::sqlite3_config(ffi::SQLITE_CONFIG_LOOKASIDE, 0 as c_int, 0 as c_int);
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            // Store the original before SQLite can call ours.
            let saved = Orig(o);
            let rc = ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &mine as *const ffi::sqlite3_mem_methods);
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            Ok(saved)
        }
    });
    match r {
        Ok(_) => Ok(()),
        Err(rc) => Err(format!(
            "cannot install the fault-injecting allocator (sqlite3_config returned {rc}); \
             it must be installed before SQLite initialises"
        )),
    }
}

/// Arm this thread's schedule: the `n`-th allocation from now (1-based) fails; with
/// `persistent`, every allocation after it fails too, until [`disarm`].
pub fn fail_at(n: u64, persistent: bool) {
    assert!(n >= 1, "fault::fail_at counts from 1");
    SCHEDULE.with(|s| {
        s.countdown.set(n);
        s.persistent.set(persistent);
        s.calls.set(0);
        s.failures.set(0);
    });
}

/// What a schedule saw between [`fail_at`] and [`disarm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Allocation attempts counted (up to and including the first failure when one-shot;
    /// all attempts while persistent).
    pub calls: u64,
    /// Allocations that were made to fail.
    pub failures: u64,
}

/// Disarm this thread's schedule and report what it did.
pub fn disarm() -> Report {
    SCHEDULE.with(|s| {
        s.countdown.set(0);
        Report { calls: s.calls.get(), failures: s.failures.get() }
    })
}
