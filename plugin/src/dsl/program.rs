//! The compiled program: a flat list of operations over preallocated registers.
//!
//! Every DSL call site becomes one [`Op`] that reads scalar registers (or lists) and
//! writes one output register. `process` runs the ops in statement order. Two layouts:
//!
//! - **per-sample** (needed when a variable is read before it is written, i.e. feedback,
//!   or when a list changes every sample): each register holds one value and the whole
//!   op list runs once per sample, exactly Sema's evaluation order.
//! - **block** (everything else, e.g. the seed patch): each register holds a whole block
//!   and each op processes the block in one tight loop. Without feedback, op `k` only
//!   depends on earlier ops at the same sample, so the result is identical while the
//!   dispatch cost is paid once per block instead of once per sample.

use crate::audio::midi_in::MidiInState;
use crate::audio::patch::{
    BlockContext, NoteRequest, TimedNote, ToJsValue, NUM_OUTPUTS, NUM_PARAMS,
};
use crate::dsp::acid::{Acid, AcidControls};
use crate::dsp::blep::{PolyBlep, Waveform};
use crate::dsp::effect::{Chorus, DelayLine, Flanger};
use crate::dsp::envelope::{Adsr, Line};
use crate::dsp::filter::{Filter, Svf};
use crate::dsp::grains::Stretch;
use crate::dsp::oscillator::Osc;
use crate::dsp::reverb::FreeVerb;
use crate::dsp::sampler::SamplePlayer;
use crate::dsp::sequencer::{bar_position, clock_phase, ClockTrig, RatioSeq};
use crate::dsp::spectral::{FftAnalyzer, IfftSynth, Mfcc, PvShift};
use crate::dsp::trigger::{Counter, Index, SampleAndHold, Trigger};
use crate::dsp::{bits, maps, Rng};

/// A scalar register number.
pub type R = u32;
/// A list number.
pub type L = u32;

/// Storage for list values: each list has a fixed capacity in one flat pool and a
/// current length (lists from `fromJS` change length at run time).
#[derive(Clone, Debug, Default)]
pub struct Lists {
    data: Vec<f64>,
    start: Vec<usize>,
    cap: Vec<usize>,
    len: Vec<usize>,
    /// Bumped whenever a list's contents or length actually change, so readers (e.g.
    /// `rsq`'s trigger points) can skip recomputing.
    version: Vec<u32>,
}

impl Lists {
    /// Adds a list with `init` as its contents and room for `cap` values.
    pub fn add(&mut self, init: &[f64], cap: usize) -> L {
        let cap = cap.max(init.len()).max(1);
        let id = self.start.len() as L;
        self.start.push(self.data.len());
        self.data.extend_from_slice(init);
        self.data.resize(self.data.len() + cap - init.len(), 0.0);
        self.cap.push(cap);
        self.len.push(init.len());
        self.version.push(0);
        id
    }
    /// A counter that changes whenever list `l` changes.
    #[inline(always)]
    pub fn version(&self, l: L) -> u32 {
        self.version[l as usize]
    }
    #[inline(always)]
    fn touch(&mut self, l: usize) {
        self.version[l] = self.version[l].wrapping_add(1);
    }
    /// The current contents of list `l`.
    #[inline(always)]
    pub fn get(&self, l: L) -> &[f64] {
        let l = l as usize;
        &self.data[self.start[l]..self.start[l] + self.len[l]]
    }
    /// Capacity of list `l`.
    pub fn capacity(&self, l: L) -> usize {
        self.cap[l as usize]
    }
    /// Replaces the contents of `l` with `src` (truncated to the capacity).
    #[inline]
    fn set(&mut self, l: L, src: &[f64]) {
        let l = l as usize;
        let n = src.len().min(self.cap[l]);
        let s = self.start[l];
        self.data[s..s + n].copy_from_slice(&src[..n]);
        self.len[l] = n;
        self.touch(l);
    }
    /// Copies list `src` into list `dst`.
    #[inline]
    fn copy(&mut self, src: L, dst: L) {
        if src == dst {
            return;
        }
        let (s, d) = (src as usize, dst as usize);
        let n = self.len[s].min(self.cap[d]);
        self.data.copy_within(self.start[s]..self.start[s] + n, self.start[d]);
        self.len[d] = n;
        self.touch(d);
    }
    #[inline]
    fn set_len(&mut self, l: L, n: usize) {
        let n = n.min(self.cap[l as usize]);
        if self.len[l as usize] != n {
            self.len[l as usize] = n;
            self.touch(l as usize);
        }
    }
    #[inline]
    fn set_elem(&mut self, l: L, i: usize, v: f64) {
        let s = self.start[l as usize];
        // Only a real change counts (list literals rewrite their elements every sample).
        if self.data[s + i].to_bits() != v.to_bits() {
            self.data[s + i] = v;
            self.touch(l as usize);
        }
    }
}

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
    state: MidiInState,
    /// Index of the next event of the sub-block to apply.
    next: usize,
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
    fn registers(&self, f: &mut dyn FnMut(R)) {
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

/// What an op needs besides registers and lists while running.
struct Frame<'c, 'a> {
    ctx: &'c mut BlockContext<'a>,
    /// Index of the first sample (within the block) this call covers.
    base: usize,
    /// Number of samples this call covers.
    n: usize,
    /// Distance between registers in `regs` (1 per-sample, max_block in block mode).
    stride: usize,
    sr: f64,
    inv_sr: f64,
    /// Samples rendered since the program started (for `btime`).
    time: u64,
}

/// A compiled DSL program, ready to render. `Send + 'static`: it owns everything it uses.
pub struct Program {
    ops: Vec<Op>,
    /// Scalar registers (`stride` values each).
    regs: Vec<f64>,
    stride: usize,
    /// Whether to run the op list per sample (feedback) instead of per block.
    per_sample: bool,
    lists: Lists,
    sample_rate: f64,
    max_block: usize,
    quantise: bool,
    initial_clock: Option<(f64, f64)>,
    uses_midi: bool,
    /// Sample names its players use that had no buffer when it was compiled (they play
    /// silence until one arrives).
    missing_samples: Vec<String>,
    /// Samples rendered so far.
    time: u64,
}

/// What the compiler hands to [`Program::new`].
pub(crate) struct ProgramParts {
    pub ops: Vec<Op>,
    /// One entry per register: its constant value, if it holds one.
    pub reg_consts: Vec<Option<f64>>,
    pub per_sample: bool,
    pub lists: Lists,
    pub sample_rate: f64,
    pub max_block: usize,
    pub quantise: bool,
    pub initial_clock: Option<(f64, f64)>,
    pub uses_midi: bool,
    pub missing_samples: Vec<String>,
}

impl Program {
    /// Builds a program from the compiler's output. Checks once that every register an op
    /// uses exists, which is what the unchecked register accesses of [`Op::run`] rely on
    /// (the fields are private, so nothing can break it afterwards). A failure is a bug in
    /// the compiler, reported as an error rather than risking memory safety.
    pub(crate) fn new(parts: ProgramParts) -> Result<Program, String> {
        let ProgramParts {
            ops,
            reg_consts,
            per_sample,
            lists,
            sample_rate,
            max_block,
            quantise,
            initial_clock,
            uses_midi,
            missing_samples,
        } = parts;
        let count = reg_consts.len();
        let mut bad = None;
        for op in &ops {
            op.registers(&mut |r| {
                if r as usize >= count {
                    bad = Some(r);
                }
            });
        }
        if let Some(r) = bad {
            return Err(format!(
                "internal compiler error: register {r} used but only {count} allocated"
            ));
        }
        let max_block = max_block.max(1);
        let stride = if per_sample { 1 } else { max_block };
        let mut regs = vec![0.0; count * stride];
        for (i, c) in reg_consts.iter().enumerate() {
            if let Some(v) = c {
                regs[i * stride..(i + 1) * stride].fill(*v);
            }
        }
        Ok(Program {
            ops,
            regs,
            stride,
            per_sample,
            lists,
            sample_rate,
            max_block,
            quantise,
            initial_clock,
            uses_midi,
            missing_samples,
            time: 0,
        })
    }
}

impl Program {
    /// Whether new code should start at the next bar (`{1}quantise`).
    pub fn quantise(&self) -> bool {
        self.quantise
    }

    /// The `{bpm, beats}clk` tempo when both are constants.
    pub fn initial_clock(&self) -> Option<(f64, f64)> {
        self.initial_clock
    }

    /// Whether the program sends MIDI notes (`midi`).
    pub fn uses_midi(&self) -> bool {
        self.uses_midi
    }

    /// Whether the program is evaluated sample by sample (it has feedback or lists that
    /// change every sample) rather than op by op over the whole block.
    pub fn is_per_sample(&self) -> bool {
        self.per_sample
    }

    /// Sample names its players use that had no buffer in the library it was compiled
    /// against, sorted (each plays silence until its buffer arrives).
    pub fn missing_samples(&self) -> &[String] {
        &self.missing_samples
    }

    /// Renders `ctx.len` samples into `ctx.outputs`. No allocation, locks or I/O.
    /// Blocks longer than the `max_block` given at compile time are rendered in chunks.
    pub fn process(&mut self, ctx: &mut BlockContext) {
        let len = ctx.len.min(ctx.clocks.len());
        for out in ctx.outputs.iter_mut() {
            let n = len.min(out.len());
            out[..n].fill(0.0);
        }
        let sr = self.sample_rate;
        let inv_sr = 1.0 / sr;
        if self.per_sample {
            for i in 0..len {
                let mut f = Frame { ctx, base: i, n: 1, stride: 1, sr, inv_sr, time: self.time };
                for op in self.ops.iter_mut() {
                    op.run::<true>(&mut self.regs, &mut self.lists, &mut f);
                }
                self.time += 1;
            }
        } else {
            let mut base = 0;
            while base < len {
                let n = (len - base).min(self.max_block);
                let mut f =
                    Frame { ctx, base, n, stride: self.stride, sr, inv_sr, time: self.time };
                for op in self.ops.iter_mut() {
                    op.run::<false>(&mut self.regs, &mut self.lists, &mut f);
                }
                self.time += n as u64;
                base += n;
            }
        }
        // NaN/inf must never reach the host.
        for out in ctx.outputs.iter_mut() {
            let n = len.min(out.len());
            for s in out[..n].iter_mut() {
                // `is_finite` compiles to a branch-free mask test the compiler can vectorise.
                let v = *s;
                *s = if v.is_finite() { v } else { 0.0 };
            }
        }
    }
}

/// A frequency input with NaN/inf replaced by 0, so one bad sample (e.g. `pow` of a
/// negative number) cannot leave an oscillator's phase NaN for good.
#[inline(always)]
fn fin(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Builds a new register value from inputs for every sample of the frame.
macro_rules! each {
    ($regs:ident, $f:ident, $out:expr, |$j:ident| $body:expr) => {{
        let o = $out as usize * $f.stride::<PER_SAMPLE>();
        let n = $f.len::<PER_SAMPLE>();
        debug_assert!(o + n <= $regs.len());
        for $j in 0..n {
            let v = $body;
            // SAFETY: `Program::new` checked every register number of every op against the
            // register count and sized `regs` to (register count) × stride; the fields are
            // private, so that still holds. `n <= stride` (see `Program::process`), so
            // `o + j < regs.len()`.
            unsafe { *$regs.get_unchecked_mut(o + $j) = v };
        }
    }};
}

impl Op {
    /// Whether the op keeps no state between samples (so one instance can be reused for
    /// every element by `map`, `filt` and `redu`).
    pub fn is_stateless(&self) -> bool {
        matches!(
            self,
            Op::Copy { .. }
                | Op::Bin { .. }
                | Op::Un { .. }
                | Op::Sum { .. }
                | Op::Prod { .. }
                | Op::Map { .. }
                | Op::Asym { .. }
                | Op::At { .. }
                | Op::ListFirst { .. }
                | Op::ScalarToList { .. }
                | Op::ListLit { .. }
                | Op::ListCopy { .. }
                | Op::Clp { .. }
                | Op::Param { .. }
                | Op::Adc { .. }
                | Op::DacAll { .. }
                | Op::DacCh { .. }
                | Op::BitBin { .. }
                | Op::BitUn { .. }
                | Op::BitR { .. }
                | Op::BTime { .. }
                | Op::BitClock { .. }
        ) || matches!(self, Op::ListFn { kind, bodies, .. } if *kind != ListFnKind::Expa && bodies.iter().all(|b| b.iter().all(Op::is_stateless)))
    }
}

/// Runs a lambda body (for `map` and friends). Kept out of line: `Op::run` is inlined
/// into the sample loop and cannot inline itself recursively.
#[inline(never)]
fn run_body<const PER_SAMPLE: bool>(
    ops: &mut [Op],
    regs: &mut [f64],
    lists: &mut Lists,
    f: &mut Frame,
) {
    for op in ops.iter_mut() {
        op.run::<PER_SAMPLE>(regs, lists, f);
    }
}

impl Frame<'_, '_> {
    /// Register stride: the constant 1 in per-sample mode, so the compiler can drop the
    /// loop and index arithmetic there.
    #[inline(always)]
    fn stride<const PER_SAMPLE: bool>(&self) -> usize {
        if PER_SAMPLE {
            1
        } else {
            self.stride
        }
    }
    /// Samples this call covers: the constant 1 in per-sample mode.
    #[inline(always)]
    fn len<const PER_SAMPLE: bool>(&self) -> usize {
        if PER_SAMPLE {
            1
        } else {
            self.n
        }
    }
}

impl Op {
    /// Runs the op over the frame. Compiled twice: per-sample (`PER_SAMPLE`, one sample,
    /// inlined into the sample loop) and per-block.
    #[inline(always)]
    fn run<const PER_SAMPLE: bool>(&mut self, regs: &mut [f64], lists: &mut Lists, f: &mut Frame) {
        let st = f.stride::<PER_SAMPLE>();
        let nn = f.len::<PER_SAMPLE>();
        // Reads register `r` at frame sample `j`.
        macro_rules! g {
            ($r:expr, $j:expr) => {{
                let i = $r as usize * st + $j;
                debug_assert!(i < regs.len());
                // SAFETY: as in `each!`: registers are < the register count and
                // `j < n <= stride`, so `i < regs.len()`.
                unsafe { *regs.get_unchecked(i) }
            }};
        }
        let (sr, inv_sr) = (f.sr, f.inv_sr);
        match self {
            Op::Copy { a, out } => each!(regs, f, *out, |j| g!(*a, j)),
            Op::Bin { kind, a, b, out } => {
                let (a, b) = (*a, *b);
                match kind {
                    BinKind::Add => each!(regs, f, *out, |j| g!(a, j) + g!(b, j)),
                    BinKind::Sub => each!(regs, f, *out, |j| g!(a, j) - g!(b, j)),
                    BinKind::Mul => each!(regs, f, *out, |j| g!(a, j) * g!(b, j)),
                    BinKind::Div => each!(regs, f, *out, |j| {
                        let d = g!(b, j);
                        if d != 0.0 {
                            g!(a, j) / d
                        } else {
                            0.0
                        }
                    }),
                    BinKind::Mod => each!(regs, f, *out, |j| g!(a, j) % g!(b, j)),
                    BinKind::Pow => each!(regs, f, *out, |j| g!(a, j).powf(g!(b, j))),
                    BinKind::Gt => {
                        each!(regs, f, *out, |j| if g!(a, j) > g!(b, j) { 1.0 } else { 0.0 })
                    }
                    BinKind::Lt => {
                        each!(regs, f, *out, |j| if g!(a, j) < g!(b, j) { 1.0 } else { 0.0 })
                    }
                    BinKind::Dist => each!(regs, f, *out, |j| maps::atan_dist(g!(a, j), g!(b, j))),
                }
            }
            Op::Un { kind, a, out } => {
                let a = *a;
                match kind {
                    UnKind::Abs => each!(regs, f, *out, |j| g!(a, j).abs()),
                    UnKind::Mtof => each!(regs, f, *out, |j| maps::mtof(g!(a, j))),
                    UnKind::Ftom => each!(regs, f, *out, |j| maps::ftom(g!(a, j))),
                    UnKind::Softclip => each!(regs, f, *out, |j| maps::softclip(g!(a, j))),
                    UnKind::Hardclip => each!(regs, f, *out, |j| maps::hardclip(g!(a, j))),
                }
            }
            Op::Sum { args, scale, out } => {
                each!(regs, f, *out, |j| args.iter().map(|&r| g!(r, j)).sum::<f64>() * *scale)
            }
            Op::Prod { args, out } => {
                each!(regs, f, *out, |j| args.iter().map(|&r| g!(r, j)).product::<f64>())
            }
            Op::Map { exp, x, in_lo, in_hi, out_lo, out_hi, out } => {
                let (x, a, b, c, d) = (*x, *in_lo, *in_hi, *out_lo, *out_hi);
                if *exp {
                    each!(regs, f, *out, |j| maps::linexp(
                        g!(x, j),
                        g!(a, j),
                        g!(b, j),
                        g!(c, j),
                        g!(d, j)
                    ))
                } else {
                    each!(regs, f, *out, |j| maps::linlin(
                        g!(x, j),
                        g!(a, j),
                        g!(b, j),
                        g!(c, j),
                        g!(d, j)
                    ))
                }
            }
            Op::Asym { x, a, b, out } => {
                each!(regs, f, *out, |j| maps::asymclip(g!(*x, j), g!(*a, j), g!(*b, j)))
            }
            Op::Osc { kind, freq, out, osc } => {
                let fr = *freq;
                match kind {
                    OscKind::Sin => each!(regs, f, *out, |j| osc.sine(fin(g!(fr, j)), inv_sr)),
                    OscKind::Saw => each!(regs, f, *out, |j| osc.saw(fin(g!(fr, j)), inv_sr)),
                    OscKind::Tri => each!(regs, f, *out, |j| osc.triangle(fin(g!(fr, j)), inv_sr)),
                    OscKind::Pha => each!(regs, f, *out, |j| osc.phasor(fin(g!(fr, j)), inv_sr)),
                    OscKind::Sqr => each!(regs, f, *out, |j| osc.square(fin(g!(fr, j)), inv_sr)),
                    OscKind::Imp => each!(regs, f, *out, |j| osc.impulse(fin(g!(fr, j)), inv_sr)),
                    OscKind::Sawn => each!(regs, f, *out, |j| osc.sawn(fin(g!(fr, j)), inv_sr)),
                }
            }
            Op::Pul { freq, duty, out, osc } => {
                each!(regs, f, *out, |j| osc.pulse(fin(g!(*freq, j)), g!(*duty, j), inv_sr))
            }
            Op::Ph2 { freq, start, end, out, osc } => {
                each!(regs, f, *out, |j| osc.phasor_between(
                    fin(g!(*freq, j)),
                    fin(g!(*start, j)),
                    fin(g!(*end, j)),
                    inv_sr
                ))
            }
            Op::Noise { amp, out, rng } => {
                each!(regs, f, *out, |j| rng.next_bipolar() * g!(*amp, j))
            }
            Op::Blep { freq, wave, pw, out, osc } => each!(regs, f, *out, |j| {
                if let Some(w) = wave {
                    osc.waveform = Waveform::from_index(g!(*w, j));
                }
                if let Some(p) = pw {
                    osc.pulse_width = g!(*p, j);
                }
                osc.play(fin(g!(*freq, j)), sr)
            }),
            Op::Sah { x, ms, out, s } => each!(regs, f, *out, |j| s.sah(g!(*x, j), g!(*ms, j), sr)),
            Op::Env { gate, a, d, s, r, out, env } => {
                each!(regs, f, *out, |j| env.play(
                    g!(*gate, j),
                    g!(*a, j),
                    g!(*d, j),
                    g!(*s, j),
                    g!(*r, j),
                    sr
                ))
            }
            Op::Line { trig, dur, out, line } => {
                each!(regs, f, *out, |j| line.play(g!(*trig, j), g!(*dur, j), sr))
            }
            Op::Filter { kind, x, cutoff, res, out, f: flt } => {
                let (x, c, r) = (*x, *cutoff, *res);
                match kind {
                    FilterKind::Lpf => each!(regs, f, *out, |j| flt.lopass(g!(x, j), g!(c, j))),
                    FilterKind::Hpf => each!(regs, f, *out, |j| flt.hipass(g!(x, j), g!(c, j))),
                    FilterKind::Lpz => {
                        each!(regs, f, *out, |j| flt.lores(g!(x, j), g!(c, j), g!(r, j), sr))
                    }
                    FilterKind::Hpz => {
                        each!(regs, f, *out, |j| flt.hires(g!(x, j), g!(c, j), g!(r, j), sr))
                    }
                }
            }
            Op::Svf { x, cutoff, res, lp, bp, hp, notch, out, f: svf } => {
                each!(regs, f, *out, |j| svf.play(
                    g!(*x, j),
                    g!(*cutoff, j),
                    g!(*res, j),
                    g!(*lp, j),
                    g!(*bp, j),
                    g!(*hp, j),
                    g!(*notch, j),
                    sr
                ))
            }
            Op::Dl { x, size, fb, out, d } => {
                each!(regs, f, *out, |j| d.dl(g!(*x, j), g!(*size, j), g!(*fb, j)))
            }
            Op::Flange { x, delay, fb, speed, depth, out, f: fl } => each!(regs, f, *out, |j| fl
                .flange(
                    g!(*x, j),
                    g!(*delay, j),
                    g!(*fb, j),
                    g!(*speed, j),
                    g!(*depth, j),
                    inv_sr
                )),
            Op::Chorus { x, delay, fb, speed, depth, out, f: ch } => each!(regs, f, *out, |j| ch
                .chorus(g!(*x, j), g!(*delay, j), g!(*fb, j), g!(*speed, j), g!(*depth, j), sr)),
            Op::Reverb { x, room, absorb, out, r } => {
                each!(regs, f, *out, |j| r.play(g!(*x, j), g!(*room, j), g!(*absorb, j)))
            }
            Op::OnZx { x, out, t } => each!(regs, f, *out, |j| t.on_zx(g!(*x, j))),
            Op::OnChange { x, tol, out, t } => {
                each!(regs, f, *out, |j| t.on_changed(g!(*x, j), g!(*tol, j)))
            }
            Op::Count { inc, reset, out, c } => {
                each!(regs, f, *out, |j| c.count(g!(*inc, j), g!(*reset, j)))
            }
            Op::Idx { trig, index, list, out, ix } => {
                let vals = lists.get(*list);
                each!(regs, f, *out, |j| ix.pull(g!(*trig, j), g!(*index, j), vals))
            }
            Op::Clp { cycles, offset, out } => {
                let clocks = &f.ctx.clocks[f.base..f.base + nn];
                let o = *out as usize * st;
                for (j, c) in clocks.iter().enumerate() {
                    let v = clock_phase(
                        bar_position(c.bar, c.bar_phase),
                        g!(*cycles, j),
                        g!(*offset, j),
                    );
                    regs[o + j] = v;
                }
            }
            Op::Clt { cycles, offset, out, t } => {
                let clocks = f.ctx.clocks;
                let base = f.base;
                each!(regs, f, *out, |j| {
                    let c = &clocks[base + j];
                    if c.playing {
                        let bars_per_sample = c.bpm / 60.0 / c.beats_per_bar.max(1e-9) * inv_sr;
                        t.tick(
                            bar_position(c.bar, c.bar_phase),
                            g!(*cycles, j),
                            g!(*offset, j),
                            bars_per_sample,
                        )
                    } else {
                        // A stopped clock fires nothing; starting on a cycle start fires.
                        t.stop();
                        0.0
                    }
                })
            }
            Op::Clk { bpm, beats } => {
                let j = nn - 1;
                let (b, n) = (g!(*bpm, j), g!(*beats, j));
                if b.is_finite() && b > 0.0 && n.is_finite() && n > 0.0 {
                    f.ctx.clock_request = Some((b, n));
                }
            }
            Op::Rsq { phase, times, values, out, seq, times_version } => {
                // Lists only change between calls (per block, or per sample in
                // per-sample mode): the trigger points are recomputed when they changed.
                let v = lists.version(*times);
                if *times_version != Some(v) {
                    *times_version = Some(v);
                    seq.prepare(lists.get(*times));
                }
                match values {
                    Some(v) => {
                        let v = lists.get(*v);
                        seq.begin(g!(*phase, 0), v.len(), inv_sr);
                        each!(regs, f, *out, |j| seq.values_fast(g!(*phase, j), v, inv_sr))
                    }
                    None => {
                        seq.begin(g!(*phase, 0), 0, inv_sr);
                        each!(regs, f, *out, |j| seq.trig_fast(g!(*phase, j), inv_sr))
                    }
                }
            }
            Op::At { list, index, out } => {
                let l = lists.get(*list);
                each!(regs, f, *out, |j| {
                    let i = g!(*index, j);
                    let i = if i.is_finite() && i > 0.0 { i as usize } else { 0 };
                    l.get(i.min(l.len().saturating_sub(1))).copied().unwrap_or(0.0)
                })
            }
            Op::ListFirst { list, out } => {
                let v = lists.get(*list).first().copied().unwrap_or(0.0);
                each!(regs, f, *out, |_j| v)
            }
            Op::ScalarToList { a, list } => {
                let v = g!(*a, nn - 1);
                lists.set(*list, &[v]);
            }
            Op::ListLit { list, elems } => {
                for &(i, r) in elems.iter() {
                    lists.set_elem(*list, i as usize, g!(r, nn - 1));
                }
            }
            Op::ListCopy { src, dst } => lists.copy(*src, *dst),
            Op::FromJs { channel, trig, list, last } => {
                let id = g!(*channel, 0);
                let id = if id.is_finite() && id >= 0.0 { id as usize } else { usize::MAX };
                let gen = f.ctx.channels.generation(id);
                // A triggered read happens only on a rising edge (per-sample mode, n = 1).
                let read = match trig {
                    Some((t, zx)) => zx.on_zx(g!(*t, 0)) > 0.0 || last.is_none(),
                    None => *last != Some((id, gen)),
                };
                if read {
                    *last = Some((id, gen));
                    let data = f.ctx.channels.get(id);
                    // Nothing sent yet reads as the scalar 0.
                    if data.is_empty() {
                        lists.set(*list, &[0.0]);
                    } else {
                        lists.set(*list, data);
                    }
                }
            }
            Op::ToJs { trig, channel, value, list, block, out, zx } => {
                let o = *out as usize * st;
                for j in 0..nn {
                    let v = g!(*value, j);
                    if zx.on_zx(g!(*trig, j)) > 0.0 {
                        let ch = g!(*channel, j);
                        let ch = if ch.is_finite() && ch >= 0.0 { ch as u32 } else { 0 };
                        match list {
                            None => {
                                f.ctx.to_js.push(ToJsValue::single(ch, v));
                            }
                            Some(l) => {
                                let vals = lists.get(*l);
                                // Sent as one list (JS gets an array); the compiler clamps
                                // `block` to 4096, so it fits the u16.
                                let len = *block as u16;
                                for k in 0..*block {
                                    let value = vals.get(k).copied().unwrap_or(0.0);
                                    f.ctx.to_js.push(ToJsValue {
                                        channel: ch,
                                        value,
                                        index: k as u16,
                                        len,
                                    });
                                }
                            }
                        }
                    }
                    regs[o + j] = v;
                }
            }
            Op::Scope { trig, value, out, zx } => {
                let o = *out as usize * st;
                for j in 0..nn {
                    let v = g!(*value, j);
                    if trig.is_none_or(|t| zx.on_zx(g!(t, j)) > 0.0) {
                        f.ctx.scope.push(v as f32);
                    }
                    regs[o + j] = v;
                }
            }
            Op::Midi { trig, pitch, vel, len, channel, out, prev } => {
                let o = *out as usize * st;
                for j in 0..nn {
                    let t = g!(*trig, j);
                    let fire = t > 0.0 && *prev <= 0.0;
                    *prev = t;
                    if fire {
                        let p = g!(*pitch, j);
                        let v = g!(*vel, j);
                        let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
                        // A pitch below 0.5 is a rest: `ftom` of the 0 Hz that pads a JS
                        // channel gives 0, which must not play MIDI note 0.
                        if p.is_finite() && p >= 0.5 && v > 0.0 {
                            let length = len
                                .map(|r| g!(r, j))
                                .filter(|l| l.is_finite() && *l > 0.0)
                                .unwrap_or(0.25);
                            let ch =
                                channel.map(|r| g!(r, j)).filter(|c| c.is_finite()).unwrap_or(0.0);
                            f.ctx.notes.push(TimedNote {
                                offset: (f.base + j) as u32,
                                note: NoteRequest {
                                    pitch: p.round().clamp(0.0, 127.0) as u8,
                                    velocity: v as f32,
                                    length_bars: length.max(1e-3),
                                    channel: ch.clamp(0.0, 15.0) as u8,
                                },
                            });
                        }
                    }
                    regs[o + j] = fire as u8 as f64;
                }
            }
            Op::Fft { x, trig, mags, phases, a } => {
                for j in 0..nn {
                    let t = if a.process(g!(*x, j)) {
                        lists.set(*mags, &a.mags);
                        lists.set(*phases, &a.phases);
                        1.0
                    } else {
                        0.0
                    };
                    regs[*trig as usize * st + j] = t;
                }
            }
            Op::Ifft { trig, mags, phases, out, s } => {
                let (m, p) = (*mags, *phases);
                each!(regs, f, *out, |j| s.process(g!(*trig, j) > 0.0, lists.get(m), lists.get(p)))
            }
            Op::Mfcc { x, trig, coeffs, m } => {
                for j in 0..nn {
                    let t = if m.process(g!(*x, j)) {
                        lists.set(*coeffs, &m.coeffs);
                        1.0
                    } else {
                        0.0
                    };
                    regs[*trig as usize * st + j] = t;
                }
            }
            Op::PvShift { x, shift, out, p } => {
                each!(regs, f, *out, |j| p.play(g!(*x, j), g!(*shift, j)))
            }
            Op::Stretch { pitch, time, grain, overlaps, out, s } => {
                let (data, ratio) = f.ctx.samples.view(s.slot, sr);
                each!(regs, f, *out, |j| s.play(
                    data,
                    ratio,
                    g!(*pitch, j),
                    g!(*time, j),
                    g!(*grain, j),
                    g!(*overlaps, j)
                ))
            }
            Op::Acid { args: a, out, v, note_zx, off_change } => each!(regs, f, *out, |j| {
                if note_zx.on_zx(g!(a[0], j)) > 0.0 {
                    v.note_on(g!(a[1], j), g!(a[3], j) > 0.0, g!(a[2], j) > 0.0);
                }
                if off_change.on_changed(g!(a[4], j), 1e-5) > 0.0 {
                    v.all_notes_off();
                }
                v.play(&AcidControls {
                    waveform: g!(a[5], j),
                    cutoff_hz: g!(a[6], j),
                    resonance: g!(a[7], j),
                    env_mod: g!(a[8], j),
                    attack_ms: g!(a[9], j),
                    decay_ms: g!(a[10], j),
                    accent_amount: g!(a[11], j),
                })
            }),
            Op::ListFn { kind, src, dst, out, params, bodies, results } => {
                let n = lists.get(*src).len();
                let p0 = params[0] as usize * st;
                let p1 = params[1] as usize * st;
                match kind {
                    ListFnKind::Redu => {
                        let mut acc = lists.get(*src).first().copied().unwrap_or(0.0);
                        for i in 1..n {
                            let v = lists.get(*src)[i];
                            regs[p0] = acc;
                            regs[p1] = v;
                            run_body::<PER_SAMPLE>(&mut bodies[0], regs, lists, f);
                            acc = regs[results[0] as usize * st];
                        }
                        regs[*out as usize * st] = acc;
                    }
                    ListFnKind::Map | ListFnKind::Filt | ListFnKind::Expa => {
                        let Some(dst) = *dst else { return };
                        let n = if *kind == ListFnKind::Expa { n.min(bodies.len()) } else { n }
                            .min(lists.capacity(dst));
                        let mut k = 0;
                        for i in 0..n {
                            let v = lists.get(*src)[i];
                            regs[p0] = v;
                            let b = if *kind == ListFnKind::Expa { i } else { 0 };
                            run_body::<PER_SAMPLE>(&mut bodies[b], regs, lists, f);
                            let r = regs[results[b] as usize * st];
                            match kind {
                                ListFnKind::Filt => {
                                    // JavaScript truthiness: non-zero and not NaN.
                                    if r != 0.0 && !r.is_nan() {
                                        lists.set_elem(dst, k, v);
                                        k += 1;
                                    }
                                }
                                _ => {
                                    lists.set_elem(dst, k, r);
                                    k += 1;
                                }
                            }
                        }
                        lists.set_len(dst, k);
                        regs[*out as usize * st] = lists.get(dst).first().copied().unwrap_or(0.0);
                    }
                }
            }
            Op::DacAll { x } => {
                let src = &regs[*x as usize * st..*x as usize * st + nn];
                for out in f.ctx.outputs.iter_mut() {
                    let end = (f.base + nn).min(out.len());
                    if f.base < end {
                        for (d, s) in out[f.base..end].iter_mut().zip(src) {
                            *d = *s as f32;
                        }
                    }
                }
            }
            Op::DacCh { x, ch } => {
                for j in 0..nn {
                    let c = g!(*ch, j);
                    let c = if c.is_finite() && c > 0.0 {
                        (c as usize).min(NUM_OUTPUTS - 1)
                    } else {
                        0
                    };
                    if let Some(s) = f.ctx.outputs[c].get_mut(f.base + j) {
                        *s = g!(*x, j) as f32;
                    }
                }
            }
            Op::Adc { amp, out } => {
                let input = f.ctx.inputs[0];
                let base = f.base;
                each!(regs, f, *out, |j| input.get(base + j).copied().unwrap_or(0.0) as f64
                    * g!(*amp, j))
            }
            Op::Param { index, out } => {
                let params = f.ctx.params;
                each!(regs, f, *out, |j| {
                    let i = g!(*index, j);
                    let i =
                        if i.is_finite() && i > 0.0 { (i as usize).min(NUM_PARAMS - 1) } else { 0 };
                    params[i] as f64
                })
            }
            Op::MidiIn { kind, arg, out, cursor } => {
                let view = f.ctx.midi_in;
                let base = f.base;
                if base == 0 {
                    cursor.state = *view.state;
                    cursor.next = 0;
                }
                let (kind, arg) = (*kind, *arg);
                each!(regs, f, *out, |j| {
                    let before = cursor.state.note_ons;
                    while let Some(e) = view.events.get(cursor.next) {
                        if e.timing as usize > base + j {
                            break;
                        }
                        cursor.state.apply(e);
                        cursor.next += 1;
                    }
                    let s = &cursor.state;
                    match kind {
                        MidiFn::Note => s.last_note as f64,
                        MidiFn::Vel => s.last_velocity as f64,
                        MidiFn::Gate => (s.held_count() > 0) as u8 as f64,
                        MidiFn::Held => s.held_count() as f64,
                        MidiFn::Trig => (s.note_ons != before) as u8 as f64,
                        MidiFn::Cc => {
                            let n = arg.map_or(0.0, |r| g!(r, j));
                            let n = if n.is_finite() && n > 0.0 {
                                (n.round() as usize).min(127)
                            } else {
                                0
                            };
                            s.cc[n] as f64
                        }
                        MidiFn::Bend => s.bend as f64,
                        MidiFn::Touch => s.pressure as f64,
                    }
                })
            }
            Op::Player { mode, a, b, c, out, p } => {
                let (data, ratio) = f.ctx.samples.view(p.slot, sr);
                match mode {
                    PlayMode::OneShot => each!(regs, f, *out, |j| p.play_on_zx(
                        data,
                        ratio,
                        g!(*a, j),
                        b.map_or(1.0, |r| g!(r, j)),
                        c.map_or(0.0, |r| g!(r, j))
                    )),
                    PlayMode::Slice => each!(regs, f, *out, |j| p.loop_set_pos_on_zx(
                        data,
                        ratio,
                        g!(*a, j),
                        b.map_or(0.0, |r| g!(r, j))
                    )),
                    PlayMode::Loop => each!(regs, f, *out, |j| p.looped(data, ratio, g!(*a, j))),
                }
            }
            Op::BitBin { kind, a, b, out } => {
                let (a, b) = (*a, *b);
                let k = *kind;
                each!(regs, f, *out, |j| {
                    let (x, y) = (bits::to_u32(g!(a, j)), bits::to_u32(g!(b, j)));
                    (match k {
                        BitBin::And => x & y,
                        BitBin::Or => x | y,
                        BitBin::Xor => x ^ y,
                        BitBin::Shl => x.checked_shl(y).unwrap_or(0),
                        BitBin::Shr => x.checked_shr(y).unwrap_or(0),
                        BitBin::At => x.checked_shr(y).unwrap_or(0) & 1,
                        BitBin::Add => x.wrapping_add(y),
                        BitBin::Sub => x.wrapping_sub(y),
                        BitBin::Mul => x.wrapping_mul(y),
                        BitBin::Div => x.checked_div(y).unwrap_or(0),
                        BitBin::Eq => (x == y) as u32,
                        BitBin::Gt => (x > y) as u32,
                        BitBin::Gte => (x >= y) as u32,
                        BitBin::Lt => (x < y) as u32,
                        BitBin::Lte => (x <= y) as u32,
                    }) as f64
                })
            }
            Op::BitUn { kind, a, out } => {
                let k = *kind;
                each!(regs, f, *out, |j| {
                    let x = g!(*a, j);
                    match k {
                        BitUn::ToSig => bits::to_signal(bits::to_u32(x)),
                        BitUn::ToTrigSig => bits::to_trig_signal(bits::to_u32(x)),
                        BitUn::FromSig => bits::from_signal(x) as f64,
                        BitUn::Neg => (!bits::to_u32(x)) as f64,
                        BitUn::Inc => bits::to_u32(x).wrapping_add(1) as f64,
                        BitUn::Dec => bits::to_u32(x).wrapping_sub(1) as f64,
                    }
                })
            }
            Op::BitR { v, offset, width, out } => each!(regs, f, *out, |j| bits::range(
                bits::to_u32(g!(*v, j)),
                bits::to_u32(g!(*offset, j)),
                bits::to_u32(g!(*width, j))
            ) as f64),
            Op::BitNoise { out, rng } => {
                each!(regs, f, *out, |_j| (rng.next_u64() >> 32) as u32 as f64)
            }
            Op::BTime { out } => {
                let t = f.time;
                each!(regs, f, *out, |j| (t.wrapping_add(j as u64) as u32) as f64)
            }
            Op::BitClock { out } => {
                let clocks = f.ctx.clocks;
                let base = f.base;
                each!(regs, f, *out, |j| (clocks[base + j].bar_phase * 1_023.999_999_999).floor())
            }
        }
    }
}
