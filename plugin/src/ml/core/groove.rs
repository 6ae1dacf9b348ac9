//! `GrooveConverter` (magenta.js `core/data.ts`), the data converter of the GrooVAE
//! models (`groovae_2bar_humanize`, `tap2drum_*bar`, `groovae_4bar`): a drum performance
//! as, per step of a 16th-note grid and per drum class, a hit (0/1), a velocity (0..1)
//! and an offset (-1..1: twice the distance from the grid step, in steps).
//!
//! A tensor row is `[hits, velocities, offsets]` of every class at one step (27 values
//! for the 9 standard classes). `humanize` leaves the input's velocities and offsets at 0
//! (the model puts them in); `tapify` moves every input note to one class (3) with
//! velocity 0, keeping its timing (the model turns a tapped rhythm into drums).
//!
//! `splitInstruments` (one model step per class) is refused: no hosted model uses it,
//! and magenta.js decodes only `numSteps` of its `numSteps × classes` steps.

use std::collections::HashMap;

use crate::ml::core::checkpoint::ConverterArgs;
use crate::ml::core::drums::pitch_classes_of;
use crate::ml::core::note_seq::{quantize_note_sequence, Note, NoteSequence, Tempo, DEFAULT_QPM};
use crate::ml::error::ModelError;

/// Values per drum per step: hit, velocity, offset.
const PER_DRUM: usize = 3;
/// The class every note of a tapified input goes to (magenta.js `TAPIFY_CHANNEL`).
const TAPIFY_CLASS: usize = 3;
/// The longest sequence accepted, in steps.
const MAX_STEPS: usize = crate::ml::core::converter::MAX_SEQUENCE_STEPS;

/// magenta.js `GrooveConverter`.
#[derive(Clone, Debug, PartialEq)]
pub struct GrooveConverter {
    pub pitch_classes: Vec<Vec<i32>>,
    pitch_to_class: HashMap<i32, usize>,
    /// Grid steps per sequence.
    pub num_steps: usize,
    pub steps_per_quarter: u32,
    pub humanize: bool,
    pub tapify: bool,
}

/// A drum hit of a step: its velocity (0 when absent, as a protobuf default) and start.
#[derive(Clone, Copy)]
struct Hit {
    velocity: i32,
    start_time: Option<f64>,
    step: i64,
}

impl GrooveConverter {
    /// The converter `args` describe (`numSteps` is required: GrooVAE is a MusicVAE).
    pub fn from_args(a: &ConverterArgs) -> Result<Self, ModelError> {
        let num_steps = a
            .num_steps
            .filter(|&n| n > 0)
            .ok_or_else(|| ModelError::bad_checkpoint("GrooveConverter needs numSteps"))?;
        let (pitch_classes, pitch_to_class) =
            pitch_classes_of("GrooveConverter", a.pitch_classes.clone())?;
        let tapify = a.tapify.unwrap_or(false);
        if tapify && pitch_classes.len() <= TAPIFY_CLASS {
            return Err(ModelError::bad_checkpoint(format!(
                "GrooveConverter: tapify needs at least {} pitch classes",
                TAPIFY_CLASS + 1
            )));
        }
        if a.split_instruments == Some(true) {
            return Err(ModelError::unsupported(
                "GrooveConverter: splitInstruments is not supported (magenta.js decodes only \
                 numSteps of such a model's numSteps × classes steps)",
            ));
        }
        if num_steps > MAX_STEPS {
            return Err(ModelError::bad_checkpoint(format!(
                "GrooveConverter: {num_steps} steps is too many (at most {MAX_STEPS})"
            )));
        }
        let steps_per_quarter = match a.steps_per_quarter {
            None => 4,
            Some(s) if (1..=96).contains(&s) => s,
            Some(s) => {
                return Err(ModelError::bad_checkpoint(format!(
                    "GrooveConverter: stepsPerQuarter {s} (1..=96 supported)"
                )))
            }
        };
        Ok(GrooveConverter {
            pitch_classes,
            pitch_to_class,
            num_steps,
            steps_per_quarter,
            humanize: a.humanize.unwrap_or(false),
            tapify,
        })
    }

    /// Drum classes.
    pub fn classes(&self) -> usize {
        self.pitch_classes.len()
    }

    /// Values per tensor row: `3 * classes`.
    pub fn depth(&self) -> usize {
        PER_DRUM * self.classes()
    }

    /// The tensor of a sequence, `[numSteps, depth]` row-major (`toTensor`). An unquantized
    /// sequence is quantized first; offsets come from the notes' start times (0 without).
    pub fn to_tensor(&self, ns: &NoteSequence) -> Result<Vec<f32>, ModelError> {
        let what = "GrooveConverter";
        let quantized;
        let qns = if ns.is_quantized() {
            ns
        } else {
            quantized =
                quantize_note_sequence(ns, self.steps_per_quarter).map_err(|e| e.context(what))?;
            &quantized
        };
        let qpm = qns.tempos.first().map(|t| t.qpm).unwrap_or(DEFAULT_QPM);
        if !qpm.is_finite() || qpm <= 0.0 {
            return Err(ModelError::bad_input(format!("{what}: invalid tempo {qpm} qpm")));
        }
        let step_len = 60.0 / qpm / self.steps_per_quarter as f64;
        let (n, classes) = (self.num_steps, self.classes());
        // Per step and class, the loudest hit (the first of equals).
        let mut hits: Vec<Option<Hit>> = vec![None; n * classes];
        for note in &qns.notes {
            let class = if self.tapify {
                TAPIFY_CLASS
            } else {
                match self.pitch_to_class.get(&note.pitch) {
                    Some(&c) => c,
                    None => continue,
                }
            };
            let Some(s) = note.quantized_start_step else { continue };
            if s < 0 {
                return Err(ModelError::bad_input(format!(
                    "{what}: a note starts at step {s}, before the sequence"
                )));
            }
            if s as usize >= n {
                return Err(ModelError::bad_input(format!(
                    "{what}: the model takes at most {n} steps ({:.2} s at {qpm} qpm); a note \
                     starts at step {s}",
                    n as f64 * step_len
                )));
            }
            let velocity = note.velocity.unwrap_or(0);
            let slot = &mut hits[s as usize * classes + class];
            if slot.is_none_or(|h| h.velocity < velocity) {
                *slot = Some(Hit { velocity, start_time: note.start_time, step: s });
            }
        }
        let offset = |h: &Hit| match h.start_time {
            None => 0.0,
            Some(t) => 2.0 * (h.step as f64 * step_len - t) / step_len,
        };
        let depth = self.depth();
        let mut out = vec![0f32; n * depth];
        for s in 0..n {
            for d in 0..classes {
                let Some(h) = hits[s * classes + d] else { continue };
                let vel =
                    if self.humanize || self.tapify { 0.0 } else { h.velocity as f64 / 127.0 };
                let off = if self.humanize { 0.0 } else { offset(&h) };
                let at = s * depth + d;
                out[at] = 1.0;
                out[at + classes] = vel as f32;
                out[at + 2 * classes] = off as f32;
            }
        }
        Ok(out)
    }

    /// The notes of decoded rows (`[rows, depth]`: hits 0/1, velocities 0..1, offsets
    /// -1..1), at `qpm` (`toNoteSequence`): a drum hit where the hit value is above 0.5,
    /// its velocity and timing from the other two. The sequence is not quantized (its
    /// notes are off the grid).
    pub fn to_note_sequence(&self, t: &[f32], qpm: f64) -> Result<NoteSequence, ModelError> {
        let (classes, depth) = (self.classes(), self.depth());
        if !t.len().is_multiple_of(depth) {
            return Err(ModelError::engine(format!(
                "GrooveConverter: {} values are not whole steps of {classes} drums",
                t.len()
            )));
        }
        let steps = t.len() / depth;
        let step_len = 60.0 / qpm / self.steps_per_quarter as f64;
        let mut notes = Vec::new();
        for (s, step) in t.chunks(depth).enumerate() {
            for (d, pitches) in self.pitch_classes.iter().enumerate() {
                let (hit, vel, off) = (step[d], step[classes + d], step[2 * classes + d]);
                if hit <= 0.5 {
                    continue;
                }
                // Math.round (halves up), clipped to MIDI velocities.
                let velocity = (vel as f64 * 127.0 + 0.5).floor().clamp(0.0, 127.0) as i32;
                let offset = (off as f64 / 2.0).clamp(-0.5, 0.5);
                let start = (s as f64 - offset) * step_len;
                notes.push(Note {
                    pitch: pitches[0],
                    velocity: Some(velocity),
                    start_time: Some(start),
                    end_time: Some(start + step_len),
                    is_drum: Some(true),
                    ..Default::default()
                });
            }
        }
        Ok(NoteSequence {
            notes,
            total_time: Some(steps as f64 * step_len),
            tempos: vec![Tempo { time: 0.0, qpm }],
            ..Default::default()
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ml::core::note_seq::QuantizationInfo;
    use crate::ml::error::ModelErrorKind;

    fn conv(f: impl FnOnce(&mut ConverterArgs)) -> GrooveConverter {
        let mut a = ConverterArgs { num_steps: Some(4), ..Default::default() };
        f(&mut a);
        GrooveConverter::from_args(&a).unwrap()
    }

    /// A drum hit of `pitch` at `start` seconds (a tenth of a second long).
    pub(crate) fn note(pitch: i32, velocity: i32, start: f64) -> Note {
        Note {
            pitch,
            velocity: Some(velocity),
            start_time: Some(start),
            end_time: Some(start + 0.1),
            is_drum: Some(true),
            ..Default::default()
        }
    }

    /// A bar of 120 qpm: steps of 0.125 s. A kick late by a fifth of a step, two snares
    /// at step 1 (the louder kept), a closed hi-hat early at step 2, a pitch in no class.
    fn performance() -> NoteSequence {
        NoteSequence {
            notes: vec![
                note(36, 100, 0.025),
                note(38, 40, 0.125),
                note(40, 90, 0.13),
                note(42, 64, 0.24),
                note(99, 127, 0.375),
            ],
            total_time: Some(0.5),
            ..Default::default()
        }
    }

    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() < 1e-6
    }

    #[test]
    fn performances_become_hits_velocities_and_offsets() {
        let c = conv(|_| {});
        assert_eq!((c.classes(), c.depth(), c.num_steps), (9, 27, 4));
        let t = c.to_tensor(&performance()).unwrap();
        assert_eq!(t.len(), 4 * 27);
        let at = |s: usize, part: usize, d: usize| t[s * 27 + part * 9 + d];
        // Kick at step 0: velocity 100/127, late by 0.2 step → offset -0.4.
        assert_eq!(at(0, 0, 0), 1.0);
        assert!(close(at(0, 1, 0), 100.0 / 127.0) && close(at(0, 2, 0), -0.4));
        // The louder snare (pitch 40, velocity 90, 0.005 s late) wins step 1.
        assert!(at(1, 0, 1) == 1.0 && close(at(1, 1, 1), 90.0 / 127.0));
        assert!(close(at(1, 2, 1), -0.08));
        // The hi-hat 0.01 s early at step 2.
        assert!(at(2, 0, 2) == 1.0 && close(at(2, 2, 2), 0.16));
        // Nothing else: 3 hits in all, nothing at step 3 (pitch 99 is in no class).
        assert_eq!(t.iter().filter(|&&v| v == 1.0).count(), 3);
        assert!(t[3 * 27..].iter().all(|&v| v == 0.0));

        // humanize: hits only. tapify: every note on class 3, timing kept, velocity 0.
        let h = conv(|a| a.humanize = Some(true)).to_tensor(&performance()).unwrap();
        assert!(h[9..27].iter().all(|&v| v == 0.0) && h[0] == 1.0);
        let tap = conv(|a| a.tapify = Some(true)).to_tensor(&performance()).unwrap();
        let hits: Vec<usize> = (0..4).filter(|s| tap[s * 27 + 3] == 1.0).collect();
        assert_eq!(hits, vec![0, 1, 2, 3]);
        assert!(tap.iter().enumerate().all(|(i, &v)| i % 27 % 9 == 3 || v == 0.0));
        assert!(close(tap[18 + 3], -0.4) && tap[9 + 3] == 0.0);

        // Too long for the model: a located error.
        let mut long = performance();
        long.notes.push(note(36, 80, 0.5));
        let e = c.to_tensor(&long).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput);
        assert!(e.message().contains("at most 4 steps"), "{e}");
    }

    #[test]
    fn tensors_become_drum_performances() {
        let c = conv(|_| {});
        let mut t = vec![0f32; 2 * 27];
        // Step 0: kick (velocity 0.5 → 64, offset -0.8 → 0.4 of a step late).
        t[0] = 1.0;
        t[9] = 0.5;
        t[18] = -0.8;
        // Step 1: ride below the threshold (nothing), crash exactly on the grid.
        t[27 + 8] = 0.5;
        t[27 + 7] = 0.9;
        t[27 + 9 + 7] = 1.2;
        let ns = c.to_note_sequence(&t, 120.0).unwrap();
        assert_eq!(ns.notes.len(), 2);
        let (k, cr) = (&ns.notes[0], &ns.notes[1]);
        assert_eq!((k.pitch, k.velocity, k.is_drum), (36, Some(64), Some(true)));
        assert!((k.start_time.unwrap() - 0.05).abs() < 1e-9);
        assert!((k.end_time.unwrap() - 0.175).abs() < 1e-9);
        assert_eq!((cr.pitch, cr.velocity), (49, Some(127)));
        assert!((cr.start_time.unwrap() - 0.125).abs() < 1e-12);
        assert_eq!(ns.total_time, Some(0.25));
        assert!(!ns.is_quantized());
        assert!(c.to_note_sequence(&t[..26], 120.0).is_err());

        // Round trip through the tensor (timing and velocity kept).
        let back = c.to_tensor(&ns).unwrap();
        assert!(close(back[0], 1.0) && close(back[9], 64.0 / 127.0) && close(back[18], -0.8));
        // A quantized input without start times has offsets of 0.
        let q = NoteSequence {
            notes: vec![Note {
                pitch: 38,
                velocity: Some(127),
                quantized_start_step: Some(2),
                quantized_end_step: Some(3),
                ..Default::default()
            }],
            total_quantized_steps: Some(4),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
            ..Default::default()
        };
        let qt = c.to_tensor(&q).unwrap();
        assert!(qt[2 * 27 + 1] == 1.0 && qt[2 * 27 + 10] == 1.0 && qt[2 * 27 + 19] == 0.0);
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |f: fn(&mut ConverterArgs)| {
            let mut a = ConverterArgs { num_steps: Some(32), ..Default::default() };
            f(&mut a);
            GrooveConverter::from_args(&a).unwrap_err().kind()
        };
        assert_eq!(bad(|a| a.num_steps = None), ModelErrorKind::BadCheckpoint);
        assert_eq!(bad(|a| a.pitch_classes = Some(vec![])), ModelErrorKind::BadCheckpoint);
        assert_eq!(
            bad(|a| {
                a.pitch_classes = Some(vec![vec![36], vec![38]]);
                a.tapify = Some(true)
            }),
            ModelErrorKind::BadCheckpoint
        );
        assert_eq!(bad(|a| a.steps_per_quarter = Some(0)), ModelErrorKind::BadCheckpoint);
        assert_eq!(bad(|a| a.split_instruments = Some(true)), ModelErrorKind::Unsupported);
    }
}
