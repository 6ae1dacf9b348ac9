//! Musical time for every sample of a block, derived from the host transport.
//!
//! When synced, the bar phase is computed from the host's song position (in quarter-note
//! beats) and time signature for each sample, never accumulated, so loops and relocations
//! stay in sync. When `sync` is off, or the host gives no position or tempo, the clock
//! free-runs at the tempo set in code (`clk`).

use crate::rt::ClockState;

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

/// What happened to the transport in a block, for the MIDI note release logic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockEvents {
    /// The host transport went from playing to stopped at the start of this block.
    pub stopped: bool,
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
        if beats_per_bar.is_finite() && beats_per_bar >= 1.0 && beats_per_bar <= 64.0 {
            self.code_beats_per_bar = beats_per_bar;
        }
    }

    /// Restarts the free-running clock at bar 0.
    pub fn reset(&mut self) {
        self.set_free_beats(0.0);
        self.was_host_playing = false;
    }

    /// Fills `out[..len]` with the clock state of each sample of the block.
    pub fn fill_block(&mut self, host: &HostTime, sync: bool, out: &mut [ClockState]) -> ClockEvents {
        let sr = self.sample_rate;
        let synced = sync && host.tempo.is_some() && host.pos_beats.is_some();
        let mut events = ClockEvents::default();
        if synced {
            let bpm = host.tempo.unwrap_or(120.0).max(1.0);
            let beats_per_bar = host
                .time_sig
                .filter(|(n, d)| *n > 0 && *d > 0)
                .map(|(n, d)| n as f64 * 4.0 / d as f64)
                .unwrap_or(4.0);
            let start = host.pos_beats.unwrap_or(0.0);
            let beats_per_sample = if host.playing { bpm / 60.0 / sr } else { 0.0 };
            // Prefer the host's own bar grid (correct across time signature changes);
            // otherwise assume the signature has held since the song start.
            let (origin_beats, origin_bar) = match (host.bar_start_beats, host.bar_number) {
                (Some(b), Some(n)) if b <= start + 1e-9 => (b, n as i64),
                _ => (0.0, 0),
            };
            for (i, c) in out.iter_mut().enumerate() {
                let beats = start + i as f64 * beats_per_sample;
                let (whole, phase) = split_bars((beats - origin_beats) / beats_per_bar);
                *c = ClockState {
                    bar_phase: phase,
                    bar: origin_bar + whole,
                    bpm,
                    beats_per_bar,
                    playing: host.playing,
                    sample_rate: sr,
                };
            }
            events.stopped = self.was_host_playing && !host.playing;
            self.was_host_playing = host.playing;
            // Keep the free-running clock where the host left it, so switching sync off
            // continues from the same place instead of jumping.
            let len = out.len() as f64;
            self.set_free_beats(start + len * beats_per_sample);
        } else {
            events.stopped = self.was_host_playing;
            self.was_host_playing = false;
            let bpm = self.code_bpm;
            let beats_per_bar = self.code_beats_per_bar;
            let step = bpm / 60.0 / sr;
            for c in out.iter_mut() {
                let beats = self.free_anchor_beats + self.free_samples as f64 * step;
                let (whole, phase) = split_bars(beats / beats_per_bar);
                *c = ClockState {
                    bar_phase: phase,
                    bar: whole,
                    bpm,
                    beats_per_bar,
                    playing: true,
                    sample_rate: sr,
                };
                self.free_samples += 1;
            }
        }
        events
    }
}

/// Splits a position in bars into (bar index, phase in [0, 1)). Positions within 1e-9
/// bars below a bar line count as on it: hosts give positions in binary fractions, and a
/// note meant for the downbeat must not land one sample late.
fn split_bars(bars: f64) -> (i64, f64) {
    let whole = (bars + 1e-9).floor();
    ((whole as i64), (bars - whole).clamp(0.0, 1.0 - f64::EPSILON))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn invalid_code_tempo_is_ignored() {
        let mut clock = Clock::new(48_000.0);
        clock.set_code_tempo(f64::NAN, 0.0);
        let out = block(&mut clock, HostTime::NONE, false, 1);
        assert_eq!(out[0].bpm, 120.0);
        assert_eq!(out[0].beats_per_bar, 4.0);
    }
}
