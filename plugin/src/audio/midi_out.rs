//! Sample-accurate MIDI note output with note-off scheduling and "never a stuck note".
//!
//! The DSL's `midi` asks for a note with a length; this scheduler turns that into a
//! note-on now and a note-off later, remembers what is held, and can release everything
//! at a given sample (transport stop, code swap, reset). All storage is allocated up
//! front; nothing here allocates on the audio thread.

use crate::audio::patch::{FixedQueue, NoteRequest};

/// Number of MIDI channels and keys tracked.
const CHANNELS: usize = 16;
const KEYS: usize = 128;
/// Marks a key that is not held.
const NOT_HELD: u64 = u64::MAX;

/// One outgoing MIDI event, timed within the current block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MidiEvent {
    /// Sample offset within the block.
    pub timing: u32,
    /// `true` for note-on, `false` for note-off.
    pub on: bool,
    /// MIDI channel 0..=15.
    pub channel: u8,
    /// MIDI key 0..=127.
    pub key: u8,
    /// Velocity 0..=1 (note-offs use 0).
    pub velocity: f32,
}

/// Tracks held notes and produces each block's note events.
pub struct NoteScheduler {
    /// Absolute sample time at which each (channel, key) note ends; `NOT_HELD` if off.
    off_at: Vec<u64>,
    /// Number of held notes (to skip scans when nothing is held).
    held: usize,
    /// Absolute sample time of the current block's first sample.
    now: u64,
    /// Length of the current block.
    len: u32,
    /// The events of the current block (sorted by `finish_block`).
    events: FixedQueue<MidiEvent>,
}

impl NoteScheduler {
    /// `capacity` bounds the events per block; extra note-ons are dropped (never their
    /// note-offs, see `note_on`).
    pub fn new(capacity: usize) -> Self {
        Self {
            off_at: vec![NOT_HELD; CHANNELS * KEYS],
            held: 0,
            now: 0,
            len: 0,
            events: FixedQueue::with_capacity(capacity.max(2 * CHANNELS * KEYS)),
        }
    }

    /// Starts a block of `len` samples.
    pub fn begin_block(&mut self, len: usize) {
        self.events.clear();
        self.len = len as u32;
    }

    /// Largest number of events one block can hold.
    pub fn capacity(&self) -> usize {
        self.events.capacity()
    }

    /// Number of notes held right now.
    #[cfg(test)]
    pub fn held_count(&self) -> usize {
        self.held
    }

    /// Plays `note` at `offset` for `length_samples` samples. Re-triggering a held key
    /// ends the old note first.
    pub fn note_on(&mut self, offset: u32, note: NoteRequest, length_samples: f64) {
        if note.velocity <= 0.0 || !note.velocity.is_finite() {
            return;
        }
        let channel = note.channel.min(15);
        let key = note.pitch.min(127);
        let slot = channel as usize * KEYS + key as usize;
        let offset = offset.min(self.len.saturating_sub(1));
        // Keep room for every possible note-off so a full queue can never strand a note.
        if self.events.len() + self.held + 2 > self.events.capacity() {
            return;
        }
        if self.off_at[slot] != NOT_HELD {
            self.events.push(MidiEvent { timing: offset, on: false, channel, key, velocity: 0.0 });
            self.held -= 1;
        }
        self.events.push(MidiEvent {
            timing: offset,
            on: true,
            channel,
            key,
            velocity: note.velocity.min(1.0),
        });
        let length = if length_samples.is_finite() { length_samples.max(1.0) } else { 1.0 };
        self.off_at[slot] = self.now + offset as u64 + length.round().max(1.0) as u64;
        self.held += 1;
    }

    /// Releases every held note at `offset` within the current block.
    pub fn release_all(&mut self, offset: u32) {
        if self.held == 0 {
            return;
        }
        let offset = offset.min(self.len.saturating_sub(1));
        for (slot, off) in self.off_at.iter_mut().enumerate() {
            if *off != NOT_HELD {
                *off = NOT_HELD;
                self.events.push(MidiEvent {
                    timing: offset,
                    on: false,
                    channel: (slot / KEYS) as u8,
                    key: (slot % KEYS) as u8,
                    velocity: 0.0,
                });
            }
        }
        self.held = 0;
    }

    /// Emits the note-offs that fall inside this block, sorts the block's events by time
    /// (note-offs first on ties) and advances time. Returns the events.
    pub fn finish_block(&mut self) -> &[MidiEvent] {
        let end = self.now + self.len as u64;
        if self.held > 0 {
            for (slot, off) in self.off_at.iter_mut().enumerate() {
                if *off < end {
                    let timing = off.saturating_sub(self.now) as u32;
                    *off = NOT_HELD;
                    self.held -= 1;
                    self.events.push(MidiEvent {
                        timing,
                        on: false,
                        channel: (slot / KEYS) as u8,
                        key: (slot % KEYS) as u8,
                        velocity: 0.0,
                    });
                }
            }
        }
        self.now = end;
        sort_events(self.events.as_mut_slice());
        self.events.as_slice()
    }
}

/// Sorts a block's events by time, note-offs before note-ons at the same sample (so a
/// retriggered key ends before it starts again). `sort_unstable_by` never allocates; the
/// key is total, so the order is stable anyway.
pub fn sort_events(events: &mut [MidiEvent]) {
    events.sort_unstable_by(|a, b| {
        (a.timing, a.on, a.channel, a.key).cmp(&(b.timing, b.on, b.channel, b.key))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pitch: u8) -> NoteRequest {
        NoteRequest { pitch, velocity: 0.8, length_bars: 0.25, channel: 0 }
    }

    #[test]
    fn note_off_lands_at_the_right_sample_of_a_later_block() {
        let mut s = NoteScheduler::new(64);
        s.begin_block(512);
        s.note_on(100, req(60), 1000.0);
        let ev = s.finish_block().to_vec();
        assert_eq!(
            ev,
            vec![MidiEvent { timing: 100, on: true, channel: 0, key: 60, velocity: 0.8 }]
        );
        s.begin_block(512);
        let ev = s.finish_block().to_vec();
        // 100 + 1000 = 1100 = block 2 offset 76.
        assert!(ev.is_empty());
        s.begin_block(512);
        let ev = s.finish_block().to_vec();
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].timing, ev[0].on, ev[0].key), (76, false, 60));
        assert_eq!(s.held_count(), 0);
    }

    #[test]
    fn retrigger_ends_the_held_note_first() {
        let mut s = NoteScheduler::new(64);
        s.begin_block(64);
        s.note_on(0, req(64), 10_000.0);
        s.note_on(10, req(64), 10_000.0);
        let ev = s.finish_block().to_vec();
        assert_eq!(
            ev.iter().map(|e| (e.timing, e.on)).collect::<Vec<_>>(),
            vec![(0, true), (10, false), (10, true)]
        );
        assert_eq!(s.held_count(), 1);
    }

    #[test]
    fn release_all_leaves_nothing_held() {
        let mut s = NoteScheduler::new(64);
        s.begin_block(64);
        for k in 60..70 {
            s.note_on(0, req(k), 1e9);
        }
        s.finish_block();
        s.begin_block(64);
        s.release_all(5);
        let ev = s.finish_block().to_vec();
        assert_eq!(ev.len(), 10);
        assert!(ev.iter().all(|e| !e.on && e.timing == 5));
        assert_eq!(s.held_count(), 0);
    }

    #[test]
    fn a_full_queue_drops_note_ons_but_never_note_offs() {
        let mut s = NoteScheduler::new(0);
        let cap = s.events.capacity();
        s.begin_block(64);
        for ch in 0..16u8 {
            for k in 0..128u8 {
                s.note_on(
                    0,
                    NoteRequest { pitch: k, velocity: 1.0, length_bars: 1.0, channel: ch },
                    1e9,
                );
            }
        }
        let n = s.held_count();
        assert!(n > 1000 && n <= cap / 2, "held {n}");
        s.finish_block();
        s.begin_block(64);
        s.release_all(0);
        let offs = s.finish_block().iter().filter(|e| !e.on).count();
        assert_eq!(offs, n);
    }

    #[test]
    fn zero_velocity_plays_nothing() {
        let mut s = NoteScheduler::new(8);
        s.begin_block(8);
        s.note_on(0, NoteRequest { velocity: 0.0, ..req(60) }, 10.0);
        assert!(s.finish_block().is_empty());
    }
}
