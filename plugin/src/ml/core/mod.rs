//! What magenta.js keeps in `core`: checkpoints, NoteSequences and their converters, the
//! recurrent nets both model families are built from, and where checkpoints come from.
//!
//! - [`checkpoint`]: reads magenta.js checkpoint folders (manifest, shards, quantisation).
//! - [`note_seq`]: NoteSequence (magenta.js JSON shape) and quantisation.
//! - [`converter`]: MelodyConverter, NoteSequence <-> class indices.
//! - [`drums`]: the drum converters (drum roll, drum labels) and pitch classes.
//! - [`data`]: the data converter a `config.json` names (melody, drums, trio).
//! - [`chords`]: chord symbols and the chord encoder of chord-conditioned models.
//! - [`lstm`]: LSTM step graphs built for tract, optimised once and reused.
//! - [`resolve`]: checkpoint URL -> cache folder (download, or the bundled fallback).
//! - [`embedded`]: the bundled models compiled into the plugin.

pub(crate) mod checkpoint;
mod chord_table;
pub(crate) mod chords;
pub(crate) mod converter;
pub(crate) mod data;
pub(crate) mod drums;
pub(crate) mod embedded;
pub(crate) mod groove;
pub(crate) mod lstm;
pub(crate) mod note_seq;
pub(crate) mod resolve;
pub(crate) mod scale;
