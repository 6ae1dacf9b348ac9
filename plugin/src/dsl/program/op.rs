//! The operations a compiled program runs: one [`Op`] per DSL call site, and the kinds
//! that parametrise them.

use super::*;

/// Two-input arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinKind {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Gt,
    Lt,
    Dist,
}

/// One-input functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnKind {
    Abs,
    Mtof,
    Ftom,
    Softclip,
    Hardclip,
}

/// Oscillators with one frequency input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OscKind {
    Sin,
    Saw,
    Tri,
    Pha,
    Sqr,
    Imp,
    Sawn,
}

/// Filters with an input, a cutoff and (for lpz/hpz) a resonance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    Lpf,
    Hpf,
    Lpz,
    Hpz,
}

/// Two-input bit operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitBin {
    And,
    Or,
    Xor,
    Shl,
    Shr,
    At,
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// One-input bit operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitUn {
    ToSig,
    ToTrigSig,
    FromSig,
    Neg,
    Inc,
    Dec,
}

/// Sample player modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayMode {
    /// `{trig, speed?, offset?}\name`.
    OneShot,
    /// `{trig, pos}|name`.
    Slice,
    /// `{speed, 'name'}loop`.
    Loop,
}

/// What a MIDI-input function (`mnote`, `mvel`, `mgate`, ...) reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidiFn {
    /// `mnote`: pitch of the last note-on (0 before any).
    Note,
    /// `mvel`: its velocity 0..1.
    Vel,
    /// `mgate`: 1 while a note is held.
    Gate,
    /// `mheld`: number of notes held.
    Held,
    /// `mtrig`: 1 on the sample of each note-on.
    Trig,
    /// `mcc`: a controller's value 0..1.
    Cc,
    /// `mbend`: pitch bend -1..1.
    Bend,
    /// `mtouch`: channel pressure 0..1.
    Touch,
}

/// A MIDI-input op's own copy of the input state, stepped through the sub-block's
/// events as its samples are reached (see [`Op::MidiIn`]).
#[derive(Clone, Debug, Default)]
pub struct MidiCursor {
    pub(super) state: MidiInState,
    /// Index of the next event of the sub-block to apply.
    pub(super) next: usize,
}

/// Functional list operations with a lambda (`map`, `filt`, `redu`, `expa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFnKind {
    /// Applies the lambda to each element.
    Map,
    /// Keeps the elements for which the lambda is non-zero.
    Filt,
    /// Folds the list with a two-argument lambda.
    Redu,
    /// Like `Map`, with one lambda instance (own state) per element.
    Expa,
}

/// One operation of a compiled program. Register fields are register numbers.
#[derive(Clone, Debug)]
pub enum Op {
    /// Copies a register (variable assignment from another value).
    Copy {
        a: R,
        out: R,
    },
    /// Two-input arithmetic, comparison or `dist`.
    Bin {
        kind: BinKind,
        a: R,
        b: R,
        out: R,
    },
    /// One-input functions (`abs`, `mtof`, `ftom`, clippers).
    Un {
        kind: UnKind,
        a: R,
        out: R,
    },
    /// `sum`/`mix` (scale 1/n for mix).
    Sum {
        args: Box<[R]>,
        scale: f64,
        out: R,
    },
    /// `prod`.
    Prod {
        args: Box<[R]>,
        out: R,
    },
    /// linlin (exp = false) or linexp mapping.
    Map {
        exp: bool,
        x: R,
        in_lo: R,
        in_hi: R,
        out_lo: R,
        out_hi: R,
        out: R,
    },
    /// `asymclip`.
    Asym {
        x: R,
        a: R,
        b: R,
        out: R,
    },
    /// Oscillators with one frequency input.
    Osc {
        kind: OscKind,
        freq: R,
        out: R,
        osc: Osc,
    },
    /// `pul`.
    Pul {
        freq: R,
        duty: R,
        out: R,
        osc: Osc,
    },
    /// `ph2`.
    Ph2 {
        freq: R,
        start: R,
        end: R,
        out: R,
        osc: Osc,
    },
    /// `noiz`.
    Noise {
        amp: R,
        out: R,
        rng: Rng,
    },
    /// PolyBLEP oscillators; `wave` only for `polyblep`.
    Blep {
        freq: R,
        wave: Option<R>,
        pw: Option<R>,
        out: R,
        osc: PolyBlep,
    },
    /// `sah`.
    Sah {
        x: R,
        ms: R,
        out: R,
        s: SampleAndHold,
    },
    /// `env`.
    Env {
        gate: R,
        a: R,
        d: R,
        s: R,
        r: R,
        out: R,
        env: Adsr,
    },
    /// `line`.
    Line {
        trig: R,
        dur: R,
        out: R,
        line: Line,
    },
    /// `lpf`, `hpf`, `lpz`, `hpz`.
    Filter {
        kind: FilterKind,
        x: R,
        cutoff: R,
        res: R,
        out: R,
        f: Filter,
    },
    /// `svf`.
    Svf {
        x: R,
        cutoff: R,
        res: R,
        lp: R,
        bp: R,
        hp: R,
        notch: R,
        out: R,
        f: Svf,
    },
    /// `dl`.
    Dl {
        x: R,
        size: R,
        fb: R,
        out: R,
        d: DelayLine,
    },
    /// `flange`.
    Flange {
        x: R,
        delay: R,
        fb: R,
        speed: R,
        depth: R,
        out: R,
        f: Box<Flanger>,
    },
    /// `chor`.
    Chorus {
        x: R,
        delay: R,
        fb: R,
        speed: R,
        depth: R,
        out: R,
        f: Box<Chorus>,
    },
    /// `freeverb`.
    Reverb {
        x: R,
        room: R,
        absorb: R,
        out: R,
        r: Box<FreeVerb>,
    },
    /// `onzx`.
    OnZx {
        x: R,
        out: R,
        t: Trigger,
    },
    /// `onchange`.
    OnChange {
        x: R,
        tol: R,
        out: R,
        t: Trigger,
    },
    /// `count`.
    Count {
        inc: R,
        reset: R,
        out: R,
        c: Counter,
    },
    /// `idx`.
    Idx {
        trig: R,
        index: R,
        list: L,
        out: R,
        ix: Index,
    },
    /// `clp`: phase of `cycles` per bar from the host bar position.
    Clp {
        cycles: R,
        offset: R,
        out: R,
    },
    /// `clt`.
    Clt {
        cycles: R,
        offset: R,
        out: R,
        t: ClockTrig,
    },
    /// `clk`: sets `BlockContext::clock_request`.
    Clk {
        bpm: R,
        beats: R,
    },
    /// `times_version`: the version of `times` the trigger points were computed from.
    Rsq {
        phase: R,
        times: L,
        values: Option<L>,
        out: R,
        seq: RatioSeq,
        times_version: Option<u32>,
    },
    /// `at`.
    At {
        list: L,
        index: R,
        out: R,
    },
    /// A list used as a number: its first element (0 when empty).
    ListFirst {
        list: L,
        out: R,
    },
    /// A number used as a list: a one-element list.
    ScalarToList {
        a: R,
        list: L,
    },
    /// Updates the non-constant elements of a list literal.
    ListLit {
        list: L,
        elems: Box<[(u32, R)]>,
    },
    /// Copies a list (assignment of a list to a list variable).
    ListCopy {
        src: L,
        dst: L,
    },
    /// `trig`: with a trigger, the value is only taken on its rising edges.
    /// `fromJS`: copies the channel's data when it changes (`last` = id and generation seen).
    FromJs {
        channel: R,
        trig: Option<(R, Trigger)>,
        list: L,
        last: Option<(usize, u64)>,
    },
    /// Sends on each rising edge of `trig`: the scalar `value`, or `block` values of
    /// `list` (zero-padded), one `ToJsValue` each, in order, marked as one list.
    ToJs {
        trig: R,
        channel: R,
        value: R,
        list: Option<L>,
        block: usize,
        out: R,
        zx: Trigger,
    },
    /// Short-time FFT: `trig` is 1 on samples where a new frame was written to the lists.
    Fft {
        x: R,
        trig: R,
        mags: L,
        phases: L,
        a: Box<FftAnalyzer>,
    },
    /// Overlap-add resynthesis of a frame each time `trig` > 0.
    Ifft {
        trig: R,
        mags: L,
        phases: L,
        out: R,
        s: Box<IfftSynth>,
    },
    Mfcc {
        x: R,
        trig: R,
        coeffs: L,
        m: Box<Mfcc>,
    },
    /// `pvshift`.
    PvShift {
        x: R,
        shift: R,
        out: R,
        p: Box<PvShift>,
    },
    /// `@name` time-stretch player.
    Stretch {
        pitch: R,
        time: R,
        grain: R,
        overlaps: R,
        out: R,
        s: Box<Stretch>,
    },
    /// `map`/`filt`/`redu`/`expa`: runs a compiled lambda body per element (per-sample
    /// mode only). `bodies` holds one body, or one per element for `expa`; each body
    /// reads `params` and leaves its value in its `results` register.
    ListFn {
        kind: ListFnKind,
        src: L,
        dst: Option<L>,
        out: R,
        params: [R; 2],
        bodies: Box<[Box<[Op]>]>,
        results: Box<[R]>,
    },
    /// `o303`: args are the 12 registers in Sema's order (see `functions.rs`).
    Acid {
        args: [R; 12],
        out: R,
        v: Box<Acid>,
        note_zx: Trigger,
        off_change: Trigger,
    },
    /// Sends on each rising edge of `trig`, or every sample without a trigger.
    Scope {
        trig: Option<R>,
        value: R,
        out: R,
        zx: Trigger,
    },
    /// `midi`: a note request on each rising edge of `trig` (`prev` = its last value).
    Midi {
        trig: R,
        pitch: R,
        vel: R,
        len: Option<R>,
        channel: Option<R>,
        out: R,
        prev: f64,
    },
    /// `>`: writes every output.
    DacAll {
        x: R,
    },
    /// `>N` and `{x, ch}dac`: writes one (clamped) output.
    DacCh {
        x: R,
        ch: R,
    },
    /// `adc`: the first audio input times `amp`.
    Adc {
        amp: R,
        out: R,
    },
    /// `param`, `mouseX`, `mouseY`: a host parameter.
    Param {
        index: R,
        out: R,
    },
    /// `mnote`, `mvel`, `mgate`, `mheld`, `mtrig`, `mcc`, `mbend`, `mtouch`: the MIDI
    /// input at each sample. At the first sample of every `process` call the cursor takes
    /// the engine's state at that sample, then applies each event at its sample, so the
    /// value is sample-accurate in block and per-sample mode alike.
    MidiIn {
        kind: MidiFn,
        /// The controller number of `mcc`.
        arg: Option<R>,
        out: R,
        cursor: Box<MidiCursor>,
    },
    /// Sample players (`\name`, `|name`, `loop`).
    Player {
        mode: PlayMode,
        a: R,
        b: Option<R>,
        c: Option<R>,
        out: R,
        p: SamplePlayer,
    },
    /// Two-input bit operations.
    BitBin {
        kind: BitBin,
        a: R,
        b: R,
        out: R,
    },
    /// One-input bit operations and conversions.
    BitUn {
        kind: BitUn,
        a: R,
        out: R,
    },
    /// `bitr`.
    BitR {
        v: R,
        offset: R,
        width: R,
        out: R,
    },
    /// `bitnoise`.
    BitNoise {
        out: R,
        rng: Rng,
    },
    /// `btime`.
    BTime {
        out: R,
    },
    /// `bitclock`.
    BitClock {
        out: R,
    },
}

impl Op {
    /// Calls `f` with every register the op reads or writes, including those of lambda
    /// bodies. [`Program::new`] checks them once, which is what makes the unchecked
    /// register accesses of [`Op::run`] sound.
    pub(super) fn registers(&self, f: &mut dyn FnMut(R)) {
        match self {
            Op::Copy { a, out, .. } => {
                f(*a);
                f(*out);
            }
            Op::Bin { a, b, out, .. } => {
                f(*a);
                f(*b);
                f(*out);
            }
            Op::Un { a, out, .. } => {
                f(*a);
                f(*out);
            }
            Op::Sum { args, out, .. } => {
                args.iter().for_each(|r| f(*r));
                f(*out);
            }
            Op::Prod { args, out, .. } => {
                args.iter().for_each(|r| f(*r));
                f(*out);
            }
            Op::Map { x, in_lo, in_hi, out_lo, out_hi, out, .. } => {
                f(*x);
                f(*in_lo);
                f(*in_hi);
                f(*out_lo);
                f(*out_hi);
                f(*out);
            }
            Op::Asym { x, a, b, out, .. } => {
                f(*x);
                f(*a);
                f(*b);
                f(*out);
            }
            Op::Osc { freq, out, .. } => {
                f(*freq);
                f(*out);
            }
            Op::Pul { freq, duty, out, .. } => {
                f(*freq);
                f(*duty);
                f(*out);
            }
            Op::Ph2 { freq, start, end, out, .. } => {
                f(*freq);
                f(*start);
                f(*end);
                f(*out);
            }
            Op::Noise { amp, out, .. } => {
                f(*amp);
                f(*out);
            }
            Op::Blep { freq, wave, pw, out, .. } => {
                f(*freq);
                if let Some(r) = wave {
                    f(*r);
                }
                if let Some(r) = pw {
                    f(*r);
                }
                f(*out);
            }
            Op::Sah { x, ms, out, .. } => {
                f(*x);
                f(*ms);
                f(*out);
            }
            Op::Env { gate, a, d, s, r, out, .. } => {
                f(*gate);
                f(*a);
                f(*d);
                f(*s);
                f(*r);
                f(*out);
            }
            Op::Line { trig, dur, out, .. } => {
                f(*trig);
                f(*dur);
                f(*out);
            }
            Op::Filter { x, cutoff, res, out, .. } => {
                f(*x);
                f(*cutoff);
                f(*res);
                f(*out);
            }
            Op::Svf { x, cutoff, res, lp, bp, hp, notch, out, .. } => {
                f(*x);
                f(*cutoff);
                f(*res);
                f(*lp);
                f(*bp);
                f(*hp);
                f(*notch);
                f(*out);
            }
            Op::Dl { x, size, fb, out, .. } => {
                f(*x);
                f(*size);
                f(*fb);
                f(*out);
            }
            Op::Flange { x, delay, fb, speed, depth, out, .. } => {
                f(*x);
                f(*delay);
                f(*fb);
                f(*speed);
                f(*depth);
                f(*out);
            }
            Op::Chorus { x, delay, fb, speed, depth, out, .. } => {
                f(*x);
                f(*delay);
                f(*fb);
                f(*speed);
                f(*depth);
                f(*out);
            }
            Op::Reverb { x, room, absorb, out, .. } => {
                f(*x);
                f(*room);
                f(*absorb);
                f(*out);
            }
            Op::OnZx { x, out, .. } => {
                f(*x);
                f(*out);
            }
            Op::OnChange { x, tol, out, .. } => {
                f(*x);
                f(*tol);
                f(*out);
            }
            Op::Count { inc, reset, out, .. } => {
                f(*inc);
                f(*reset);
                f(*out);
            }
            Op::Idx { trig, index, out, .. } => {
                f(*trig);
                f(*index);
                f(*out);
            }
            Op::Clp { cycles, offset, out, .. } => {
                f(*cycles);
                f(*offset);
                f(*out);
            }
            Op::Clt { cycles, offset, out, .. } => {
                f(*cycles);
                f(*offset);
                f(*out);
            }
            Op::Clk { bpm, beats, .. } => {
                f(*bpm);
                f(*beats);
            }
            Op::Rsq { phase, out, .. } => {
                f(*phase);
                f(*out);
            }
            Op::At { index, out, .. } => {
                f(*index);
                f(*out);
            }
            Op::ListFirst { out, .. } => {
                f(*out);
            }
            Op::ScalarToList { a, .. } => {
                f(*a);
            }
            Op::ListLit { elems, .. } => {
                elems.iter().for_each(|(_, r)| f(*r));
            }
            Op::ListCopy { .. } => {}
            Op::FromJs { channel, trig, .. } => {
                f(*channel);
                if let Some((r, _)) = trig {
                    f(*r);
                }
            }
            Op::ToJs { trig, channel, value, out, .. } => {
                f(*trig);
                f(*channel);
                f(*value);
                f(*out);
            }
            Op::Fft { x, trig, .. } => {
                f(*x);
                f(*trig);
            }
            Op::Ifft { trig, out, .. } => {
                f(*trig);
                f(*out);
            }
            Op::Mfcc { x, trig, .. } => {
                f(*x);
                f(*trig);
            }
            Op::PvShift { x, shift, out, .. } => {
                f(*x);
                f(*shift);
                f(*out);
            }
            Op::Stretch { pitch, time, grain, overlaps, out, .. } => {
                f(*pitch);
                f(*time);
                f(*grain);
                f(*overlaps);
                f(*out);
            }
            Op::ListFn { out, params, bodies, results, .. } => {
                f(*out);
                params.iter().for_each(|r| f(*r));
                bodies.iter().flat_map(|b| b.iter()).for_each(|op| op.registers(f));
                results.iter().for_each(|r| f(*r));
            }
            Op::Acid { args, out, .. } => {
                args.iter().for_each(|r| f(*r));
                f(*out);
            }
            Op::Scope { trig, value, out, .. } => {
                if let Some(r) = trig {
                    f(*r);
                }
                f(*value);
                f(*out);
            }
            Op::Midi { trig, pitch, vel, len, channel, out, .. } => {
                f(*trig);
                f(*pitch);
                f(*vel);
                if let Some(r) = len {
                    f(*r);
                }
                if let Some(r) = channel {
                    f(*r);
                }
                f(*out);
            }
            Op::DacAll { x, .. } => {
                f(*x);
            }
            Op::DacCh { x, ch, .. } => {
                f(*x);
                f(*ch);
            }
            Op::Adc { amp, out, .. } => {
                f(*amp);
                f(*out);
            }
            Op::Param { index, out, .. } => {
                f(*index);
                f(*out);
            }
            Op::MidiIn { arg, out, .. } => {
                if let Some(r) = arg {
                    f(*r);
                }
                f(*out);
            }
            Op::Player { a, b, c, out, .. } => {
                f(*a);
                if let Some(r) = b {
                    f(*r);
                }
                if let Some(r) = c {
                    f(*r);
                }
                f(*out);
            }
            Op::BitBin { a, b, out, .. } => {
                f(*a);
                f(*b);
                f(*out);
            }
            Op::BitUn { a, out, .. } => {
                f(*a);
                f(*out);
            }
            Op::BitR { v, offset, width, out, .. } => {
                f(*v);
                f(*offset);
                f(*width);
                f(*out);
            }
            Op::BitNoise { out, .. } => {
                f(*out);
            }
            Op::BTime { out, .. } => {
                f(*out);
            }
            Op::BitClock { out, .. } => {
                f(*out);
            }
        }
    }
}
