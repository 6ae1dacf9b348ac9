//! The melody view: what the JS channels hold and which notes the plugin has sent, as a
//! small piano roll, plus the export of the last bars of sent notes as a `.mid` file.
//!
//! Data flow: the audio thread logs every MIDI event it sends as a
//! [`NoteRecord`](crate::control::status::NoteRecord) into a lock-free ring; the editor
//! drains the ring every frame into a [`NoteHistory`], which pairs note-ons with their
//! note-offs into [`SentNote`]s on the host's bar timeline. [`melody_view`] draws the
//! history and the channel arrays; [`export_last_bars`] turns a window of the history
//! into a Standard MIDI File through [`crate::cli::midi_file`].
//!
//! - [`history`]: the note history and the export (no egui).
//! - [`view`]: the widget.
//!
//! Runs on the editor's thread.

pub mod history;
pub mod view;

pub use history::{export_last_bars, NoteHistory};
pub use view::{melody_view, pitch_name};

/// Note events and histories for the tests of both halves.
#[cfg(test)]
mod testutil {
    use super::NoteHistory;
    use crate::control::status::NoteRecord;

    pub(super) fn ev(bars: f64, on: bool, channel: u8, key: u8) -> NoteRecord {
        NoteRecord { bars, bpm: 120.0, on, channel, key, velocity: 0.8 }
    }
    pub(super) fn on(bars: f64, channel: u8, key: u8) -> NoteRecord {
        ev(bars, true, channel, key)
    }
    pub(super) fn off(bars: f64, channel: u8, key: u8) -> NoteRecord {
        ev(bars, false, channel, key)
    }
    pub(super) fn history(events: &[NoteRecord]) -> NoteHistory {
        let mut h = NoteHistory::new();
        for &e in events {
            h.push(e);
        }
        h
    }
}
