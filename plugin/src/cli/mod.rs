//! Files and offline rendering, shared by the `sema-live` command line and the editor's
//! Open/Save/Export (run on the thread that calls them, never the audio thread).
//!
//! - [`session`]: session files (`.sema.toml`: code, settings, channel data).
//! - [`render`]: the offline renderer: plays bars through the same realtime engine as the
//!   plugin, with the session's JS running in step ([`lockstep`]) and a MIDI file as the
//!   host's MIDI input ([`midi_input`]).
//! - [`midi_file`]: Standard MIDI Files (export of sent notes, reading them back).

mod command;
pub(crate) mod lockstep;
pub(crate) mod midi_file;
pub(crate) mod midi_input;
pub(crate) mod render;
pub(crate) mod session;
mod wav_out;

pub use command::main;
pub use midi_file::decode_notes;
pub use render::ProgramRender;
pub use session::Session;
