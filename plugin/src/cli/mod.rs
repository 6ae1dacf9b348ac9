//! Files and offline rendering, shared by the `sema-live` command line and the editor's
//! Open/Save/Export (run on the thread that calls them, never the audio thread).
//!
//! - [`session`]: session files (`.sema.toml`: code, settings, channel data).
//! - [`render`]: the offline renderer: runs a session's JS, then plays bars through the
//!   same realtime engine as the plugin.
//! - [`midi_file`]: Standard MIDI Files (export of sent notes, reading them back).

pub mod midi_file;
pub mod render;
pub mod session;
