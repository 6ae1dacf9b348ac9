//! The notes the plugin sent, as the melody view and the `.mid` export see them: the
//! audio thread's [`NoteRecord`]s paired into [`SentNote`]s on the host's bar timeline
//! ([`NoteHistory`]), and a window of them written as a Standard MIDI File
//! ([`export_last_bars`]). No egui here. Runs on the editor's thread.

use std::collections::VecDeque;

use crate::cli::midi_file::{self, TimedEvent};
use crate::control::status::NoteRecord;

/// A new event earlier than the latest one by more than this (in bars) is a transport
/// jump backwards. Smaller differences are rounding noise between blocks and are treated
/// as "same time" so the history stays sorted.
const JUMP_TOLERANCE_BARS: f64 = 1e-6;

/// One note the plugin sent, on the host's bar timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SentNote {
    /// Position (bar index + phase) of the note-on.
    pub start_bars: f64,
    /// Position of the note-off; `None` while the note is still held.
    pub end_bars: Option<f64>,
    /// MIDI channel, 0-based as sent.
    pub channel: u8,
    /// MIDI key.
    pub key: u8,
    /// Note-on velocity, 0..=1.
    pub velocity: f32,
}

impl SentNote {
    /// End of the note for drawing and overlap tests: held notes reach `now`.
    pub(super) fn end_or(&self, now: f64) -> f64 {
        self.end_bars.unwrap_or(now)
    }
}

/// The notes the plugin sent recently, note-ons paired with their note-offs.
///
/// Rules, chosen so that the view and the export show one coherent timeline:
/// - A note-on for a key already held on the same channel closes the held note at that
///   moment and starts a new one (a retrigger). A note-on with velocity 0 is a note-off,
///   as in MIDI. A note-off with no held note is ignored. Events at non-finite positions
///   are ignored.
/// - Transport jumps backwards (loop, relocate): an event earlier than the latest one
///   restarts the timeline at that event's position. Held notes are closed at the latest
///   known position, notes that started at or after the new position are dropped (the
///   new pass replaces them), and notes still sounding past the new position are cut
///   there. Notes before the new position are kept, so after a relocate the bars before
///   the playhead still show what was played there.
/// - Memory is bounded: only notes that started within the last `keep_bars` bars (before
///   the latest event) are kept, and never more than `max_notes`. A held note dropped
///   this way (its note-off was lost, e.g. when the log overflowed while the editor was
///   closed) is forgotten, and its late note-off is ignored.
///
/// Notes are stored in the order of their start, which lets window queries use a binary
/// search instead of scanning the whole history every frame.
#[derive(Clone, Debug)]
pub struct NoteHistory {
    /// Notes sorted by `start_bars`.
    notes: VecDeque<SentNote>,
    /// Sequence number of `notes[0]`; the note with sequence `s` is at `s - first_seq`.
    /// Sequence numbers let `held` point into the deque while its front is popped.
    first_seq: u64,
    /// Notes still held: (channel, key, sequence number). At most one per channel/key.
    held: Vec<(u8, u8, u64)>,
    /// Position of the latest event accepted (`-inf` before the first).
    latest: f64,
    /// Upper bound of the length of every closed note in `notes` (never decreases until
    /// `clear`); how far before a window a note may start and still overlap it.
    longest_closed: f64,
    /// Tempo of the latest event, for exporting at the tempo that was playing.
    last_bpm: Option<f64>,
    /// How many bars of notes to keep before the latest event.
    keep_bars: f64,
    /// Hard cap on the number of notes kept.
    max_notes: usize,
    /// Number of transport jumps backwards seen.
    restarts: u64,
}

impl Default for NoteHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl NoteHistory {
    /// Bars of notes kept by [`NoteHistory::new`].
    pub const DEFAULT_KEEP_BARS: f64 = 64.0;
    /// Note cap of [`NoteHistory::new`]: 64 bars of 16ths on 8 channels with room to spare.
    pub const DEFAULT_MAX_NOTES: usize = 16_384;

    /// A history keeping [`Self::DEFAULT_KEEP_BARS`] bars, at most
    /// [`Self::DEFAULT_MAX_NOTES`] notes.
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_KEEP_BARS, Self::DEFAULT_MAX_NOTES)
    }

    /// A history keeping the notes that started within `keep_bars` bars of the latest
    /// event, at most `max_notes` of them (both at least 1).
    pub fn with_limits(keep_bars: f64, max_notes: usize) -> Self {
        let keep_bars =
            if keep_bars.is_finite() { keep_bars.max(1.0) } else { Self::DEFAULT_KEEP_BARS };
        NoteHistory {
            notes: VecDeque::new(),
            first_seq: 0,
            held: Vec::new(),
            latest: f64::NEG_INFINITY,
            longest_closed: 0.0,
            last_bpm: None,
            keep_bars,
            max_notes: max_notes.max(1),
            restarts: 0,
        }
    }

    /// Adds one logged MIDI event (see the type's documentation for the rules).
    pub fn push(&mut self, record: NoteRecord) {
        if !record.bars.is_finite() {
            return;
        }
        if record.bars < self.latest - JUMP_TOLERANCE_BARS {
            self.restart_at(record.bars);
        }
        // Within the tolerance an event may be a hair earlier than the latest: clamp it so
        // starts stay sorted.
        let t = record.bars.max(self.latest);
        self.latest = t;
        if record.bpm.is_finite() && record.bpm > 0.0 {
            self.last_bpm = Some(record.bpm);
        }

        // Any event for a held channel/key ends the held note: a note-off obviously, and a
        // note-on retriggers.
        if let Some(h) =
            self.held.iter().position(|&(c, k, _)| c == record.channel && k == record.key)
        {
            let (_, _, seq) = self.held.swap_remove(h);
            self.close(seq, t);
        }
        if record.on && record.velocity > 0.0 {
            self.notes.push_back(SentNote {
                start_bars: t,
                end_bars: None,
                channel: record.channel,
                key: record.key,
                velocity: record.velocity.min(1.0),
            });
            let seq = self.first_seq + self.notes.len() as u64 - 1;
            self.held.push((record.channel, record.key, seq));
        }
        self.prune();
    }

    /// Ends the note with sequence number `seq` at `t`.
    fn close(&mut self, seq: u64, t: f64) {
        let Some(index) = seq.checked_sub(self.first_seq) else { return };
        if let Some(note) = self.notes.get_mut(index as usize) {
            note.end_bars = Some(t);
            self.longest_closed = self.longest_closed.max(t - note.start_bars);
        }
    }

    /// The transport went back to `t`: see the type's documentation.
    fn restart_at(&mut self, t: f64) {
        let latest = self.latest;
        for (_, _, seq) in std::mem::take(&mut self.held) {
            self.close(seq, latest);
        }
        while self.notes.back().is_some_and(|n| n.start_bars >= t) {
            self.notes.pop_back();
        }
        for note in self.notes.iter_mut() {
            if note.end_bars.is_some_and(|e| e > t) {
                note.end_bars = Some(t);
            }
        }
        self.latest = t;
        self.restarts += 1;
    }

    /// Drops what is older than `keep_bars` or beyond `max_notes`, oldest first.
    fn prune(&mut self) {
        let horizon = self.latest - self.keep_bars;
        while let Some(front) = self.notes.front() {
            if front.start_bars >= horizon && self.notes.len() <= self.max_notes {
                break;
            }
            if front.end_bars.is_none() {
                let seq = self.first_seq;
                self.held.retain(|&(_, _, s)| s != seq);
            }
            self.notes.pop_front();
            self.first_seq += 1;
        }
    }

    /// Number of notes kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.notes.len()
    }

    /// Whether no note is kept.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// Number of notes still held.
    #[cfg(test)]
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// All notes kept, in the order they started.
    #[cfg(test)]
    pub fn notes(&self) -> impl Iterator<Item = &SentNote> + '_ {
        self.notes.iter()
    }

    /// Position of the latest event, if any.
    pub fn latest_bars(&self) -> Option<f64> {
        self.latest.is_finite().then_some(self.latest)
    }

    /// Tempo of the latest event with a valid tempo, if any.
    pub fn last_bpm(&self) -> Option<f64> {
        self.last_bpm
    }

    /// Number of transport jumps backwards seen since the history was created or cleared.
    #[cfg(test)]
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The notes that sound somewhere in `[from, to)`, in the order they started. Held
    /// notes count as sounding up to `to`. Costs a binary search plus the notes returned
    /// (and the few that started early but ended before `from`), not the whole history.
    pub fn overlapping(&self, from: f64, to: f64) -> impl Iterator<Item = &SentNote> + '_ {
        // The earliest start that can still overlap `from`: the longest closed note, or
        // the oldest held note.
        let mut earliest = from - self.longest_closed;
        for &(_, _, seq) in &self.held {
            if let Some(n) =
                seq.checked_sub(self.first_seq).and_then(|i| self.notes.get(i as usize))
            {
                earliest = earliest.min(n.start_bars);
            }
        }
        let lo = self.notes.partition_point(|n| n.start_bars < earliest);
        let hi = self.notes.partition_point(|n| n.start_bars < to);
        self.notes.range(lo..hi.max(lo)).filter(move |n| n.end_or(f64::INFINITY) > from)
    }
}

/// Builds a Standard MIDI File of the notes sounding in the last `n_bars` bars before
/// `now_bars`: the window `[now - n, now)` is shifted to start at beat 0, notes are cut
/// at the window's edges, notes still held end at the window's end, and a note too short
/// to survive the file's resolution lasts one tick. Beats are quarter notes
/// (`beats_per_bar` as in the host clock); the file carries `bpm` and a
/// `round(beats_per_bar)`/4 time signature. Invalid `bpm`/`beats_per_bar` fall back to
/// 120 and 4. An empty window gives a valid file without notes.
pub fn export_last_bars(
    history: &NoteHistory,
    now_bars: f64,
    n_bars: u32,
    beats_per_bar: f64,
    bpm: f64,
) -> Vec<u8> {
    let bpb = if beats_per_bar.is_finite() && beats_per_bar > 0.0 { beats_per_bar } else { 4.0 };
    let bpm = if bpm.is_finite() && bpm > 0.0 { bpm } else { 120.0 };
    let numerator = bpb.round().clamp(1.0, 255.0) as u8;
    let mut events = Vec::new();
    if now_bars.is_finite() && n_bars > 0 {
        let from = now_bars - n_bars as f64;
        let tick = 1.0 / midi_file::PPQ as f64;
        for note in history.overlapping(from, now_bars) {
            let start = (note.start_bars.max(from) - from) * bpb;
            let end = (note.end_or(now_bars).min(now_bars) - from) * bpb;
            // A zero-length note would be written as off-then-on at one tick and leave
            // the note hanging: give it one tick.
            let end = end.max(start + tick);
            let ev = |beats, on| TimedEvent {
                beats,
                on,
                channel: note.channel,
                key: note.key,
                velocity: note.velocity,
            };
            events.push(ev(start, true));
            events.push(ev(end, false));
        }
    }
    let end = (n_bars as f64 * bpb).max(0.0);
    midi_file::encode_until(&events, bpm, numerator, Some(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::editor::melody::testutil::{history, off, on};

    /// (start, end, channel, key) of every note kept.
    fn summary(h: &NoteHistory) -> Vec<(f64, Option<f64>, u8, u8)> {
        h.notes().map(|n| (n.start_bars, n.end_bars, n.channel, n.key)).collect()
    }

    #[test]
    fn note_ons_pair_with_their_offs() {
        let h = history(&[on(0.0, 0, 60), off(0.25, 0, 60), on(0.5, 0, 62)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.25), 0, 60), (0.5, None, 0, 62)]);
        assert_eq!(h.held_count(), 1);
        assert_eq!(h.latest_bars(), Some(0.5));
        assert_eq!(h.last_bpm(), Some(120.0));
        assert!((h.notes().next().map(|n| n.velocity).unwrap_or(0.0) - 0.8).abs() < 1e-6);
    }

    #[test]
    fn repeated_key_makes_separate_notes_and_retriggers() {
        // on/off/on/off on one key: two notes.
        let h = history(&[on(0.0, 0, 60), off(0.1, 0, 60), on(0.2, 0, 60), off(0.3, 0, 60)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.1), 0, 60), (0.2, Some(0.3), 0, 60)]);
        // A second on while held closes the first note there.
        let h = history(&[on(0.0, 0, 60), on(0.5, 0, 60), off(1.0, 0, 60)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.5), 0, 60), (0.5, Some(1.0), 0, 60)]);
        assert_eq!(h.held_count(), 0);
    }

    #[test]
    fn same_key_on_different_channels_overlaps() {
        let h = history(&[on(0.0, 0, 60), on(0.25, 1, 60), off(0.5, 0, 60), off(0.75, 1, 60)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.5), 0, 60), (0.25, Some(0.75), 1, 60)]);
    }

    #[test]
    fn stray_offs_velocity_zero_and_bad_positions() {
        let mut h = history(&[off(0.1, 0, 60)]);
        assert!(h.is_empty());
        // Velocity 0 note-on is a note-off.
        h.push(on(0.2, 0, 61));
        h.push(NoteRecord { velocity: 0.0, ..on(0.3, 0, 61) });
        assert_eq!(summary(&h), vec![(0.2, Some(0.3), 0, 61)]);
        // Off for another channel does not close it; NaN/inf positions are ignored.
        h.push(on(0.4, 2, 50));
        h.push(off(0.5, 3, 50));
        h.push(on(f64::NAN, 0, 70));
        h.push(off(f64::INFINITY, 2, 50));
        assert_eq!(summary(&h)[1], (0.4, None, 2, 50));
        assert_eq!(h.len(), 2);
        assert_eq!(h.latest_bars(), Some(0.5));
    }

    #[test]
    fn history_is_bounded_by_age_and_count() {
        let mut h = NoteHistory::with_limits(4.0, 1000);
        // A note whose off is lost, then a note per bar for 20 bars.
        h.push(on(0.0, 0, 40));
        for bar in 0..20 {
            h.push(on(bar as f64 + 0.5, 0, 60));
            h.push(off(bar as f64 + 0.75, 0, 60));
        }
        let starts: Vec<f64> = h.notes().map(|n| n.start_bars).collect();
        // The latest event is at 19.75: notes starting before 15.75 are gone.
        assert_eq!(starts, vec![16.5, 17.5, 18.5, 19.5]);
        // The stuck note was dropped with its held entry; its late off is ignored.
        assert_eq!(h.held_count(), 0);
        h.push(off(20.0, 0, 40));
        assert_eq!(h.len(), 4);

        let mut h = NoteHistory::with_limits(64.0, 10);
        for i in 0..100 {
            h.push(on(i as f64 * 0.01, (i % 3) as u8, 60 + (i % 5) as u8));
        }
        assert_eq!(h.len(), 10);
        assert!((h.notes().next().map_or(0.0, |n| n.start_bars) - 0.90).abs() < 1e-9);
        // Held notes dropped by the cap are forgotten too: at most one per channel/key
        // remains held, and all of them are still in the history.
        assert!(h.held_count() <= 10);
        assert!(h.notes().filter(|n| n.end_bars.is_none()).count() == h.held_count());
    }

    #[test]
    fn jump_backwards_restarts_the_timeline() {
        let mut h = history(&[
            on(0.0, 0, 60),
            off(1.5, 0, 60), // sounds across the jump target: cut at 1.0
            on(2.0, 0, 61),
            off(2.5, 0, 61), // after the target: dropped
            on(3.0, 1, 62),  // held at the jump: closed, then dropped
            on(3.75, 0, 63),
            off(3.8, 0, 63),
        ]);
        assert_eq!(h.restarts(), 0);
        h.push(on(1.0, 0, 64)); // loop back to bar 1
        assert_eq!(h.restarts(), 1);
        assert_eq!(summary(&h), vec![(0.0, Some(1.0), 0, 60), (1.0, None, 0, 64)]);
        assert_eq!(h.held_count(), 1);
        assert_eq!(h.latest_bars(), Some(1.0));
        // The off of the note held before the jump arrives after it: ignored.
        h.push(off(1.1, 1, 62));
        assert_eq!(h.len(), 2);
        // Timeline continues normally.
        h.push(off(1.25, 0, 64));
        assert_eq!(summary(&h)[1], (1.0, Some(1.25), 0, 64));

        // A loop: the second pass replaces the first, including the note exactly at the
        // loop start.
        let mut h = history(&[on(0.0, 0, 60), off(0.5, 0, 60), on(1.0, 0, 62), off(1.5, 0, 62)]);
        h.push(on(0.0, 0, 64));
        h.push(off(0.5, 0, 64));
        assert_eq!(summary(&h), vec![(0.0, Some(0.5), 0, 64)]);

        // A hair earlier than the latest (rounding between blocks) is no jump, and is
        // clamped so the history stays sorted.
        let mut h = history(&[on(2.0, 0, 60)]);
        h.push(on(2.0 - 1e-9, 0, 62));
        assert_eq!(h.restarts(), 0);
        assert_eq!(summary(&h), vec![(2.0, None, 0, 60), (2.0, None, 0, 62)]);
    }

    #[test]
    fn overlapping_finds_long_and_held_notes() {
        let h = history(&[
            on(0.0, 0, 40), // long note, ends at 9.0
            on(1.0, 0, 41), // held forever
            on(2.0, 0, 60),
            off(2.5, 0, 60),
            on(8.0, 0, 62),
            off(8.25, 0, 62),
            off(9.0, 0, 40),
            on(9.5, 0, 64),
        ]);
        let keys = |from, to| h.overlapping(from, to).map(|n| n.key).collect::<Vec<_>>();
        assert_eq!(keys(8.5, 9.25), vec![40, 41]);
        assert_eq!(keys(8.0, 10.0), vec![40, 41, 62, 64]);
        assert_eq!(keys(2.5, 3.0), vec![40, 41]); // the note ending at 2.5 is out
        assert_eq!(keys(-2.0, 0.0), Vec::<u8>::new());
    }

    /// Tempo (µs per quarter) and time signature numerator of a file.
    fn meta(bytes: &[u8]) -> (u32, u8) {
        let smf = midly::Smf::parse(bytes).expect("valid MIDI file");
        let (mut tempo, mut num) = (0, 0);
        for e in &smf.tracks[0] {
            match e.kind {
                midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(t)) => tempo = t.as_int(),
                midly::TrackEventKind::Meta(midly::MetaMessage::TimeSignature(n, ..)) => num = n,
                _ => {}
            }
        }
        (tempo, num)
    }

    #[test]
    fn export_window_shifts_clips_and_closes_notes() {
        let h = history(&[
            on(6.0, 0, 65),
            off(7.0, 0, 65), // before the window
            on(7.5, 0, 60),
            on(8.25, 1, 62),
            off(8.5, 0, 60), // clipped at the window start
            off(8.5, 1, 62),
            on(9.5, 0, 67),
            on(9.75, 2, 64),   // still held: closed at the window end
            off(10.25, 0, 67), // after the window end: clipped there
        ]);
        // Window [8, 10) at 4 beats per bar: beats 0..8.
        let bytes = export_last_bars(&h, 10.0, 2, 4.0, 120.0);
        let notes = midi_file::decode_notes(&bytes).expect("decode");
        assert_eq!(notes, vec![(0.0, 2.0, 60), (1.0, 2.0, 62), (6.0, 8.0, 67), (7.0, 8.0, 64)]);
        // decode_notes gives beats; the file's tempo turns them into seconds (0.5 s/beat).
        assert_eq!(meta(&bytes), (500_000, 4));
        let seconds: Vec<f64> = notes.iter().map(|n| n.0 * 60.0 / 120.0).collect();
        assert_eq!(seconds, vec![0.0, 0.5, 3.0, 3.5]);

        // 3 beats per bar and another tempo: the window [9, 10) is beats 0..3.
        let bytes = export_last_bars(&h, 10.0, 1, 3.0, 90.0);
        let notes = midi_file::decode_notes(&bytes).expect("decode");
        assert_eq!(notes, vec![(1.5, 3.0, 67), (2.25, 3.0, 64)]);
        assert_eq!(meta(&bytes), (666_667, 3));
    }

    #[test]
    fn empty_window_and_bad_arguments_give_valid_files() {
        let h = history(&[on(0.0, 0, 60), off(1.0, 0, 60)]);
        for bytes in [
            export_last_bars(&h, 50.0, 4, 4.0, 120.0),
            export_last_bars(&NoteHistory::new(), 0.0, 4, 4.0, 120.0),
            export_last_bars(&h, 1.0, 0, 4.0, 120.0),
            export_last_bars(&h, f64::NAN, 4, f64::NAN, -1.0),
        ] {
            assert_eq!(midi_file::decode_notes(&bytes).expect("valid file"), vec![]);
            assert!(bytes.starts_with(b"MThd"));
        }
        assert_eq!(meta(&export_last_bars(&h, 1.0, 1, 0.0, f64::INFINITY)), (500_000, 4));
    }

    #[test]
    fn zero_length_notes_last_one_tick() {
        let h = history(&[on(1.0, 0, 60), off(1.0, 0, 60), on(1.5, 0, 62), off(1.75, 0, 62)]);
        let notes =
            midi_file::decode_notes(&export_last_bars(&h, 2.0, 1, 4.0, 120.0)).expect("decode");
        let ppq = midi_file::PPQ as f64;
        // The note at exactly the window start with zero length does not overlap it;
        // within the window it gets one tick.
        assert_eq!(notes, vec![(2.0, 3.0, 62)]);
        let notes =
            midi_file::decode_notes(&export_last_bars(&h, 2.0, 2, 4.0, 120.0)).expect("decode");
        assert_eq!(notes, vec![(4.0, (4.0 * ppq + 1.0) / ppq, 60), (6.0, 7.0, 62)]);
    }
}
