//! Plays a [`Clip`] (notes timed in beats from a bar) in time with the clock: note-ons at
//! their exact sample, note-offs at their end, looping, replacement, and release on stop
//! and relocation, never a stuck note. What it plays goes out as MIDI (the DAW records
//! it) and into the DSL's MIDI input ([`MidiSource::Clip`]).
//!
//! The clip's position is derived from the per-sample clock (bar + bar phase, beats per
//! bar), so it follows the host exactly as the rest of the engine does. After a stop or a
//! relocation it seeks: notes starting at or after the new position play, notes already
//! begun do not retrigger. Everything is preallocated in [`ClipPlayer::new`]; clips
//! arrive built (off the audio thread) and leave through the engine's garbage queue.

use crate::audio::midi_in::{Clip, MidiIn, MidiInKind, MidiSource};
use crate::audio::midi_out::MidiEvent;
use crate::audio::patch::{ClockRun, FixedQueue};

/// Events one block of clip playback keeps (each kind: MIDI out, MIDI in). Note-ons that
/// do not fit are skipped; room for every note-off is always kept.
pub const CLIP_EVENTS_PER_BLOCK: usize = 1024;
/// Positions within this many beats count as equal (a sample is about 4e-5 beats at 120
/// bpm and 48 kHz): a note on a beat must not start a sample late because the clock's
/// phase lands a rounding error below it.
const EPS_BEATS: f64 = 1e-7;
const KEYS: usize = 128;
const CHANNELS: usize = 16;

/// The audio thread's clip player. See the module documentation.
pub struct ClipPlayer {
    clip: Option<Box<Clip>>,
    /// Index of the next note to start in the current cycle.
    next: usize,
    /// Loop cycle the cursor is in (0 when not looping).
    cycle: i64,
    /// Find the cursor from the position at the next playing sample (after a new clip,
    /// a stop or a relocation) instead of stepping on from where it was.
    seek: bool,
    /// End of each sounding key of each channel, in beats from the clip's start (across
    /// loop cycles); `f64::INFINITY` when the key is not sounding.
    ends: [[f64; KEYS]; CHANNELS],
    /// Bit `c` is set while channel `c` may have sounding notes (only those are scanned).
    channels: u16,
    sounding: usize,
    /// The earliest of `ends`.
    next_end: f64,
    out: FixedQueue<MidiEvent>,
    ins: FixedQueue<MidiIn>,
}

impl Default for ClipPlayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClipPlayer {
    /// A player with no clip (allocates its event buffers: call off the audio thread).
    pub fn new() -> Self {
        Self {
            clip: None,
            next: 0,
            cycle: 0,
            seek: true,
            ends: [[f64::INFINITY; KEYS]; CHANNELS],
            channels: 0,
            sounding: 0,
            next_end: f64::INFINITY,
            out: FixedQueue::with_capacity(CLIP_EVENTS_PER_BLOCK),
            ins: FixedQueue::with_capacity(CLIP_EVENTS_PER_BLOCK),
        }
    }

    /// Starts a block: forgets the previous block's events.
    pub fn begin_block(&mut self) {
        self.out.clear();
        self.ins.clear();
    }

    /// Makes `clip` the one that plays; the sounding notes of the old one end at
    /// `offset`. An empty clip (no notes) plays nothing: it stops clip playback. Returns
    /// the replaced clip, to be dropped off the audio thread.
    pub fn replace(&mut self, clip: Box<Clip>, offset: u32) -> Option<Box<Clip>> {
        self.release_all(offset);
        self.seek = true;
        self.next = 0;
        self.cycle = 0;
        self.clip.replace(clip)
    }

    /// The transport stopped or relocated (or the engine was reset): the sounding notes
    /// end at `offset` and playback seeks from the next playing sample.
    pub fn interrupt(&mut self, offset: u32) {
        self.release_all(offset);
        self.seek = true;
    }

    /// Number of notes sounding.
    pub fn sounding(&self) -> usize {
        self.sounding
    }

    /// This block's MIDI out events (sorted by time) and the same notes as MIDI input.
    pub fn events(&self) -> (&[MidiEvent], &[MidiIn]) {
        (self.out.as_slice(), self.ins.as_slice())
    }

    /// Ends every sounding note at `offset`.
    fn release_all(&mut self, offset: u32) {
        if self.sounding == 0 {
            return;
        }
        for ch in 0..CHANNELS {
            if self.channels & (1 << ch) == 0 {
                continue;
            }
            for key in 0..KEYS {
                if self.ends[ch][key].is_finite() {
                    self.end_note(offset, ch, key);
                }
            }
        }
        self.channels = 0;
        self.next_end = f64::INFINITY;
    }

    fn end_note(&mut self, offset: u32, ch: usize, key: usize) {
        self.ends[ch][key] = f64::INFINITY;
        self.sounding -= 1;
        let (channel, key) = (ch as u8, key as u8);
        // Room for every note-off is kept when note-ons are accepted (`start_note`).
        self.out.push(MidiEvent { timing: offset, on: false, channel, key, velocity: 0.0 });
        self.ins.push(MidiIn {
            timing: offset,
            kind: MidiInKind::NoteOff,
            channel,
            key,
            value: 0.0,
            source: MidiSource::Clip,
        });
    }

    fn start_note(&mut self, offset: u32, channel: u8, key: u8, velocity: f32, end: f64) {
        let (ch, k) = (channel as usize, key as usize);
        let retrigger = self.ends[ch][k].is_finite();
        // Keep room for the note-off of every sounding note (and of this one).
        let needed = self.sounding + 2 + usize::from(retrigger);
        if self.out.len() + needed > self.out.capacity()
            || self.ins.len() + needed > self.ins.capacity()
        {
            return;
        }
        if retrigger {
            self.end_note(offset, ch, k);
        }
        self.out.push(MidiEvent { timing: offset, on: true, channel, key, velocity });
        self.ins.push(MidiIn {
            timing: offset,
            kind: MidiInKind::NoteOn,
            channel,
            key,
            value: velocity,
            source: MidiSource::Clip,
        });
        self.ends[ch][k] = end;
        self.channels |= 1 << ch;
        self.sounding += 1;
        self.next_end = self.next_end.min(end);
    }

    /// Plays the block whose per-sample clock is `clocks`.
    pub fn process(&mut self, clocks: &ClockRun) {
        // Taken out for the block (a move, no allocation) so notes can start and end
        // while it is read; put back below.
        let Some(clip) = self.clip.take() else { return };
        for (i, c) in clocks.iter().enumerate() {
            if !c.playing {
                // Stopped (the stop itself released the notes): seek when play resumes.
                self.seek = true;
                continue;
            }
            let pos = ((c.bar - clip.start_bar) as f64 + c.bar_phase) * c.beats_per_bar;
            if !pos.is_finite() {
                continue;
            }
            self.play_sample(&clip, i as u32, pos);
        }
        self.clip = Some(clip);
    }

    /// Ends and starts the notes due at `pos` (beats from the clip's start), at `offset`.
    fn play_sample(&mut self, clip: &Clip, offset: u32, pos: f64) {
        // Note-offs first: a note ending where another starts is released before.
        if self.sounding > 0 && pos + EPS_BEATS >= self.next_end {
            let mut next_end = f64::INFINITY;
            for ch in 0..CHANNELS {
                if self.channels & (1 << ch) == 0 {
                    continue;
                }
                let mut still = false;
                for key in 0..KEYS {
                    let end = self.ends[ch][key];
                    if end <= pos + EPS_BEATS {
                        self.end_note(offset, ch, key);
                    } else if end.is_finite() {
                        next_end = next_end.min(end);
                        still = true;
                    }
                }
                if !still {
                    self.channels &= !(1 << ch);
                }
            }
            self.next_end = next_end;
        }
        if pos + EPS_BEATS < 0.0 {
            // Before the start bar: play from the first note once it is reached.
            self.seek = false;
            self.next = 0;
            self.cycle = 0;
            return;
        }
        let len = clip.length_beats;
        let looping = clip.looping && len.is_finite() && len > 0.0;
        let (cycle, local) = if looping {
            let k = ((pos + EPS_BEATS) / len).floor();
            (k as i64, (pos - k * len).max(0.0))
        } else {
            (0, pos.max(0.0))
        };
        if self.seek {
            self.seek = false;
            self.cycle = cycle;
            self.next = clip.notes.partition_point(|n| n.start_beats + EPS_BEATS < local);
        } else if cycle != self.cycle {
            self.cycle = cycle;
            self.next = 0;
        }
        let base = if looping { cycle as f64 * len } else { 0.0 };
        let limit = if len.is_finite() && len > 0.0 { len } else { f64::INFINITY };
        while let Some(n) = clip.notes.get(self.next).copied() {
            if n.start_beats > local + EPS_BEATS {
                break;
            }
            self.next += 1;
            // Notes at or past the clip's end never play; nor do silent ones.
            let playable = n.start_beats.is_finite()
                && n.start_beats + EPS_BEATS < limit
                && n.velocity.is_finite()
                && n.velocity > 0.0;
            if !playable {
                continue;
            }
            let end = if n.end_beats.is_finite() && n.end_beats > n.start_beats {
                n.end_beats
            } else {
                n.start_beats
            };
            let channel = n.channel.unwrap_or(clip.channel).min(15);
            self.start_note(offset, channel, n.pitch.min(127), n.velocity.min(1.0), base + end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::midi_in::ClipNote;

    const SR: f64 = 48_000.0;
    const BLOCK: usize = 512;

    /// A 120 bpm 4/4 clock from absolute sample `start` (bar 0 at sample 0).
    fn clocks(start: u64, playing: bool) -> ClockRun {
        let mut run = ClockRun::from_song_start(start, BLOCK, 120.0, 4.0, SR);
        run.playing = playing;
        run
    }

    fn note(start: f64, end: f64, pitch: u8) -> ClipNote {
        ClipNote { start_beats: start, end_beats: end, pitch, velocity: 0.9, channel: None }
    }

    fn clip(start_bar: i64, notes: Vec<ClipNote>, length: f64, looping: bool) -> Box<Clip> {
        Box::new(Clip { start_bar, notes, length_beats: length, channel: 2, looping })
    }

    /// Runs blocks from absolute sample `*now` while `until` is not reached; returns
    /// (absolute sample, on, key) of every MIDI out event, checking the MIDI-in copy.
    fn run(p: &mut ClipPlayer, now: &mut u64, until: u64) -> Vec<(u64, bool, u8)> {
        let mut ev = Vec::new();
        while *now < until {
            p.begin_block();
            p.process(&clocks(*now, true));
            let (out, ins) = p.events();
            assert_eq!(out.len(), ins.len());
            for (o, i) in out.iter().zip(ins) {
                assert_eq!((o.timing, o.key, o.channel), (i.timing, i.key, i.channel));
                assert_eq!(o.on, i.kind == MidiInKind::NoteOn);
                assert_eq!(i.source, MidiSource::Clip);
                ev.push((*now + o.timing as u64, o.on, o.key));
            }
            *now += BLOCK as u64;
        }
        ev
    }

    const BAR: u64 = 96_000;
    const BEAT: u64 = 24_000;

    #[test]
    fn first_note_lands_on_the_first_sample_of_its_bar_and_ends_on_time() {
        let mut p = ClipPlayer::new();
        let notes = vec![note(0.0, 1.0, 60), note(1.0, 1.5, 62), note(3.0, 4.0, 64)];
        assert!(p.replace(clip(3, notes, 4.0, false), 0).is_none());
        let mut now = 0;
        let ev = run(&mut p, &mut now, 6 * BAR);
        assert_eq!(
            ev,
            vec![
                (3 * BAR, true, 60),
                (3 * BAR + BEAT, false, 60),
                (3 * BAR + BEAT, true, 62),
                (3 * BAR + BEAT + BEAT / 2, false, 62),
                (3 * BAR + 3 * BEAT, true, 64),
                (4 * BAR, false, 64),
            ]
        );
        assert_eq!(p.sounding(), 0);
    }

    #[test]
    fn a_looping_clip_restarts_after_its_length() {
        let mut p = ClipPlayer::new();
        p.replace(clip(1, vec![note(0.0, 0.5, 60), note(1.0, 2.25, 67)], 2.0, true), 0);
        let mut now = 0;
        // Up to just before the third cycle.
        let ev = run(&mut p, &mut now, BAR + 4 * BEAT - 1000);
        let ons: Vec<(u64, u8)> = ev.iter().filter(|e| e.1).map(|e| (e.0, e.2)).collect();
        assert_eq!(
            ons,
            vec![(BAR, 60), (BAR + BEAT, 67), (BAR + 2 * BEAT, 60), (BAR + 3 * BEAT, 67)]
        );
        // The long note (1.25 beats) of the first cycle overlaps the next cycle's start and
        // ends on time.
        let offs: Vec<(u64, u8)> = ev.iter().filter(|e| !e.1).map(|e| (e.0, e.2)).collect();
        assert_eq!(
            offs,
            vec![
                (BAR + BEAT / 2, 60),
                (BAR + 2 * BEAT + BEAT / 4, 67),
                (BAR + 2 * BEAT + BEAT / 2, 60)
            ]
        );
        assert!(ev.iter().all(|e| e.0 < BAR + 4 * BEAT));
        assert_eq!(p.sounding(), 1, "the second 67 is still sounding");
    }

    #[test]
    fn a_new_clip_ends_the_old_ones_notes_at_the_swap() {
        let mut p = ClipPlayer::new();
        p.replace(clip(0, vec![note(0.0, 4.0, 60)], 4.0, false), 0);
        let mut now = 0;
        run(&mut p, &mut now, 4 * BLOCK as u64);
        assert_eq!(p.sounding(), 1);
        p.begin_block();
        let old = p.replace(clip(1, vec![note(0.0, 1.0, 72)], 4.0, false), 100);
        assert_eq!(old.map(|c| c.notes[0].pitch), Some(60));
        let (out, _) = p.events();
        assert_eq!(
            out,
            &[MidiEvent { timing: 100, on: false, channel: 2, key: 60, velocity: 0.0 }]
        );
        let ev = run(&mut p, &mut now, 2 * BAR);
        assert_eq!(ev, vec![(BAR, true, 72), (BAR + BEAT, false, 72)]);
        // An empty clip stops playback.
        p.replace(clip(2, vec![], 4.0, true), 0);
        assert!(run(&mut p, &mut now, 4 * BAR).is_empty());
    }

    #[test]
    fn stop_and_relocation_release_and_resume_without_retrigger() {
        let mut p = ClipPlayer::new();
        let notes = vec![note(0.0, 2.0, 60), note(2.0, 3.0, 62), note(3.0, 4.0, 64)];
        p.replace(clip(0, notes, 4.0, true), 0);
        let mut now = 0;
        run(&mut p, &mut now, BEAT);
        assert_eq!(p.sounding(), 1);
        // Stop: the note ends at once, nothing plays while stopped.
        p.begin_block();
        p.interrupt(0);
        p.process(&clocks(now, false));
        assert_eq!(p.events().0.iter().map(|e| (e.on, e.key)).collect::<Vec<_>>(), [(false, 60)]);
        p.begin_block();
        p.process(&clocks(now, false));
        assert!(p.events().0.is_empty());
        // Relocate into the middle of the first note (beat 1.5): it does not retrigger;
        // the note at beat 2 plays on time.
        now = BEAT + BEAT / 2;
        let ev = run(&mut p, &mut now, 2 * BEAT + BEAT / 2);
        assert_eq!(ev.first(), Some(&(2 * BEAT, true, 62)), "{ev:?}");
        assert!(!ev.iter().any(|e| e.2 == 60));
        // A loop jump back to the start while 62 sounds: it ends at the jump and the clip
        // plays again from its first note.
        p.begin_block();
        p.interrupt(0);
        now = 0;
        p.process(&clocks(now, true));
        let ev: Vec<(u32, bool, u8)> =
            p.events().0.iter().map(|e| (e.timing, e.on, e.key)).collect();
        assert_eq!(ev, vec![(0, false, 62), (0, true, 60)]);
        now += BLOCK as u64;
        run(&mut p, &mut now, 4 * BAR);
        p.begin_block();
        p.interrupt(7);
        assert!(p.events().0.iter().all(|e| !e.on && e.timing == 7));
        assert_eq!(p.sounding(), 0, "no stuck notes");
    }

    #[test]
    fn bad_notes_are_skipped_and_a_full_block_keeps_room_for_note_offs() {
        let mut p = ClipPlayer::new();
        let mut notes = vec![
            ClipNote { start_beats: 0.0, end_beats: 1.0, pitch: 200, velocity: 2.0, channel: None },
            ClipNote { start_beats: 0.0, end_beats: 1.0, pitch: 61, velocity: 0.0, channel: None },
            ClipNote {
                start_beats: f64::NAN,
                end_beats: 1.0,
                pitch: 62,
                velocity: 1.0,
                channel: None,
            },
            ClipNote {
                start_beats: 0.5,
                end_beats: f64::NAN,
                pitch: 63,
                velocity: 1.0,
                channel: None,
            },
            ClipNote { start_beats: 5.0, end_beats: 6.0, pitch: 64, velocity: 1.0, channel: None },
        ];
        // Thousands of notes on one sample: most are dropped, none sticks.
        notes.extend((0..5000).map(|i| note(2.0, 3.0, (i % 60) as u8)));
        notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats));
        p.replace(clip(0, notes, 4.0, false), 0);
        let mut now = 0;
        let ev = run(&mut p, &mut now, 2 * BAR);
        let ons = ev.iter().filter(|e| e.1).count();
        let offs = ev.iter().filter(|e| !e.1).count();
        assert_eq!(ons, offs, "every note-on has its note-off");
        assert!(ev.contains(&(0, true, 127)), "pitch clamped");
        assert!(!ev.iter().any(|e| e.2 == 61 || e.2 == 62 || e.2 == 64));
        // The zero-length note ends on the next sample.
        assert!(ev.contains(&(BEAT / 2, true, 63)) && ev.contains(&(BEAT / 2 + 1, false, 63)));
        assert_eq!(p.sounding(), 0);
    }

    /// Notes with channels of their own (a trio: bass on channel 2, drums on 10) play
    /// there; the same key on two channels sounds twice and each ends on its own
    /// channel, also when the clip is replaced mid-note.
    #[test]
    fn notes_play_on_their_own_channels() {
        let on = |ch: Option<u8>, start: f64, end: f64, pitch: u8| ClipNote {
            channel: ch,
            ..note(start, end, pitch)
        };
        let notes = vec![
            on(None, 0.0, 2.0, 60),
            on(Some(1), 0.0, 3.0, 36),
            on(Some(9), 0.0, 0.25, 36),
            on(Some(9), 1.0, 1.25, 36),
        ];
        let mut p = ClipPlayer::new();
        p.replace(clip(0, notes, 4.0, false), 0);
        let mut ev = Vec::new();
        let mut now = 0u64;
        // Up to just before beat 2, where 60 ends.
        while now + BLOCK as u64 <= 2 * BEAT {
            p.begin_block();
            p.process(&clocks(now, true));
            let (out, ins) = p.events();
            for (o, i) in out.iter().zip(ins) {
                assert_eq!(
                    (o.channel, o.key, o.on),
                    (i.channel, i.key, i.kind == MidiInKind::NoteOn)
                );
                ev.push((now + o.timing as u64, o.on, o.channel, o.key));
            }
            now += BLOCK as u64;
        }
        assert_eq!(
            ev,
            vec![
                (0, true, 2, 60),
                (0, true, 1, 36),
                (0, true, 9, 36),
                (BEAT / 4, false, 9, 36),
                (BEAT, true, 9, 36),
                (BEAT + BEAT / 4, false, 9, 36),
            ],
            "the bass's 36 sounds on through the kicks"
        );
        assert_eq!(p.sounding(), 2);
        // Replaced mid-note: each sounding note ends on its channel.
        p.begin_block();
        p.replace(clip(5, vec![note(0.0, 1.0, 70)], 4.0, false), 3);
        let mut offs: Vec<(u32, bool, u8, u8)> =
            p.events().0.iter().map(|e| (e.timing, e.on, e.channel, e.key)).collect();
        offs.sort();
        assert_eq!(offs, vec![(3, false, 1, 36), (3, false, 2, 60)]);
        assert_eq!(p.sounding(), 0);
    }
}
