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
    /// MIDI channel 0..=15 of the notes it sends.
    pub channel: u8,
    /// Plays again from its start after `length_beats` (auditioning on the host's loop).
    pub looping: bool,
}
