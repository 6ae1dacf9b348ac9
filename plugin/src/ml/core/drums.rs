//! Drum encodings of magenta.js (`DrumsConverter`, `DrumsOneHotConverter` in
//! `core/data.ts`): drum pitches grouped into classes (kick, snare, closed hi-hat, ...),
//! each step one label whose bit `c` says class `c` is hit (9 classes → 512 labels).
//!
//! Both directions follow magenta.js to the letter, including what it does with odd
//! input, so that the models see what they see in magenta.js:
//! - one-hot labels (`DrumsOneHotConverter`, the input of `drum_kit_rnn` and of the trio
//!   model's drum part): each note adds `2^class` to its step's label, so two notes of the
//!   same class at one step add up to the next class's bit; a pitch in no class makes the
//!   step's label NaN, which becomes label 0 (silence); a label past the last class is an
//!   all-zero input row; a note starting after the end lengthens the sequence with
//!   silent steps (the hit itself is lost: it is added to a hole, NaN).
//! - the drum roll (`DrumsConverter`, the encoder input of the drums MusicVAE): one column
//!   per class plus a last "no hit" column. magenta.js writes the last column through a
//!   flat index one row early (`set(1, step, -1)`), so row `r`'s last column is 1 when
//!   step `r + 1` has no hit and `r` is not the last step; that is reproduced.
//! - labels to notes: one 1-step note per set bit, at the first pitch of its class,
//!   marked `isDrum`.

use std::collections::HashMap;

use crate::ml::core::note_seq::{Note, NoteSequence, QuantizationInfo, Tempo, DEFAULT_QPM};
use crate::ml::error::{ModelError, ModelErrorKind};

/// magenta.js `DEFAULT_DRUM_PITCH_CLASSES`: kick, snare, closed hi-hat, open hi-hat, low,
/// mid and high tom, crash, ride. The first pitch of a class is the one generated.
pub const DEFAULT_DRUM_PITCH_CLASSES: [&[i32]; 9] = [
    &[36, 35],
    &[38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85],
    &[42, 44, 54, 68, 69, 70, 71, 73, 78, 80],
    &[46, 67, 72, 74, 79, 81],
    &[45, 29, 41, 61, 64, 84],
    &[48, 47, 60, 63, 77, 86, 87],
    &[50, 30, 43, 62, 76, 83],
    &[49, 55, 57, 58],
    &[51, 52, 53, 59, 82],
];

/// Most drum classes a converter may have (labels are `2^classes` wide).
pub const MAX_CLASSES: usize = 16;

/// Longest sequence a drum converter handles.
const MAX_STEPS: usize = crate::ml::core::converter::MAX_SEQUENCE_STEPS;

/// Drum pitch classes and a sequence length.
/// The drum class of each pitch.
pub(crate) type PitchToClass = HashMap<i32, usize>;

/// A drum converter's pitch classes (`classes`, or the 9 standard ones) after checking
/// them (1 to [`MAX_CLASSES`], none empty; errors name the converter `what`), and the
/// class of each pitch (a pitch in two classes goes to the later one, as in magenta.js).
pub(crate) fn pitch_classes_of(
    what: &str,
    classes: Option<Vec<Vec<i32>>>,
) -> Result<(Vec<Vec<i32>>, PitchToClass), ModelError> {
    let classes =
        classes.unwrap_or_else(|| DEFAULT_DRUM_PITCH_CLASSES.iter().map(|c| c.to_vec()).collect());
    if classes.is_empty() || classes.len() > MAX_CLASSES {
        return Err(ModelError::bad_checkpoint(format!(
            "{what}: {} pitch classes (1..{MAX_CLASSES} supported)",
            classes.len()
        )));
    }
    if let Some(i) = classes.iter().position(|c| c.is_empty()) {
        return Err(ModelError::bad_checkpoint(format!("{what}: pitch class {i} has no pitches")));
    }
    let mut pitch_to_class = HashMap::new();
    for (c, pitches) in classes.iter().enumerate() {
        for &p in pitches {
            pitch_to_class.insert(p, c);
        }
    }
    Ok((classes, pitch_to_class))
}

#[derive(Clone, Debug, PartialEq)]
pub struct DrumsConverter {
    /// Pitches of each class; the first is the one generated.
    pub pitch_classes: Vec<Vec<i32>>,
    /// Class of each pitch (a pitch listed twice belongs to its last class, as in JS).
    pitch_to_class: HashMap<i32, usize>,
    /// Fixed length in steps (MusicVAE); None uses the sequence's total steps.
    pub num_steps: Option<usize>,
}

impl DrumsConverter {
    /// A converter for `pitch_classes` (None: the default 9 classes).
    pub fn new(
        pitch_classes: Option<Vec<Vec<i32>>>,
        num_steps: Option<usize>,
    ) -> Result<Self, ModelError> {
        let (pitch_classes, pitch_to_class) = pitch_classes_of("DrumsConverter", pitch_classes)?;
        if let Some(n) = num_steps.filter(|&n| n > MAX_STEPS) {
            return Err(ModelError::bad_checkpoint(format!(
                "DrumsConverter: numSteps {n} is too large (at most {MAX_STEPS})"
            )));
        }
        Ok(DrumsConverter { pitch_classes, pitch_to_class, num_steps })
    }

    /// Number of drum classes.
    pub fn classes(&self) -> usize {
        self.pitch_classes.len()
    }

    /// Number of labels (`2^classes`): the one-hot depth.
    pub fn one_hot_depth(&self) -> usize {
        1 << self.classes()
    }

    /// Columns of the drum roll (`classes + 1`).
    pub fn roll_depth(&self) -> usize {
        self.classes() + 1
    }

    /// The length to encode: `numSteps`, else the sequence's total steps.
    fn length(&self, ns: &NoteSequence, what: &str) -> Result<usize, ModelError> {
        if !ns.is_quantized() {
            return Err(ModelError::new(
                ModelErrorKind::NotQuantized,
                format!("{what}: the NoteSequence is not quantized"),
            ));
        }
        match self.num_steps {
            Some(n) if n > 0 => Ok(n),
            _ => {
                let t = ns.total_quantized_steps.unwrap_or(0);
                if !(0..=MAX_STEPS as i64).contains(&t) {
                    return Err(ModelError::bad_input(format!(
                        "{what}: invalid totalQuantizedSteps {t}"
                    )));
                }
                Ok(t as usize)
            }
        }
    }

    /// One-hot labels per step (`DrumsOneHotConverter.toTensor`), `None` for a label past
    /// the last one (an all-zero row). See the module doc for the odd cases. A fixed
    /// `numSteps` refuses notes after the end (magenta.js fails to stack such tensors).
    pub fn to_labels(&self, ns: &NoteSequence) -> Result<Vec<Option<usize>>, ModelError> {
        let what = "DrumsOneHotConverter";
        let len = self.length(ns, what)?;
        // f64 as in JS; NaN marks a step with a pitch in no class (or a hole).
        let mut labels = vec![0f64; len];
        for n in &ns.notes {
            let Some(s) = n.quantized_start_step else { continue };
            if s < 0 {
                continue; // A property of the JS array, not an element.
            }
            let s = s as usize;
            if s >= labels.len() {
                if self.num_steps.is_some() || s >= MAX_STEPS {
                    return Err(ModelError::bad_input(format!(
                        "{what}: a note starts at step {s}, after the sequence's {len} steps"
                    )));
                }
                labels.resize(s + 1, f64::NAN);
            }
            labels[s] += match self.pitch_to_class.get(&n.pitch) {
                Some(&c) => (2f64).powi(c as i32),
                None => f64::NAN,
            };
        }
        let depth = self.one_hot_depth();
        Ok(labels
            .iter()
            .map(|&l| {
                // Int32 conversion of the label: NaN → 0.
                let k = if l.is_nan() { 0 } else { l as usize };
                (k < depth).then_some(k)
            })
            .collect())
    }

    /// The drum roll (`DrumsConverter.toTensor`) as the set columns of each row.
    pub fn to_roll(&self, ns: &NoteSequence) -> Result<Vec<Vec<usize>>, ModelError> {
        let len = self.length(ns, "DrumsConverter")?;
        let width = self.roll_depth() as i64;
        let mut flat = vec![0u8; len * width as usize];
        // `buffer.set(v, row, col)` writes flat index `row * width + col` when it is in
        // range (col -1 is the previous row's last column).
        let mut set = |v: u8, row: i64, col: i64| {
            let i = row.saturating_mul(width).saturating_add(col);
            if (0..flat.len() as i64).contains(&i) {
                flat[i as usize] = v;
            }
        };
        for i in 0..len as i64 {
            set(1, i, -1);
        }
        for n in &ns.notes {
            let Some(s) = n.quantized_start_step else { continue };
            if let Some(&c) = self.pitch_to_class.get(&n.pitch) {
                set(1, s, c as i64);
            }
            set(0, s, -1);
        }
        Ok(flat
            .chunks(width as usize)
            .map(|row| (0..row.len()).filter(|&c| row[c] != 0).collect())
            .collect())
    }

    /// Labels to drum hits (`DrumsConverter.toNoteSequence`).
    pub fn to_note_sequence(
        &self,
        labels: &[usize],
        steps_per_quarter: u32,
        qpm: Option<f64>,
    ) -> NoteSequence {
        let mut notes = Vec::new();
        for (s, &label) in labels.iter().enumerate() {
            for (p, pitches) in self.pitch_classes.iter().enumerate() {
                if (label >> p) & 1 == 1 {
                    notes.push(Note {
                        pitch: pitches[0],
                        quantized_start_step: Some(s as i64),
                        quantized_end_step: Some(s as i64 + 1),
                        is_drum: Some(true),
                        ..Default::default()
                    });
                }
            }
        }
        NoteSequence {
            notes,
            total_quantized_steps: Some(labels.len() as i64),
            quantization_info: Some(QuantizationInfo { steps_per_quarter }),
            tempos: vec![Tempo { time: 0.0, qpm: qpm.unwrap_or(DEFAULT_QPM) }],
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(pitch: i32, s: i64) -> Note {
        Note {
            pitch,
            quantized_start_step: Some(s),
            quantized_end_step: Some(s + 1),
            is_drum: Some(true),
            ..Default::default()
        }
    }

    fn seq(notes: Vec<Note>, total: i64) -> NoteSequence {
        NoteSequence {
            notes,
            total_quantized_steps: Some(total),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
            ..Default::default()
        }
    }

    /// Kick at 0, snare + closed hat at 2, an unknown pitch (99) at 4, 6 steps.
    fn sample() -> NoteSequence {
        seq(vec![hit(36, 0), hit(38, 2), hit(42, 2), hit(99, 4)], 6)
    }

    #[test]
    fn one_hot_labels_match_magenta_js() {
        let c = DrumsConverter::new(None, None).unwrap();
        assert_eq!((c.classes(), c.one_hot_depth(), c.roll_depth()), (9, 512, 10));
        // magenta.js 1.23.1 gives argMax [1, 0, 6, 0, 0, 0] for this sequence.
        let l = c.to_labels(&sample()).unwrap();
        assert_eq!(l, vec![Some(1), Some(0), Some(6), Some(0), Some(0), Some(0)]);
        // Two kicks at one step add up to the snare's bit (magenta.js: label 2).
        let mut two = sample();
        two.notes[3] = hit(36, 4);
        two.notes.push(hit(35, 4));
        assert_eq!(c.to_labels(&two).unwrap()[4], Some(2));
        // A note after the end lengthens the sequence with silent steps, its own hit lost
        // too (magenta.js: argMax [.., 0, 0, 0] of shape [9, 512]).
        let mut long = sample();
        long.notes.push(hit(36, 8));
        let l = c.to_labels(&long).unwrap();
        assert_eq!(l.len(), 9);
        assert_eq!((l[6], l[8]), (Some(0), Some(0)));
        // ... unless the length is fixed.
        let fixed = DrumsConverter::new(None, Some(6)).unwrap();
        assert_eq!(fixed.to_labels(&long).unwrap_err().kind(), ModelErrorKind::BadInput);
        // Every hit of all 9 classes at once is label 511; 512 would be no row at all.
        let all: Vec<Note> = DEFAULT_DRUM_PITCH_CLASSES.iter().map(|p| hit(p[0], 0)).collect();
        assert_eq!(c.to_labels(&seq(all.clone(), 1)).unwrap(), vec![Some(511)]);
        let mut over = all;
        over.push(hit(51, 0));
        assert_eq!(c.to_labels(&seq(over, 1)).unwrap(), vec![None]);
        let mut unq = sample();
        unq.quantization_info = None;
        assert_eq!(c.to_labels(&unq).unwrap_err().kind(), ModelErrorKind::NotQuantized);
    }

    #[test]
    fn drum_roll_matches_magenta_js() {
        let c = DrumsConverter::new(None, Some(6)).unwrap();
        // magenta.js 1.23.1: [[1,..,1],[0..0],[0,1,1,..,1],[0..0],[0,..,1],[0..0]].
        let r = c.to_roll(&sample()).unwrap();
        assert_eq!(r, vec![vec![0, 9], vec![], vec![1, 2, 9], vec![], vec![9], vec![]]);
    }

    #[test]
    fn labels_to_hits_and_back() {
        let c = DrumsConverter::new(None, None).unwrap();
        let ns = c.to_note_sequence(&[1, 0, 6, 511], 4, None);
        let got: Vec<(i32, i64)> =
            ns.notes.iter().map(|n| (n.pitch, n.quantized_start_step.unwrap())).collect();
        assert_eq!(&got[..3], &[(36, 0), (38, 2), (42, 2)]);
        assert_eq!(got.len(), 3 + 9);
        assert!(ns.notes.iter().all(|n| n.is_drum == Some(true)));
        assert_eq!(ns.total_quantized_steps, Some(4));
        let back = c.to_labels(&ns).unwrap();
        assert_eq!(back, vec![Some(1), Some(0), Some(6), Some(511)]);
        let custom = DrumsConverter::new(Some(vec![vec![36], vec![38, 40]]), None).unwrap();
        assert_eq!(custom.one_hot_depth(), 4);
        assert_eq!(custom.to_labels(&seq(vec![hit(40, 0)], 1)).unwrap(), vec![Some(2)]);
        assert!(DrumsConverter::new(Some(vec![]), None).is_err());
        assert!(DrumsConverter::new(Some(vec![vec![36], vec![]]), None).is_err());
    }
}
