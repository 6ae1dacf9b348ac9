//! NoteSequence, the exchange format of magenta.js, with the same JSON field names
//! (camelCase) so sequences pass unchanged between JS code, files and the models.
//!
//! Only the fields the models and the JS API use are kept; unknown fields in JSON are
//! ignored when reading.

use serde::{Deserialize, Serialize};

use crate::ml::error::ModelError;

/// The seed tutorial's "Piano Phase" primer (Steve Reich's figure, as MIDI pitches): the
/// default session's channel 1, the models' test primer, the benchmarks' melody.
pub const PIANO_PHASE: [u8; 12] = [73, 75, 80, 82, 83, 75, 73, 82, 80, 75, 83, 82];

/// The seed tutorial's "Piano Phase" primer, unquantized as the seed writes it: twelve
/// 0.5 s notes and `totalTime` 12 s (96 steps at 4 steps per quarter, 120 qpm).
pub fn piano_phase() -> NoteSequence {
    NoteSequence {
        notes: PIANO_PHASE
            .iter()
            .enumerate()
            .map(|(i, &p)| Note {
                pitch: p.into(),
                start_time: Some(0.5 * i as f64),
                end_time: Some(0.5 * (i + 1) as f64),
                ..Default::default()
            })
            .collect(),
        total_time: Some(12.0),
        ..Default::default()
    }
}
/// Tempo used when a sequence has none (magenta's `DEFAULT_QUARTERS_PER_MINUTE`).
pub const DEFAULT_QPM: f64 = 120.0;

/// One note, in seconds (`startTime`/`endTime`) and/or in quantized steps.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Note {
    /// MIDI pitch (0..=127).
    pub pitch: i32,
    /// MIDI velocity; absent in model output (magenta.js leaves it unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velocity: Option<i32>,
    /// Start in seconds, for unquantized sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    /// End in seconds, for unquantized sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    /// First step of the note, for quantized sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantized_start_step: Option<i64>,
    /// Step where the note ends (exclusive), for quantized sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantized_end_step: Option<i64>,
    /// MIDI program number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<i32>,
    /// Instrument (track) number; the trio model's parts are 0, 1 and 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instrument: Option<i32>,
    /// Whether the note is a drum hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_drum: Option<bool>,
}

/// Quantization grid of a quantized sequence.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct QuantizationInfo {
    /// Steps per quarter note (4 = sixteenth notes).
    pub steps_per_quarter: u32,
}

/// A tempo change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Tempo {
    /// Time of the change in seconds.
    pub time: f64,
    /// Quarter notes per minute.
    pub qpm: f64,
}

impl Default for Tempo {
    fn default() -> Self {
        Tempo { time: 0.0, qpm: DEFAULT_QPM }
    }
}

/// A time signature change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TimeSignature {
    /// Time of the change in seconds.
    pub time: f64,
    /// Beats per bar.
    pub numerator: u32,
    /// Beat unit.
    pub denominator: u32,
}

impl Default for TimeSignature {
    fn default() -> Self {
        TimeSignature { time: 0.0, numerator: 4, denominator: 4 }
    }
}

/// A sequence of notes, as magenta.js's `INoteSequence`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NoteSequence {
    /// The notes, in no particular order.
    pub notes: Vec<Note>,
    /// Length in seconds (unquantized sequences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_time: Option<f64>,
    /// Length in steps (quantized sequences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_quantized_steps: Option<i64>,
    /// Present (with `stepsPerQuarter > 0`) when the sequence is quantized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization_info: Option<QuantizationInfo>,
    /// Tempo changes; empty means 120 qpm.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tempos: Vec<Tempo>,
    /// Time signature changes; empty means 4/4.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub time_signatures: Vec<TimeSignature>,
}

impl NoteSequence {
    /// Steps per quarter when the sequence is (relatively) quantized.
    pub fn steps_per_quarter(&self) -> Option<u32> {
        self.quantization_info.as_ref().map(|q| q.steps_per_quarter).filter(|&s| s > 0)
    }

    /// Whether the sequence carries a quantization grid.
    pub fn is_quantized(&self) -> bool {
        self.steps_per_quarter().is_some()
    }

    /// The first tempo (quarter notes per minute), or 120 without a usable one.
    pub fn qpm(&self) -> f64 {
        self.tempos
            .first()
            .map(|t| t.qpm)
            .filter(|q| q.is_finite() && *q > 0.0)
            .unwrap_or(DEFAULT_QPM)
    }

    /// Parses a NoteSequence from JSON text, with a message that says what was wrong.
    pub fn from_json(text: &str) -> Result<NoteSequence, ModelError> {
        serde_json::from_str(text)
            .map_err(|e| ModelError::bad_input(format!("invalid NoteSequence JSON: {e}")))
    }
}

/// magenta's `quantizeToStep`: rounds half up (`QUANTIZE_CUTOFF` = 0.5).
fn quantize_to_step(seconds: f64, steps_per_second: f64) -> i64 {
    (seconds * steps_per_second + 0.5).floor() as i64
}

/// Quantizes a sequence to `steps_per_quarter` steps per quarter note, as magenta.js
/// `sequences.quantizeNoteSequence`: steps = floor(seconds * stepsPerSecond + 0.5),
/// zero-length notes get one step, the total grows to cover every note end.
/// Tempo or time-signature changes are refused, as magenta.js does.
pub fn quantize_note_sequence(
    ns: &NoteSequence,
    steps_per_quarter: u32,
) -> Result<NoteSequence, ModelError> {
    if steps_per_quarter == 0 {
        return Err(ModelError::bad_input("quantize: stepsPerQuarter must be > 0"));
    }
    let mut q = ns.clone();
    q.quantization_info = Some(QuantizationInfo { steps_per_quarter });

    if q.time_signatures.is_empty() {
        q.time_signatures.push(TimeSignature::default());
    } else {
        q.time_signatures.sort_by(|a, b| a.time.total_cmp(&b.time));
        let first = q.time_signatures[0].clone();
        if q.time_signatures
            .iter()
            .any(|t| t.numerator != first.numerator || t.denominator != first.denominator)
        {
            return Err(ModelError::bad_input(
                "quantize: time signature changes are not supported",
            ));
        }
    }

    if q.tempos.is_empty() {
        q.tempos.push(Tempo::default());
    } else {
        q.tempos.sort_by(|a, b| a.time.total_cmp(&b.time));
        let qpm = q.tempos[0].qpm;
        if q.tempos.iter().any(|t| t.qpm != qpm) {
            return Err(ModelError::bad_input("quantize: tempo changes are not supported"));
        }
    }
    let qpm = q.tempos[0].qpm;
    if !qpm.is_finite() || qpm <= 0.0 {
        return Err(ModelError::bad_input(format!("quantize: invalid tempo {qpm} qpm")));
    }
    let steps_per_second = steps_per_quarter as f64 * qpm / 60.0;

    let mut total = quantize_to_step(ns.total_time.unwrap_or(0.0), steps_per_second);
    for (i, note) in q.notes.iter_mut().enumerate() {
        let start = note.start_time.unwrap_or(0.0);
        let end = note.end_time.unwrap_or(0.0);
        if !start.is_finite() || !end.is_finite() {
            return Err(ModelError::bad_input(format!("quantize: note {i} has a non-finite time")));
        }
        let s = quantize_to_step(start, steps_per_second);
        let mut e = quantize_to_step(end, steps_per_second);
        if e == s {
            e += 1;
        }
        if s < 0 || e < 0 {
            return Err(ModelError::bad_input(format!("quantize: note {i} has a negative time")));
        }
        note.quantized_start_step = Some(s);
        note.quantized_end_step = Some(e);
        total = total.max(e);
    }
    q.total_quantized_steps = Some(total);
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::piano_phase;
    use crate::ml::error::ModelErrorKind;

    #[test]
    fn quantizes_piano_phase_like_magenta() {
        let q = quantize_note_sequence(&piano_phase(), 4).unwrap();
        assert_eq!(q.total_quantized_steps, Some(96));
        assert_eq!(q.notes[0].quantized_start_step, Some(0));
        assert_eq!(q.notes[0].quantized_end_step, Some(4));
        assert_eq!(q.notes[11].quantized_start_step, Some(44));
        assert_eq!(q.notes[11].quantized_end_step, Some(48));
        assert_eq!(q.steps_per_quarter(), Some(4));
    }

    #[test]
    fn zero_length_note_gets_one_step_and_extends_total() {
        let ns = NoteSequence {
            notes: vec![Note {
                pitch: 60,
                start_time: Some(1.0),
                end_time: Some(1.01),
                ..Default::default()
            }],
            total_time: Some(0.5),
            ..Default::default()
        };
        let q = quantize_note_sequence(&ns, 4).unwrap();
        assert_eq!(q.notes[0].quantized_start_step, Some(8));
        assert_eq!(q.notes[0].quantized_end_step, Some(9));
        assert_eq!(q.total_quantized_steps, Some(9));
    }

    #[test]
    fn refuses_tempo_changes_and_bad_input() {
        let mut ns = piano_phase();
        ns.tempos = vec![Tempo { time: 0.0, qpm: 120.0 }, Tempo { time: 1.0, qpm: 90.0 }];
        let e = quantize_note_sequence(&ns, 4).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("tempo"), "{e}");
        assert_eq!(
            quantize_note_sequence(&piano_phase(), 0).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadInput)
        );
    }

    #[test]
    fn json_uses_magenta_field_names() {
        let text = r#"{"notes":[{"pitch":60,"quantizedStartStep":0,"quantizedEndStep":2}],
            "totalQuantizedSteps":4,"quantizationInfo":{"stepsPerQuarter":4},"extra":1}"#;
        let ns = NoteSequence::from_json(text).unwrap();
        assert_eq!(ns.notes[0].quantized_end_step, Some(2));
        assert!(ns.is_quantized());
        let back = serde_json::to_string(&ns).unwrap();
        assert!(back.contains("\"quantizedStartStep\":0"));
        assert!(back.contains("\"stepsPerQuarter\":4"));
        assert_eq!(
            NoteSequence::from_json("{\"notes\": 3}").err().map(|e| e.kind()),
            Some(ModelErrorKind::BadInput)
        );
    }
}
