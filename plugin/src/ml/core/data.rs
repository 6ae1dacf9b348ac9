//! The data converters a checkpoint's `config.json` may name (magenta.js `core/data.ts`
//! `converterFromSpec`): one object per model that turns NoteSequences into the model's
//! input rows and its sampled labels back into NoteSequences.
//!
//! - `MelodyConverter`: melody classes ([`MelodyConverter`]).
//! - `DrumsConverter`: drum roll in (`classes + 1` columns), drum labels out (drums VAE).
//! - `DrumsOneHotConverter`: drum labels both ways (`drum_kit_rnn`).
//! - `TrioConverter`: melody, bass and drums side by side (`trio_4bar`): the input row is
//!   `[melody one-hot, bass one-hot, drums one-hot]`; the model decodes three label
//!   sequences (one decoder per part).
//!
//! - `GrooveConverter`: drum performances as hits, velocities and offsets, both ways
//!   (the GrooVAE models; [`GrooveConverter`]).
//!
//! Input rows are given as their set columns (every input of the categorical converters
//! is 0/1), which is what the LSTM stacks consume; a groove's rows are dense values
//! ([`GrooveConverter::to_tensor`]) and its outputs values rather than labels.

use crate::ml::core::checkpoint::{ConverterArgs, ConverterSpec};
use crate::ml::core::converter::{MelodyConverter, MAX_SEQUENCE_STEPS};
use crate::ml::core::drums::DrumsConverter;
use crate::ml::core::groove::GrooveConverter;
use crate::ml::core::note_seq::{Note, NoteSequence};
use crate::ml::error::{ModelError, ModelErrorKind};

/// Programs the trio reads as melody (inclusive).
const MEL_PROGRAMS: (i32, i32) = (0, 31);
/// Programs the trio reads as bass (inclusive); bass notes come out with the first.
const BASS_PROGRAMS: (i32, i32) = (32, 39);

/// A checkpoint's data converter.
#[derive(Clone, Debug, PartialEq)]
pub enum DataConverter {
    /// Monophonic melody.
    Melody(MelodyConverter),
    /// Drum roll in, drum labels out.
    DrumRoll(DrumsConverter),
    /// Drum labels in and out.
    DrumsOneHot(DrumsConverter),
    /// Melody, bass and drums.
    Trio(TrioConverter),
    /// Drum performances (hits, velocities, offsets) both ways.
    Groove(GrooveConverter),
}

/// Melody, bass and drums (magenta.js `TrioConverter`), all of `num_steps` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct TrioConverter {
    /// Melody part (programs 0..=31).
    pub melody: MelodyConverter,
    /// Bass part (programs 32..=39).
    pub bass: MelodyConverter,
    /// Drum part (notes marked `isDrum`), one-hot labels.
    pub drums: DrumsConverter,
}

fn melody_from_args(
    a: &ConverterArgs,
    num_steps: Option<usize>,
) -> Result<MelodyConverter, ModelError> {
    let (Some(lo), Some(hi)) = (a.min_pitch, a.max_pitch) else {
        return Err(ModelError::bad_checkpoint(
            "MelodyConverter: config needs minPitch and maxPitch",
        ));
    };
    let mut c = MelodyConverter::new(lo, hi, num_steps)?;
    c.ignore_polyphony = a.ignore_polyphony.unwrap_or(true);
    Ok(c)
}

impl DataConverter {
    /// Builds the converter a checkpoint's `config.json` describes.
    pub fn from_spec(spec: &ConverterSpec) -> Result<Self, ModelError> {
        let a = &spec.args;
        let at = |e: ModelError| e.context(format_args!("dataConverter {}", spec.kind));
        match spec.kind.as_str() {
            "MelodyConverter" => MelodyConverter::from_spec(spec).map(DataConverter::Melody),
            "DrumsConverter" => DrumsConverter::new(a.pitch_classes.clone(), a.num_steps)
                .map(DataConverter::DrumRoll)
                .map_err(at),
            "DrumsOneHotConverter" => DrumsConverter::new(a.pitch_classes.clone(), a.num_steps)
                .map(DataConverter::DrumsOneHot)
                .map_err(at),
            "TrioConverter" => {
                let n = a.num_steps.filter(|&n| n > 0).ok_or_else(|| {
                    at(ModelError::bad_checkpoint("TrioConverter needs numSteps"))
                })?;
                fn part<'a>(
                    p: &'a Option<Box<ConverterArgs>>,
                    name: &str,
                ) -> Result<&'a ConverterArgs, ModelError> {
                    p.as_deref().ok_or_else(|| {
                        ModelError::bad_checkpoint(format!("TrioConverter needs {name}"))
                    })
                }
                let melody = melody_from_args(part(&a.mel_args, "melArgs").map_err(at)?, Some(n))
                    .map_err(at)?;
                let bass = melody_from_args(part(&a.bass_args, "bassArgs").map_err(at)?, Some(n))
                    .map_err(at)?;
                let d = part(&a.drums_args, "drumsArgs").map_err(at)?;
                let drums = DrumsConverter::new(d.pitch_classes.clone(), Some(n)).map_err(at)?;
                Ok(DataConverter::Trio(TrioConverter { melody, bass, drums }))
            }
            "GrooveConverter" => {
                GrooveConverter::from_args(a).map(DataConverter::Groove).map_err(at)
            }
            other => Err(ModelError::unsupported(format!(
                "unsupported dataConverter {other:?} (supported: MelodyConverter, \
                 DrumsConverter, DrumsOneHotConverter, TrioConverter, GrooveConverter)"
            ))),
        }
    }

    /// The magenta.js class name.
    /// The melody converter, for a melody model (key constraints and pitch ranges apply
    /// to melodies only).
    pub fn melody(&self) -> Option<&MelodyConverter> {
        match self {
            DataConverter::Melody(m) => Some(m),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            DataConverter::Melody(_) => "MelodyConverter",
            DataConverter::DrumRoll(_) => "DrumsConverter",
            DataConverter::DrumsOneHot(_) => "DrumsOneHotConverter",
            DataConverter::Trio(_) => "TrioConverter",
            DataConverter::Groove(_) => "GrooveConverter",
        }
    }

    /// Fixed sequence length, if the converter has one.
    pub fn num_steps(&self) -> Option<usize> {
        match self {
            DataConverter::Melody(m) => m.num_steps,
            DataConverter::DrumRoll(d) | DataConverter::DrumsOneHot(d) => d.num_steps,
            DataConverter::Trio(t) => t.melody.num_steps,
            DataConverter::Groove(g) => Some(g.num_steps),
        }
    }

    /// Width of an input row.
    pub fn input_depth(&self) -> usize {
        match self {
            DataConverter::Melody(m) => m.depth(),
            DataConverter::DrumRoll(d) => d.roll_depth(),
            DataConverter::DrumsOneHot(d) => d.one_hot_depth(),
            DataConverter::Trio(t) => t.melody.depth() + t.bass.depth() + t.drums.one_hot_depth(),
            DataConverter::Groove(g) => g.depth(),
        }
    }

    /// Number of labels of each part the model samples (one part, or three for the trio).
    pub fn output_depths(&self) -> Vec<usize> {
        match self {
            DataConverter::Melody(m) => vec![m.depth()],
            DataConverter::DrumRoll(d) | DataConverter::DrumsOneHot(d) => vec![d.one_hot_depth()],
            DataConverter::Trio(t) => {
                vec![t.melody.depth(), t.bass.depth(), t.drums.one_hot_depth()]
            }
            DataConverter::Groove(g) => vec![g.depth()],
        }
    }

    /// The input rows of a quantized sequence: the set columns of each step.
    pub fn to_input(&self, ns: &NoteSequence) -> Result<Vec<Vec<usize>>, ModelError> {
        let one = |k: usize| vec![k];
        match self {
            DataConverter::Melody(m) => Ok(m.to_events(ns)?.into_iter().map(one).collect()),
            DataConverter::DrumRoll(d) => d.to_roll(ns),
            DataConverter::DrumsOneHot(d) => {
                Ok(d.to_labels(ns)?.into_iter().map(|k| k.into_iter().collect()).collect())
            }
            DataConverter::Trio(t) => t.to_input(ns),
            DataConverter::Groove(_) => Err(ModelError::engine(
                "GrooveConverter: a groove's input rows are dense (to_tensor)",
            )),
        }
    }

    /// A NoteSequence of sampled labels, one list per part (`output_depths`).
    pub fn to_note_sequence(
        &self,
        parts: &[Vec<usize>],
        steps_per_quarter: u32,
        qpm: Option<f64>,
    ) -> Result<NoteSequence, ModelError> {
        let expect = self.output_depths().len();
        if parts.len() != expect {
            return Err(ModelError::engine(format!(
                "{}: {} label lists given, {expect} expected",
                self.name(),
                parts.len()
            )));
        }
        Ok(match self {
            DataConverter::Melody(m) => m.to_note_sequence(&parts[0], steps_per_quarter, qpm),
            DataConverter::DrumRoll(d) | DataConverter::DrumsOneHot(d) => {
                d.to_note_sequence(&parts[0], steps_per_quarter, qpm)
            }
            DataConverter::Trio(t) => t.to_note_sequence(parts, steps_per_quarter, qpm),
            DataConverter::Groove(_) => {
                return Err(ModelError::engine(
                    "GrooveConverter: a groove is decoded to values, not labels",
                ))
            }
        })
    }
}

impl TrioConverter {
    /// `[melody, bass, drums]` input rows (`TrioConverter.toTensor`). Notes without a
    /// program count as program 0 and without `isDrum` as pitched (the protobuf defaults
    /// magenta.js sees on NoteSequence objects).
    pub fn to_input(&self, ns: &NoteSequence) -> Result<Vec<Vec<usize>>, ModelError> {
        if !ns.is_quantized() {
            return Err(ModelError::new(
                ModelErrorKind::NotQuantized,
                "TrioConverter: the NoteSequence is not quantized",
            ));
        }
        let part = |keep: &dyn Fn(&Note) -> bool| NoteSequence {
            notes: ns.notes.iter().filter(|n| keep(n)).cloned().collect(),
            ..ns.clone()
        };
        let in_range = |n: &Note, (lo, hi): (i32, i32)| {
            !n.is_drum.unwrap_or(false) && (lo..=hi).contains(&n.program.unwrap_or(0))
        };
        let mel = self
            .melody
            .to_events(&part(&|n| in_range(n, MEL_PROGRAMS)))
            .map_err(|e| e.context("trio melody"))?;
        let bass = self
            .bass
            .to_events(&part(&|n| in_range(n, BASS_PROGRAMS)))
            .map_err(|e| e.context("trio bass"))?;
        let drums = self
            .drums
            .to_labels(&part(&|n| n.is_drum.unwrap_or(false)))
            .map_err(|e| e.context("trio drums"))?;
        let (m, b) = (self.melody.depth(), self.bass.depth());
        let len = mel.len().min(MAX_SEQUENCE_STEPS);
        Ok((0..len)
            .map(|t| {
                let mut row = vec![mel[t], m + bass[t]];
                row.extend(drums[t].map(|k| m + b + k));
                row
            })
            .collect())
    }

    /// One sequence of the three parts (`TrioConverter.toNoteSequence`): melody notes
    /// (instrument 0, program 0), then bass (instrument 1, program 32), then drums
    /// (instrument 2).
    pub fn to_note_sequence(
        &self,
        parts: &[Vec<usize>],
        steps_per_quarter: u32,
        qpm: Option<f64>,
    ) -> NoteSequence {
        let mut ns = self.melody.to_note_sequence(&parts[0], steps_per_quarter, qpm);
        for n in &mut ns.notes {
            n.instrument = Some(0);
            n.program = Some(MEL_PROGRAMS.0);
        }
        let bass = self.bass.to_note_sequence(&parts[1], steps_per_quarter, qpm);
        ns.notes.extend(bass.notes.into_iter().map(|mut n| {
            n.instrument = Some(1);
            n.program = Some(BASS_PROGRAMS.0);
            n
        }));
        let drums = self.drums.to_note_sequence(&parts[2], steps_per_quarter, qpm);
        ns.notes.extend(drums.notes.into_iter().map(|mut n| {
            n.instrument = Some(2);
            n
        }));
        ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::note_seq::QuantizationInfo;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> ConverterSpec {
        serde_json::from_value(v).unwrap()
    }

    fn trio() -> DataConverter {
        DataConverter::from_spec(&spec(json!({"type": "TrioConverter", "args": {
            "numSteps": 8, "numSegments": 2,
            "melArgs": {"minPitch": 21, "maxPitch": 108},
            "bassArgs": {"minPitch": 33, "maxPitch": 56},
            "drumsArgs": {}}})))
        .unwrap()
    }

    fn note(pitch: i32, s: i64, e: i64, program: Option<i32>, drum: bool) -> Note {
        Note {
            pitch,
            quantized_start_step: Some(s),
            quantized_end_step: Some(e),
            program,
            is_drum: drum.then_some(true),
            ..Default::default()
        }
    }

    #[test]
    fn trio_rows_and_round_trip() {
        let c = trio();
        assert_eq!(c.input_depth(), 90 + 26 + 512);
        assert_eq!(c.output_depths(), vec![90, 26, 512]);
        let ns = NoteSequence {
            notes: vec![
                note(60, 0, 2, None, false),
                note(36, 0, 4, Some(33), false),
                note(36, 0, 1, None, true),
                note(38, 2, 3, Some(0), true),
                note(70, 4, 8, Some(90), false), // another instrument: ignored
            ],
            total_quantized_steps: Some(8),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
            ..Default::default()
        };
        let rows = c.to_input(&ns).unwrap();
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0], vec![60 - 21 + 2, 90 + 36 - 33 + 2, 116 + 1]);
        assert_eq!(rows[2], vec![1, 90, 116 + 2]);
        assert_eq!(rows[4], vec![0, 90 + 1, 116]);
        let parts: Vec<Vec<usize>> =
            (0..3).map(|p| rows.iter().map(|r| r[p] - [0, 90, 116][p]).collect()).collect();
        let back = c.to_note_sequence(&parts, 4, None).unwrap();
        let got: Vec<(i32, Option<i32>, Option<i32>)> =
            back.notes.iter().map(|n| (n.pitch, n.instrument, n.program)).collect();
        assert_eq!(
            got,
            vec![
                (60, Some(0), Some(0)),
                (36, Some(1), Some(32)),
                (36, Some(2), None),
                (38, Some(2), None)
            ]
        );
        assert_eq!(c.to_input(&back).unwrap(), rows);
        assert!(c.to_note_sequence(&parts[..2], 4, None).is_err());
    }

    #[test]
    fn specs_and_errors() {
        let d = DataConverter::from_spec(&spec(
            json!({"type": "DrumsConverter", "args": {"numSteps": 32}}),
        ))
        .unwrap();
        assert_eq!((d.input_depth(), d.output_depths(), d.num_steps()), (10, vec![512], Some(32)));
        let o =
            DataConverter::from_spec(&spec(json!({"type": "DrumsOneHotConverter", "args": {}})))
                .unwrap();
        assert_eq!((o.input_depth(), o.num_steps()), (512, None));
        // GrooVAE's converter needs numSteps; tap2drum_2bar's config reads.
        let e = DataConverter::from_spec(&spec(json!({"type": "GrooveConverter", "args": {}})))
            .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.message().contains("numSteps"), "{e}");
        let g = DataConverter::from_spec(&spec(json!({"type": "GrooveConverter",
            "args": {"numSteps": 32, "tapify": true}})))
        .unwrap();
        assert_eq!((g.input_depth(), g.output_depths(), g.num_steps()), (27, vec![27], Some(32)));
        let e =
            DataConverter::from_spec(&spec(json!({"type": "PerformanceConverter", "args": {}})))
                .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Unsupported, "{e}");
        let e = DataConverter::from_spec(&spec(
            json!({"type": "TrioConverter", "args": {"numSteps": 8}}),
        ))
        .unwrap_err();
        assert!(e.message().contains("melArgs"), "{e}");
    }
}
