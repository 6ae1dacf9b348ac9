//! The audio thread: everything `process()` runs, and the contract a compiled patch
//! keeps with it. Nothing here allocates, locks (other than `try_lock`), does I/O or
//! waits; buffers are sized off the audio thread (`Engine::new`, `Engine::configure`).
//!
//! - [`engine`]: runs the patch in time with the host, swaps in new code (at once or at the
//!   next bar, crossfaded), applies JS channel data, hands replaced objects back.
//! - [`transport`]: the bar clock, following the host's position through its jitter.
//! - [`midi_in`]: MIDI input events (this block, stamped for JS), the input state the DSL
//!   reads, clips of notes to play.
//! - [`clip`]: plays a clip from its bar, as MIDI out and as MIDI input for the DSL.
//! - [`midi_out`]: sample-accurate note-on/off scheduling, never a stuck note.
//! - [`patch`]: the patch/queue contract (`Patch`, `BlockContext`, `ClockState`, the
//!   channel bank and fixed-capacity queues) the DSL's `Program` implements.
//! - [`denormals`]: flush-to-zero for the duration of `process()`.

pub(crate) mod clip;
pub(crate) mod denormals;
pub(crate) mod engine;
pub(crate) mod midi_in;
pub(crate) mod midi_out;
pub(crate) mod patch;
pub(crate) mod transport;

pub use midi_in::{MidiIn, MidiInKind, MidiInView, MidiSource, StampedMidiIn};
pub use patch::{
    BlockContext, ChannelBank, ClockRun, ClockState, FixedQueue, SampleBank, NUM_PARAMS,
};
