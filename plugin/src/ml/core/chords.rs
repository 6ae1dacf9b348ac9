//! Chord symbols and the chord encoders of chord-conditioned models (magenta.js
//! `core/chords.ts`): `"G7"`, `"F#m7b5"`, `"N.C."` → the pitch classes of the chord and the
//! control vector the model reads at each step.
//!
//! Symbols are read as magenta.js reads them through Tonal 2.2.2: an optional note letter
//! (any case) with a run of `#`, `b` or `x` (double sharp), optional octave digits, then the
//! chord type name looked up in Tonal's dictionary ([`chord_table`]). Octave digits that
//! are `6`, `64`, `7`, `9`, `11` or `13` belong to the type (`C7`); other digits are an
//! octave (`C5` is a C major chord, as in magenta.js). Slash chords (`Cm/G`) are not
//! accepted by magenta.js and are refused here too.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::chord_table::CHORD_TYPES;
use crate::ml::error::ModelError;

/// Symbol of "no chord" (magenta's `NO_CHORD`).
pub const NO_CHORD: &str = "N.C.";

/// Pitch classes per octave.
const PITCH_CLASSES: usize = 12;

/// Most chords one progression may hold (a sanity bound for requests).
pub const MAX_CHORDS: usize = 4096;

/// Semitones of the natural notes C D E F G A B above C.
const NATURAL: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// Semitones (mod 12) of a Tonal interval such as `3M`, `7m`, `5d`, `11A`.
fn interval_semitones(ivl: &str) -> Option<i32> {
    let digits = ivl.bytes().take_while(|b| b.is_ascii_digit()).count();
    let num: i32 = ivl[..digits].parse().ok()?;
    let quality = &ivl[digits..];
    if num < 1 {
        return None;
    }
    let step = ((num - 1) % 7) as usize;
    // Unisons, fourths and fifths are perfect; the others major/minor.
    let perfect = matches!(step, 0 | 3 | 4);
    let alt = match (quality, perfect) {
        ("P", true) | ("M", false) => 0,
        ("m", false) => -1,
        ("A", _) => 1,
        ("d", true) => -1,
        ("d", false) => -2,
        _ => return None,
    };
    Some((NATURAL[step] + alt).rem_euclid(12))
}

/// Chord type name → pitch-class set above the root (bit `k` = `k` semitones).
fn dictionary() -> &'static HashMap<&'static str, u16> {
    static DICT: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    DICT.get_or_init(|| {
        let mut map = HashMap::new();
        for (intervals, names) in CHORD_TYPES {
            let mask =
                intervals.split(' ').filter_map(interval_semitones).fold(0u16, |m, s| m | (1 << s));
            for name in *names {
                map.insert(*name, mask);
            }
        }
        map
    })
}

/// Every chord type name magenta.js accepts after a root (`""` is the major triad).
pub fn type_names() -> impl Iterator<Item = &'static str> {
    CHORD_TYPES.iter().flat_map(|(_, names)| names.iter().copied())
}

/// A parsed chord symbol: root pitch class and the pitch classes it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chord {
    /// Pitch class of the root (0 = C).
    pub root: u8,
    /// Bit `p` set when pitch class `p` is in the chord.
    pub pitches: u16,
}

impl Chord {
    /// Parses a chord symbol as magenta.js does (see the module doc).
    pub fn parse(symbol: &str) -> Result<Chord, ModelError> {
        let bad = || ModelError::bad_input(format!("Unrecognized chord symbol: {symbol}"));
        let (letter, rest) = match symbol.chars().next() {
            Some(c) if matches!(c.to_ascii_uppercase(), 'A'..='G') => {
                (c.to_ascii_uppercase(), &symbol[1..])
            }
            _ => return Err(bad()),
        };
        // One run of '#', 'b' or 'x' (tried in that order, as Tonal's pattern).
        let acc_char = rest.chars().next().filter(|c| matches!(c, '#' | 'b' | 'x'));
        let acc_len = acc_char.map(|a| rest.chars().take_while(|&c| c == a).count()).unwrap_or(0);
        let alt: i32 = match acc_char {
            Some('#') => acc_len as i32,
            Some('b') => -(acc_len as i32),
            Some(_) => 2 * acc_len as i32,
            None => 0,
        };
        let rest = &rest[acc_len..];
        // Octave: an optional '-' and digits.
        let sign = usize::from(rest.starts_with('-'));
        let digits = rest[sign..].bytes().take_while(|b| b.is_ascii_digit()).count();
        let (octave, rest) = rest.split_at(sign + digits);
        if rest.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
            return Err(bad());
        }
        let rest = rest.trim_start();
        // Tonal reads "Aug" as the type "aug" without a root, which magenta.js refuses.
        if letter == 'A' && rest == "ug" {
            return Err(bad());
        }
        let kind = if matches!(octave, "6" | "64" | "7" | "9" | "11" | "13") {
            // Only "64" could be followed by more, e.g. "C7b9": "7" + "b9".
            format!("{octave}{rest}")
        } else {
            rest.to_string()
        };
        let mask = *dictionary().get(kind.as_str()).ok_or_else(bad)?;
        let root = (NATURAL[(letter as u8 - b'A' + 5) as usize % 7] + alt).rem_euclid(12);
        let pitches = (0..12)
            .filter(|s| mask & (1 << s) != 0)
            .fold(0u16, |m, s| m | (1 << ((root + s) % 12)));
        Ok(Chord { root: root as u8, pitches })
    }
}

/// The chord encoders magenta.js knows; only `PitchChordEncoder` is implemented (the one
/// `chord_pitches_improv` uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChordEncoder {
    /// `[no chord, root one-hot (12), pitch classes (12), bass one-hot (12)]`, 37 values;
    /// the bass is the root (magenta.js does not read slash chords).
    Pitch,
}

impl ChordEncoder {
    /// The encoder a config's `chordEncoder` names.
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        match name {
            "PitchChordEncoder" => Ok(ChordEncoder::Pitch),
            other => Err(ModelError::unsupported(format!(
                "chord encoder {other:?} is not supported (only PitchChordEncoder)"
            ))),
        }
    }

    /// Values per step.
    pub fn depth(self) -> usize {
        1 + 3 * PITCH_CLASSES
    }

    /// The control vector of one chord symbol.
    pub fn encode(self, symbol: &str) -> Result<Vec<f32>, ModelError> {
        let mut v = vec![0f32; self.depth()];
        if symbol == NO_CHORD {
            v[0] = 1.0;
            return Ok(v);
        }
        let chord = Chord::parse(symbol)?;
        let root = chord.root as usize;
        v[1 + root] = 1.0;
        for p in 0..PITCH_CLASSES {
            if chord.pitches & (1 << p) != 0 {
                v[1 + PITCH_CLASSES + p] = 1.0;
            }
        }
        v[1 + 2 * PITCH_CLASSES + root] = 1.0;
        Ok(v)
    }

    /// `encodeProgression(chords, numSteps)`: the chords spread evenly over `num_steps`
    /// (step `s` holds chord `floor(s * chords / num_steps)`), `[num_steps, depth]`.
    pub fn encode_progression(
        self,
        chords: &[String],
        num_steps: usize,
    ) -> Result<Vec<f32>, ModelError> {
        if chords.is_empty() {
            return Err(ModelError::bad_input("the chord progression is empty"));
        }
        if chords.len() > MAX_CHORDS {
            return Err(ModelError::bad_input(format!(
                "the chord progression has {} chords (at most {MAX_CHORDS})",
                chords.len()
            )));
        }
        let encoded = chords
            .iter()
            .enumerate()
            .map(|(i, c)| self.encode(c).map_err(|e| e.context(format_args!("chord {}", i + 1))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(num_steps * self.depth());
        for s in 0..num_steps {
            out.extend_from_slice(&encoded[s * encoded.len() / num_steps]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcs(symbol: &str) -> Vec<u8> {
        let c = Chord::parse(symbol).unwrap();
        (0..12).filter(|p| c.pitches & (1 << p) != 0).collect()
    }

    #[test]
    fn symbols_read_as_magenta_js_reads_them() {
        // Pitch classes magenta.js 1.23.1 gives (ChordSymbols.pitches, sorted).
        assert_eq!(pcs("C"), vec![0, 4, 7]);
        assert_eq!(pcs("Cm"), vec![0, 3, 7]);
        assert_eq!(pcs("G7b9"), vec![2, 5, 7, 8, 11]);
        assert_eq!(pcs("F#m7b5"), vec![0, 4, 6, 9]);
        assert_eq!(pcs("Bbsus4"), vec![3, 5, 10]);
        assert_eq!(pcs("Ebdim7"), vec![0, 3, 6, 9]);
        assert_eq!(pcs("A+"), vec![1, 5, 9]);
        assert_eq!(pcs("Gb13"), vec![1, 3, 4, 6, 8, 10]);
        assert_eq!(pcs("Db7sus4"), vec![1, 6, 8, 11]);
        // Octave digits: "C5" is C (octave 5) major; "C7" is a seventh chord.
        assert_eq!(pcs("C5"), vec![0, 4, 7]);
        assert_eq!(pcs("C7"), vec![0, 4, 7, 10]);
        assert_eq!(pcs("am"), vec![0, 4, 9]);
        assert_eq!(pcs("Cx"), vec![2, 6, 9]);
        assert_eq!(Chord::parse("F#m7b5").unwrap().root, 6);
        assert_eq!(Chord::parse("Cb").unwrap().root, 11);
        for bad in ["H", "Cm/G", "C6/9", "", "#m", "Aug", "Cfoo", "N.C."] {
            let e = Chord::parse(bad).unwrap_err();
            assert!(e.message().contains("Unrecognized chord symbol"), "{bad}: {e}");
        }
    }

    #[test]
    fn pitch_encoder_and_progressions() {
        let enc = ChordEncoder::from_name("PitchChordEncoder").unwrap();
        assert_eq!(enc.depth(), 37);
        let v = enc.encode("Am7").unwrap();
        let on: Vec<usize> = (0..37).filter(|&i| v[i] == 1.0).collect();
        // root A (9), pitches A C E G, bass A.
        assert_eq!(on, vec![1 + 9, 13, 13 + 4, 13 + 7, 13 + 9, 25 + 9]);
        assert_eq!(enc.encode(NO_CHORD).unwrap()[0], 1.0);
        let chords: Vec<String> = ["C", "G", "Am"].iter().map(|s| s.to_string()).collect();
        let p = enc.encode_progression(&chords, 8).unwrap();
        assert_eq!(p.len(), 8 * 37);
        // floor(s * 3 / 8): 0 0 0 1 1 1 2 2.
        let roots: Vec<usize> =
            p.chunks(37).map(|r| (0..12).find(|&k| r[1 + k] == 1.0).unwrap()).collect();
        assert_eq!(roots, vec![0, 0, 0, 7, 7, 7, 9, 9]);
        let e = enc.encode_progression(&["C".into(), "Xyz".into()], 4).unwrap_err();
        assert!(e.message().contains("chord 2"), "{e}");
        assert!(enc.encode_progression(&[], 4).is_err());
        assert!(ChordEncoder::from_name("TriadChordEncoder").is_err());
    }
}
