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

mod op;
mod run;

pub use op::*;

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
    /// Whether a top-level `>` writes every output at every sample (no silence to
    /// write first).
    writes_all_outputs: bool,
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
        let writes_all_outputs = ops.iter().any(|op| matches!(op, Op::DacAll { .. }));
        Ok(Program {
            writes_all_outputs,
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
        // `>` writes every output at every sample; other programs start from silence.
        // Outputs are only written through `finite_f32`: NaN/inf never reach the host.
        if !self.writes_all_outputs {
            for out in ctx.outputs.iter_mut() {
                let n = len.min(out.len());
                out[..n].fill(0.0);
            }
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
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.run_blocks_avx2(ctx, len) };
                return;
            }
            self.run_blocks(ctx, len);
        }
    }

    /// Block mode: each op over the whole block (in chunks of `max_block`).
    #[inline(always)]
    fn run_blocks_body(&mut self, ctx: &mut BlockContext, len: usize) {
        let sr = self.sample_rate;
        let inv_sr = 1.0 / sr;
        let mut base = 0;
        while base < len {
            let n = (len - base).min(self.max_block);
            let mut f = Frame { ctx, base, n, stride: self.stride, sr, inv_sr, time: self.time };
            for op in self.ops.iter_mut() {
                op.run::<false>(&mut self.regs, &mut self.lists, &mut f);
            }
            self.time += n as u64;
            base += n;
        }
    }

    fn run_blocks(&mut self, ctx: &mut BlockContext, len: usize) {
        self.run_blocks_body(ctx, len)
    }

    /// [`run_blocks`](Self::run_blocks) compiled for AVX2: the loops over a block run four
    /// f64 lanes at a time instead of two. No FMA: every multiply and add rounds as in
    /// the baseline build, so the output is bit-identical.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_blocks_avx2(&mut self, ctx: &mut BlockContext, len: usize) {
        self.run_blocks_body(ctx, len)
    }
}
