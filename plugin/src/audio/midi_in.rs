//! MIDI input: what the host sends to the instrument, on its way to the DSL (this block),
//! to the JS thread and the editor (stamped with musical time), and clips of notes the
//! control side asks the engine to play at a bar (call-and-response answers, variations).
//!
//! Everything here is plain data, `Copy` where it crosses the audio thread by value; the
//! queues carrying it are preallocated ring buffers, so the audio thread never allocates
//! or waits for it.

/// Largest number of input events one block keeps. More are dropped and counted
/// (see [`crate::control::status::Status::midi_in_dropped`]).
pub const MAX_EVENTS_PER_BLOCK: usize = 1024;

/// What kind of MIDI input an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidiInKind {
    /// `key` is the note, `value` the velocity 0..=1. A note-on with velocity 0 arrives
    /// as a [`MidiInKind::NoteOff`].
    NoteOn,
    /// `key` is the note, `value` the release velocity 0..=1.
    NoteOff,
    /// A control change: `key` is the controller number 0..=127, `value` 0..=1.
    Cc,
    /// Pitch bend: `value` -1..=1, 0 at rest (`key` unused, 0).
    PitchBend,
    /// Channel pressure (aftertouch): `value` 0..=1 (`key` unused, 0).
    ChannelPressure,
    /// Polyphonic key pressure: `key` is the note, `value` 0..=1.
    PolyPressure,
}

/// Where a note came from: played into the plugin by the host, or played by a
/// [`Clip`] the engine is playing (an answer, a variation being auditioned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MidiSource {
    #[default]
    Host,
    Clip,
}

/// One MIDI input event within the current block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MidiIn {
    /// Sample offset within the block.
    pub timing: u32,
    pub kind: MidiInKind,
    /// MIDI channel 0..=15.
    pub channel: u8,
    /// Note or controller number 0..=127 (0 where unused).
    pub key: u8,
    /// See [`MidiInKind`] for the range of each kind.
    pub value: f32,
    pub source: MidiSource,
}

/// A [`MidiIn`] as it leaves the audio thread: stamped with the musical time of its
/// sample, for the JS thread (callbacks, the phrase recorder) and the editor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StampedMidiIn {
    pub event: MidiIn,
    /// Bar index + phase within the bar at the event's sample (0.0 = song start).
    pub bars: f64,
    /// Position in quarter-note beats from the song start.
    pub beats: f64,
    /// Tempo (quarter notes per minute) and beats per bar (quarter notes) at that sample.
    pub bpm: f64,
    pub beats_per_bar: f64,
    /// Whether the transport was playing.
    pub playing: bool,
}

/// The JS thread's end of the audio thread's MIDI-input ring buffer.
pub type MidiInReceiver = rtrb::Consumer<StampedMidiIn>;

/// A note of a [`Clip`], timed in quarter-note beats from the clip's start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipNote {
    pub start_beats: f64,
    pub end_beats: f64,
    /// MIDI note 0..=127.
    pub pitch: u8,
    /// Velocity 0..=1 (0 plays nothing).
    pub velocity: f32,
    /// MIDI channel 0..=15 of this note; None: the clip's (a Studio trio plays melody,
    /// bass and drums on channels of their own).
    pub channel: Option<u8>,
}

/// Notes the engine plays from the first sample of bar `start_bar`: as MIDI out (which
/// a DAW records) and into the live code's MIDI-input functions, as if they were played
/// (`MidiSource::Clip`). Built off the audio thread; a new clip replaces the playing one
/// (its sounding notes end) and the old one goes back as garbage.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Bar index (0 = song start) at whose first sample the clip starts.
    pub start_bar: i64,
    /// Notes sorted by `start_beats`.
    pub notes: Vec<ClipNote>,
    /// Length in quarter-note beats (the clip ends there, or loops).
    pub length_beats: f64,
    /// MIDI channel 0..=15 of the notes it sends (those without a channel of their own).
    pub channel: u8,
    /// Plays again from its start after `length_beats` (auditioning on the host's loop).
    pub looping: bool,
}

/// Controller numbers that end every held note of their channel (MIDI "all sound off"
/// and "all notes off"). A host's note-off or choke for any key (CLAP's wildcard key)
/// arrives as controller 123.
pub const CC_ALL_SOUND_OFF: u8 = 120;
pub const CC_ALL_NOTES_OFF: u8 = 123;

/// What the MIDI input amounts to at one sample: the notes held, the last note played,
/// controllers, pitch bend and pressure. The engine keeps one, as it is at the start of
/// each sub-block it renders ([`MidiInView::state`]); the DSL's MIDI functions copy it and
/// apply the sub-block's events as they reach them, so every function sees the same state
/// at the same sample. Plain data (`Copy`), about 1.3 KB.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MidiInState {
    /// Bit `key` of `held[channel]` is set while that note is held.
    held: [u128; 16],
    /// Number of set bits in `held`.
    held_count: u32,
    /// Velocity (0..=1) of the last note-on of each key while that key is held, else 0.
    velocity: [f32; 128],
    /// Pitch (MIDI number) and velocity of the last note-on; 0 before any.
    pub last_note: u8,
    pub last_velocity: f32,
    /// Controllers 0..=127, 0..=1, all channels merged (last write wins).
    pub cc: [f32; 128],
    /// Pitch bend -1..=1 (0 at rest) and channel pressure 0..=1, channels merged.
    pub bend: f32,
    pub pressure: f32,
    /// Note-ons seen since the engine started (wrapping): a change marks a new note.
    pub note_ons: u64,
}

impl Default for MidiInState {
    fn default() -> Self {
        Self::new()
    }
}

impl MidiInState {
    /// Nothing held, nothing played, controllers, bend and pressure at 0.
    pub const fn new() -> Self {
        Self {
            held: [0; 16],
            held_count: 0,
            velocity: [0.0; 128],
            last_note: 0,
            last_velocity: 0.0,
            cc: [0.0; 128],
            bend: 0.0,
            pressure: 0.0,
            note_ons: 0,
        }
    }

    /// Applies one event. Out-of-range keys and channels are clamped, non-finite values
    /// ignored: whatever arrives, the state stays consistent (a note-on for a key already
    /// held counts once; a note-off for a key not held changes nothing).
    pub fn apply(&mut self, e: &MidiIn) {
        let ch = e.channel.min(15) as usize;
        let key = e.key.min(127);
        let bit = 1u128 << key;
        let value = if e.value.is_finite() { e.value } else { return };
        match e.kind {
            MidiInKind::NoteOn if value > 0.0 => {
                if self.held[ch] & bit == 0 {
                    self.held[ch] |= bit;
                    self.held_count += 1;
                }
                let v = value.min(1.0);
                self.velocity[key as usize] = v;
                self.last_note = key;
                self.last_velocity = v;
                self.note_ons = self.note_ons.wrapping_add(1);
            }
            // A note-on with velocity 0 is a note-off (running status from hardware).
            MidiInKind::NoteOn | MidiInKind::NoteOff => self.release(ch, bit),
            MidiInKind::Cc => {
                self.cc[key as usize] = value.clamp(0.0, 1.0);
                if key == CC_ALL_NOTES_OFF || key == CC_ALL_SOUND_OFF {
                    self.release(ch, self.held[ch]);
                }
            }
            MidiInKind::PitchBend => self.bend = value.clamp(-1.0, 1.0),
            MidiInKind::ChannelPressure => self.pressure = value.clamp(0.0, 1.0),
            MidiInKind::PolyPressure => {}
        }
    }

    /// Releases the notes of `bits` on channel `ch`.
    fn release(&mut self, ch: usize, bits: u128) {
        let ended = self.held[ch] & bits;
        if ended == 0 {
            return;
        }
        self.held[ch] &= !ended;
        self.held_count -= ended.count_ones();
        // A key's velocity stays while another channel still holds it.
        let still: u128 = self.held.iter().fold(0, |a, h| a | h);
        let mut gone = ended & !still;
        while gone != 0 {
            let k = gone.trailing_zeros() as usize;
            self.velocity[k] = 0.0;
            gone &= gone - 1;
        }
    }

    /// Forgets every held note (the host will not send their note-offs: deactivation).
    pub fn release_all(&mut self) {
        self.held = [0; 16];
        self.held_count = 0;
        self.velocity = [0.0; 128];
    }

    /// Number of notes held (each channel's keys counted once).
    pub fn held_count(&self) -> u32 {
        self.held_count
    }

    /// Whether `key` is held on `channel`.
    pub fn is_held(&self, channel: u8, key: u8) -> bool {
        self.held[channel.min(15) as usize] & (1u128 << key.min(127)) != 0
    }

    /// Velocity of `key` while held on any channel, else 0.
    pub fn velocity(&self, key: u8) -> f32 {
        self.velocity[key.min(127) as usize]
    }
}

/// The state every [`MidiInView`] starts from when there is no MIDI input at all.
pub static NO_MIDI_IN: MidiInState = MidiInState::new();

/// What a compiled patch sees of the MIDI input while rendering one sub-block: the state
/// at its first sample and its events (host and clip, merged), sorted by `timing`, which
/// is relative to the sub-block's first sample.
#[derive(Clone, Copy, Debug)]
pub struct MidiInView<'a> {
    pub state: &'a MidiInState,
    pub events: &'a [MidiIn],
}

impl MidiInView<'_> {
    /// No input: nothing held, no events.
    pub fn none() -> MidiInView<'static> {
        MidiInView { state: &NO_MIDI_IN, events: &[] }
    }
}

/// Converts one of nice-plug's note events into MIDI input for the engine, calling `push`
/// for each resulting event (none for the kinds the DSL does not read; up to 16 for a
/// note-off or choke of every key on every channel). Note-ons with velocity 0 and chokes
/// become note-offs; a wildcard key on a note-off or choke becomes controller 123 ("all
/// notes off") on its channel, a wildcard key elsewhere is dropped; a wildcard channel
/// is channel 0 (all channels for "all notes off"). Pitch bend is mapped from nice-plug's
/// 0..1 (0.5 at rest) to -1..1. Non-finite values are dropped.
pub fn from_note_event<S>(event: &nice_plug::prelude::NoteEvent<S>, mut push: impl FnMut(MidiIn)) {
    use nice_plug::midi::{Channel, Key};
    use nice_plug::prelude::NoteEvent;
    let note = |timing: u32, kind, channel: Channel, key: u8, value: f32| MidiIn {
        timing,
        kind,
        channel: channel.number().unwrap_or(0).min(15),
        key,
        value,
        source: MidiSource::Host,
    };
    let all_off = |timing: u32, channel: Channel, push: &mut dyn FnMut(MidiIn)| {
        let channels = match channel.number() {
            Some(c) => c.min(15)..c.min(15) + 1,
            None => 0..16,
        };
        for c in channels {
            push(MidiIn {
                timing,
                kind: MidiInKind::Cc,
                channel: c,
                key: CC_ALL_NOTES_OFF,
                value: 0.0,
                source: MidiSource::Host,
            });
        }
    };
    let e = match *event {
        NoteEvent::NoteOn { timing, channel, key, velocity, .. } => match key {
            Key::Number(k) if k <= 127 => {
                let kind = if velocity > 0.0 { MidiInKind::NoteOn } else { MidiInKind::NoteOff };
                note(timing, kind, channel, k, velocity.clamp(0.0, 1.0))
            }
            _ => return,
        },
        NoteEvent::NoteOff { timing, channel, key, velocity, .. } => match key {
            Key::Number(k) if k <= 127 => {
                note(timing, MidiInKind::NoteOff, channel, k, velocity.clamp(0.0, 1.0))
            }
            _ => return all_off(timing, channel, &mut push),
        },
        NoteEvent::Choke { timing, channel, key, .. } => match key {
            Key::Number(k) if k <= 127 => note(timing, MidiInKind::NoteOff, channel, k, 0.0),
            _ => return all_off(timing, channel, &mut push),
        },
        NoteEvent::PolyPressure { timing, channel, key: Key::Number(k), pressure, .. }
            if k <= 127 =>
        {
            note(timing, MidiInKind::PolyPressure, channel, k, pressure.clamp(0.0, 1.0))
        }
        NoteEvent::MidiCC { timing, channel, cc, value } if cc <= 127 => {
            note(timing, MidiInKind::Cc, Channel::Number(channel), cc, value.clamp(0.0, 1.0))
        }
        NoteEvent::MidiPitchBend { timing, channel, value } => note(
            timing,
            MidiInKind::PitchBend,
            Channel::Number(channel),
            0,
            (value * 2.0 - 1.0).clamp(-1.0, 1.0),
        ),
        NoteEvent::MidiChannelPressure { timing, channel, pressure } => note(
            timing,
            MidiInKind::ChannelPressure,
            Channel::Number(channel),
            0,
            pressure.clamp(0.0, 1.0),
        ),
        _ => return,
    };
    // `clamp` passes NaN through: such an event carries nothing usable.
    if e.value.is_finite() {
        push(e);
    }
}

/// A block's MIDI input as the plugin glue captures it from the host: a buffer sized off
/// the audio thread; what does not fit is dropped and counted.
pub struct MidiCapture {
    events: Vec<MidiIn>,
    /// Events received / dropped for lack of room since the last [`MidiCapture::clear`].
    pub received: u64,
    pub dropped: u64,
}

impl Default for MidiCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl MidiCapture {
    /// A capture buffer of [`MAX_EVENTS_PER_BLOCK`] events (allocates: call off the audio
    /// thread).
    pub fn new() -> Self {
        Self { events: Vec::with_capacity(MAX_EVENTS_PER_BLOCK), received: 0, dropped: 0 }
    }

    /// Starts a new block.
    pub fn clear(&mut self) {
        self.events.clear();
        self.received = 0;
        self.dropped = 0;
    }

    /// Keeps `e` if there is room, else counts it as dropped. Never allocates.
    pub fn push(&mut self, e: MidiIn) {
        self.received += 1;
        if self.events.len() < self.events.capacity() {
            self.events.push(e);
        } else {
            self.dropped += 1;
        }
    }

    /// Captures one host event (see [`from_note_event`]).
    pub fn capture<S>(&mut self, event: &nice_plug::prelude::NoteEvent<S>) {
        from_note_event(event, |e| self.push(e));
    }

    pub fn events(&self) -> &[MidiIn] {
        &self.events
    }

    /// Splits the block's events at sample `k`, for a block rendered in two parts: the
    /// events before `k` move to the front (in their order), the rest follow with `k`
    /// taken off their timing. Returns how many come before `k`. Never allocates.
    pub fn split_at(&mut self, k: u32) -> usize {
        let mut front = 0;
        for i in 0..self.events.len() {
            if self.events[i].timing < k {
                self.events[front..=i].rotate_right(1);
                front += 1;
            }
        }
        for e in &mut self.events[front..] {
            e.timing -= k;
        }
        front
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nice_plug::midi::{Channel, Key, VoiceID};
    use nice_plug::prelude::NoteEvent;

    fn ev(kind: MidiInKind, channel: u8, key: u8, value: f32) -> MidiIn {
        MidiIn { timing: 0, kind, channel, key, value, source: MidiSource::Host }
    }

    #[test]
    fn held_notes_count_once_and_release_sanely() {
        let mut s = MidiInState::new();
        assert_eq!((s.held_count(), s.last_note, s.last_velocity), (0, 0, 0.0));
        // Note-ons without note-offs: the same key on the same channel is one held note.
        for _ in 0..5 {
            s.apply(&ev(MidiInKind::NoteOn, 0, 60, 0.5));
        }
        s.apply(&ev(MidiInKind::NoteOn, 1, 60, 0.25));
        s.apply(&ev(MidiInKind::NoteOn, 0, 67, 1.5));
        assert_eq!(s.held_count(), 3);
        assert_eq!(s.note_ons, 7);
        assert_eq!((s.last_note, s.last_velocity), (67, 1.0), "velocity clamped");
        // A note-off for a key not held changes nothing; velocity 0 is a note-off.
        s.apply(&ev(MidiInKind::NoteOff, 0, 61, 0.0));
        assert_eq!(s.held_count(), 3);
        s.apply(&ev(MidiInKind::NoteOn, 0, 60, 0.0));
        assert_eq!(s.held_count(), 2);
        assert!(!s.is_held(0, 60) && s.is_held(1, 60));
        assert_eq!(s.velocity(60), 0.25, "still held on channel 1");
        // Out-of-range keys and channels clamp instead of panicking.
        s.apply(&ev(MidiInKind::NoteOn, 200, 255, 0.5));
        assert!(s.is_held(15, 127));
        // "All notes off" ends what one channel holds.
        s.apply(&ev(MidiInKind::Cc, 0, CC_ALL_NOTES_OFF, 0.0));
        assert_eq!(s.held_count(), 2);
        s.apply(&ev(MidiInKind::Cc, 1, CC_ALL_NOTES_OFF, 0.0));
        s.apply(&ev(MidiInKind::Cc, 15, CC_ALL_SOUND_OFF, 0.0));
        assert_eq!(s.held_count(), 0);
        assert_eq!(s.velocity(60), 0.0);
        // The last note stays the last note after its release.
        assert_eq!(s.last_note, 127);
        // Controllers, bend, pressure; NaN is ignored.
        s.apply(&ev(MidiInKind::Cc, 3, 7, 0.75));
        s.apply(&ev(MidiInKind::Cc, 3, 7, f32::NAN));
        s.apply(&ev(MidiInKind::PitchBend, 0, 0, -3.0));
        s.apply(&ev(MidiInKind::ChannelPressure, 0, 0, 0.5));
        assert_eq!((s.cc[7], s.bend, s.pressure), (0.75, -1.0, 0.5));
        s.apply(&ev(MidiInKind::NoteOn, 0, 1, 1.0));
        s.release_all();
        assert_eq!(s.held_count(), 0);
    }

    fn convert(e: NoteEvent<()>) -> Vec<MidiIn> {
        let mut out = Vec::new();
        from_note_event(&e, |m| out.push(m));
        out
    }

    #[test]
    fn host_events_convert_to_midi_input() {
        let w = VoiceID::Wildcard;
        let on = |key, velocity| NoteEvent::<()>::NoteOn {
            timing: 5,
            voice_id: w,
            channel: Channel::Number(2),
            key,
            velocity,
        };
        assert_eq!(
            convert(on(Key::Number(64), 0.5)),
            vec![MidiIn {
                timing: 5,
                kind: MidiInKind::NoteOn,
                channel: 2,
                key: 64,
                value: 0.5,
                source: MidiSource::Host
            }]
        );
        assert_eq!(convert(on(Key::Number(64), 0.0))[0].kind, MidiInKind::NoteOff);
        assert!(convert(on(Key::Number(200), 0.5)).is_empty());
        assert!(convert(on(Key::Wildcard, 0.5)).is_empty());
        assert!(convert(on(Key::Number(64), f32::NAN)).is_empty());
        let choke = NoteEvent::<()>::Choke {
            timing: 1,
            voice_id: w,
            channel: Channel::Number(3),
            key: Key::Number(9),
        };
        assert_eq!(convert(choke)[0].kind, MidiInKind::NoteOff);
        // A note-off for every key: "all notes off" on the channel, or on all 16.
        let off = |channel| NoteEvent::<()>::NoteOff {
            timing: 1,
            voice_id: w,
            channel,
            key: Key::Wildcard,
            velocity: 0.0,
        };
        let one = convert(off(Channel::Number(4)));
        assert_eq!(
            (one.len(), one[0].kind, one[0].key, one[0].channel),
            (1, MidiInKind::Cc, 123, 4)
        );
        assert_eq!(convert(off(Channel::Wildcard)).len(), 16);
        let bend = convert(NoteEvent::<()>::MidiPitchBend { timing: 0, channel: 0, value: 0.5 });
        assert_eq!((bend[0].kind, bend[0].value), (MidiInKind::PitchBend, 0.0));
        let bend = convert(NoteEvent::<()>::MidiPitchBend { timing: 0, channel: 0, value: 0.0 });
        assert_eq!(bend[0].value, -1.0);
        let cc = convert(NoteEvent::<()>::MidiCC { timing: 9, channel: 1, cc: 74, value: 0.25 });
        assert_eq!((cc[0].kind, cc[0].key, cc[0].value), (MidiInKind::Cc, 74, 0.25));
        assert!(convert(NoteEvent::<()>::MidiCC { timing: 9, channel: 1, cc: 200, value: 0.25 })
            .is_empty());
        let at =
            convert(NoteEvent::<()>::MidiChannelPressure { timing: 0, channel: 0, pressure: 0.3 });
        assert_eq!(at[0].kind, MidiInKind::ChannelPressure);
        let pp = convert(NoteEvent::<()>::PolyPressure {
            timing: 0,
            voice_id: w,
            channel: Channel::Wildcard,
            key: Key::Number(60),
            pressure: 0.3,
        });
        assert_eq!((pp[0].kind, pp[0].channel), (MidiInKind::PolyPressure, 0));
        assert!(convert(NoteEvent::<()>::MidiProgramChange { timing: 0, channel: 0, program: 3 })
            .is_empty());
    }

    #[test]
    fn a_split_block_keeps_each_part_in_order() {
        let mut c = MidiCapture::new();
        let at = |timing: u32, key: u8| MidiIn { timing, key, ..ev(MidiInKind::NoteOn, 0, 0, 1.0) };
        for (t, k) in [(5, 1), (300, 2), (7, 3), (256, 4), (0, 5), (400, 6)] {
            c.push(at(t, k));
        }
        let n = c.split_at(256);
        assert_eq!(n, 3);
        let got: Vec<(u32, u8)> = c.events().iter().map(|e| (e.timing, e.key)).collect();
        assert_eq!(got, vec![(5, 1), (7, 3), (0, 5), (44, 2), (0, 4), (144, 6)]);
    }

    #[test]
    fn capture_keeps_a_block_and_counts_the_rest() {
        let mut c = MidiCapture::new();
        let e = NoteEvent::<()>::MidiCC { timing: 0, channel: 0, cc: 1, value: 0.5 };
        for _ in 0..MAX_EVENTS_PER_BLOCK + 10 {
            c.capture(&e);
        }
        assert_eq!(c.events().len(), MAX_EVENTS_PER_BLOCK);
        assert_eq!((c.received, c.dropped), (MAX_EVENTS_PER_BLOCK as u64 + 10, 10));
        c.clear();
        assert!(c.events().is_empty() && c.dropped == 0);
    }
}
