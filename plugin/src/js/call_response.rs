//! Call-and-response timing (`host.callAndResponse`), as plain logic the runtime drives:
//! it is told about the musician's note-ons, the transport position on every pump and
//! the model results, and says when to generate and where the answer plays.
//!
//! The musician plays a phrase (the *call*); it starts at the bar of its first note and
//! ends at a bar line (the *boundary*): `bars` bars after that bar, or, when `bars` is 0,
//! at the first bar line at least `silence` beats after the last key was released (with
//! nothing held). The answer plays from the boundary's first sample, so the model must
//! be asked before it: at `boundary - lookahead`, with what was played until then (a note
//! still held is extended to the boundary). As in magenta's MIDI call-and-response, the
//! lookahead adapts to how long generation takes: after each answer it is at least 1.5 ×
//! the longest of the last [`TIMING_WINDOW`] generation times (wall clock, request to
//! result), in beats at the current tempo, and never less than a 16th note. An answer
//! ready after its downbeat (less than [`SAFETY_SECONDS`] before it counts as after)
//! plays from the next bar line instead and the runtime says so on the console.
//!
//! A note-on inside the lookahead window means the call did not end: in silence mode
//! the answer being generated is discarded and the call goes on; in bars mode the call
//! ends at its boundary anyway (such late notes are not in what the model saw).
//! A note at or after the boundary starts the next call, while the answer plays.

use std::collections::VecDeque;
use std::time::Duration;

/// Generation times remembered for the lookahead.
pub const TIMING_WINDOW: usize = 8;
/// Smallest lookahead, in beats (a 16th note).
pub const MIN_LOOKAHEAD_BEATS: f64 = 0.25;
/// An answer must be ready this long before its downbeat to play there: the clip still
/// has to reach the audio thread (the next block) before the bar starts.
pub const SAFETY_SECONDS: f64 = 0.02;
/// Longest call used as the model's primer, in bars (a longer call keeps its last bars).
pub const MAX_CALL_BARS: i64 = 16;

/// The settings of `host.callAndResponse({...})`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Bars per call; 0 ends a call by silence instead.
    pub bars: u32,
    /// Beats of silence (nothing held) that end a call when `bars` is 0.
    pub silence_beats: f64,
    /// Bars of answer; None: as long as the call.
    pub answer_bars: Option<u32>,
    /// Lookahead (beats) before any generation was timed.
    pub initial_lookahead_beats: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { bars: 2, silence_beats: 2.0, answer_bars: None, initial_lookahead_beats: 1.0 }
    }
}

/// Ask the model now: continue the phrase played from bar `first_bar` up to bar line
/// `boundary` for `steps` steps (4 per quarter note).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generate {
    /// Identifies the request when its result comes back.
    pub gen: u64,
    pub first_bar: i64,
    pub boundary: i64,
    pub steps: usize,
}

/// Where an answer plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Play {
    /// Bar at whose first sample the answer starts.
    pub start_bar: i64,
    /// The boundary it was meant for (differs from `start_bar` when it was late).
    pub boundary: i64,
    /// How late it was, in beats (0 when on time).
    pub late_beats: f64,
}

/// A call in progress.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Call {
    first_bar: i64,
}

/// An answer being generated.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pending {
    gen: u64,
    first_bar: i64,
    boundary: i64,
}

/// What a note-on did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteOutcome {
    /// Part of the current call, or the start of a new one.
    Call,
    /// Played inside the lookahead window in silence mode: the answer being generated
    /// was discarded and the call goes on.
    Discarded,
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct CallResponse {
    pub settings: Settings,
    call: Option<Call>,
    pending: Option<Pending>,
    /// Last generation id handed out.
    next_gen: u64,
    /// The boundary of the last call the model was asked to answer: a note before it
    /// (played inside the lookahead window, perhaps after the answer came back) belongs
    /// to that call and does not start a new one.
    asked_boundary: Option<i64>,
    /// Recent generation times, seconds.
    times: VecDeque<f64>,
}

impl CallResponse {
    pub fn new(settings: Settings) -> Self {
        CallResponse { settings, ..Default::default() }
    }

    /// The lookahead in beats at `bpm` (see the module documentation).
    pub fn lookahead_beats(&self, bpm: f64) -> f64 {
        match self.times.iter().copied().reduce(f64::max) {
            None => self.settings.initial_lookahead_beats.max(MIN_LOOKAHEAD_BEATS),
            Some(t) => (1.5 * t * bpm / 60.0).max(MIN_LOOKAHEAD_BEATS),
        }
    }

    /// Whether a call is being played or an answer generated.
    #[cfg(test)]
    pub fn busy(&self) -> bool {
        self.call.is_some() || self.pending.is_some()
    }

    /// The id of the answer being generated, if any.
    #[cfg(test)]
    pub fn pending_gen(&self) -> Option<u64> {
        self.pending.map(|p| p.gen)
    }

    /// Forgets the call and any answer being generated (transport stopped, relocated,
    /// settings replaced). A result for it that still comes back is ignored.
    pub fn reset(&mut self) {
        self.call = None;
        self.pending = None;
        self.asked_boundary = None;
    }

    /// The musician played a note at `pos` (bars) with `beats_per_bar` quarter notes per
    /// bar.
    pub fn note_on(&mut self, pos: f64, beats_per_bar: f64) -> NoteOutcome {
        // Half a 16th early still counts as on the beat (as the phrase's quantising does).
        let snapped = pos + half_step_bars(beats_per_bar);
        if let Some(p) = self.pending {
            if snapped < p.boundary as f64 {
                if self.settings.bars == 0 {
                    self.pending = None;
                    self.call = Some(Call { first_bar: p.first_bar });
                    return NoteOutcome::Discarded;
                }
                return NoteOutcome::Call;
            }
        }
        // The answer already came back: a late note of that call is not a new call.
        if self.pending.is_none() && self.asked_boundary.is_some_and(|b| snapped < b as f64) {
            return NoteOutcome::Call;
        }
        if self.call.is_none() {
            self.call = Some(Call { first_bar: snapped.floor() as i64 });
        }
        NoteOutcome::Call
    }

    /// Called on every pump while the transport plays, with the position `now` (bars),
    /// the number of keys held and where the last one was released (bars). Returns the
    /// request to make when the time has come.
    pub fn tick(
        &mut self,
        now: f64,
        held: usize,
        last_release: Option<f64>,
        bpm: f64,
        beats_per_bar: f64,
    ) -> Option<Generate> {
        let call = self.call?;
        let bpb = beats_per_bar.max(1e-3);
        let boundary = if self.settings.bars > 0 {
            call.first_bar + self.settings.bars as i64
        } else {
            if held > 0 {
                return None;
            }
            let silence_end = last_release? + self.settings.silence_beats / bpb;
            // A bar line reached within a rounding error counts.
            ((silence_end - 1e-9).ceil() as i64).max(call.first_bar + 1)
        };
        if now < boundary as f64 - self.lookahead_beats(bpm) / bpb {
            return None;
        }
        let first_bar = call.first_bar.max(boundary - MAX_CALL_BARS);
        let answer_bars = match self.settings.answer_bars {
            Some(n) => n as i64,
            None => boundary - first_bar,
        };
        let steps_per_bar = (bpb * 4.0).round().max(1.0) as i64;
        self.next_gen += 1;
        let gen = self.next_gen;
        self.call = None;
        self.pending = Some(Pending { gen, first_bar, boundary });
        self.asked_boundary = Some(boundary);
        Some(Generate { gen, first_bar, boundary, steps: (answer_bars * steps_per_bar) as usize })
    }

    /// The answer `gen` is ready at position `now` (bars), `elapsed` after it was asked
    /// for. None when it was discarded or superseded.
    pub fn result(
        &mut self,
        gen: u64,
        now: f64,
        elapsed: Duration,
        bpm: f64,
        beats_per_bar: f64,
    ) -> Option<Play> {
        self.record_time(elapsed);
        let p = self.pending.filter(|p| p.gen == gen)?;
        self.pending = None;
        let bpb = beats_per_bar.max(1e-3);
        let safety_bars = SAFETY_SECONDS * bpm / 60.0 / bpb;
        if now + safety_bars <= p.boundary as f64 {
            return Some(Play { start_bar: p.boundary, boundary: p.boundary, late_beats: 0.0 });
        }
        let start_bar = (now + safety_bars).floor() as i64 + 1;
        Some(Play { start_bar, boundary: p.boundary, late_beats: (now - p.boundary as f64) * bpb })
    }

    /// The request `gen` failed (its time still counts).
    pub fn failed(&mut self, gen: u64, elapsed: Duration) {
        self.record_time(elapsed);
        if self.pending.is_some_and(|p| p.gen == gen) {
            self.pending = None;
        }
    }

    fn record_time(&mut self, elapsed: Duration) {
        if self.times.len() >= TIMING_WINDOW {
            self.times.pop_front();
        }
        self.times.push_back(elapsed.as_secs_f64());
    }
}

/// Half a 16th note, in bars.
fn half_step_bars(beats_per_bar: f64) -> f64 {
    0.5 / (beats_per_bar.max(1e-3) * 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BPM: f64 = 120.0;

    #[test]
    fn a_late_note_after_the_answer_came_back_does_not_start_a_new_call() {
        let mut cr = CallResponse::new(Settings::default());
        cr.note_on(0.0, 4.0);
        let g = cr.tick(1.76, 0, Some(1.7), BPM, 4.0).expect("generate");
        assert_eq!(g.boundary, 2);
        let play = cr.result(g.gen, 1.76, Duration::from_millis(3), BPM, 4.0).expect("play");
        assert_eq!(play.start_bar, 2);
        // The musician's last note of the call, on beat 3.5 of its last bar.
        assert_eq!(cr.note_on(1.875, 4.0), NoteOutcome::Call);
        assert!(!cr.busy(), "no new call from a note of the answered one");
        assert_eq!(cr.tick(3.9, 0, Some(1.9), BPM, 4.0), None);
        // A note at the boundary (while the answer plays) starts the next call.
        cr.note_on(2.0, 4.0);
        assert!(cr.busy());
        // (The lookahead is now a 16th: 3 ms of generation is far less.)
        assert_eq!(cr.tick(3.95, 0, Some(3.5), BPM, 4.0).map(|g| g.boundary), Some(4));
    }

    #[test]
    fn bars_mode_generates_before_the_boundary_and_plays_on_it() {
        let mut cr = CallResponse::new(Settings::default());
        // First note a hair early for bar 2 (index 1): the call is bars 1 and 2.
        assert_eq!(cr.note_on(1.0 - 0.01, 4.0), NoteOutcome::Call);
        assert_eq!(cr.tick(1.5, 1, None, BPM, 4.0), None);
        // Initial lookahead 1 beat = 0.25 bar: nothing until 2.75.
        assert_eq!(cr.tick(2.74, 0, Some(2.5), BPM, 4.0), None);
        let g = cr.tick(2.76, 0, Some(2.5), BPM, 4.0).expect("generate");
        assert_eq!((g.first_bar, g.boundary, g.steps), (1, 3, 32));
        assert!(cr.busy());
        // Ready early: plays on the boundary. 100 ms measured.
        let p = cr.result(g.gen, 2.9, Duration::from_millis(100), BPM, 4.0).expect("play");
        assert_eq!(p, Play { start_bar: 3, boundary: 3, late_beats: 0.0 });
        assert!(!cr.busy());
        // The lookahead adapted: 1.5 × 0.1 s at 120 bpm = 0.3 beats.
        assert!((cr.lookahead_beats(BPM) - 0.3).abs() < 1e-9);
        // A fast model never goes under a 16th.
        let mut fast = CallResponse::new(Settings::default());
        fast.record_time(Duration::from_millis(1));
        assert_eq!(fast.lookahead_beats(BPM), MIN_LOOKAHEAD_BEATS);
    }

    #[test]
    fn a_late_answer_plays_from_the_next_bar_and_the_lookahead_grows() {
        let mut cr = CallResponse::new(Settings { answer_bars: Some(1), ..Settings::default() });
        cr.note_on(4.0, 4.0);
        let g = cr.tick(5.8, 0, Some(5.5), BPM, 4.0).expect("generate");
        assert_eq!((g.first_bar, g.boundary, g.steps), (4, 6, 16));
        // 1.2 s later: past the downbeat of bar 6 by 0.1 bar (0.4 beats).
        let p = cr.result(g.gen, 6.1, Duration::from_millis(1200), BPM, 4.0).expect("play");
        assert_eq!(p.start_bar, 7);
        assert_eq!(p.boundary, 6);
        assert!((p.late_beats - 0.4).abs() < 1e-9);
        // Next time it starts 1.5 × 1.2 s = 3.6 beats ahead.
        assert!((cr.lookahead_beats(BPM) - 3.6).abs() < 1e-9);
        // Within the safety margin before the downbeat is late too.
        cr.note_on(8.0, 4.0);
        let g = cr.tick(9.5, 0, Some(9.0), BPM, 4.0).expect("generate");
        let p = cr.result(g.gen, 10.0 - 0.001, Duration::from_millis(10), BPM, 4.0).unwrap();
        assert_eq!(p.start_bar, 11);
    }

    #[test]
    fn silence_mode_waits_for_silence_and_discards_on_new_notes() {
        let settings = Settings { bars: 0, silence_beats: 2.0, ..Settings::default() };
        let mut cr = CallResponse::new(settings);
        cr.note_on(2.25, 4.0);
        // Held: no end in sight.
        assert_eq!(cr.tick(3.9, 1, None, BPM, 4.0), None);
        // Released at 3.25: 2 beats (0.5 bar) of silence end at 3.75, so the call ends at
        // bar line 4; lookahead 1 beat: generate from 3.75.
        assert_eq!(cr.tick(3.5, 0, Some(3.25), BPM, 4.0), None);
        let g = cr.tick(3.8, 0, Some(3.25), BPM, 4.0).expect("generate");
        assert_eq!((g.first_bar, g.boundary, g.steps), (2, 4, 32));
        // The musician plays on inside the window: the answer is dropped, the call goes on.
        assert_eq!(cr.note_on(3.9, 4.0), NoteOutcome::Discarded);
        assert_eq!(cr.result(g.gen, 3.95, Duration::from_millis(50), BPM, 4.0), None);
        // Released at 4.5: silence ends at 5.0 exactly, a bar line: the call ends there.
        // The discarded answer took 50 ms, so the lookahead is down to a 16th (1/16 bar).
        assert_eq!(cr.tick(4.93, 0, Some(4.5), BPM, 4.0), None);
        let g2 = cr.tick(4.95, 0, Some(4.5), BPM, 4.0).expect("generate again");
        assert_eq!((g2.first_bar, g2.boundary), (2, 5));
        assert_ne!(g.gen, g2.gen);
        // A note at the boundary starts the next call; the answer still plays.
        assert_eq!(cr.note_on(5.0 - 0.005, 4.0), NoteOutcome::Call);
        let p = cr.result(g2.gen, 4.97, Duration::from_millis(50), BPM, 4.0).unwrap();
        assert_eq!(p.start_bar, 5);
        assert!(cr.busy(), "the next call is in progress");
    }

    #[test]
    fn bars_mode_keeps_its_boundary_when_the_musician_plays_on() {
        let mut cr = CallResponse::new(Settings { bars: 1, ..Settings::default() });
        cr.note_on(0.0, 4.0);
        let g = cr.tick(0.8, 0, Some(0.5), BPM, 4.0).expect("generate");
        assert_eq!(cr.note_on(0.9, 4.0), NoteOutcome::Call);
        assert_eq!(cr.pending_gen(), Some(g.gen));
        let p = cr.result(g.gen, 0.95, Duration::from_millis(20), BPM, 4.0).unwrap();
        assert_eq!(p.start_bar, 1);
    }

    #[test]
    fn reset_drops_the_call_and_the_pending_answer() {
        let mut cr = CallResponse::new(Settings::default());
        cr.note_on(0.0, 4.0);
        let g = cr.tick(1.9, 0, Some(1.0), BPM, 4.0).unwrap();
        cr.reset();
        assert!(!cr.busy());
        assert_eq!(cr.result(g.gen, 1.95, Duration::from_millis(10), BPM, 4.0), None);
        // A long call keeps its last MAX_CALL_BARS bars.
        let mut long = CallResponse::new(Settings { bars: 40, ..Settings::default() });
        long.note_on(0.0, 4.0);
        let g = long.tick(39.9, 0, None, BPM, 4.0).unwrap();
        assert_eq!((g.first_bar, g.boundary, g.steps), (40 - MAX_CALL_BARS, 40, 256));
    }
}
