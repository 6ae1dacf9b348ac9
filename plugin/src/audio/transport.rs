//! Musical time for every sample of a block, derived from the host transport.
//!
//! When synced, the clock keeps a continuous musical position of its own and follows the
//! host's song position (in quarter-note beats) without being thrown by its jitter. Hosts
//! round the positions they report (to samples, or to ticks of a beat that is not a whole
//! number of samples), so a block's reported start is often a few samples before or after
//! where the previous block ended. Taking it as is would make the bar phase step backwards
//! by a hair at those block boundaries, and every trigger that fires on a phase wrap (`rsq`,
//! `clt`, ...) would take each backward step for a wrap.
//!
//! So at each block start the clock compares the host's position with its own:
//! - within [`RELOCATE_TOLERANCE_SECONDS`] it keeps its own position and removes the
//!   difference smoothly, by running slightly faster or slower over the next
//!   [`CORRECTION_SECONDS`] (at most [`MAX_RATE_CORRECTION`] off the tempo): the phase never
//!   steps backwards and never jumps;
//! - further away it is a relocation (a locate, a loop jump): the clock jumps to the host's
//!   position and reports it, so held notes are released and sequencers re-seek.
//!
//! When the transport starts, the clock starts from the host's position. When `sync` is
//! off, or the host gives no position or tempo, the clock free-runs at the tempo set in
//! code (`clk`).

#[cfg(test)]
use crate::audio::patch::ClockState;
use crate::audio::patch::{split_bars, ClockRun};

/// What the engine needs from the host transport for one block; built from nice-plug's
/// `Transport` by the plugin glue, and directly by tests and the offline renderer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostTime {
    /// Whether the host transport is playing.
    pub playing: bool,
    /// Host tempo in quarter notes per minute, if the host reports one.
    pub tempo: Option<f64>,
    /// Time signature (numerator, denominator), if reported.
    pub time_sig: Option<(i32, i32)>,
    /// Song position of the block's first sample in quarter-note beats, if reported.
    pub pos_beats: Option<f64>,
    /// Position of the current bar's start in quarter-note beats, if reported.
    pub bar_start_beats: Option<f64>,
    /// Index of the current bar, if reported.
    pub bar_number: Option<i32>,
}

impl HostTime {
    /// A host that reports nothing (standalone, or a host without transport info).
    pub const NONE: HostTime = HostTime {
        playing: false,
        tempo: None,
        time_sig: None,
        pos_beats: None,
        bar_start_beats: None,
        bar_number: None,
    };

    /// A playing host at `bpm` in `num`/4 at quarter-note position `pos_beats`.
    pub fn playing_at(bpm: f64, num: i32, pos_beats: f64) -> HostTime {
        HostTime {
            playing: true,
            tempo: Some(bpm),
            time_sig: Some((num, 4)),
            pos_beats: Some(pos_beats),
            bar_start_beats: None,
            bar_number: None,
        }
    }
}

impl HostTime {
    /// Quarter notes per bar of the reported time signature (4/4 when none or invalid).
    pub fn beats_per_bar(&self) -> f64 {
        self.time_sig
            .filter(|(n, d)| *n > 0 && *d > 0)
            .map(|(n, d)| n as f64 * 4.0 / d as f64)
            .unwrap_or(4.0)
    }

    /// The bar grid's origin for position `pos` (beats): the host's bar start and number
    /// when reported (correct across time signature changes), else the song start.
    fn bar_origin(&self, pos: f64) -> (f64, i64) {
        match (self.bar_start_beats, self.bar_number) {
            (Some(b), Some(n)) if b.is_finite() && b <= pos + 1e-9 => (b, n as i64),
            _ => (0.0, 0),
        }
    }

    /// The host time `k` samples into the block at `sample_rate` (for a block rendered in
    /// parts): the position moves on at the tempo; the bar grid stays as reported unless
    /// the position reaches the next bar, whose start and number then replace it.
    pub fn advanced(&self, k: usize, sample_rate: f64) -> HostTime {
        let mut t = *self;
        let (Some(tempo), Some(pos)) = (self.tempo, self.pos_beats) else {
            return t;
        };
        if !self.playing || !sample_rate.is_finite() || sample_rate <= 0.0 {
            return t;
        }
        let new_pos = pos + k as f64 * tempo / 60.0 / sample_rate;
        t.pos_beats = Some(new_pos);
        if let Some((offset, bar)) = self.next_bar_start(sample_rate, k + 1) {
            if offset <= k {
                let beats_per_bar = self.beats_per_bar();
                if let (Some(start), Some(number)) = (self.bar_start_beats, self.bar_number) {
                    let bars_on = bar - number as i64;
                    t.bar_start_beats = Some(start + bars_on as f64 * beats_per_bar);
                    t.bar_number = Some(bar as i32);
                }
            }
        }
        t
    }

    /// Where the next bar line falls in a block of `len` samples at `sample_rate`, by the
    /// host's grid (its bar start and number when reported, else bars of the time
    /// signature from the song start): the first sample at or past the line (0 when the
    /// block starts on one) and the index of the bar it starts. None when the host is not
    /// playing, reports no position or tempo, or no bar starts within the block.
    pub fn next_bar_start(&self, sample_rate: f64, len: usize) -> Option<(usize, i64)> {
        if !self.playing || !sample_rate.is_finite() || sample_rate <= 0.0 {
            return None;
        }
        let tempo = self.tempo.filter(|t| t.is_finite() && *t > 0.0)?;
        let pos = self.pos_beats.filter(|p| p.is_finite())?;
        let beats_per_bar = self.beats_per_bar();
        let (origin_beats, origin_bar) = self.bar_origin(pos);
        let bars = (pos - origin_beats) / beats_per_bar;
        let (whole, _) = split_bars(bars);
        if bars - (whole as f64) < 1e-9 {
            return Some((0, origin_bar + whole));
        }
        let to_go = ((whole + 1) as f64 - bars) * beats_per_bar * 60.0 / tempo * sample_rate;
        let offset = (to_go - 1e-6).ceil().max(0.0) as usize;
        (offset < len).then_some((offset, origin_bar + whole + 1))
    }
}

/// Turns host time into a [`ClockState`] per sample. Owned by the audio thread.
pub struct Clock {
    /// Sample rate in Hz.
    sample_rate: f64,
    /// Tempo the code asked for (`clk`), used when free-running.
    code_bpm: f64,
    /// Beats per bar the code asked for, used when free-running.
    code_beats_per_bar: f64,
    /// Free-running position: beats at the anchor plus samples since the anchor. Counting
    /// samples (instead of adding a float step per sample) keeps bar lines exact.
    free_anchor_beats: f64,
    free_samples: u64,
    /// Whether the previous block was synced to a playing host (to detect stops).
    was_host_playing: bool,
}

/// Largest difference between the host's reported position and the clock's own that is
/// taken for jitter (rounding) and corrected smoothly, in seconds of music. Anything
/// further is a relocation. Hosts round positions to a few samples (Ardour to ticks of
/// 1/1920 beat: 15 samples at 100 bpm and 48 kHz); loop and locate jumps are far longer.
pub const RELOCATE_TOLERANCE_SECONDS: f64 = 0.010;
/// Time over which a difference within the tolerance is removed (a proportional
/// correction, recomputed at every block).
pub const CORRECTION_SECONDS: f64 = 0.050;
/// Largest change of the clock's rate while correcting, as a fraction of the tempo (2%,
/// about a third of a semitone for oscillators driven by `clp`; jitter of a few samples
/// needs far less).
pub const MAX_RATE_CORRECTION: f64 = 0.02;

/// What happened to the transport in a block, for the MIDI note release logic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockEvents {
    /// The host transport went from playing to stopped at the start of this block.
    pub stopped: bool,
    /// The host relocated while playing (a locate or loop jump beyond the jitter
    /// tolerance): the clock jumped to the host's position at the start of this block.
    pub relocated: bool,
}

impl Clock {
    pub fn new(sample_rate: f64) -> Self {
        Self {
            sample_rate,
            code_bpm: 120.0,
            code_beats_per_bar: 4.0,
            free_anchor_beats: 0.0,
            free_samples: 0,
            was_host_playing: false,
        }
    }

    /// Current free-running position in beats.
    fn free_beats(&self) -> f64 {
        self.free_anchor_beats + self.free_samples as f64 * self.code_bpm / 60.0 / self.sample_rate
    }

    /// Moves the free-running anchor to `beats` (tempo change, or following the host).
    fn set_free_beats(&mut self, beats: f64) {
        self.free_anchor_beats = beats;
        self.free_samples = 0;
    }

    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Sets the tempo used when free-running (from the program's `clk`). Invalid values
    /// are ignored so a typo cannot stall the clock.
    pub fn set_code_tempo(&mut self, bpm: f64, beats_per_bar: f64) {
        if bpm.is_finite() && bpm > 0.0 && bpm <= 2000.0 && bpm != self.code_bpm {
            // Re-anchor so the position stays continuous across the tempo change.
            let now = self.free_beats();
            self.code_bpm = bpm;
            self.set_free_beats(now);
        }
        if (1.0..=64.0).contains(&beats_per_bar) {
            self.code_beats_per_bar = beats_per_bar;
        }
    }

    /// Restarts the free-running clock at bar 0.
    pub fn reset(&mut self) {
        self.set_free_beats(0.0);
        self.was_host_playing = false;
    }

    /// The clock of the next block of `len` samples (each sample's state is computed on
    /// demand from the run) and what happened to the transport since the last one.
    pub fn block(&mut self, host: &HostTime, sync: bool, len: usize) -> (ClockRun, ClockEvents) {
        let sr = self.sample_rate;
        let synced = sync && host.tempo.is_some() && host.pos_beats.is_some();
        let mut events = ClockEvents::default();
        if synced {
            let bpm = host.tempo.unwrap_or(120.0).max(1.0);
            let beats_per_bar = host.beats_per_bar();
            let host_start = host.pos_beats.unwrap_or(0.0);
            let (start, beats_per_sample) = if host.playing {
                let tempo_step = bpm / 60.0 / sr;
                self.follow_host(host_start, bpm, tempo_step, &mut events)
            } else {
                (host_start, 0.0)
            };
            // Prefer the host's own bar grid (correct across time signature changes);
            // otherwise assume the signature has held since the song start.
            let origin = host.bar_origin(host_start);
            let run = ClockRun::new(
                start,
                0,
                beats_per_sample,
                origin,
                bpm,
                beats_per_bar,
                host.playing,
                sr,
                len,
            );
            events.stopped = self.was_host_playing && !host.playing;
            self.was_host_playing = host.playing;
            // Keep the free-running clock where the host left it, so switching sync off
            // continues from the same place instead of jumping.
            let end = start + len as f64 * beats_per_sample;
            self.set_free_beats(end);
            (run, events)
        } else {
            events.stopped = self.was_host_playing;
            self.was_host_playing = false;
            let bpm = self.code_bpm;
            let beats_per_bar = self.code_beats_per_bar;
            let step = bpm / 60.0 / sr;
            let run = ClockRun::new(
                self.free_anchor_beats,
                self.free_samples,
                step,
                (0.0, 0),
                bpm,
                beats_per_bar,
                true,
                sr,
                len,
            );
            self.free_samples += len as u64;
            (run, events)
        }
    }

    /// [`Clock::block`] written out sample by sample into `out` (tests).
    #[cfg(test)]
    pub fn fill_block(
        &mut self,
        host: &HostTime,
        sync: bool,
        out: &mut [ClockState],
    ) -> ClockEvents {
        let (run, events) = self.block(host, sync, out.len());
        for (i, c) in out.iter_mut().enumerate() {
            *c = run.at(i);
        }
        events
    }
}

impl Clock {
    /// Where a block of a playing, synced host starts and how fast it moves (beats per
    /// sample): the clock's own continuous position, corrected smoothly towards the host's
    /// `host_start`, or the host's position itself when the transport has just started or
    /// relocated (see the module documentation).
    fn follow_host(
        &mut self,
        host_start: f64,
        bpm: f64,
        tempo_step: f64,
        events: &mut ClockEvents,
    ) -> (f64, f64) {
        // While the previous block followed a playing host, the free-running anchor is
        // where that block ended: the clock's own position now.
        if !self.was_host_playing {
            return (host_start, tempo_step);
        }
        let own = self.free_beats();
        let error = host_start - own;
        let tolerance = RELOCATE_TOLERANCE_SECONDS * bpm / 60.0;
        if !error.is_finite() || !own.is_finite() || error.abs() > tolerance {
            events.relocated = true;
            return (host_start, tempo_step);
        }
        if (0.0..1e-9).contains(&error) {
            // The host is where the clock is (or a hair ahead): take its position exactly,
            // so a host with exact positions gets exactly its bar lines.
            return (host_start, tempo_step);
        }
        let samples = CORRECTION_SECONDS * self.sample_rate;
        let max = tempo_step * MAX_RATE_CORRECTION;
        let correction = (error / samples.max(1.0)).clamp(-max, max);
        (own, tempo_step + correction)
    }
}

// The integration tests' rounding host, so both drive the clock with the same jitter.
#[cfg(test)]
#[path = "../../tests/common/rounding_host.rs"]
mod rounding_host;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_bar_line_is_found_on_its_sample() {
        // 120 bpm 4/4 at 48 kHz: a bar is 96 000 samples.
        let sr = 48_000.0;
        let at = |pos: f64| HostTime::playing_at(120.0, 4, pos);
        assert_eq!(at(0.0).next_bar_start(sr, 512), Some((0, 0)), "on the line");
        assert_eq!(at(4.0).next_bar_start(sr, 512), Some((0, 1)));
        // 100 samples before bar 2 (beat 8): 100 samples = 100/24000 beats.
        assert_eq!(at(8.0 - 100.0 / 24_000.0).next_bar_start(sr, 512), Some((100, 2)));
        assert_eq!(at(8.0 - 100.0 / 24_000.0).next_bar_start(sr, 100), None, "past the block");
        // Between samples: the first sample past the line.
        assert_eq!(at(8.0 - 99.5 / 24_000.0).next_bar_start(sr, 512), Some((100, 2)));
        assert_eq!(at(5.0).next_bar_start(sr, 512), None);
        // The host's own grid: 3/4 bars from a bar that started at beat 9 (bar 2).
        let mut host = at(11.0);
        host.time_sig = Some((3, 4));
        host.bar_start_beats = Some(9.0);
        host.bar_number = Some(2);
        assert_eq!(host.next_bar_start(sr, 48_000), Some((24_000, 3)));
        // Stopped, or no tempo: nothing.
        let mut stopped = at(7.99);
        stopped.playing = false;
        assert_eq!(stopped.next_bar_start(sr, 48_000), None);
        assert_eq!(HostTime::NONE.next_bar_start(sr, 48_000), None);
    }

    fn block(clock: &mut Clock, host: HostTime, sync: bool, len: usize) -> Vec<ClockState> {
        let mut out = vec![ClockState::default(); len];
        clock.fill_block(&host, sync, &mut out);
        out
    }

    #[test]
    fn bar_phase_follows_host_position() {
        let mut clock = Clock::new(48_000.0);
        // Beat 6 in 4/4 = bar 1, phase 0.5.
        let out = block(&mut clock, HostTime::playing_at(120.0, 4, 6.0), true, 512);
        assert_eq!(out[0].bar, 1);
        assert!((out[0].bar_phase - 0.5).abs() < 1e-12);
        // 120 bpm = 2 beats/s; 511 samples later = 511/48000*2 beats = ...
        let expect = 0.5 + 511.0 / 48_000.0 * 2.0 / 4.0;
        assert!((out[511].bar_phase - expect).abs() < 1e-12);
    }

    #[test]
    fn relocation_jumps_with_the_host() {
        let mut clock = Clock::new(48_000.0);
        block(&mut clock, HostTime::playing_at(120.0, 4, 0.0), true, 512);
        let out = block(&mut clock, HostTime::playing_at(120.0, 4, 33.0), true, 512);
        assert_eq!(out[0].bar, 8);
        assert!((out[0].bar_phase - 0.25).abs() < 1e-12);
    }

    #[test]
    fn time_signature_scales_the_bar() {
        let mut clock = Clock::new(48_000.0);
        // 6/8 = 3 quarter notes per bar: beat 4.5 = bar 1, phase 0.5.
        let mut host = HostTime::playing_at(90.0, 6, 4.5);
        host.time_sig = Some((6, 8));
        let out = block(&mut clock, host, true, 4);
        assert_eq!(out[0].bar, 1);
        assert!((out[0].bar_phase - 0.5).abs() < 1e-12);
        assert_eq!(out[0].beats_per_bar, 3.0);
    }

    #[test]
    fn host_bar_grid_is_preferred() {
        let mut clock = Clock::new(48_000.0);
        let mut host = HostTime::playing_at(120.0, 3, 10.0);
        host.bar_start_beats = Some(9.0);
        host.bar_number = Some(2);
        let out = block(&mut clock, host, true, 1);
        assert_eq!(out[0].bar, 2);
        assert!((out[0].bar_phase - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn stopped_host_freezes_phase_and_reports_stop() {
        let mut clock = Clock::new(48_000.0);
        block(&mut clock, HostTime::playing_at(120.0, 4, 2.0), true, 64);
        let mut host = HostTime::playing_at(120.0, 4, 2.0);
        host.playing = false;
        let mut out = vec![ClockState::default(); 64];
        let ev = clock.fill_block(&host, true, &mut out);
        assert!(ev.stopped);
        assert_eq!(out[0].bar_phase, out[63].bar_phase);
        assert!(!out[0].playing);
        let ev = clock.fill_block(&host, true, &mut out);
        assert!(!ev.stopped, "a stop is reported once");
    }

    #[test]
    fn free_runs_at_code_tempo_without_host() {
        let mut clock = Clock::new(48_000.0);
        clock.set_code_tempo(60.0, 4.0);
        // 60 bpm, 4 beats = 4 s per bar = 192000 samples.
        let out = block(&mut clock, HostTime::NONE, true, 48_000);
        assert!(out[0].playing);
        assert!((out[47_999].bar_phase - 47_999.0 / 192_000.0).abs() < 1e-9);
        let mut total = 48_000;
        let mut last = out[47_999];
        while total < 192_000 {
            let o = block(&mut clock, HostTime::NONE, true, 48_000);
            total += 48_000;
            last = o[47_999];
        }
        assert_eq!(last.bar, 0);
        let o = block(&mut clock, HostTime::NONE, true, 1);
        assert_eq!(o[0].bar, 1);
        assert!(o[0].bar_phase < 1e-9);
    }

    #[test]
    fn sync_off_ignores_host() {
        let mut clock = Clock::new(48_000.0);
        clock.set_code_tempo(100.0, 3.0);
        let out = block(&mut clock, HostTime::playing_at(140.0, 4, 17.0), false, 8);
        assert_eq!(out[0].bpm, 100.0);
        assert_eq!(out[0].beats_per_bar, 3.0);
    }

    use super::rounding_host::rounded_host_position as rounding_host;

    /// Runs `bars` bars of a jittery host at `bpm` (4/4, 48 kHz, 512-sample blocks); returns
    /// the clock's position in bars at every sample and the relocations it reported.
    fn run_jittery(bpm: f64, bars: f64, seed: u64) -> (Vec<f64>, usize) {
        let sr = 48_000.0;
        let mut clock = Clock::new(sr);
        let mut rng = seed;
        let total = (bars * 4.0 * 60.0 / bpm * sr) as u64;
        let mut positions = Vec::with_capacity(total as usize);
        let mut relocations = 0;
        let mut out = vec![ClockState::default(); 512];
        let mut sample = 0;
        while sample < total {
            let host = HostTime::playing_at(bpm, 4, rounding_host(sample, bpm, sr, &mut rng));
            let ev = clock.fill_block(&host, true, &mut out);
            relocations += ev.relocated as usize;
            positions.extend(out.iter().map(|c| c.bar as f64 + c.bar_phase));
            sample += 512;
        }
        positions.truncate(total as usize);
        (positions, relocations)
    }

    #[test]
    fn jittered_host_positions_never_step_backwards() {
        for (bpm, seed) in [(100.0, 1), (110.0, 2), (120.0, 3), (93.0, 4), (174.0, 5)] {
            let (pos, relocations) = run_jittery(bpm, 8.0, seed);
            assert_eq!(relocations, 0, "{bpm} bpm: jitter is not a relocation");
            let samples_per_bar = 4.0 * 60.0 / bpm * 48_000.0;
            for (i, w) in pos.windows(2).enumerate() {
                assert!(
                    w[1] >= w[0],
                    "{bpm} bpm: backward step at sample {i}: {} -> {}",
                    w[0],
                    w[1]
                );
            }
            // Never further from the true position than the host's own rounding (a tick
            // of up to 15 samples at these tempi, plus up to 8 samples late).
            for (i, p) in pos.iter().enumerate() {
                let lag = (i as f64 / samples_per_bar - p) * samples_per_bar;
                assert!(lag.abs() < 24.0, "{bpm} bpm: {lag:.1} samples off at sample {i}");
            }
            // `{15}clp` completes exactly 15 cycles per bar: 120 distinct cycles in 8 bars,
            // and its phase only goes down at a wrap.
            let mut wraps = 0;
            let mut prev = clock_phase15(pos[0]);
            for &p in &pos[1..] {
                let ph = clock_phase15(p);
                if ph < prev {
                    assert!(
                        prev > 0.9 && ph < 0.1,
                        "{bpm} bpm: phase {prev} -> {ph} is not a wrap"
                    );
                    wraps += 1;
                }
                prev = ph;
            }
            assert_eq!(wraps, 8 * 15 - 1, "{bpm} bpm");
        }
    }

    fn clock_phase15(bars: f64) -> f64 {
        (bars * 15.0).rem_euclid(1.0)
    }

    #[test]
    fn steady_drift_is_followed_without_a_relocation() {
        // A host whose position runs 0.5% fast against its reported tempo (tempo ramps,
        // rounded tempo values): the clock follows it closely and never jumps.
        let sr = 48_000.0;
        let mut clock = Clock::new(sr);
        let mut out = vec![ClockState::default(); 512];
        let mut last = f64::MIN;
        for k in 0..2000u64 {
            let host_pos = k as f64 * 512.0 * 2.0 / sr * 1.005;
            let ev = clock.fill_block(&HostTime::playing_at(120.0, 4, host_pos), true, &mut out);
            assert!(!ev.relocated, "block {k}");
            let first = out[0].bar as f64 * 4.0 + out[0].bar_phase * 4.0;
            assert!(first >= last, "block {k}");
            if k > 100 {
                assert!(
                    (first - host_pos).abs() * 24_000.0 < 16.0,
                    "block {k}: {} samples off",
                    (first - host_pos) * 24_000.0
                );
            }
            last = out[511].bar as f64 * 4.0 + out[511].bar_phase * 4.0;
        }
    }

    #[test]
    fn relocations_and_loop_jumps_follow_the_host_at_once() {
        let mut clock = Clock::new(48_000.0);
        let mut out = vec![ClockState::default(); 512];
        let step = 512.0 / 48_000.0 * 2.0;
        let mut pos = 0.0;
        for _ in 0..50 {
            let ev = clock.fill_block(&HostTime::playing_at(120.0, 4, pos), true, &mut out);
            assert!(!ev.relocated);
            pos += step;
        }
        // A loop jump back to beat 4 (bar 1).
        let ev = clock.fill_block(&HostTime::playing_at(120.0, 4, 4.0), true, &mut out);
        assert!(ev.relocated);
        assert_eq!(out[0].bar, 1);
        assert!(out[0].bar_phase.abs() < 1e-12);
        // Forward beyond the tolerance (20 ms at 120 bpm = 0.04 beats) is a relocation too.
        let next = 4.0 + step + 0.04;
        let ev = clock.fill_block(&HostTime::playing_at(120.0, 4, next), true, &mut out);
        assert!(ev.relocated);
        assert!((out[0].bar as f64 * 4.0 + out[0].bar_phase * 4.0 - next).abs() < 1e-9);
        // Within it (5 ms) is not: the clock keeps its own position and catches up.
        let own = next + step;
        let ev = clock.fill_block(&HostTime::playing_at(120.0, 4, own + 0.01), true, &mut out);
        assert!(!ev.relocated);
        assert!((out[0].bar as f64 * 4.0 + out[0].bar_phase * 4.0 - own).abs() < 1e-9);
        // Starting the transport takes the host's position as is, without a relocation.
        let mut stopped = HostTime::playing_at(120.0, 4, 30.0);
        stopped.playing = false;
        clock.fill_block(&stopped, true, &mut out);
        let ev = clock.fill_block(&HostTime::playing_at(120.0, 4, 30.001), true, &mut out);
        assert!(!ev.relocated);
        assert!((out[0].bar as f64 * 4.0 + out[0].bar_phase * 4.0 - 30.001).abs() < 1e-9);
    }

    #[test]
    fn invalid_code_tempo_is_ignored() {
        let mut clock = Clock::new(48_000.0);
        clock.set_code_tempo(f64::NAN, 0.0);
        let out = block(&mut clock, HostTime::NONE, false, 1);
        assert_eq!(out[0].bpm, 120.0);
        assert_eq!(out[0].beats_per_bar, 4.0);
    }
}
