//! The JS thread's memory accounting: the plugin's global allocator ([`CountingAlloc`])
//! counts the bytes allocated and freed on a thread that asked for it
//! ([`track_this_thread`]), so the runtime can stop a script whose heap grows past its
//! limit (see [`super::runtime::JsLimits`]). Other threads pay one thread-local read per
//! allocation and are never counted.
//!
//! The count is the JS thread's net allocation: what it allocated minus what it freed.
//! Memory that the thread hands to another thread (channel data, buffers sent to the DSL,
//! console lines) is taken off the count with [`forget`] when it leaves, and the sinks that
//! receive it run [`untracked`], so a long session does not drift towards the limit.
//!
//! In debug builds the allocator also does what nice-plug's `assert_process_allocs`
//! allocator does (it delegates to `nice_assert_no_alloc::AllocDisabler`): an allocation
//! inside `assert_no_alloc` (the plugin's `process`) aborts. Only one global allocator can
//! exist, so the plugin installs this one and wraps `process` itself.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// The allocator every allocation of the plugin goes through (see the module doc).
pub struct CountingAlloc;

#[cfg(debug_assertions)]
const INNER: nice_assert_no_alloc::AllocDisabler = nice_assert_no_alloc::AllocDisabler;
#[cfg(not(debug_assertions))]
const INNER: std::alloc::System = std::alloc::System;

thread_local! {
    /// Whether this thread's allocations are counted.
    static TRACKED: Cell<bool> = const { Cell::new(false) };
    /// Net bytes allocated on this thread since [`track_this_thread`].
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

#[inline]
fn count(delta: isize) {
    // Const-initialised thread-locals without destructors: no allocation, never gone.
    if TRACKED.get() {
        LIVE.set(LIVE.get().wrapping_add(delta));
    }
}

// SAFETY: every call is passed on unchanged to the inner allocator; the counting only
// touches const thread-locals (no allocation, no reentrancy).
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { INNER.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { INNER.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { INNER.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { INNER.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Starts counting this thread's allocations, from 0.
pub fn track_this_thread() {
    LIVE.set(0);
    TRACKED.set(true);
}

/// Stops counting this thread's allocations.
#[cfg(test)]
pub fn untrack_this_thread() {
    TRACKED.set(false);
    LIVE.set(0);
}

/// Net bytes this thread allocated since [`track_this_thread`] (0 when not tracked).
pub fn live_bytes() -> usize {
    LIVE.get().max(0) as usize
}

/// Takes `bytes` off the count: memory allocated here that another thread now owns
/// (and frees).
pub fn forget(bytes: usize) {
    count(-(bytes as isize));
}

/// Runs `f` without counting its allocations (code working for other threads, e.g. the
/// sinks that move script data to the controller).
pub fn untracked<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TRACKED.set(self.0);
        }
    }
    let _restore = Restore(TRACKED.replace(false));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_tracked_threads_and_what_stays() {
        std::thread::spawn(|| {
            assert_eq!(live_bytes(), 0);
            track_this_thread();
            let v = vec![1.5f64; 1 << 20];
            assert!(live_bytes() >= 8 << 20, "{}", live_bytes());
            let with_v = LIVE.get();
            drop(v);
            assert_eq!(LIVE.get(), with_v - (8 << 20));
            // Growth by realloc is counted.
            let mut g: Vec<u64> = Vec::new();
            let base = LIVE.get();
            for i in 0..100_000u64 {
                g.push(i);
            }
            assert!(LIVE.get() - base >= 800_000, "{}", LIVE.get() - base);
            // Untracked work and hand-offs.
            let base = LIVE.get();
            let sent = untracked(|| vec![0u8; 4 << 20]);
            assert_eq!(LIVE.get(), base);
            let handed = vec![0u8; 1 << 20];
            forget(handed.capacity());
            assert_eq!(LIVE.get(), base);
            // Another thread frees it: nothing changes here.
            untracked(|| std::thread::spawn(move || drop((sent, handed))).join().unwrap());
            assert_eq!(LIVE.get(), base);
            untrack_this_thread();
            let _big = vec![0u8; 1 << 20];
            assert_eq!(live_bytes(), 0);
        })
        .join()
        .unwrap();
    }
}
