//! The phrase recorder: what the musician played into the plugin, kept on the JS thread
//! from the audio thread's stamped MIDI input, and returned as a quantised NoteSequence
//! (magenta.js's shape, 4 steps per quarter) for `host.phrase(bars)` and
//! call-and-response; and the reverse, a NoteSequence turned into a [`Clip`] the engine
//! plays (`host.play`).
//!
//! Positions are kept in bars (bar index + phase, as the audio thread stamps them), so a
//! phrase is measured against the host's bar lines even when the tempo changes inside
//! it. Quantising rounds each start and end to the nearest 16th of the host grid
//! (`beats_per_bar * 4` steps per bar); a note lasts at least one step.
//!
//! What the recorder does with imperfect input:
//! - only host notes (not notes a clip plays back) played while the transport runs are
//!   recorded; note-offs are applied while stopped too, so a key released after stop does
//!   not hang;
//! - a second note-on of a held key ends the held note there; a note-off of a key that is
//!   not held is ignored; keys above 127 are ignored;
//! - a note still held at the end of a phrase is cut there (and stays held for the next);
//! - a note whose quantised start lies before the phrase start is dropped (a note played a
//!   little early, less than half a 16th before the bar line, rounds onto the first step
//!   and is kept); one whose quantised start is at or after the phrase end belongs to the
//!   next phrase;
//! - a relocation backwards (a loop jump, a locate) discards the history after the new
//!   position: notes that started there are forgotten, notes sounding across it end there;
//! - the history is bounded: [`MAX_NOTES`] notes and [`MAX_BARS`] bars.

use std::collections::VecDeque;

use crate::audio::midi_in::{Clip, ClipNote, MidiInKind, MidiSource, StampedMidiIn};
use crate::ml::core::note_seq::{Note, NoteSequence, QuantizationInfo, Tempo, TimeSignature};

/// Most notes the recorder keeps (older ones are forgotten first).
pub const MAX_NOTES: usize = 4096;
/// Bars of history the recorder keeps behind the latest event.
pub const MAX_BARS: f64 = 64.0;
/// Steps per quarter note of the phrases it returns (magenta's melody models' grid).
pub const STEPS_PER_QUARTER: u32 = 4;
/// Largest difference of positions (in bars) still taken as "the same position": the
/// audio thread's clock never steps backwards, so anything more is a relocation.
const POSITION_EPSILON: f64 = 1e-9;

/// A recorded note, positions in bars.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Recorded {
    pitch: u8,
    /// MIDI velocity 1..=127.
    velocity: u8,
    start: f64,
    /// None while the key is held.
    end: Option<f64>,
}

/// What one event did to the recorder (for call-and-response, which follows the playing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fed {
    /// Not a host note, stopped, or not valid: nothing recorded.
    Ignored,
    /// A host note started at this position (bars).
    NoteOn(f64),
    /// A held host note ended at this position (bars).
    NoteOff(f64),
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PhraseRecorder {
    /// Notes by start position, oldest first.
    notes: VecDeque<Recorded>,
    /// Position of the latest event seen (any source), to notice relocations.
    last_pos: Option<f64>,
    /// Relocations noticed so far (call-and-response restarts on a change).
    relocations: u64,
}

impl PhraseRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event from the audio thread.
    pub fn push(&mut self, e: &StampedMidiIn) -> Fed {
        let pos = e.bars;
        if !pos.is_finite() {
            return Fed::Ignored;
        }
        if let Some(last) = self.last_pos {
            if pos < last - POSITION_EPSILON {
                self.relocate(pos);
            }
        }
        self.last_pos = Some(pos);
        self.prune(pos);
        let ev = &e.event;
        if ev.source != MidiSource::Host || ev.key > 127 {
            return Fed::Ignored;
        }
        let is_off =
            ev.kind == MidiInKind::NoteOff || (ev.kind == MidiInKind::NoteOn && ev.value <= 0.0);
        if is_off {
            return match self.end_held(ev.key, pos) {
                true => Fed::NoteOff(pos),
                false => Fed::Ignored,
            };
        }
        if ev.kind != MidiInKind::NoteOn || !e.playing {
            return Fed::Ignored;
        }
        self.end_held(ev.key, pos);
        let velocity = (ev.value.clamp(0.0, 1.0) * 127.0).round().clamp(1.0, 127.0) as u8;
        if self.notes.len() >= MAX_NOTES {
            self.notes.pop_front();
        }
        self.notes.push_back(Recorded { pitch: ev.key, velocity, start: pos, end: None });
        Fed::NoteOn(pos)
    }

    /// Number of keys held now.
    pub fn held(&self) -> usize {
        self.notes.iter().filter(|n| n.end.is_none()).count()
    }

    /// Where the latest note ended (bars), if any note ended.
    pub fn last_release(&self) -> Option<f64> {
        self.notes.iter().filter_map(|n| n.end).reduce(f64::max)
    }

    /// Number of backward relocations noticed so far.
    pub fn relocations(&self) -> u64 {
        self.relocations
    }

    /// Position of the latest event (bars).
    pub fn last_position(&self) -> Option<f64> {
        self.last_pos
    }

    /// Forgets everything (the transport stopped and call-and-response restarts, tests).
    pub fn clear(&mut self) {
        self.notes.clear();
        self.last_pos = None;
    }

    /// The notes played from the first sample of bar `start_bar` up to position `end`
    /// (bars, usually a bar line), quantised: see the module documentation. `bpm` sets
    /// the times in seconds and `beats_per_bar` (quarter notes) the steps per bar.
    pub fn phrase(&self, start_bar: i64, end: f64, bpm: f64, beats_per_bar: f64) -> NoteSequence {
        self.phrase_with(start_bar, end, bpm, beats_per_bar, false)
    }

    /// [`PhraseRecorder::phrase`] with each note's `startTime`/`endTime` as played (seconds from
    /// the phrase start at `bpm`) rather than on the grid: the steps are the same, the
    /// times keep the playing's timing (which a GrooVAE model reads as offsets).
    pub fn performance(
        &self,
        start_bar: i64,
        end: f64,
        bpm: f64,
        beats_per_bar: f64,
    ) -> NoteSequence {
        self.phrase_with(start_bar, end, bpm, beats_per_bar, true)
    }

    fn phrase_with(
        &self,
        start_bar: i64,
        end: f64,
        bpm: f64,
        beats_per_bar: f64,
        timed: bool,
    ) -> NoteSequence {
        let bpm = if bpm.is_finite() && bpm > 0.0 { bpm } else { 120.0 };
        let bpb =
            if beats_per_bar.is_finite() && beats_per_bar > 0.0 { beats_per_bar } else { 4.0 };
        let steps_per_bar = bpb * STEPS_PER_QUARTER as f64;
        let start = start_bar as f64;
        let total = ((end - start) * steps_per_bar).round().max(0.0) as i64;
        let seconds_per_step = 60.0 / bpm / STEPS_PER_QUARTER as f64;
        let step_of = |pos: f64| ((pos - start) * steps_per_bar).round() as i64;
        let mut notes: Vec<Note> = self
            .notes
            .iter()
            .filter_map(|n| {
                let s = step_of(n.start);
                if s < 0 || s >= total {
                    return None;
                }
                let e = step_of(n.end.unwrap_or(end).min(end)).clamp(s + 1, total);
                // Seconds from the phrase start, as played or on the grid.
                let seconds_of = |pos: f64| (pos - start) * steps_per_bar * seconds_per_step;
                let (t0, t1) = if timed {
                    let t0 = seconds_of(n.start).max(0.0);
                    (t0, seconds_of(n.end.unwrap_or(end).min(end)).max(t0))
                } else {
                    (s as f64 * seconds_per_step, e as f64 * seconds_per_step)
                };
                Some(Note {
                    pitch: n.pitch as i32,
                    velocity: Some(n.velocity as i32),
                    start_time: Some(t0),
                    end_time: Some(t1),
                    quantized_start_step: Some(s),
                    quantized_end_step: Some(e),
                    ..Note::default()
                })
            })
            .collect();
        notes.sort_by_key(|n| (n.quantized_start_step, n.pitch));
        NoteSequence {
            notes,
            total_time: Some(total as f64 * seconds_per_step),
            total_quantized_steps: Some(total),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: STEPS_PER_QUARTER }),
            tempos: vec![Tempo { time: 0.0, qpm: bpm }],
            time_signatures: if bpb.fract() == 0.0 {
                vec![TimeSignature { time: 0.0, numerator: bpb as u32, denominator: 4 }]
            } else {
                Vec::new()
            },
        }
    }

    /// Ends the held note of `key` at `pos`; false if it was not held.
    fn end_held(&mut self, key: u8, pos: f64) -> bool {
        match self.notes.iter_mut().rev().find(|n| n.pitch == key && n.end.is_none()) {
            Some(n) => {
                n.end = Some(pos.max(n.start));
                true
            }
            None => false,
        }
    }

    /// The transport jumped back to `pos`: the history after it is discarded.
    fn relocate(&mut self, pos: f64) {
        self.relocations += 1;
        self.notes.retain(|n| n.start < pos);
        for n in &mut self.notes {
            if n.end.is_none_or(|e| e > pos) {
                n.end = Some(pos);
            }
        }
    }

    /// Forgets notes that ended more than [`MAX_BARS`] before `pos` (and keys stuck that
    /// long).
    fn prune(&mut self, pos: f64) {
        let horizon = pos - MAX_BARS;
        while let Some(n) = self.notes.front() {
            if n.end.unwrap_or(n.start) < horizon {
                self.notes.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Options of [`sequence_to_clip`] (`host.play(seq, {bar, channel, velocity, loop})`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipOptions {
    /// Bar at whose first sample the clip starts.
    pub start_bar: i64,
    /// MIDI channel 0..=15.
    pub channel: u8,
    /// Velocity 0..=1 for every note; None: each note's own (`velocity` 1..127, 100
    /// when absent).
    pub velocity: Option<f32>,
    pub looping: bool,
    /// Tempo (quarter notes per minute) that turns seconds into beats for unquantised
    /// sequences.
    pub bpm: f64,
    /// Quarter notes per bar, to round an undeclared clip length up to whole bars.
    pub beats_per_bar: f64,
}

/// Most notes one clip may hold.
pub const MAX_CLIP_NOTES: usize = 4096;

/// Builds the clip that plays `seq`: a quantised sequence by its steps (`stepsPerQuarter`
/// steps per beat), an unquantised one by its times in seconds at `opts.bpm`. Its length
/// is the sequence's declared length (`totalQuantizedSteps` / `totalTime`), at least its
/// last note's end; with no declared length, the last end rounded up to whole bars.
pub fn sequence_to_clip(seq: &NoteSequence, opts: &ClipOptions) -> Result<Clip, String> {
    if opts.channel > 15 {
        return Err(format!("channel must be 0..15, got {}", opts.channel));
    }
    if let Some(v) = opts.velocity {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("velocity must be 0..1, got {v}"));
        }
    }
    if seq.notes.len() > MAX_CLIP_NOTES {
        return Err(format!("too many notes ({}, at most {MAX_CLIP_NOTES})", seq.notes.len()));
    }
    if !(opts.bpm.is_finite() && opts.bpm > 0.0) {
        return Err(format!("the tempo must be positive, got {}", opts.bpm));
    }
    let quantized = seq.steps_per_quarter();
    let beats_of_seconds = opts.bpm / 60.0;
    let mut notes = Vec::with_capacity(seq.notes.len());
    for (i, n) in seq.notes.iter().enumerate() {
        if !(0..=127).contains(&n.pitch) {
            return Err(format!("note {i} has pitch {}, outside 0..127", n.pitch));
        }
        let (start, end) = match quantized {
            Some(spq) => match (n.quantized_start_step, n.quantized_end_step) {
                (Some(s), Some(e)) => (s as f64 / spq as f64, e as f64 / spq as f64),
                _ => return Err(format!("note {i} has no quantizedStartStep/quantizedEndStep")),
            },
            None => match (n.start_time, n.end_time) {
                (Some(s), Some(e)) => (s * beats_of_seconds, e * beats_of_seconds),
                _ => return Err(format!("note {i} has no startTime/endTime")),
            },
        };
        if !(start.is_finite() && end.is_finite()) || start < 0.0 {
            return Err(format!("note {i} starts before the sequence ({start} beats)"));
        }
        if end <= start {
            // magenta drops zero-length notes too: nothing to play.
            continue;
        }
        let velocity = match opts.velocity {
            Some(v) => v,
            None => n.velocity.map_or(100.0, |v| v.clamp(0, 127) as f32) / 127.0,
        };
        notes.push(ClipNote {
            start_beats: start,
            end_beats: end,
            pitch: n.pitch as u8,
            velocity,
            channel: None,
        });
    }
    notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats).then(a.pitch.cmp(&b.pitch)));
    let last_end = notes.iter().map(|n| n.end_beats).fold(0.0, f64::max);
    let declared = match quantized {
        Some(spq) => seq.total_quantized_steps.map(|t| t as f64 / spq as f64),
        None => seq.total_time.map(|t| t * beats_of_seconds),
    }
    .filter(|l| l.is_finite() && *l > 0.0);
    let length_beats = match declared {
        Some(l) => l.max(last_end),
        None => {
            let bpb = if opts.beats_per_bar > 0.0 { opts.beats_per_bar } else { 4.0 };
            ((last_end / bpb).ceil() * bpb).max(bpb)
        }
    };
    Ok(Clip {
        start_bar: opts.start_bar,
        notes,
        length_beats,
        channel: opts.channel,
        looping: opts.looping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::midi_in::MidiIn;

    /// An event at `bars` (4/4, 120 bpm, playing).
    fn ev(kind: MidiInKind, key: u8, value: f32, bars: f64) -> StampedMidiIn {
        StampedMidiIn {
            event: MidiIn { timing: 0, kind, channel: 0, key, value, source: MidiSource::Host },
            bars,
            beats: bars * 4.0,
            bpm: 120.0,
            beats_per_bar: 4.0,
            playing: true,
        }
    }
    fn on(key: u8, bars: f64) -> StampedMidiIn {
        ev(MidiInKind::NoteOn, key, 0.8, bars)
    }
    fn off(key: u8, bars: f64) -> StampedMidiIn {
        ev(MidiInKind::NoteOff, key, 0.0, bars)
    }
    /// (pitch, start step, end step) of a phrase.
    fn steps(ns: &NoteSequence) -> Vec<(i32, i64, i64)> {
        ns.notes
            .iter()
            .map(|n| (n.pitch, n.quantized_start_step.unwrap(), n.quantized_end_step.unwrap()))
            .collect()
    }

    #[test]
    fn quantises_to_the_nearest_sixteenth_of_the_host_grid() {
        let mut r = PhraseRecorder::new();
        // Bar 3 and 4 (index 2, 3) at 4/4: 16 steps per bar, one step = 1/16 bar.
        let s = 1.0 / 16.0;
        r.push(&on(60, 2.0 + 0.4 * s)); // rounds to step 0
        r.push(&off(60, 2.0 + 1.6 * s)); // rounds to step 2
        r.push(&on(62, 2.0 + 4.0 * s + 0.1 * s)); // step 4
        r.push(&off(62, 2.0 + 4.2 * s)); // a grace note: at least one step (4..5)
        r.push(&on(64, 2.0 + 15.6 * s)); // step 16
        r.push(&off(64, 3.0 + 7.4 * s)); // step 23
        let p = r.phrase(2, 4.0, 120.0, 4.0);
        assert_eq!(steps(&p), vec![(60, 0, 2), (62, 4, 5), (64, 16, 23)]);
        assert_eq!(p.total_quantized_steps, Some(32));
        assert_eq!(p.quantization_info.as_ref().map(|q| q.steps_per_quarter), Some(4));
        assert_eq!(p.tempos[0].qpm, 120.0);
        // 120 bpm: a 16th is 0.125 s.
        assert_eq!(p.notes[2].start_time, Some(2.0));
        assert_eq!(p.notes[2].end_time, Some(23.0 * 0.125));
        assert_eq!(p.total_time, Some(4.0));
        assert_eq!(p.notes[0].velocity, Some(102));
        // The same notes over one bar only: the last note is in the next bar.
        assert_eq!(steps(&r.phrase(2, 3.0, 120.0, 4.0)), vec![(60, 0, 2), (62, 4, 5)]);
        // As a performance: the same steps, the times as played (a step is 0.125 s).
        let t = r.performance(2, 4.0, 120.0, 4.0);
        assert_eq!(steps(&t), steps(&p));
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(t.notes[0].start_time, 0.4 * 0.125), "{:?}", t.notes[0]);
        assert!(close(t.notes[0].end_time, 1.6 * 0.125));
        assert!(
            close(t.notes[1].start_time, 4.1 * 0.125) && close(t.notes[1].end_time, 4.2 * 0.125)
        );
        assert!(close(t.notes[2].start_time, 15.6 * 0.125));
        // 3/4: 12 steps per bar, positions are still bars.
        let p34 = r.phrase(2, 4.0, 90.0, 3.0);
        assert_eq!(p34.total_quantized_steps, Some(24));
        assert_eq!(steps(&p34)[0], (60, 0, 1));
        assert_eq!(p34.time_signatures[0].numerator, 3);
    }

    #[test]
    fn held_notes_are_cut_at_the_phrase_end_and_early_notes_dropped() {
        let mut r = PhraseRecorder::new();
        r.push(&on(50, 0.9)); // before the phrase: dropped
        r.push(&off(50, 1.2));
        r.push(&on(55, 1.0 - 0.01)); // less than half a step early: step 0
        r.push(&off(55, 1.25));
        r.push(&on(67, 2.5)); // still held
        let p = r.phrase(1, 3.0, 120.0, 4.0);
        assert_eq!(steps(&p), vec![(55, 0, 4), (67, 24, 32)]);
        assert_eq!(r.held(), 1);
        // A note starting right at the end (rounded onto it) belongs to the next phrase.
        r.push(&on(69, 3.0 - 0.01));
        assert_eq!(steps(&r.phrase(1, 3.0, 120.0, 4.0)).len(), 2);
        assert_eq!(r.held(), 2);
    }

    #[test]
    fn sane_with_broken_input() {
        let mut r = PhraseRecorder::new();
        // Note-off without note-on: ignored.
        assert_eq!(r.push(&off(60, 0.0)), Fed::Ignored);
        // Note-on without note-off, then the same key again: the first ends there.
        assert_eq!(r.push(&on(60, 0.25)), Fed::NoteOn(0.25));
        assert_eq!(r.push(&on(60, 0.5)), Fed::NoteOn(0.5));
        // Keys outside 0..127 and non-note events are ignored.
        assert_eq!(r.push(&on(200, 0.5)), Fed::Ignored);
        assert_eq!(r.push(&off(200, 0.6)), Fed::Ignored);
        assert_eq!(r.push(&ev(MidiInKind::Cc, 1, 0.5, 0.6)), Fed::Ignored);
        assert_eq!(r.push(&ev(MidiInKind::PitchBend, 0, -1.0, 0.6)), Fed::Ignored);
        // A note-on with velocity 0 is a note-off.
        assert_eq!(r.push(&ev(MidiInKind::NoteOn, 60, 0.0, 0.75)), Fed::NoteOff(0.75));
        // Not playing: note-ons are not recorded, but note-offs still release keys.
        let mut stopped = on(64, 0.8);
        stopped.playing = false;
        assert_eq!(r.push(&stopped), Fed::Ignored);
        // Notes a clip plays back are not the musician's.
        let mut clip = on(65, 0.8);
        clip.event.source = MidiSource::Clip;
        assert_eq!(r.push(&clip), Fed::Ignored);
        // NaN positions are ignored.
        assert_eq!(r.push(&on(66, f64::NAN)), Fed::Ignored);
        assert_eq!(steps(&r.phrase(0, 1.0, 120.0, 4.0)), vec![(60, 4, 8), (60, 8, 12)]);
        assert_eq!(r.held(), 0);
        // A nonsense tempo or metre still gives a valid sequence (120 bpm, 4/4).
        let p = r.phrase(0, 1.0, f64::NAN, 0.0);
        assert_eq!(p.total_quantized_steps, Some(16));
        assert_eq!(p.tempos[0].qpm, 120.0);
    }

    #[test]
    fn a_relocation_backwards_discards_the_history_after_it() {
        let mut r = PhraseRecorder::new();
        r.push(&on(60, 0.0));
        r.push(&off(60, 0.5));
        r.push(&on(62, 1.0));
        r.push(&on(64, 1.5)); // held across the jump
        r.push(&off(62, 2.0));
        r.push(&on(67, 2.5));
        // Loop back to bar 1.25.
        r.push(&on(72, 1.25));
        assert_eq!(r.relocations(), 1);
        let p = r.phrase(0, 2.0, 120.0, 4.0);
        // 60 kept, 62 cut at 1.25, 64 and 67 forgotten, 72 recorded (held to the end).
        assert_eq!(steps(&p), vec![(60, 0, 8), (62, 16, 20), (72, 20, 32)]);
        assert_eq!(r.held(), 1);
    }

    #[test]
    fn history_is_bounded() {
        let mut r = PhraseRecorder::new();
        for i in 0..(MAX_NOTES + 100) {
            let pos = i as f64 / 64.0;
            r.push(&on((i % 100) as u8, pos));
            r.push(&off((i % 100) as u8, pos + 0.001));
        }
        assert!(r.notes.len() <= MAX_NOTES);
        // Far later: everything older than MAX_BARS is forgotten.
        r.push(&on(60, 1000.0));
        assert_eq!(r.notes.len(), 1);
    }

    #[test]
    fn sequences_become_clips() {
        let opts = ClipOptions {
            start_bar: 3,
            channel: 2,
            velocity: None,
            looping: false,
            bpm: 120.0,
            beats_per_bar: 4.0,
        };
        let q = NoteSequence {
            notes: vec![
                Note {
                    pitch: 64,
                    quantized_start_step: Some(4),
                    quantized_end_step: Some(6),
                    velocity: Some(127),
                    ..Note::default()
                },
                Note {
                    pitch: 60,
                    quantized_start_step: Some(0),
                    quantized_end_step: Some(2),
                    ..Note::default()
                },
            ],
            total_quantized_steps: Some(32),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
            ..NoteSequence::default()
        };
        let c = sequence_to_clip(&q, &opts).unwrap();
        assert_eq!((c.start_bar, c.channel, c.length_beats), (3, 2, 8.0));
        assert_eq!(
            c.notes[0],
            ClipNote {
                start_beats: 0.0,
                end_beats: 0.5,
                pitch: 60,
                velocity: 100.0 / 127.0,
                channel: None
            }
        );
        assert_eq!(
            (c.notes[1].start_beats, c.notes[1].end_beats, c.notes[1].velocity),
            (1.0, 1.5, 1.0)
        );
        // Unquantised: seconds at the host tempo (120 bpm: 0.5 s = 1 beat); no declared
        // length: whole bars.
        let u = NoteSequence {
            notes: vec![Note {
                pitch: 70,
                start_time: Some(0.5),
                end_time: Some(2.75),
                ..Note::default()
            }],
            ..NoteSequence::default()
        };
        let c = sequence_to_clip(&u, &ClipOptions { velocity: Some(0.5), looping: true, ..opts })
            .unwrap();
        assert_eq!(
            c.notes,
            vec![ClipNote {
                start_beats: 1.0,
                end_beats: 5.5,
                pitch: 70,
                velocity: 0.5,
                channel: None
            }]
        );
        assert_eq!(c.length_beats, 8.0);
        assert!(c.looping);
        // Bad input is a clear error.
        let mut bad = u.clone();
        bad.notes[0].pitch = 128;
        assert!(sequence_to_clip(&bad, &opts).unwrap_err().contains("outside 0..127"));
        assert!(sequence_to_clip(&u, &ClipOptions { channel: 16, ..opts })
            .unwrap_err()
            .contains("channel"));
        let mut missing = q.clone();
        missing.notes[0].quantized_end_step = None;
        assert!(sequence_to_clip(&missing, &opts).unwrap_err().contains("quantizedEndStep"));
        // An empty sequence is an empty clip one bar long.
        let empty = sequence_to_clip(&NoteSequence::default(), &opts).unwrap();
        assert!(empty.notes.is_empty());
        assert_eq!(empty.length_beats, 4.0);
    }
}
