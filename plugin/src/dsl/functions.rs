//! The function table: every DSL function's name, arity, usage, documentation and
//! constructor, in one place. Semantics follow Sema's compiler IR (`IR.js`), which maps
//! each name onto a Maximilian call; the DSP lives in `crate::dsp`.

use super::compiler::{Builder, Call, Operand};
use super::program::{
    BinKind, BitBin, BitUn, FilterKind, MidiCursor, MidiFn, Op, OscKind, PlayMode, UnKind,
};
use crate::dsp::acid::Acid;
use crate::dsp::blep::{PolyBlep, Waveform};
use crate::dsp::effect::{modulated_capacity, Chorus, DelayLine, Flanger, MAX_DELAY};
use crate::dsp::envelope::{Adsr, Line};
use crate::dsp::filter::{Filter, Svf};
use crate::dsp::oscillator::Osc;
use crate::dsp::reverb::FreeVerb;
use crate::dsp::sequencer::{ClockTrig, RatioSeq};
use crate::dsp::spectral::{FftAnalyzer, IfftSynth, Mfcc, PvShift};
use crate::dsp::trigger::{Counter, Index, SampleAndHold, Trigger};
use crate::dsp::Rng;

/// Builds the ops for one call and returns its result.
pub type BuildFn = fn(&mut Builder, &Call) -> Result<Operand, String>;

/// One DSL function.
pub struct FuncDef {
    /// The name used in code, e.g. `saw`.
    pub name: &'static str,
    /// Fewest and most arguments accepted.
    pub min_args: usize,
    pub max_args: usize,
    /// Argument summary shown in arity errors, e.g. `{freq, phase?}saw`.
    pub usage: &'static str,
    /// One-line description.
    #[cfg_attr(not(test), allow(dead_code))] // read by `reference_markdown` (tests)
    pub doc: &'static str,
    /// Constructor.
    pub build: BuildFn,
}

/// Names Sema's IR defines that this engine does not implement yet: they give a
/// "not supported yet" error instead of "unknown function".
pub const NOT_SUPPORTED: &[&str] = &["oscin", "oscout"];

/// Result of looking a name up.
pub enum Lookup {
    Found(&'static FuncDef),
    NotSupported,
    Unknown,
}

/// The closest known function name to `name` (edit distance ≤ 2), for "did you mean".
pub fn suggest(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) =
            (a.to_lowercase().chars().collect(), b.to_lowercase().chars().collect());
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push((prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    FUNCTIONS
        .iter()
        .filter(|f| !matches!(f.name, "sampler" | "slice" | "stretch"))
        .map(|f| (distance(name, f.name), f.name))
        .filter(|&(d, n)| d <= 2 && d < n.len().min(name.len()))
        .min()
        .map(|(_, n)| n)
}

/// A function reference in Markdown, generated from the table (for the editor's help).
#[cfg(test)]
pub fn reference_markdown() -> String {
    let mut s = String::from("| function | usage | description |\n|---|---|---|\n");
    for f in FUNCTIONS {
        s.push_str(&format!("| `{}` | `{}` | {} |\n", f.name, f.usage, f.doc));
    }
    s
}

/// Finds a function by name.
pub fn lookup(name: &str) -> Lookup {
    if let Some(f) = FUNCTIONS.iter().find(|f| f.name == name) {
        Lookup::Found(f)
    } else if NOT_SUPPORTED.contains(&name) {
        Lookup::NotSupported
    } else {
        Lookup::Unknown
    }
}

// ---- helpers ---------------------------------------------------------------------------

fn osc(b: &mut Builder, c: &Call, kind: OscKind) -> Result<Operand, String> {
    let freq = b.s(c, 0)?;
    let phase = b.const_arg(c, 1, 0.0);
    let out = b.out(c);
    b.emit(Op::Osc { kind, freq, out, osc: Osc::new(phase) });
    Ok(Operand::S(out))
}

fn bin(b: &mut Builder, c: &Call, kind: BinKind) -> Result<Operand, String> {
    let (a, x) = (b.s(c, 0)?, b.s(c, 1)?);
    let out = b.out(c);
    b.emit(Op::Bin { kind, a, b: x, out });
    Ok(Operand::S(out))
}

fn un(b: &mut Builder, c: &Call, kind: UnKind) -> Result<Operand, String> {
    let a = b.s(c, 0)?;
    let out = b.out(c);
    b.emit(Op::Un { kind, a, out });
    Ok(Operand::S(out))
}

fn all_scalars(b: &mut Builder, c: &Call) -> Result<Box<[crate::dsl::program::R]>, String> {
    (0..c.args.len()).map(|i| b.s(c, i)).collect::<Result<Vec<_>, _>>().map(Vec::into_boxed_slice)
}

fn sum(b: &mut Builder, c: &Call, mix: bool) -> Result<Operand, String> {
    let args = all_scalars(b, c)?;
    if args.len() == 1 {
        // One argument: sum and mix are the identity (the seed's `{..}mix`).
        return Ok(Operand::S(args[0]));
    }
    let out = b.out(c);
    let scale = if mix { 1.0 / args.len() as f64 } else { 1.0 };
    b.emit(Op::Sum { args, scale, out });
    Ok(Operand::S(out))
}

/// linlin/linexp with fixed or given input range.
fn map(
    b: &mut Builder,
    c: &Call,
    exp: bool,
    in_range: Option<(f64, f64)>,
) -> Result<Operand, String> {
    let x = b.s(c, 0)?;
    let (in_lo, in_hi, o) = match in_range {
        Some((lo, hi)) => (b.konst(lo), b.konst(hi), 1),
        None => (b.s(c, 1)?, b.s(c, 2)?, 3),
    };
    let (out_lo, out_hi) = (b.s(c, o)?, b.s(c, o + 1)?);
    let out = b.out(c);
    b.emit(Op::Map { exp, x, in_lo, in_hi, out_lo, out_hi, out });
    Ok(Operand::S(out))
}

fn filter(b: &mut Builder, c: &Call, kind: FilterKind) -> Result<Operand, String> {
    let (x, cutoff) = (b.s(c, 0)?, b.s(c, 1)?);
    let res =
        if matches!(kind, FilterKind::Lpz | FilterKind::Hpz) { b.s(c, 2)? } else { b.konst(1.0) };
    let out = b.out(c);
    b.emit(Op::Filter { kind, x, cutoff, res, out, f: Filter::default() });
    Ok(Operand::S(out))
}

fn blep(b: &mut Builder, c: &Call, w: Waveform) -> Result<Operand, String> {
    let freq = b.s(c, 0)?;
    let pw = b.opt_s(c, 1)?;
    let out = b.out(c);
    b.emit(Op::Blep { freq, wave: None, pw, out, osc: PolyBlep::new(w) });
    Ok(Operand::S(out))
}

fn bitbin(b: &mut Builder, c: &Call, kind: BitBin) -> Result<Operand, String> {
    let (a, x) = (b.s(c, 0)?, b.s(c, 1)?);
    let out = b.out(c);
    b.emit(Op::BitBin { kind, a, b: x, out });
    Ok(Operand::S(out))
}

fn bitun(b: &mut Builder, c: &Call, kind: BitUn) -> Result<Operand, String> {
    let a = b.s(c, 0)?;
    let out = b.out(c);
    b.emit(Op::BitUn { kind, a, out });
    Ok(Operand::S(out))
}

fn player(b: &mut Builder, c: &Call, mode: PlayMode) -> Result<Operand, String> {
    let n = c.args.len();
    let (name, _) = b.str_arg(c, n - 1)?;
    let out = b.out(c);
    match mode {
        PlayMode::OneShot => {
            let trig = b.s(c, 0)?;
            let speed = if n > 2 { Some(b.s(c, 1)?) } else { None };
            let offset = if n > 3 { Some(b.s(c, 2)?) } else { None };
            b.player(&name, mode, trig, speed, offset, out)?;
        }
        PlayMode::Slice => {
            let (trig, pos) = (b.s(c, 0)?, b.s(c, 1)?);
            b.player(&name, mode, trig, Some(pos), None, out)?;
        }
        PlayMode::Loop => {
            let speed = b.s(c, 0)?;
            b.player(&name, mode, speed, None, None, out)?;
        }
    }
    Ok(Operand::S(out))
}

/// A MIDI-input function (`mnote`, `mcc`, ...): its own cursor over the input state.
fn midi_in(b: &mut Builder, c: &Call, kind: MidiFn) -> Result<Operand, String> {
    let arg = if kind == MidiFn::Cc { Some(b.s(c, 0)?) } else { None };
    let out = b.out(c);
    b.emit(Op::MidiIn { kind, arg, out, cursor: Box::default() as Box<MidiCursor> });
    Ok(Operand::S(out))
}

macro_rules! f {
    ($name:literal, $min:expr, $max:expr, $usage:literal, $doc:literal, $build:expr) => {
        FuncDef {
            name: $name,
            min_args: $min,
            max_args: $max,
            usage: $usage,
            doc: $doc,
            build: $build,
        }
    };
}

const MANY: usize = usize::MAX;

/// Every function of the language.
pub static FUNCTIONS: &[FuncDef] = &[
    // ---- oscillators
    f!("sin", 1, 2, "{freq, phase?}sin", "Sine wave.", |b, c| osc(b, c, OscKind::Sin)),
    f!("saw", 1, 2, "{freq, phase?}saw", "Naive sawtooth, -1..1.", |b, c| osc(b, c, OscKind::Saw)),
    f!("tri", 1, 2, "{freq, phase?}tri", "Triangle wave.", |b, c| osc(b, c, OscKind::Tri)),
    f!("pha", 1, 2, "{freq, phase?}pha", "Phasor: a ramp from 0 to 1.", |b, c| osc(b, c, OscKind::Pha)),
    f!("sqr", 1, 2, "{freq, phase?}sqr", "Square wave, -1/1.", |b, c| osc(b, c, OscKind::Sqr)),
    f!("imp", 1, 2, "{freq, phase?}imp", "Impulse: 1 on the first sample of each period.", |b, c| osc(b, c, OscKind::Imp)),
    f!("sawn", 1, 2, "{freq, phase?}sawn", "Band-limited sawtooth.", |b, c| osc(b, c, OscKind::Sawn)),
    f!("ph2", 3, 4, "{freq, start, end, phase?}ph2", "Phasor between a start and an end phase.", |b, c| {
        let (freq, start, end) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?);
        let phase = b.const_arg(c, 3, 0.0);
        let out = b.out(c);
        b.emit(Op::Ph2 { freq, start, end, out, osc: Osc::new(phase) });
        Ok(Operand::S(out))
    }),
    f!("pul", 2, 3, "{freq, width, phase?}pul", "Pulse wave with a pulse width 0..1.", |b, c| {
        let (freq, duty) = (b.s(c, 0)?, b.s(c, 1)?);
        let phase = b.const_arg(c, 2, 0.0);
        let out = b.out(c);
        b.emit(Op::Pul { freq, duty, out, osc: Osc::new(phase) });
        Ok(Operand::S(out))
    }),
    f!("noiz", 1, 1, "{amp}noiz", "White noise of the given amplitude.", |b, c| {
        let amp = b.s(c, 0)?;
        let out = b.out(c);
        let seed = b.next_seed();
        b.emit(Op::Noise { amp, out, rng: Rng::new(seed) });
        Ok(Operand::S(out))
    }),
    f!("sinb", 1, 2, "{freq, width?}sinb", "PolyBLEP sine.", |b, c| blep(b, c, Waveform::Sine)),
    f!("cosb", 1, 2, "{freq, width?}cosb", "PolyBLEP cosine.", |b, c| blep(b, c, Waveform::Cosine)),
    f!("trib", 1, 2, "{freq, width?}trib", "PolyBLEP triangle.", |b, c| blep(b, c, Waveform::Triangle)),
    f!("sqrb", 1, 2, "{freq, width?}sqrb", "PolyBLEP square.", |b, c| blep(b, c, Waveform::Square)),
    f!("rectb", 1, 2, "{freq, width?}rectb", "PolyBLEP rectangle.", |b, c| blep(b, c, Waveform::Rectangle)),
    f!("sawb", 1, 2, "{freq, width?}sawb", "PolyBLEP sawtooth.", |b, c| blep(b, c, Waveform::Sawtooth)),
    f!("rampb", 1, 2, "{freq, width?}rampb", "PolyBLEP ramp.", |b, c| blep(b, c, Waveform::Ramp)),
    f!("modtrib", 1, 2, "{freq, width?}modtrib", "PolyBLEP modified triangle.", |b, c| blep(b, c, Waveform::ModifiedTriangle)),
    f!("modsqrb", 1, 2, "{freq, width?}modsqrb", "PolyBLEP modified square.", |b, c| blep(b, c, Waveform::ModifiedSquare)),
    f!("hrecsinb", 1, 2, "{freq, width?}hrecsinb", "PolyBLEP half-rectified sine.", |b, c| blep(b, c, Waveform::HalfRectifiedSine)),
    f!("frecsinb", 1, 2, "{freq, width?}frecsinb", "PolyBLEP full-rectified sine.", |b, c| blep(b, c, Waveform::FullRectifiedSine)),
    f!("tripulb", 1, 2, "{freq, width?}tripulb", "PolyBLEP triangular pulse.", |b, c| blep(b, c, Waveform::TriangularPulse)),
    f!("trapb", 1, 2, "{freq, width?}trapb", "PolyBLEP fixed trapezoid.", |b, c| blep(b, c, Waveform::TrapezoidFixed)),
    f!("vtrapb", 1, 2, "{freq, width?}vtrapb", "PolyBLEP variable trapezoid.", |b, c| blep(b, c, Waveform::TrapezoidVariable)),
    f!("polyblep", 2, 3, "{freq, waveform 0-13, width?}polyblep", "PolyBLEP oscillator with a selectable waveform.", |b, c| {
        let (freq, wave) = (b.s(c, 0)?, b.s(c, 1)?);
        let pw = b.opt_s(c, 2)?;
        let out = b.out(c);
        b.emit(Op::Blep { freq, wave: Some(wave), pw, out, osc: PolyBlep::new(Waveform::Sine) });
        Ok(Operand::S(out))
    }),
    // ---- operators
    f!("gt", 2, 2, "{a, b}gt", "1 if a > b, else 0.", |b, c| bin(b, c, BinKind::Gt)),
    f!("lt", 2, 2, "{a, b}lt", "1 if a < b, else 0.", |b, c| bin(b, c, BinKind::Lt)),
    f!("mod", 2, 2, "{a, b}mod", "Remainder of a / b (sign of a).", |b, c| bin(b, c, BinKind::Mod)),
    f!("add", 2, 2, "{a, b}add", "a + b.", |b, c| bin(b, c, BinKind::Add)),
    f!("sub", 2, 2, "{a, b}sub", "a - b.", |b, c| bin(b, c, BinKind::Sub)),
    f!("mul", 2, 2, "{a, b}mul", "a × b.", |b, c| bin(b, c, BinKind::Mul)),
    f!("div", 2, 2, "{a, b}div", "a / b (0 when b is 0).", |b, c| bin(b, c, BinKind::Div)),
    f!("pow", 2, 2, "{a, b}pow", "a to the power b.", |b, c| bin(b, c, BinKind::Pow)),
    f!("abs", 1, 1, "{a}abs", "Absolute value.", |b, c| un(b, c, UnKind::Abs)),
    f!("sum", 1, MANY, "{a, b, ...}sum", "Sum of the arguments.", |b, c| sum(b, c, false)),
    f!("mix", 1, MANY, "{a, b, ...}mix", "Sum of the arguments divided by their number.", |b, c| sum(b, c, true)),
    f!("prod", 1, MANY, "{a, b, ...}prod", "Product of the arguments.", |b, c| {
        let args = all_scalars(b, c)?;
        let out = b.out(c);
        b.emit(Op::Prod { args, out });
        Ok(Operand::S(out))
    }),
    // ---- maps and conversions
    f!("blin", 3, 3, "{x, lo, hi}blin", "Linear map from -1..1 to lo..hi.", |b, c| map(b, c, false, Some((-1.0, 1.0)))),
    f!("ulin", 3, 3, "{x, lo, hi}ulin", "Linear map from 0..1 to lo..hi.", |b, c| map(b, c, false, Some((0.0, 1.0)))),
    f!("bexp", 3, 3, "{x, lo, hi}bexp", "Exponential map from -1..1 to lo..hi.", |b, c| map(b, c, true, Some((-1.0, 1.0)))),
    f!("uexp", 3, 3, "{x, lo, hi}uexp", "Exponential map from 0..1 to lo..hi.", |b, c| map(b, c, true, Some((0.000_000_1, 1.0)))),
    f!("linlin", 5, 5, "{x, inLo, inHi, outLo, outHi}linlin", "Linear map between ranges.", |b, c| map(b, c, false, None)),
    f!("linexp", 5, 5, "{x, inLo, inHi, outLo, outHi}linexp", "Exponential map between ranges.", |b, c| map(b, c, true, None)),
    f!("mtof", 1, 1, "{note}mtof", "MIDI note number to frequency in Hz.", |b, c| un(b, c, UnKind::Mtof)),
    f!("ftom", 1, 1, "{freq}ftom", "Frequency in Hz to (fractional) MIDI note number.", |b, c| un(b, c, UnKind::Ftom)),
    // ---- control, envelopes
    f!("sah", 2, 2, "{signal, periodMs}sah", "Sample and hold every periodMs milliseconds.", |b, c| {
        let (x, ms) = (b.s(c, 0)?, b.s(c, 1)?);
        let out = b.out(c);
        b.emit(Op::Sah { x, ms, out, s: SampleAndHold::default() });
        Ok(Operand::S(out))
    }),
    f!("env", 5, 5, "{gate, attackMs, decayMs, sustain, releaseMs}env", "ADSR envelope, open while the gate is 1.", |b, c| {
        let (gate, a, d, s, r) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?, b.s(c, 3)?, b.s(c, 4)?);
        let out = b.out(c);
        b.emit(Op::Env { gate, a, d, s, r, out, env: Adsr::new() });
        Ok(Operand::S(out))
    }),
    f!("line", 2, 2, "{trigger, durationMs}line", "A 0→1 ramp over durationMs, started by a trigger.", |b, c| {
        let (trig, dur) = (b.s(c, 0)?, b.s(c, 1)?);
        let d0 = b.const_arg(c, 1, 100.0);
        let out = b.out(c);
        let sr = b.sr;
        b.emit(Op::Line { trig, dur, out, line: Line::new(d0, sr) });
        Ok(Operand::S(out))
    }),
    // ---- filters
    f!("lpf", 2, 2, "{signal, cutoff 0-1}lpf", "One-pole low pass.", |b, c| filter(b, c, FilterKind::Lpf)),
    f!("hpf", 2, 2, "{signal, cutoff 0-1}hpf", "One-pole high pass.", |b, c| filter(b, c, FilterKind::Hpf)),
    f!("lpz", 3, 3, "{signal, cutoffHz, resonance}lpz", "Resonant low pass.", |b, c| filter(b, c, FilterKind::Lpz)),
    f!("hpz", 3, 3, "{signal, cutoffHz, resonance}hpz", "Resonant high pass.", |b, c| filter(b, c, FilterKind::Hpz)),
    f!("svf", 7, 7, "{signal, cutoffHz, resonance, lp, bp, hp, notch}svf", "State-variable filter with output mix.", |b, c| {
        let x = b.s(c, 0)?;
        let (cutoff, res, lp, bp, hp, notch) = (b.s(c, 1)?, b.s(c, 2)?, b.s(c, 3)?, b.s(c, 4)?, b.s(c, 5)?, b.s(c, 6)?);
        let out = b.out(c);
        b.emit(Op::Svf { x, cutoff, res, lp, bp, hp, notch, out, f: Svf::default() });
        Ok(Operand::S(out))
    }),
    // ---- effects
    f!("dist", 2, 2, "{signal, shape}dist", "atan distortion (shape 1 soft … large hard).", |b, c| bin(b, c, BinKind::Dist)),
    f!("softclip", 1, 1, "{signal}softclip", "Cubic soft clipper.", |b, c| un(b, c, UnKind::Softclip)),
    f!("hardclip", 1, 1, "{signal}hardclip", "Hard clipper at ±1.", |b, c| un(b, c, UnKind::Hardclip)),
    f!("asymclip", 3, 3, "{signal, curveBelow, curveAbove}asymclip", "Asymmetric power-curve clipper.", |b, c| {
        let (x, a, y) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?);
        let out = b.out(c);
        b.emit(Op::Asym { x, a, b: y, out });
        Ok(Operand::S(out))
    }),
    f!("dl", 3, 3, "{signal, delaySamples, feedback}dl", "Feedback delay line.", |b, c| {
        let (x, size, fb) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?);
        let cap = match b.const_arg(c, 1, f64::NAN) {
            v if v.is_finite() && v >= 1.0 => (v as usize).min(MAX_DELAY),
            _ => MAX_DELAY,
        };
        let out = b.out(c);
        b.emit(Op::Dl { x, size, fb, out, d: DelayLine::new(cap) });
        Ok(Operand::S(out))
    }),
    f!("flange", 5, 5, "{signal, delay, feedback, speedHz, depth}flange", "Flanger.", |b, c| {
        let (x, delay, fb, speed, depth) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?, b.s(c, 3)?, b.s(c, 4)?);
        let cap = modulated_capacity(b.const_of(&c.args[1]));
        let out = b.out(c);
        b.emit(Op::Flange { x, delay, fb, speed, depth, out, f: Box::new(Flanger::new(cap)) });
        Ok(Operand::S(out))
    }),
    f!("chor", 5, 5, "{signal, delay, feedback, speedHz, depth}chor", "Chorus.", |b, c| {
        let (x, delay, fb, speed, depth) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?, b.s(c, 3)?, b.s(c, 4)?);
        let cap = modulated_capacity(b.const_of(&c.args[1]));
        let out = b.out(c);
        let seed = b.next_seed();
        b.emit(Op::Chorus { x, delay, fb, speed, depth, out, f: Box::new(Chorus::new(cap, seed)) });
        Ok(Operand::S(out))
    }),
    f!("freeverb", 3, 3, "{signal, roomSize 0-1, absorption 0-1}freeverb", "Freeverb reverb.", |b, c| {
        let (x, room, absorb) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?);
        let out = b.out(c);
        let sr = b.sr;
        b.emit(Op::Reverb { x, room, absorb, out, r: Box::new(FreeVerb::new(sr)) });
        Ok(Operand::S(out))
    }),
    // ---- triggers
    f!("onzx", 1, 1, "{signal}onzx", "1 on each positive zero crossing.", |b, c| {
        let x = b.s(c, 0)?;
        let out = b.out(c);
        b.emit(Op::OnZx { x, out, t: Trigger::default() });
        Ok(Operand::S(out))
    }),
    f!("onchange", 2, 2, "{signal, tolerance}onchange", "1 when the signal changes by more than the tolerance.", |b, c| {
        let (x, tol) = (b.s(c, 0)?, b.s(c, 1)?);
        let out = b.out(c);
        b.emit(Op::OnChange { x, tol, out, t: Trigger::default() });
        Ok(Operand::S(out))
    }),
    f!("count", 2, 2, "{trigger, reset}count", "Counts triggers; a reset trigger sets it to 0.", |b, c| {
        let (inc, reset) = (b.s(c, 0)?, b.s(c, 1)?);
        let out = b.out(c);
        b.emit(Op::Count { inc, reset, out, c: Counter::default() });
        Ok(Operand::S(out))
    }),
    f!("idx", 3, 3, "{trigger, index 0-1, list}idx", "On a trigger, picks a list element by normalised index.", |b, c| {
        let (trig, index) = (b.s(c, 0)?, b.s(c, 1)?);
        let list = b.l(c, 2)?;
        let out = b.out(c);
        b.emit(Op::Idx { trig, index, list, out, ix: Index::default() });
        Ok(Operand::S(out))
    }),
    // ---- clock
    f!("clk", 2, 2, "{bpm, beatsPerBar}clk", "Sets the tempo used when not synced to the host.", |b, c| {
        let (bpm, beats) = (b.s(c, 0)?, b.s(c, 1)?);
        if let (Some(x), Some(y)) = (b.const_of(&c.args[0]), b.const_of(&c.args[1])) {
            if !(x > 0.0 && y > 0.0) {
                return Err(format!("clk needs a positive tempo and beats per bar, got {{{x}, {y}}}"));
            }
            b.clock = Some((x, y));
        }
        b.emit(Op::Clk { bpm, beats });
        Ok(Operand::S(b.konst(0.0)))
    }),
    f!("clp", 1, 2, "{cyclesPerBar, phaseOffset?}clp", "Phasor running the given number of cycles per bar.", |b, c| {
        let (cycles, offset) = (b.s(c, 0)?, b.s_or(c, 1, 0.0)?);
        let out = b.out(c);
        b.emit(Op::Clp { cycles, offset, out });
        Ok(Operand::S(out))
    }),
    f!("clt", 1, 2, "{cyclesPerBar, phaseOffset?}clt", "1 at the start of each clp cycle.", |b, c| {
        let (cycles, offset) = (b.s(c, 0)?, b.s_or(c, 1, 0.0)?);
        let out = b.out(c);
        b.emit(Op::Clt { cycles, offset, out, t: ClockTrig::default() });
        Ok(Operand::S(out))
    }),
    f!("quantise", 1, 1, "{0 or 1}quantise", "1: new code starts at the next bar; 0: at once.", |b, c| {
        match b.const_of(&c.args[0]) {
            Some(v) => {
                b.quantise = Some(v > 0.0);
                Ok(Operand::S(b.konst(0.0)))
            }
            None => Err("quantise needs a constant: {1}quantise or {0}quantise".into()),
        }
    }),
    f!("rsq", 2, 3, "{phasor, [ratios], [values]?}rsq", "Ratio sequencer: triggers, or steps through values.", |b, c| {
        let phase = b.s(c, 0)?;
        let times = b.l(c, 1)?;
        let values = if c.args.len() > 2 { Some(b.l(c, 2)?) } else { None };
        let out = b.out(c);
        let cap = b.list_capacity(times);
        b.emit(Op::Rsq { phase, times, values, out, seq: RatioSeq::new(cap), times_version: None });
        Ok(Operand::S(out))
    }),
    // ---- data
    f!("const", 1, 1, "{value}const", "The value itself (a number or a list).", |b, c| match &c.args[0] {
        Operand::L(_) => {
            let src = b.l(c, 0)?;
            let cap = src_capacity(b, src);
            let dst = b.out_list(c, cap);
            if dst != src {
                b.emit(Op::ListCopy { src, dst });
            }
            Ok(Operand::L(dst))
        }
        _ => Ok(Operand::S(b.s(c, 0)?)),
    }),
    f!("poll", 1, 1, "{value}poll", "Passes the value through (Sema logs it; the plugin has no console).", |b, c| Ok(Operand::S(b.s(c, 0)?))),
    f!("at", 2, 2, "{list, index}at", "The list element at index (clamped to the last).", |b, c| {
        if let Operand::Tuple(items) = &c.args[0] {
            // Groups of results are picked at compile time.
            let Some(i) = b.const_of(&c.args[1]) else {
                return Err("picking from fft/mfcc results needs a constant index, like {:fftdata:, 1}at".into());
            };
            let i = if i.is_finite() && i > 0.0 { (i as usize).min(items.len() - 1) } else { 0 };
            return Ok(items[i].clone());
        }
        let list = b.l(c, 0)?;
        let index = b.s(c, 1)?;
        let out = b.out(c);
        b.emit(Op::At { list, index, out });
        Ok(Operand::S(out))
    }),
    // ---- input/output
    f!("dac", 1, 2, "{signal, channel?}dac", "Sends a signal to all outputs or to one channel.", |b, c| {
        let x = b.s(c, 0)?;
        match b.opt_s(c, 1)? {
            None => b.emit(Op::DacAll { x }),
            Some(ch) => b.emit(Op::DacCh { x, ch }),
        }
        Ok(Operand::S(x))
    }),
    f!("adc", 1, 1, "{amp}adc", "Audio input (sidechain) times amp.", |b, c| {
        let amp = b.s(c, 0)?;
        let out = b.out(c);
        b.emit(Op::Adc { amp, out });
        Ok(Operand::S(out))
    }),
    f!("fromJS", 1, 2, "{channel, trigger?}fromJS", "What the JS channel last sent (a list, or a number); with a trigger, taken on its rising edges only.", |b, c| {
        let channel = b.s(c, 0)?;
        let trig = match b.opt_s(c, 1)? {
            Some(t) => {
                // The value may change mid-block: evaluate the program per sample.
                b.mark_dynamic_lists();
                Some((t, Trigger::default()))
            }
            None => None,
        };
        let list = b.out_list(c, crate::dsl::compiler::FROMJS_CAPACITY);
        b.emit(Op::FromJs { channel, trig, list, last: None });
        Ok(Operand::L(list))
    }),
    f!("toJS", 3, 4, "{trigger, channel, value}toJS", "Sends value to JS input(value, channel) on each rising trigger; a list of n values arrives as one array.", |b, c| {
        let (trig, channel) = (b.s(c, 0)?, b.s(c, 1)?);
        // A list is sent as `blocksize` values (default 1, as in Sema).
        let list = if matches!(c.args[2], Operand::L(_)) { Some(b.l(c, 2)?) } else { None };
        let value = b.s(c, 2)?;
        let block = b.const_arg(c, 3, 1.0).clamp(1.0, 4096.0) as usize;
        let out = b.out(c);
        b.tojs_ops += 1;
        b.emit(Op::ToJs { trig, channel, value, list, block, out, zx: Trigger::default() });
        Ok(Operand::S(out))
    }),
    f!("scop", 1, 4, "{trigger, channel, value}scop or {value}scop", "Feeds the editor's scope.", |b, c| {
        let (trig, value) = if c.args.len() >= 3 { (Some(b.s(c, 0)?), b.s(c, 2)?) } else { (None, b.s(c, 0)?) };
        let out = b.out(c);
        b.scope_ops += 1;
        b.emit(Op::Scope { trig, value, out, zx: Trigger::default() });
        Ok(Operand::S(out))
    }),
    // ---- lists with lambdas (compiled by the compiler itself: the lambda argument is a
    // variable name, not a value; these entries give arity and documentation)
    f!("map", 2, 2, "{list, :lambda:}map", "Applies a one-argument lambda to each element.", |_, _| Err(LAMBDA_ONLY.into())),
    f!("filt", 2, 2, "{list, :lambda:}filt", "Keeps the elements for which the lambda is non-zero.", |_, _| Err(LAMBDA_ONLY.into())),
    f!("redu", 2, 2, "{list, :lambda:}redu", "Folds the list with a two-argument lambda.", |_, _| Err(LAMBDA_ONLY.into())),
    f!("expa", 2, 2, "{list, :lambda:}expa", "Like map, with one lambda instance (own state) per element.", |_, _| Err(LAMBDA_ONLY.into())),
    // ---- synths
    f!("o303", 12, 12, "{trigger, note, slide, accent, noteOff, waveform 0-1, cutoffHz, resonance %, envMod %, attackMs, decayMs, accent %}o303",
        "TB-303 style bass voice (own design, Open303's controls): a rising trigger plays the MIDI note.", |b, c| {
        let mut args = [0; 12];
        for (i, a) in args.iter_mut().enumerate() {
            *a = b.s(c, i)?;
        }
        let out = b.out(c);
        let sr = b.sr;
        // The note-off detector starts at the initial value so it does not fire at once.
        let off_change = Trigger::default();
        b.emit(Op::Acid { args, out, v: Box::new(Acid::new(sr)), note_zx: Trigger::default(), off_change });
        Ok(Operand::S(out))
    }),
    // ---- spectral
    f!("fft", 3, 3, "{signal, bins, hop 0-1}fft", "Short-time FFT: [trigger, magnitudes, phases], a new frame every hop·2·bins samples.", |b, c| {
        let x = b.s(c, 0)?;
        let bins = const_int(b, c, 1, "bins", 1, 8192)?;
        let hop_frac = b.const_of(&c.args[2]).ok_or("fft needs a constant hop (fraction of the FFT size)")?;
        let size = bins.next_power_of_two() * 2;
        let hop = ((size as f64 * hop_frac) as usize).clamp(1, size);
        spectral_lists(b);
        let a = FftAnalyzer::new(size / 2, hop);
        let (mags, phases) = (b.new_list(size / 2), b.new_list(size / 2));
        let trig = b.reg();
        b.emit(Op::Fft { x, trig, mags, phases, a: Box::new(a) });
        Ok(Operand::Tuple(vec![Operand::S(trig), Operand::L(mags), Operand::L(phases)]))
    }),
    f!("ifft", 5, 5, "{trigger, magnitudes, phases, bins, hop 0-1}ifft", "Resynthesises a frame (overlap-add) on each trigger.", |b, c| {
        let trig = b.s(c, 0)?;
        let (mags, phases) = (b.l(c, 1)?, b.l(c, 2)?);
        let bins = const_int(b, c, 3, "bins", 1, 8192)?;
        let hop_frac = b.const_of(&c.args[4]).ok_or("ifft needs a constant hop (fraction of the FFT size)")?;
        let size = bins.next_power_of_two() * 2;
        let hop = ((size as f64 * hop_frac) as usize).clamp(1, size);
        let out = b.out(c);
        b.emit(Op::Ifft { trig, mags, phases, out, s: Box::new(IfftSynth::new(size / 2, hop)) });
        Ok(Operand::S(out))
    }),
    f!("mfcc", 4, 4, "{signal, fftSize, hopSamples, numCoeffs}mfcc", "Mel-frequency cepstral coefficients: [trigger, coefficients].", |b, c| {
        let x = b.s(c, 0)?;
        let size = const_int(b, c, 1, "fftSize", 2, 16384)?;
        let hop = const_int(b, c, 2, "hopSamples", 1, 16384)?;
        let n = const_int(b, c, 3, "numCoeffs", 1, 40)?;
        spectral_lists(b);
        let m = Mfcc::new(size, hop, n, b.sr);
        let coeffs = b.new_list(m.coeffs.len());
        let trig = b.reg();
        b.emit(Op::Mfcc { x, trig, coeffs, m: Box::new(m) });
        Ok(Operand::Tuple(vec![Operand::S(trig), Operand::L(coeffs)]))
    }),
    f!("pvshift", 2, 2, "{signal, shiftBins}pvshift", "Shifts the spectrum up by a number of FFT bins (1024-point FFT).", |b, c| {
        let (x, shift) = (b.s(c, 0)?, b.s(c, 1)?);
        let out = b.out(c);
        b.emit(Op::PvShift { x, shift, out, p: Box::new(PvShift::new()) });
        Ok(Operand::S(out))
    }),
    f!("mouseX", 0, 0, "{}mouseX", "Macro 1 (0..1).", |b, c| {
        let index = b.konst(1.0);
        let out = b.out(c);
        b.emit(Op::Param { index, out });
        Ok(Operand::S(out))
    }),
    f!("mouseY", 0, 0, "{}mouseY", "Macro 2 (0..1).", |b, c| {
        let index = b.konst(2.0);
        let out = b.out(c);
        b.emit(Op::Param { index, out });
        Ok(Operand::S(out))
    }),
    f!("param", 1, 1, "{index}param", "Host parameter: 0 temperature, 1-8 macros.", |b, c| {
        let index = b.s(c, 0)?;
        let out = b.out(c);
        b.emit(Op::Param { index, out });
        Ok(Operand::S(out))
    }),
    f!("midi", 2, 5, "{trigger, note, velocity?, lengthBars?, channel?}midi", "Sends a MIDI note on each rising trigger (velocity 0.8, 1/4 bar and channel 0 by default); a note below 0.5 (e.g. ftom of a 0 Hz padding) is a rest.", |b, c| {
        let (trig, pitch) = (b.s(c, 0)?, b.s(c, 1)?);
        let vel = b.s_or(c, 2, 0.8)?;
        let (len, channel) = (b.opt_s(c, 3)?, b.opt_s(c, 4)?);
        let out = b.out(c);
        b.midi_ops += 1;
        b.emit(Op::Midi { trig, pitch, vel, len, channel, out, prev: 0.0 });
        Ok(Operand::S(out))
    }),
    // ---- MIDI input (what the host plays into the plugin, and the clip it plays)
    f!("mnote", 0, 0, "{}mnote", "MIDI in: pitch (MIDI number) of the last note played, 0 before any; {{}mnote}mtof is its frequency.", |b, c| midi_in(b, c, MidiFn::Note)),
    f!("mvel", 0, 0, "{}mvel", "MIDI in: velocity 0..1 of the last note played.", |b, c| midi_in(b, c, MidiFn::Vel)),
    f!("mgate", 0, 0, "{}mgate", "MIDI in: 1 while at least one note is held, else 0 (a gate for env).", |b, c| midi_in(b, c, MidiFn::Gate)),
    f!("mheld", 0, 0, "{}mheld", "MIDI in: number of notes held.", |b, c| midi_in(b, c, MidiFn::Held)),
    f!("mtrig", 0, 0, "{}mtrig", "MIDI in: 1 on the sample of each note-on, else 0 (a trigger; note-ons on adjacent samples make one).", |b, c| midi_in(b, c, MidiFn::Trig)),
    f!("mcc", 1, 1, "{controller}mcc", "MIDI in: value 0..1 of a controller 0-127 (all channels), 0 until it moves.", |b, c| midi_in(b, c, MidiFn::Cc)),
    f!("mbend", 0, 0, "{}mbend", "MIDI in: pitch bend -1..1, 0 at rest.", |b, c| midi_in(b, c, MidiFn::Bend)),
    f!("mtouch", 0, 0, "{}mtouch", "MIDI in: channel pressure (aftertouch) 0..1.", |b, c| midi_in(b, c, MidiFn::Touch)),
    // ---- sample players
    f!("sampler", 2, 4, "{trigger, speed?, offset?}\\name", "Plays a sample once on each rising trigger.", |b, c| player(b, c, PlayMode::OneShot)),
    f!("slice", 3, 3, "{trigger, position}|name", "Loops a sample; a trigger jumps to the position.", |b, c| player(b, c, PlayMode::Slice)),
    f!("stretch", 2, 5, "{pitch, timeStretch?, grainSecs?, overlaps?}@name", "Granular time-stretch player.", |b, c| {
        let n = c.args.len();
        let (name, _) = b.str_arg(c, n - 1)?;
        let pitch = b.s(c, 0)?;
        let time = if n > 2 { b.s(c, 1)? } else { b.konst(1.0) };
        let grain = if n > 3 { b.s(c, 2)? } else { b.konst(0.05) };
        let overlaps = if n > 4 { b.s(c, 3)? } else { b.konst(2.0) };
        let out = b.out(c);
        let seed = b.next_seed();
        let s = b.stretch_player(&name, seed)?;
        b.emit(Op::Stretch { pitch, time, grain, overlaps, out, s: Box::new(s) });
        Ok(Operand::S(out))
    }),
    f!("loop", 2, 2, "{speed, 'name'}loop", "Loops a sample at a speed.", |b, c| player(b, c, PlayMode::Loop)),
    // ---- bits
    f!("bitToSig", 1, 1, "{bits}bitToSig", "Bits to a -1..1 signal.", |b, c| bitun(b, c, BitUn::ToSig)),
    f!("bitToTrigSig", 1, 1, "{bits}bitToTrigSig", "1 when non-zero, else -1.", |b, c| bitun(b, c, BitUn::ToTrigSig)),
    f!("bitFromSig", 1, 1, "{signal}bitFromSig", "A -1..1 signal to bits.", |b, c| bitun(b, c, BitUn::FromSig)),
    f!("bitNeg", 1, 1, "{bits}bitNeg", "Bitwise not.", |b, c| bitun(b, c, BitUn::Neg)),
    f!("bitInc", 1, 1, "{bits}bitInc", "Plus one.", |b, c| bitun(b, c, BitUn::Inc)),
    f!("bitDec", 1, 1, "{bits}bitDec", "Minus one.", |b, c| bitun(b, c, BitUn::Dec)),
    f!("bitAnd", 2, 2, "{a, b}bitAnd", "Bitwise and.", |b, c| bitbin(b, c, BitBin::And)),
    f!("bitOr", 2, 2, "{a, b}bitOr", "Bitwise or.", |b, c| bitbin(b, c, BitBin::Or)),
    f!("bitXor", 2, 2, "{a, b}bitXor", "Bitwise xor.", |b, c| bitbin(b, c, BitBin::Xor)),
    f!("bitShl", 2, 2, "{a, n}bitShl", "Shift left.", |b, c| bitbin(b, c, BitBin::Shl)),
    f!("bitShr", 2, 2, "{a, n}bitShr", "Shift right.", |b, c| bitbin(b, c, BitBin::Shr)),
    f!("bitAt", 2, 2, "{a, n}bitAt", "Bit n of a.", |b, c| bitbin(b, c, BitBin::At)),
    f!("bitAdd", 2, 2, "{a, b}bitAdd", "Wrapping add.", |b, c| bitbin(b, c, BitBin::Add)),
    f!("bitSub", 2, 2, "{a, b}bitSub", "Wrapping subtract.", |b, c| bitbin(b, c, BitBin::Sub)),
    f!("bitMul", 2, 2, "{a, b}bitMul", "Wrapping multiply.", |b, c| bitbin(b, c, BitBin::Mul)),
    f!("bitDiv", 2, 2, "{a, b}bitDiv", "Integer divide (0 when b is 0).", |b, c| bitbin(b, c, BitBin::Div)),
    f!("bitEq", 2, 2, "{a, b}bitEq", "1 if equal.", |b, c| bitbin(b, c, BitBin::Eq)),
    f!("bitGt", 2, 2, "{a, b}bitGt", "1 if a > b.", |b, c| bitbin(b, c, BitBin::Gt)),
    f!("bitGte", 2, 2, "{a, b}bitGte", "1 if a >= b.", |b, c| bitbin(b, c, BitBin::Gte)),
    f!("bitLt", 2, 2, "{a, b}bitLt", "1 if a < b.", |b, c| bitbin(b, c, BitBin::Lt)),
    f!("bitLte", 2, 2, "{a, b}bitLte", "1 if a <= b.", |b, c| bitbin(b, c, BitBin::Lte)),
    f!("bitr", 3, 3, "{bits, offset, width}bitr", "width bits of bits ending at bit offset.", |b, c| {
        let (v, offset, width) = (b.s(c, 0)?, b.s(c, 1)?, b.s(c, 2)?);
        let out = b.out(c);
        b.emit(Op::BitR { v, offset, width, out });
        Ok(Operand::S(out))
    }),
    f!("bitnoise", 0, 0, "{}bitnoise", "Random 32-bit value each sample.", |b, c| {
        let out = b.out(c);
        let seed = b.next_seed();
        b.emit(Op::BitNoise { out, rng: Rng::new(seed) });
        Ok(Operand::S(out))
    }),
    f!("btime", 0, 0, "{}btime", "Sample counter since the program started (32 bits).", |b, c| {
        let out = b.out(c);
        b.emit(Op::BTime { out });
        Ok(Operand::S(out))
    }),
    f!("bitclock", 0, 0, "{}bitclock", "Bar phase as 0..1023.", |b, c| {
        let out = b.out(c);
        b.emit(Op::BitClock { out });
        Ok(Operand::S(out))
    }),
];

const LAMBDA_ONLY: &str = "internal: list functions are compiled by the compiler";

/// Functions whose second argument is a lambda variable (compiled specially).
pub const LAMBDA_LIST_FUNCTIONS: &[&str] = &["map", "filt", "redu", "expa"];

/// A constant integer argument in `lo..=hi`.
fn const_int(
    b: &Builder,
    c: &Call,
    i: usize,
    what: &str,
    lo: usize,
    hi: usize,
) -> Result<usize, String> {
    match b.const_of(&c.args[i]) {
        Some(v) if v.is_finite() && v >= lo as f64 && v <= hi as f64 => Ok(v as usize),
        Some(v) => Err(format!("{what} of '{}' must be between {lo} and {hi}, got {v}", c.name)),
        None => Err(format!("{what} of '{}' must be a constant number", c.name)),
    }
}

/// Analysis results change in the middle of blocks: evaluate sample by sample.
fn spectral_lists(b: &mut Builder) {
    b.mark_dynamic_lists();
}

fn src_capacity(b: &Builder, l: crate::dsl::program::L) -> usize {
    b.list_capacity(l)
}
