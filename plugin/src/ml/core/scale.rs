//! Key and scale constraint for sampling: the melody classes whose pitch lies outside a
//! scale are masked (their logits set to −∞) before a class is picked, so a constrained
//! continuation or decode only ever starts notes of the scale. `NO_EVENT` and `NOTE_OFF`
//! are always allowed. Magenta's own models have no such option; it applies to every
//! melody model here (MusicRNN, MusicVAE decoders) because it acts on the logits only.

use serde::{Deserialize, Serialize};

use crate::ml::core::converter::{MelodyConverter, FIRST_PITCH};
use crate::ml::error::ModelError;

/// Note names of the twelve pitch classes, as the key parameter and the panels show them.
pub const KEY_NAMES: [&str; 12] = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

/// A scale type: which pitch classes above the root belong to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleKind {
    Major,
    Minor,
    HarmonicMinor,
    Dorian,
    Mixolydian,
    MajorPentatonic,
    MinorPentatonic,
    Blues,
}

impl ScaleKind {
    /// Every scale type, in the order of the host parameter (after "off").
    pub const ALL: [ScaleKind; 8] = [
        ScaleKind::Major,
        ScaleKind::Minor,
        ScaleKind::HarmonicMinor,
        ScaleKind::Dorian,
        ScaleKind::Mixolydian,
        ScaleKind::MajorPentatonic,
        ScaleKind::MinorPentatonic,
        ScaleKind::Blues,
    ];

    /// Semitones above the root.
    pub fn intervals(self) -> &'static [u8] {
        match self {
            ScaleKind::Major => &[0, 2, 4, 5, 7, 9, 11],
            ScaleKind::Minor => &[0, 2, 3, 5, 7, 8, 10],
            ScaleKind::HarmonicMinor => &[0, 2, 3, 5, 7, 8, 11],
            ScaleKind::Dorian => &[0, 2, 3, 5, 7, 9, 10],
            ScaleKind::Mixolydian => &[0, 2, 4, 5, 7, 9, 10],
            ScaleKind::MajorPentatonic => &[0, 2, 4, 7, 9],
            ScaleKind::MinorPentatonic => &[0, 3, 5, 7, 10],
            ScaleKind::Blues => &[0, 3, 5, 6, 7, 10],
        }
    }

    /// The name JS and the panels use (`"harmonic minor"`).
    pub fn name(self) -> &'static str {
        match self {
            ScaleKind::Major => "major",
            ScaleKind::Minor => "minor",
            ScaleKind::HarmonicMinor => "harmonic minor",
            ScaleKind::Dorian => "dorian",
            ScaleKind::Mixolydian => "mixolydian",
            ScaleKind::MajorPentatonic => "major pentatonic",
            ScaleKind::MinorPentatonic => "minor pentatonic",
            ScaleKind::Blues => "blues",
        }
    }

    /// Parses a name (`"minor"`, `"harmonic_minor"`, `"Minor Pentatonic"`, `"aeolian"`).
    pub fn parse(text: &str) -> Option<ScaleKind> {
        let t: String = text
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '_' || c == '-' { ' ' } else { c })
            .collect();
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(match t.as_str() {
            "major" | "maj" | "ionian" => ScaleKind::Major,
            "minor" | "min" | "natural minor" | "aeolian" => ScaleKind::Minor,
            "harmonic minor" => ScaleKind::HarmonicMinor,
            "dorian" => ScaleKind::Dorian,
            "mixolydian" => ScaleKind::Mixolydian,
            "major pentatonic" | "pentatonic" => ScaleKind::MajorPentatonic,
            "minor pentatonic" => ScaleKind::MinorPentatonic,
            "blues" => ScaleKind::Blues,
            _ => return None,
        })
    }
}

/// A key (root pitch class 0 = C .. 11 = B) and a scale type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scale {
    pub root: u8,
    pub kind: ScaleKind,
}

impl Scale {
    /// A scale; `root` is taken modulo 12.
    pub fn new(root: u8, kind: ScaleKind) -> Self {
        Scale { root: root % 12, kind }
    }

    /// Bit `pc` is set for each pitch class of the scale.
    pub fn pitch_classes(self) -> u16 {
        self.kind.intervals().iter().fold(0u16, |m, &i| m | 1 << ((self.root + i) % 12))
    }

    /// Whether MIDI pitch `pitch` belongs to the scale.
    pub fn contains(self, pitch: i32) -> bool {
        self.pitch_classes() & (1 << pitch.rem_euclid(12)) != 0
    }

    /// Parses `"D minor"`, `"F# major"`, `"Bb dorian"`, `"c"` (major when no scale is
    /// named). The error says what is accepted.
    pub fn parse(text: &str) -> Result<Scale, ModelError> {
        let bad = || {
            ModelError::bad_input(format!(
                "key {text:?}: expected a note name and a scale, e.g. \"D minor\" (scales: {})",
                ScaleKind::ALL.map(ScaleKind::name).join(", ")
            ))
        };
        let t = text.trim();
        let mut chars = t.chars();
        let letter = chars.next().ok_or_else(bad)?;
        let natural = match letter.to_ascii_uppercase() {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return Err(bad()),
        };
        let rest = chars.as_str();
        let (shift, rest) = match rest.chars().next() {
            Some('#') | Some('♯') => {
                (1i32, &rest[rest.chars().next().map_or(0, char::len_utf8)..])
            }
            Some('b') | Some('♭') if !rest.starts_with("blues") => {
                (-1, &rest[rest.chars().next().map_or(0, char::len_utf8)..])
            }
            _ => (0, rest),
        };
        let rest = rest.trim();
        let kind = if rest.is_empty() {
            ScaleKind::Major
        } else {
            ScaleKind::parse(rest).ok_or_else(bad)?
        };
        Ok(Scale::new((natural + shift).rem_euclid(12) as u8, kind))
    }

    /// `"D minor"`.
    pub fn label(self) -> String {
        format!("{} {}", KEY_NAMES[self.root as usize], self.kind.name())
    }

    /// The classes of `converter` allowed under this scale.
    pub fn class_mask(self, converter: &MelodyConverter) -> ClassMask {
        let allowed = (0..converter.depth())
            .map(|k| {
                k < FIRST_PITCH || self.contains(converter.min_pitch + (k - FIRST_PITCH) as i32)
            })
            .collect();
        ClassMask { allowed }
    }
}

/// Which classes of a model's output may be sampled (see [`Scale::class_mask`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMask {
    allowed: Vec<bool>,
}

impl ClassMask {
    /// Whether class `k` may be sampled.
    pub fn allows(&self, k: usize) -> bool {
        self.allowed.get(k).copied().unwrap_or(false)
    }

    /// Sets the logits of the classes outside the mask to −∞ (rows of `logits.len() /
    /// depth` classes each).
    pub fn apply(&self, logits: &mut [f32]) {
        let d = self.allowed.len();
        if d == 0 {
            return;
        }
        for row in logits.chunks_mut(d) {
            for (v, &ok) in row.iter_mut().zip(&self.allowed) {
                if !ok {
                    *v = f32::NEG_INFINITY;
                }
            }
        }
    }
}

/// Fraction of the note onsets in `pitches` outside `scale` (0 when there are none).
#[cfg(test)]
pub fn off_key_rate(pitches: impl IntoIterator<Item = i32>, scale: Scale) -> f64 {
    let (mut n, mut off) = (0usize, 0usize);
    for p in pitches {
        n += 1;
        off += usize::from(!scale.contains(p));
    }
    if n == 0 {
        0.0
    } else {
        off as f64 / n as f64
    }
}

/// The major or minor key that holds most of `pitches` (ties: the lower root, major
/// first): the key a melody without a declared one is judged against.
#[cfg(test)]
pub fn best_key(pitches: &[i32]) -> Scale {
    let mut best = (Scale::new(0, ScaleKind::Major), usize::MAX);
    for kind in [ScaleKind::Major, ScaleKind::Minor] {
        for root in 0..12 {
            let s = Scale::new(root, kind);
            let off = pitches.iter().filter(|&&p| !s.contains(p)).count();
            if off < best.1 {
                best = (s, off);
            }
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        assert_eq!(Scale::parse("D minor").unwrap(), Scale::new(2, ScaleKind::Minor));
        assert_eq!(Scale::parse("f# major").unwrap(), Scale::new(6, ScaleKind::Major));
        assert_eq!(Scale::parse("Bb dorian").unwrap(), Scale::new(10, ScaleKind::Dorian));
        assert_eq!(Scale::parse("c").unwrap(), Scale::new(0, ScaleKind::Major));
        assert_eq!(Scale::parse("B blues").unwrap(), Scale::new(11, ScaleKind::Blues));
        assert_eq!(
            Scale::parse("A harmonic_minor").unwrap(),
            Scale::new(9, ScaleKind::HarmonicMinor)
        );
        assert_eq!(Scale::parse("Cb").unwrap(), Scale::new(11, ScaleKind::Major));
        let e = Scale::parse("H minor").unwrap_err();
        assert!(e.message().contains("e.g. \"D minor\""), "{e}");
        assert!(Scale::parse("C lydian-ish").is_err());
        assert!(Scale::parse("").is_err());
        assert_eq!(Scale::new(3, ScaleKind::MinorPentatonic).label(), "Eb minor pentatonic");
        for kind in ScaleKind::ALL {
            assert_eq!(ScaleKind::parse(kind.name()), Some(kind));
        }
    }

    #[test]
    fn pitch_classes_of_c_major_and_a_minor_agree() {
        let c = Scale::new(0, ScaleKind::Major);
        let a = Scale::new(9, ScaleKind::Minor);
        assert_eq!(c.pitch_classes(), a.pitch_classes());
        assert_eq!(c.pitch_classes().count_ones(), 7);
        assert!(
            c.contains(60)
                && c.contains(71)
                && !c.contains(61)
                && c.contains(-1)
                && !c.contains(-2)
        );
        assert!(Scale::new(2, ScaleKind::Minor).contains(70) && !c.contains(70));
    }

    #[test]
    fn the_mask_keeps_events_and_scale_pitches() {
        let conv = MelodyConverter::new(48, 83, None).unwrap();
        let mask = Scale::new(0, ScaleKind::Major).class_mask(&conv);
        assert!(mask.allows(0) && mask.allows(1));
        // Class 2 is pitch 48 (C), class 3 is C#.
        assert!(mask.allows(2) && !mask.allows(3));
        let mut logits = vec![1.0f32; 2 * conv.depth()];
        mask.apply(&mut logits);
        let allowed = logits.iter().filter(|v| v.is_finite()).count();
        // 36 pitches, 21 in C major (3 octaves of 7), plus the two events, per row.
        assert_eq!(allowed, 2 * (21 + 2));
    }

    #[test]
    fn off_key_rates_and_best_keys() {
        let s = Scale::new(0, ScaleKind::Major);
        assert_eq!(off_key_rate([60, 61, 62, 63], s), 0.5);
        assert_eq!(off_key_rate([], s), 0.0);
        // Piano Phase's notes (E F# B C# D) fit E minor... and D major; D major ranks
        // first by the tie rule (major first).
        let phase = crate::ml::core::note_seq::PIANO_PHASE.map(i32::from);
        let k = best_key(&phase);
        assert_eq!(off_key_rate(phase, k), 0.0, "{}", k.label());
    }
}
