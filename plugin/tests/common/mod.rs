//! Helpers shared by the integration tests that compare note sequences.

use serde_json::Value;
use sema_live::ml::note_seq::NoteSequence;

/// Notes of a JSON NoteSequence (as magenta.js returns it) as (pitch, start, end) steps.
pub fn notes_of(v: &Value) -> Vec<(i64, i64, i64)> {
    v["notes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["pitch"].as_i64().unwrap_or(-1),
                        n["quantizedStartStep"].as_i64().unwrap_or(0),
                        n["quantizedEndStep"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The same for a sequence Sema Live produced.
pub fn rust_notes(ns: &NoteSequence) -> Vec<(i64, i64, i64)> {
    ns.notes
        .iter()
        .map(|n| (n.pitch as i64, n.quantized_start_step.unwrap_or(0), n.quantized_end_step.unwrap_or(0)))
        .collect()
}
