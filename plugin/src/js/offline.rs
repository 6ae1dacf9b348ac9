//! A bounce equals playback: when the host renders offline (CLAP/VST3 offline process
//! mode), the audio thread waits for the JS thread at the points where JS work is due, so
//! what `host.onBar` callbacks, timers, model calls, call-and-response and the `toJS` →
//! `input` → `channel.send` round trip produce reaches the engine at the same musical time
//! as in realtime playback, however fast the host renders.
//!
//! The handshake is two counters. The audio thread publishes what JS needs (the host view,
//! `toJS` values, MIDI input), then posts a sync point ([`OfflineSync::wait`] increments
//! `requested`) and waits, bounded, until the JS thread has *settled* at it: the JS thread
//! reads `requested` before it pumps, pumps (which drains everything published before that
//! sync point), and when nothing is left to do — no model request in flight, no input
//! waiting, no timer due by the render's clock — stores what it read in `settled`.
//!
//! Sync points (see `SemaLive::process`): the first sample of every bar (the block is
//! split there, so what `onBar(b)` sends plays from bar `b`'s first sample), the end of
//! every block that sent `toJS` values or MIDI input to JS, and the block in which the
//! next JS timer comes due on the render's clock, and after every block while
//! call-and-response listens (it decides by the host position when to ask the model).
//!
//! Waiting only ever happens in offline mode, where the host expects the plugin to take
//! the time it needs, and only while a JS thread is running. Each wait is bounded by
//! [`SYNC_TIMEOUT`]; after a timeout the audio thread stops waiting until the JS thread has
//! settled again (a stuck model or script slows a bounce down once, not at every bar), and
//! counts the timeout in [`OfflineSync::timeouts`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use atomic_float::AtomicF64;

/// Longest the audio thread waits for the JS thread at one sync point (covers loading a
/// model checkpoint from disk in a debug build).
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the waiting audio thread sleeps between looks at the JS thread's progress.
const POLL: Duration = Duration::from_micros(50);

/// Shared by the audio thread and the instance's JS thread (inside [`super::HostView`]).
#[derive(Debug)]
pub struct OfflineSync {
    /// The host renders offline (set by the audio thread every block).
    offline: AtomicBool,
    /// A JS thread is running and takes part in the handshake.
    js_running: AtomicBool,
    /// Sync points posted by the audio thread.
    requested: AtomicU64,
    /// The last sync point the JS thread settled at.
    settled: AtomicU64,
    /// Seconds rendered since offline rendering began (the render's clock for JS timers).
    render_secs: AtomicF64,
    /// Render time at which the next JS timer comes due (infinite: none).
    next_due_secs: AtomicF64,
    /// The JS thread asks for a sync point after every block (call-and-response is
    /// listening: it decides by the host position when to ask the model).
    every_block: AtomicBool,
    /// After a timeout: do not wait again until the JS thread has settled.
    gave_up: AtomicBool,
    /// Sync points given up on since the instance started.
    timeouts: AtomicU64,
}

impl Default for OfflineSync {
    fn default() -> Self {
        Self {
            offline: AtomicBool::new(false),
            js_running: AtomicBool::new(false),
            requested: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            render_secs: AtomicF64::new(0.0),
            next_due_secs: AtomicF64::new(f64::INFINITY),
            every_block: AtomicBool::new(false),
            gave_up: AtomicBool::new(false),
            timeouts: AtomicU64::new(0),
        }
    }
}

impl OfflineSync {
    // ---- audio thread ----

    /// Sets the process mode for this block. Entering offline mode starts the render's
    /// clock at 0.
    pub fn set_offline(&self, offline: bool) {
        if offline && !self.offline.load(Ordering::Relaxed) {
            self.render_secs.store(0.0, Ordering::Relaxed);
            self.next_due_secs.store(f64::INFINITY, Ordering::Relaxed);
        }
        self.offline.store(offline, Ordering::Release);
    }

    /// Whether the audio thread should post sync points (offline, with a JS thread).
    pub fn active(&self) -> bool {
        self.offline.load(Ordering::Relaxed) && self.js_running.load(Ordering::Acquire)
    }

    /// The render's clock, in seconds since offline rendering began.
    pub fn render_secs(&self) -> f64 {
        self.render_secs.load(Ordering::Relaxed)
    }

    /// Moves the render's clock on by `secs` (after a block).
    pub fn advance(&self, secs: f64) {
        let t = self.render_secs.load(Ordering::Relaxed) + secs;
        self.render_secs.store(t, Ordering::Release);
    }

    /// Whether the JS thread asked for a sync point after every block.
    pub fn every_block(&self) -> bool {
        self.every_block.load(Ordering::Acquire)
    }

    /// Whether a JS timer comes due by render time `t`.
    pub fn timer_due_by(&self, t: f64) -> bool {
        self.next_due_secs.load(Ordering::Acquire) <= t
    }

    /// Posts a sync point and waits until the JS thread has settled at it, at most
    /// [`SYNC_TIMEOUT`]. Everything published before the call (atomics, ring buffers) is
    /// seen by the JS pump that settles it. Returns whether JS settled (false also when
    /// not [`OfflineSync::active`] or still given up after an earlier timeout).
    ///
    /// Blocks the calling thread: offline mode only.
    pub fn wait(&self) -> bool {
        if !self.active() {
            return false;
        }
        let n = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        if self.gave_up.load(Ordering::Acquire) {
            return false;
        }
        let start = Instant::now();
        loop {
            if self.settled.load(Ordering::Acquire) >= n {
                return true;
            }
            if !self.js_running.load(Ordering::Acquire) {
                return false;
            }
            if start.elapsed() >= SYNC_TIMEOUT {
                self.gave_up.store(true, Ordering::Release);
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sync points given up on so far.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    // ---- JS thread ----

    /// Whether the host renders offline (the JS thread then runs timers on the render's
    /// clock and polls quickly).
    pub fn offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Marks the JS thread as taking part (or not, when it ends).
    pub fn set_js_running(&self, running: bool) {
        self.js_running.store(running, Ordering::Release);
    }

    /// The newest sync point posted: read it *before* a pump; everything published before
    /// it is then drained by that pump.
    pub fn requested(&self) -> u64 {
        self.requested.load(Ordering::Acquire)
    }

    /// Reports that the JS thread settled at sync point `n` (read with
    /// [`OfflineSync::requested`] before the pump), when its next timer comes due, and
    /// whether it needs a sync point after every block.
    pub fn settle(&self, n: u64, next_due_secs: Option<f64>, every_block: bool) {
        self.next_due_secs.store(next_due_secs.unwrap_or(f64::INFINITY), Ordering::Release);
        self.every_block.store(every_block, Ordering::Release);
        if self.settled.fetch_max(n, Ordering::AcqRel) < n {
            self.gave_up.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waits_only_offline_with_a_js_thread() {
        let s = OfflineSync::default();
        assert!(!s.wait(), "realtime: never waits");
        s.set_offline(true);
        assert!(!s.wait(), "no JS thread: nothing to wait for");
        assert_eq!(s.timeouts(), 0);
    }

    #[test]
    fn a_sync_point_is_released_by_the_js_thread_settling_at_it() {
        let s = Arc::new(OfflineSync::default());
        s.set_offline(true);
        s.set_js_running(true);
        let js = {
            let s = s.clone();
            std::thread::spawn(move || {
                // The JS loop: read the request, "pump", settle.
                let mut settled = 0;
                let start = Instant::now();
                while settled < 3 && start.elapsed() < Duration::from_secs(5) {
                    let n = s.requested();
                    if n > settled {
                        std::thread::sleep(Duration::from_millis(5));
                        s.settle(n, Some(1.5), true);
                        settled = n;
                    }
                    std::thread::yield_now();
                }
            })
        };
        for _ in 0..3 {
            let t = Instant::now();
            assert!(s.wait());
            assert!(t.elapsed() >= Duration::from_millis(4), "returned before JS settled");
        }
        assert!(js.join().is_ok());
        assert!(s.timer_due_by(1.5) && !s.timer_due_by(1.4));
        assert!(s.every_block());
        assert_eq!(s.timeouts(), 0);
    }

    #[test]
    fn a_js_thread_that_ends_releases_the_wait() {
        let s = Arc::new(OfflineSync::default());
        s.set_offline(true);
        s.set_js_running(true);
        let ender = {
            let s = s.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                s.set_js_running(false);
            })
        };
        let t = Instant::now();
        assert!(!s.wait());
        assert!(t.elapsed() < SYNC_TIMEOUT);
        assert!(ender.join().is_ok());
    }

    #[test]
    fn entering_offline_restarts_the_render_clock() {
        let s = OfflineSync::default();
        s.set_offline(true);
        s.advance(2.0);
        s.advance(0.5);
        assert_eq!(s.render_secs(), 2.5);
        s.set_offline(false);
        s.set_offline(true);
        assert_eq!(s.render_secs(), 0.0);
    }
}
