//! Magenta models (MusicRNN, MusicVAE, MidiMe) run with tract on a background worker.
//!
//! - `checkpoint`: reads magenta.js checkpoint folders (manifest, shards, quantisation).
//! - `note_seq`: NoteSequence (magenta.js JSON shape) and quantization.
//! - `converter`: MelodyConverter, NoteSequence <-> class indices.
//! - `lstm`: LSTM step graphs built for tract, optimised once and reused.
//! - `rnn`, `vae`, `midime`: the models.
//! - `resolve`: checkpoint URL -> cache folder (download or bundled fallback).
//! - `worker`: the background thread that owns models; the API the JS runtime uses.
//! - `cli`: `sema-live model ...`.
//! - `testutil`: random-weight checkpoints in the magenta.js format (tests, benches, parity).

pub mod attention;
pub mod checkpoint;
pub mod cli;
pub mod embedded;
pub mod converter;
pub mod lstm;
pub mod midime;
pub mod note_seq;
pub mod resolve;
pub mod rnn;
pub mod testutil;
pub mod vae;
pub mod worker;
