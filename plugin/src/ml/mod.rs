//! Magenta models (MusicRNN, MusicVAE, MidiMe) run with tract on a background worker.
//!
//! Grouped as magenta.js groups them:
//! - [`core`]: checkpoints, NoteSequence and converters, the LSTM nets, checkpoint URLs.
//! - [`music_rnn`]: MusicRNN (melody RNNs, including the attention RNN).
//! - [`music_vae`]: MusicVAE and MidiMe.
//! - [`worker`]: the background thread that owns models; the API the JS runtime uses.
//! - [`layers`]: the TensorFlow.js Layers API's models (dense, dropout), losses,
//!   optimizers and the training thread behind `tf.sequential` / `model.fit`.
//! - [`error`]: [`ModelError`], what every fallible model operation returns.
//! - `cli`: `sema-live model ...`.
//! - [`shared`]: one copy per process of each loaded checkpoint, shared by instances.
//! - [`random_checkpoint`]: random-weight checkpoints in the magenta.js format (`sema-live
//!   model random-checkpoint`, the parity test, unit tests and benches).

pub(crate) mod cli;
pub(crate) mod core;
pub(crate) mod error;
pub mod layers;
pub mod music_rnn;
pub mod music_vae;
pub mod random_checkpoint;
pub(crate) mod shared;
pub mod studio;
pub(crate) mod worker;

pub use core::checkpoint::Storage;
pub use core::chords::{type_names as chord_type_names, Chord};
pub use core::drums::DEFAULT_DRUM_PITCH_CLASSES;
pub use core::note_seq::{
    piano_phase, quantize_note_sequence, Note, NoteSequence, QuantizationInfo, PIANO_PHASE,
};
pub use core::resolve::{default_bundled_dir, default_cache_dir};
pub use core::scale::{Scale, ScaleKind};
pub use error::{ModelError, ModelErrorKind};
pub use worker::WorkerConfig;
