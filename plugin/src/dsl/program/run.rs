//! Running ops: one `match` over [`Op`], compiled twice (per-sample and per-block).

use super::*;
use crate::audio::patch::ClockRun;
use crate::dsp::sequencer::{clock_phase_lane_by, floor_lane, floor_rounded};

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

/// An output sample: NaN/inf (also a finite f64 beyond f32's range) never reach the
/// host. Branch-free, so the output loops vectorise.
#[inline(always)]
fn finite_f32(x: f64) -> f32 {
    let v = x as f32;
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Runs `$body` with `$s` bound to an op's (small, `Copy`) state. In block mode that is
/// a local copy, written back after the block: the state then stays in registers through
/// the loop instead of being stored and reloaded at every sample (which would put a
/// store-to-load round trip on an oscillator's phase, sample after sample).
macro_rules! local {
    ($state:expr, |$s:ident| $body:expr) => {{
        if PER_SAMPLE {
            let $s = &mut *$state;
            $body
        } else {
            let mut copy = *$state;
            let r = {
                let $s = &mut copy;
                $body
            };
            *$state = copy;
            r
        }
    }};
}

/// Register `out`'s first `n` samples (mutable) and those of each of `ins` (shared), when
/// `out` is none of `ins` (so the mutable slice overlaps no shared one). Block-mode
/// loops over these slices vectorise without the overlap checks that indexing `regs`
/// directly would need. `None` if `out` is one of `ins` (or, never in practice, a range
/// falls outside `regs`).
#[inline(always)]
fn split_regs<const K: usize>(
    regs: &mut [f64],
    st: usize,
    n: usize,
    out: R,
    ins: [R; K],
) -> Option<(&mut [f64], [&[f64]; K])> {
    let len = regs.len();
    let fits = |r: R| {
        (r as usize).checked_mul(st).and_then(|o| o.checked_add(n)).is_some_and(|e| e <= len)
    };
    if n > st || ins.contains(&out) || !fits(out) || !ins.iter().all(|&r| fits(r)) {
        return None;
    }
    let ptr = regs.as_mut_ptr();
    // SAFETY: every range lies within `regs` (checked just above). Register `r` owns
    // `r * st .. r * st + st` and `n <= st`, so the ranges of different registers are
    // disjoint, and `out` differs from every register of `ins`: the mutable slice
    // overlaps none of the shared ones. All borrow `regs` for the returned lifetime.
    unsafe {
        let o = std::slice::from_raw_parts_mut(ptr.add(out as usize * st), n);
        let i = ins.map(|r| std::slice::from_raw_parts(ptr.add(r as usize * st).cast_const(), n));
        Some((o, i))
    }
}

/// `out[j] = body` for every sample of the frame, with each `x` bound to its input
/// register's value at `j`. In block mode a loop over slices ([`split_regs`]) that
/// vectorises; per sample (or if `out` is also an input) through `each!`.
macro_rules! lanes {
    ($regs:ident, $f:ident, $out:expr, [$($x:ident = $in:expr),+], $body:expr) => {{
        let out: R = $out;
        let n = $f.len::<PER_SAMPLE>();
        let st = $f.stride::<PER_SAMPLE>();
        let split = if PER_SAMPLE { None } else { split_regs($regs, st, n, out, [$($in),+]) };
        match split {
            Some((o, [$($x),+])) => {
                for (j, o) in o.iter_mut().enumerate() {
                    $(let $x = $x[j];)+
                    *o = $body;
                }
            }
            None => each!($regs, $f, out, |j| {
                $(let $x = g!($in, j);)+
                $body
            }),
        }
    }};
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

/// `out[j] = op(out[j], x[j])` over a block, as one loop that vectorises (block mode;
/// sample by sample through the same operation if `x` is `out` itself).
#[inline(always)]
fn accumulate(regs: &mut [f64], st: usize, n: usize, out: R, x: R, op: impl Fn(f64, f64) -> f64) {
    if let Some((o, [x])) = split_regs(regs, st, n, out, [x]) {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = op(*o, x);
        }
    } else {
        let o = out as usize * st;
        for v in regs[o..o + n].iter_mut() {
            *v = op(*v, *v);
        }
    }
}

/// `clp` over a block in one pass: `out[i]` is [`clock_phase`] of sample `i`'s bar
/// position with `c[i]` cycles and offset `off[i]`, bit for bit. Returns false (with
/// `out` unspecified) where the branch-free arithmetic might not be exact; the caller
/// then goes sample by sample. Rounds down with `roundpd` where the CPU has it (AVX2
/// machines, checked at run time, and AArch64), else with [`floor_lane`]'s adds.
#[inline(always)]
fn clp_block(clocks: &ClockRun, c: &[f64], off: &[f64], out: &mut [f64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (and so SSE4.1's `roundpd`), checked just above.
            return unsafe { clp_block_avx2(clocks, c, off, out) };
        }
        clp_block_by(clocks, c, off, out, floor_lane, floor_lane)
    }
    #[cfg(not(target_arch = "x86_64"))]
    clp_block_by(clocks, c, off, out, f64::floor, floor_rounded)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn clp_block_avx2(clocks: &ClockRun, c: &[f64], off: &[f64], out: &mut [f64]) -> bool {
    clp_block_by(clocks, c, off, out, f64::floor, floor_rounded)
}

/// `floor_pos` rounds the bar positions down (their argument is never `-0`, so
/// `f64::floor` serves), `floor` the phases (see [`floor_rounded`]).
#[inline(always)]
fn clp_block_by(
    clocks: &ClockRun,
    c: &[f64],
    off: &[f64],
    out: &mut [f64],
    floor_pos: impl Fn(f64) -> f64,
    floor: impl Fn(f64) -> f64 + Copy,
) -> bool {
    use crate::dsp::sequencer::FLOOR_LANE_LIMIT;
    let n = out.len().min(c.len()).min(off.len());
    if n == 0 {
        return true;
    }
    let (c, off, out) = (&c[..n], &off[..n], &mut out[..n]);
    // The phase is exact while |bars · c| and |offset| stay below 2^50. Bar positions
    // are affine in the sample, so the largest |bars| is at an end of the block (plus a
    // bar for rounding): checking the inputs against that bound first keeps the checks
    // out of the phase loop, whose length of dependent operations is what limits it.
    let half = FLOOR_LANE_LIMIT / 2.0;
    let ends = [clocks.at(0), clocks.at(n - 1)];
    let reach =
        ends.iter().fold(1.0f64, |m, s| m.max(bar_position(s.bar, s.bar_phase).abs() + 1.0));
    let c_limit = half / (2.0 * reach);
    let (mut fits, mut no_offset) = (true, true);
    for (&c, &o) in c.iter().zip(off) {
        fits &= (c.abs() < c_limit) & (o.abs() < half);
        no_offset &= o == 0.0;
    }
    if !fits {
        return false;
    }
    if no_offset {
        // `{n}clp`: no second wrap.
        clocks.each_bar_position(n, floor_pos, |i, bars| {
            out[i] = clock_phase_lane_by(bars, c[i], 0.0, floor);
        })
    } else {
        clocks.each_bar_position(n, floor_pos, |i, bars| {
            out[i] = clock_phase_lane_by(bars, c[i], off[i], floor);
        })
    }
}

/// Where `sum`/`mix` start adding: negative zero, as `Iterator::sum` for floats does
/// (so the sum of `-0` is `-0`).
const SUM_START: f64 = -0.0;

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
    pub(super) fn run<const PER_SAMPLE: bool>(
        &mut self,
        regs: &mut [f64],
        lists: &mut Lists,
        f: &mut Frame,
    ) {
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
            Op::Copy { a, out } => lanes!(regs, f, *out, [x = *a], x),
            Op::Bin { kind, a, b, out } => {
                let (a, b) = (*a, *b);
                match kind {
                    BinKind::Add => lanes!(regs, f, *out, [x = a, y = b], x + y),
                    BinKind::Sub => lanes!(regs, f, *out, [x = a, y = b], x - y),
                    BinKind::Mul => lanes!(regs, f, *out, [x = a, y = b], x * y),
                    BinKind::Div => {
                        lanes!(regs, f, *out, [x = a, y = b], if y != 0.0 { x / y } else { 0.0 })
                    }
                    BinKind::Mod => each!(regs, f, *out, |j| g!(a, j) % g!(b, j)),
                    BinKind::Pow => each!(regs, f, *out, |j| g!(a, j).powf(g!(b, j))),
                    BinKind::Gt => {
                        lanes!(regs, f, *out, [x = a, y = b], if x > y { 1.0 } else { 0.0 })
                    }
                    BinKind::Lt => {
                        lanes!(regs, f, *out, [x = a, y = b], if x < y { 1.0 } else { 0.0 })
                    }
                    BinKind::Dist => each!(regs, f, *out, |j| maps::atan_dist(g!(a, j), g!(b, j))),
                }
            }
            Op::Un { kind, a, out } => {
                let a = *a;
                match kind {
                    UnKind::Abs => lanes!(regs, f, *out, [x = a], x.abs()),
                    UnKind::Mtof => each!(regs, f, *out, |j| maps::mtof(g!(a, j))),
                    UnKind::Ftom => each!(regs, f, *out, |j| maps::ftom(g!(a, j))),
                    UnKind::Softclip => each!(regs, f, *out, |j| maps::softclip(g!(a, j))),
                    UnKind::Hardclip => lanes!(regs, f, *out, [x = a], maps::hardclip(x)),
                }
            }
            // Block mode adds argument by argument over the block (loops that vectorise)
            // in the same order as the per-sample fold, so the sums are identical.
            // (An output that is also an argument would be overwritten before it is read:
            // that case, which the compiler never makes, keeps the per-sample fold.)
            Op::Sum { args, scale, out } if !PER_SAMPLE && !args.contains(out) => {
                let scale = *scale;
                // The compiler gives `sum`/`mix` at least one argument.
                let Some(&first) = args.first() else { return };
                lanes!(regs, f, *out, [x = first], SUM_START + x);
                for &r in args.iter().skip(1) {
                    accumulate(regs, st, nn, *out, r, |acc, x| acc + x);
                }
                if scale != 1.0 {
                    let o = *out as usize * st;
                    regs[o..o + nn].iter_mut().for_each(|v| *v *= scale);
                }
            }
            Op::Sum { args, scale, out } => {
                each!(regs, f, *out, |j| args.iter().fold(SUM_START, |acc, &r| acc + g!(r, j))
                    * *scale)
            }
            Op::Prod { args, out } if !PER_SAMPLE && !args.contains(out) => {
                let Some(&first) = args.first() else { return };
                lanes!(regs, f, *out, [x = first], 1.0 * x);
                for &r in args.iter().skip(1) {
                    accumulate(regs, st, nn, *out, r, |acc, x| acc * x);
                }
            }
            Op::Prod { args, out } => {
                each!(regs, f, *out, |j| args.iter().fold(1.0, |acc, &r| acc * g!(r, j)))
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
                lanes!(regs, f, *out, [v = *x, lo = *a, hi = *b], maps::asymclip(v, lo, hi))
            }
            Op::Osc { kind, freq, out, osc } => local!(osc, |osc| {
                let fr = *freq;
                match kind {
                    OscKind::Sin if PER_SAMPLE => {
                        each!(regs, f, *out, |j| osc.sine(fin(g!(fr, j)), inv_sr))
                    }
                    OscKind::Sin => {
                        // Two passes: the phases serially (the `phasor` is the phase the
                        // sine reads, then the same increment), then the sines of the
                        // whole block at once, vectorised.
                        each!(regs, f, *out, |j| osc.phasor(fin(g!(fr, j)), inv_sr));
                        let o = *out as usize * st;
                        crate::dsp::oscillator::sin_turns_block(&mut regs[o..o + nn]);
                    }
                    OscKind::Saw if PER_SAMPLE => {
                        each!(regs, f, *out, |j| osc.saw(fin(g!(fr, j)), inv_sr))
                    }
                    OscKind::Saw => {
                        // Two passes: the increments (vectorised), then the serial phase
                        // with nothing else on its loop.
                        lanes!(regs, f, *out, [x = fr], 2.0 * fin(x) * inv_sr);
                        let o = *out as usize * st;
                        for v in regs[o..o + nn].iter_mut() {
                            *v = osc.saw_by(*v);
                        }
                    }
                    OscKind::Tri => each!(regs, f, *out, |j| osc.triangle(fin(g!(fr, j)), inv_sr)),
                    OscKind::Pha => each!(regs, f, *out, |j| osc.phasor(fin(g!(fr, j)), inv_sr)),
                    OscKind::Sqr => each!(regs, f, *out, |j| osc.square(fin(g!(fr, j)), inv_sr)),
                    OscKind::Imp => each!(regs, f, *out, |j| osc.impulse(fin(g!(fr, j)), inv_sr)),
                    OscKind::Sawn => each!(regs, f, *out, |j| osc.sawn(fin(g!(fr, j)), inv_sr)),
                }
            }),
            Op::Pul { freq, duty, out, osc } => local!(osc, |osc| {
                each!(regs, f, *out, |j| osc.pulse(fin(g!(*freq, j)), g!(*duty, j), inv_sr))
            }),
            Op::Ph2 { freq, start, end, out, osc } => local!(osc, |osc| {
                each!(regs, f, *out, |j| osc.phasor_between(
                    fin(g!(*freq, j)),
                    fin(g!(*start, j)),
                    fin(g!(*end, j)),
                    inv_sr
                ))
            }),
            Op::Noise { amp, out, rng } => {
                local!(rng, |rng| each!(regs, f, *out, |j| rng.next_bipolar() * g!(*amp, j)))
            }
            Op::Blep { freq, wave, pw, out, osc } => local!(osc, |osc| each!(regs, f, *out, |j| {
                if let Some(w) = wave {
                    osc.waveform = Waveform::from_index(g!(*w, j));
                }
                if let Some(p) = pw {
                    osc.pulse_width = g!(*p, j);
                }
                osc.play(fin(g!(*freq, j)), sr)
            })),
            Op::Sah { x, ms, out, s } => {
                local!(s, |s| each!(regs, f, *out, |j| s.sah(g!(*x, j), g!(*ms, j), sr)))
            }
            Op::Env { gate, a, d, s, r, out, env } => local!(env, |env| {
                each!(regs, f, *out, |j| env.play(
                    g!(*gate, j),
                    g!(*a, j),
                    g!(*d, j),
                    g!(*s, j),
                    g!(*r, j),
                    sr
                ))
            }),
            Op::Line { trig, dur, out, line } => local!(line, |line| {
                each!(regs, f, *out, |j| line.play(g!(*trig, j), g!(*dur, j), sr))
            }),
            Op::Filter { kind, x, cutoff, res, out, f: flt } => local!(flt, |flt| {
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
            }),
            Op::Svf { x, cutoff, res, lp, bp, hp, notch, out, f: svf } => local!(svf, |svf| {
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
            }),
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
            Op::OnZx { x, out, t } => local!(t, |t| each!(regs, f, *out, |j| t.on_zx(g!(*x, j)))),
            Op::OnChange { x, tol, out, t } => {
                local!(t, |t| each!(regs, f, *out, |j| t.on_changed(g!(*x, j), g!(*tol, j))))
            }
            Op::Count { inc, reset, out, c } => {
                local!(c, |c| each!(regs, f, *out, |j| c.count(g!(*inc, j), g!(*reset, j))))
            }
            Op::Idx { trig, index, list, out, ix } => {
                let vals = lists.get(*list);
                each!(regs, f, *out, |j| ix.pull(g!(*trig, j), g!(*index, j), vals))
            }
            Op::Clp { cycles, offset, out } if !PER_SAMPLE => {
                // One pass over the block: each sample's bar position and its phase,
                // branch-free (see `clp_block`); sample by sample where that would not be
                // exact (huge or non-finite cycle counts and offsets, years of audio).
                let clocks = f.ctx.clocks.sub(f.base, f.base + nn);
                let (c, off, out) = (*cycles, *offset, *out);
                let done = match split_regs(regs, st, nn, out, [c, off]) {
                    Some((dst, [c, off])) => clp_block(&clocks, c, off, dst),
                    None => false,
                };
                if !done {
                    let o = out as usize * st;
                    clocks.bar_positions(&mut regs[o..o + nn]);
                    each!(regs, f, out, |j| clock_phase(g!(out, j), g!(c, j), g!(off, j)));
                }
            }
            Op::Clp { cycles, offset, out } => {
                let clocks = f.ctx.clocks.sub(f.base, f.base + nn);
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
            Op::Clt { cycles, offset, out, t } => local!(t, |t| {
                let clocks = f.ctx.clocks;
                let base = f.base;
                each!(regs, f, *out, |j| {
                    let c = clocks.at(base + j);
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
            }),
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
                let values = values.map(|v| lists.get(v));
                seq.begin(g!(*phase, 0), values.map_or(0, <[f64]>::len), inv_sr);
                if !PER_SAMPLE {
                    if let Some((o, [ph])) = split_regs(regs, st, nn, *out, [*phase]) {
                        seq.run_block(ph, values, inv_sr, o);
                        return;
                    }
                }
                match values {
                    Some(v) => {
                        each!(regs, f, *out, |j| seq.values_fast(g!(*phase, j), v, inv_sr))
                    }
                    None => each!(regs, f, *out, |j| seq.trig_fast(g!(*phase, j), inv_sr)),
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
                let base = f.base;
                let (first, rest) = f.ctx.outputs.split_at_mut(1);
                let first: &[f32] = match first.first_mut() {
                    Some(out) => {
                        let end = (base + nn).min(out.len());
                        if base < end {
                            for (d, s) in out[base..end].iter_mut().zip(src) {
                                *d = finite_f32(*s);
                            }
                        }
                        &out[base.min(end)..end]
                    }
                    None => &[],
                };
                // The other outputs get the same samples: a copy, not a conversion again.
                for out in rest.iter_mut() {
                    let end = (base + nn).min(out.len());
                    if base < end {
                        let dst = &mut out[base..end];
                        if dst.len() == first.len() {
                            dst.copy_from_slice(first);
                        } else {
                            for (d, s) in dst.iter_mut().zip(src) {
                                *d = finite_f32(*s);
                            }
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
                        *s = finite_f32(g!(*x, j));
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
                each!(regs, f, *out, |j| (clocks.at(base + j).bar_phase * 1_023.999_999_999)
                    .floor())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused `clp` kernel (whichever `floor` this CPU gets) equals the per-sample
    /// clock and phase bit for bit, or declines.
    #[test]
    fn clp_block_is_the_per_sample_phase_bit_for_bit() {
        let runs = [
            ClockRun::from_song_start(0, 512, 120.0, 4.0, 48_000.0),
            ClockRun::from_song_start(1_234_567, 4096, 97.3, 7.0, 44_100.0),
            ClockRun::new(-3.7, 17, 120.0 / 60.0 / 48_000.0, (2.5, 9), 120.0, 3.0, true, 48e3, 700),
            ClockRun::new(1e6 + 0.25, 5, 0.002_9, (12.0, -4), 174.0, 4.0, true, 48_000.0, 256),
            ClockRun::new(-1.3, 77, 0.002_73, (0.7, 3), 131.0, 6.0, true, 48_000.0, 999),
            ClockRun::new(8.0, 99, 0.0, (0.0, 0), 120.0, 4.0, false, 48_000.0, 64),
        ];
        let cycles = [15.0, 1.0, 0.01, 1.0 / 3.0, -1.0, 0.0, -0.0, 1e17, f64::NAN];
        let offsets = [0.0, -0.0, 0.25, -0.5, 1.75, 1e17, f64::INFINITY];
        let mut declined = 0;
        for run in &runs {
            let n = run.len();
            for (k, &cyc) in cycles.iter().enumerate() {
                for &o in &offsets {
                    // A varying input too: the cycle count changes inside the block.
                    let c: Vec<f64> = (0..n)
                        .map(|i| if i % 97 == 0 { cycles[(k + 1) % 5] } else { cyc })
                        .collect();
                    let off = vec![o; n];
                    let mut out = vec![0.0; n];
                    if !clp_block(run, &c, &off, &mut out) {
                        // Only for inputs out of the exact range.
                        assert!(!(cyc.abs() <= 15.0 && o.abs() <= 1.75), "{run:?} {cyc} {o}");
                        declined += 1;
                        continue;
                    }
                    for i in 0..n {
                        let s = run.at(i);
                        let want = clock_phase(bar_position(s.bar, s.bar_phase), c[i], off[i]);
                        assert_eq!(
                            out[i].to_bits(),
                            want.to_bits(),
                            "{run:?} c {} off {o} i {i}",
                            c[i]
                        );
                    }
                }
            }
        }
        // NaN cycles and huge or infinite offsets always are.
        assert!(declined >= runs.len() * (offsets.len() + 2 * (cycles.len() - 1)));
    }
}
