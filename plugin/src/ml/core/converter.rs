//! MelodyConverter: NoteSequence <-> melody classes, both directions in one place, as
//! magenta.js `MelodyConverter` / `Melody` do it.
//!
//! Classes: 0 = NO_EVENT (hold or silence), 1 = NOTE_OFF, 2 + (pitch - minPitch) = onset.

use crate::ml::core::checkpoint::ConverterSpec;
use crate::ml::core::note_seq::{Note, NoteSequence, QuantizationInfo, Tempo, DEFAULT_QPM};
use crate::ml::error::{ModelError, ModelErrorKind};

/// Class of "nothing happens at this step".
pub const NO_EVENT: usize = 0;
/// Class of "the sounding note stops here".
pub const NOTE_OFF: usize = 1;
/// Class of the lowest pitch's onset.
pub const FIRST_PITCH: usize = 2;
/// Longest sequence a converter handles (a fixed `numSteps` or `totalQuantizedSteps`).
pub const MAX_SEQUENCE_STEPS: usize = 1_000_000;

/// Monophonic melody encoding with a pitch range.
#[derive(Clone, Debug, PartialEq)]
pub struct MelodyConverter {
    /// Lowest representable pitch.
    pub min_pitch: i32,
    /// Highest representable pitch.
    pub max_pitch: i32,
    /// Fixed sequence length (MusicVAE); None uses the sequence's total steps.
    pub num_steps: Option<usize>,
    /// Keep only the highest of simultaneous onsets (true) or refuse them (false).
    pub ignore_polyphony: bool,
}

impl MelodyConverter {
    /// A converter for `min_pitch..=max_pitch`.
    pub fn new(
        min_pitch: i32,
        max_pitch: i32,
        num_steps: Option<usize>,
    ) -> Result<Self, ModelError> {
        if min_pitch > max_pitch || min_pitch < 0 || max_pitch > 127 {
            return Err(ModelError::bad_checkpoint(format!(
                "MelodyConverter: invalid pitch range {min_pitch}..{max_pitch}"
            )));
        }
        // A corrupt config must not make every conversion allocate without bound.
        if let Some(n) = num_steps.filter(|&n| n > MAX_SEQUENCE_STEPS) {
            return Err(ModelError::bad_checkpoint(format!(
                "MelodyConverter: numSteps {n} is too large (at most {MAX_SEQUENCE_STEPS})"
            )));
        }
        Ok(MelodyConverter { min_pitch, max_pitch, num_steps, ignore_polyphony: true })
    }

    /// Builds the converter a checkpoint's `config.json` describes.
    pub fn from_spec(spec: &ConverterSpec) -> Result<Self, ModelError> {
        if spec.kind != "MelodyConverter" {
            return Err(ModelError::unsupported(format!(
                "unsupported dataConverter {:?} (only MelodyConverter melody models are supported)",
                spec.kind
            )));
        }
        let a = &spec.args;
        let (Some(lo), Some(hi)) = (a.min_pitch, a.max_pitch) else {
            return Err(ModelError::bad_checkpoint(
                "MelodyConverter: config needs minPitch and maxPitch",
            ));
        };
        let mut c = Self::new(lo, hi, a.num_steps)?;
        c.ignore_polyphony = a.ignore_polyphony.unwrap_or(true);
        Ok(c)
    }

    /// Number of classes (`maxPitch - minPitch + 1 + 2`).
    pub fn depth(&self) -> usize {
        (self.max_pitch - self.min_pitch + 1) as usize + FIRST_PITCH
    }

    /// Melody classes of a quantized sequence (`Melody.fromNoteSequence`): notes sorted
    /// by start, ties by pitch descending; a second onset at the same step is skipped (or
    /// an error without `ignore_polyphony`); onset and NOTE_OFF written in that order so
    /// later notes overwrite earlier writes; steps outside the length are dropped.
    pub fn to_events(&self, ns: &NoteSequence) -> Result<Vec<usize>, ModelError> {
        if !ns.is_quantized() {
            return Err(ModelError::new(
                ModelErrorKind::NotQuantized,
                "MelodyConverter: the NoteSequence is not quantized",
            ));
        }
        let len = match self.num_steps {
            Some(n) if n > 0 => n,
            _ => {
                let t = ns.total_quantized_steps.unwrap_or(0);
                if !(0..=MAX_SEQUENCE_STEPS as i64).contains(&t) {
                    return Err(ModelError::bad_input(format!(
                        "MelodyConverter: invalid totalQuantizedSteps {t}"
                    )));
                }
                t as usize
            }
        };
        let mut notes: Vec<&Note> = ns.notes.iter().collect();
        let start = |n: &Note| n.quantized_start_step.unwrap_or(0);
        // Stable sort as JS Array.prototype.sort.
        notes.sort_by(|a, b| start(a).cmp(&start(b)).then(b.pitch.cmp(&a.pitch)));
        let mut events = vec![NO_EVENT; len];
        let set = |events: &mut Vec<usize>, step: i64, v: usize| {
            if step >= 0 && (step as usize) < len {
                events[step as usize] = v;
            }
        };
        let mut last_start: Option<i64> = None;
        for n in notes {
            let s = start(n);
            if last_start == Some(s) {
                if self.ignore_polyphony {
                    continue;
                }
                return Err(ModelError::bad_input(format!(
                    "NoteSequence is not monophonic (two notes start at step {s})"
                )));
            }
            if n.pitch < self.min_pitch || n.pitch > self.max_pitch {
                return Err(ModelError::bad_input(format!(
                    "NoteSequence has a pitch outside of the valid range {}..{}: {}",
                    self.min_pitch, self.max_pitch, n.pitch
                )));
            }
            set(&mut events, s, (n.pitch - self.min_pitch) as usize + FIRST_PITCH);
            set(&mut events, n.quantized_end_step.unwrap_or(0), NOTE_OFF);
            last_start = Some(s);
        }
        Ok(events)
    }

    /// Quantized NoteSequence of melody classes (`Melody.toNoteSequence`): an onset or
    /// NOTE_OFF closes the open note; a note still open at the end lasts to the end.
    pub fn to_note_sequence(
        &self,
        events: &[usize],
        steps_per_quarter: u32,
        qpm: Option<f64>,
    ) -> NoteSequence {
        let mut notes = Vec::new();
        let mut open: Option<Note> = None;
        for (s, &e) in events.iter().enumerate() {
            match e {
                NO_EVENT => {}
                NOTE_OFF => {
                    if let Some(mut n) = open.take() {
                        n.quantized_end_step = Some(s as i64);
                        notes.push(n);
                    }
                }
                k => {
                    if let Some(mut n) = open.take() {
                        n.quantized_end_step = Some(s as i64);
                        notes.push(n);
                    }
                    open = Some(Note {
                        pitch: (k - FIRST_PITCH) as i32 + self.min_pitch,
                        quantized_start_step: Some(s as i64),
                        ..Default::default()
                    });
                }
            }
        }
        if let Some(mut n) = open {
            n.quantized_end_step = Some(events.len() as i64);
            notes.push(n);
        }
        NoteSequence {
            notes,
            total_quantized_steps: Some(events.len() as i64),
            quantization_info: Some(QuantizationInfo { steps_per_quarter }),
            tempos: vec![Tempo { time: 0.0, qpm: qpm.unwrap_or(DEFAULT_QPM) }],
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::note_seq::quantize_note_sequence;

    fn qnote(pitch: i32, s: i64, e: i64) -> Note {
        Note {
            pitch,
            quantized_start_step: Some(s),
            quantized_end_step: Some(e),
            ..Default::default()
        }
    }

    fn qseq(notes: Vec<Note>, total: i64) -> NoteSequence {
        NoteSequence {
            notes,
            total_quantized_steps: Some(total),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
            ..Default::default()
        }
    }

    #[test]
    fn piano_phase_events_match_reference() {
        let ns = crate::ml::core::note_seq::piano_phase();
        let q = quantize_note_sequence(&ns, 4).unwrap();
        let c = MelodyConverter::new(48, 83, None).unwrap();
        assert_eq!(c.depth(), 38);
        let ev = c.to_events(&q).unwrap();
        assert_eq!(ev.len(), 96);
        assert_eq!(&ev[..9], &[27, 0, 0, 0, 29, 0, 0, 0, 34]);
        assert_eq!(ev[44], 36);
        assert_eq!(ev[48], NOTE_OFF);
        assert!(ev[49..].iter().all(|&e| e == 0));
    }

    #[test]
    fn round_trip_monophonic_melody() {
        let c = MelodyConverter::new(21, 108, Some(32)).unwrap();
        let ns =
            qseq(vec![qnote(60, 0, 4), qnote(62, 4, 6), qnote(64, 8, 12), qnote(65, 12, 32)], 32);
        let ev = c.to_events(&ns).unwrap();
        let back = c.to_note_sequence(&ev, 4, None);
        assert_eq!(back.notes, ns.notes);
        assert_eq!(back.total_quantized_steps, Some(32));
        assert_eq!(c.to_events(&back).unwrap(), ev);
    }

    #[test]
    fn events_to_notes_and_back() {
        let c = MelodyConverter::new(48, 83, None).unwrap();
        let ev = vec![2, 0, 2, 2, 1, 0, 37, 0];
        let ns = c.to_note_sequence(&ev, 4, Some(90.0));
        let got: Vec<(i32, i64, i64)> = ns
            .notes
            .iter()
            .map(|n| (n.pitch, n.quantized_start_step.unwrap(), n.quantized_end_step.unwrap()))
            .collect();
        assert_eq!(got, vec![(48, 0, 2), (48, 2, 3), (48, 3, 4), (83, 6, 8)]);
        assert_eq!(ns.tempos[0].qpm, 90.0);
        assert_eq!(c.to_events(&ns).unwrap(), ev);
    }

    #[test]
    fn polyphony_overlaps_and_range() {
        let mut c = MelodyConverter::new(48, 83, None).unwrap();
        // Same start: highest pitch wins; later note replaces an earlier NOTE_OFF.
        let ns =
            qseq(vec![qnote(60, 0, 4), qnote(64, 0, 2), qnote(62, 4, 8), qnote(70, 6, 20)], 10);
        let ev = c.to_events(&ns).unwrap();
        assert_eq!(ev, vec![18, 0, 1, 0, 16, 0, 24, 0, 1, 0]);
        c.ignore_polyphony = false;
        let e = c.to_events(&ns).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("monophonic"), "{e}");
        let out = qseq(vec![qnote(30, 0, 1)], 4);
        let e = c.to_events(&out).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("outside"), "{e}");
        let mut unq = ns.clone();
        unq.quantization_info = None;
        assert_eq!(c.to_events(&unq).err().map(|e| e.kind()), Some(ModelErrorKind::NotQuantized));
        assert_eq!(
            MelodyConverter::new(80, 20, None).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadCheckpoint)
        );
        assert_eq!(
            MelodyConverter::new(48, 83, Some(usize::MAX)).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadCheckpoint)
        );
    }
}
