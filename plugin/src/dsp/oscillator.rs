//! Naive oscillators with Maximilian's `maxiOsc` phase conventions (`sin`, `saw`, `tri`,
//! `pha`, `ph2`, `sqr`, `pul`, `imp`, `sawn`, `noiz`).
//!
//! All of them advance a phase by `frequency / sample_rate` per sample. As in Maximilian,
//! most output the value for the phase *before* the increment, and the wrap happens lazily
//! (`if phase >= 1 { phase -= 1 }`), which is what makes `{100}saw` have exactly the
//! period `sample_rate / 100`.

use std::f64::consts::TAU;

/// One oscillator's state: its phase. Each DSL call site owns one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Osc {
    /// Current phase (0..1 for most waveforms, -1..1 for `saw`, -0.5..0.5 for `sawn`).
    pub phase: f64,
    /// Last output of `sqr`/`pul`, held when the phase sits exactly on the edge.
    last: f64,
}

impl Osc {
    /// An oscillator starting at `phase` (Sema's optional last argument).
    pub fn new(phase: f64) -> Self {
        Self { phase, last: 0.0 }
    }

    #[inline]
    fn advance(&mut self, inc: f64) {
        if self.phase >= 1.0 {
            self.phase = wrap_down(self.phase, 1.0);
        }
        self.phase += inc;
    }

    /// Sine wave: `sin(2π·phase)`.
    #[inline]
    pub fn sine(&mut self, freq: f64, inv_sr: f64) -> f64 {
        let out = sin_turns(self.phase);
        self.advance(freq * inv_sr);
        out
    }

    /// Rising ramp 0..1.
    #[inline]
    pub fn phasor(&mut self, freq: f64, inv_sr: f64) -> f64 {
        let out = self.phase;
        self.advance(freq * inv_sr);
        out
    }

    /// Ramp from `start` to `end` (Maximilian `phasorBetween`).
    #[inline]
    pub fn phasor_between(&mut self, freq: f64, start: f64, end: f64, inv_sr: f64) -> f64 {
        let out = self.phase;
        if self.phase < start {
            self.phase = start;
        }
        if self.phase >= end {
            self.phase = start;
        }
        self.phase += (end - start) * freq * inv_sr;
        out
    }

    /// Naive sawtooth -1..1 (the phase itself runs from -1 to 1).
    #[inline]
    pub fn saw(&mut self, freq: f64, inv_sr: f64) -> f64 {
        self.saw_by(2.0 * freq * inv_sr)
    }

    /// [`saw`](Self::saw) with its phase increment (`2 · freq / sample_rate`) given.
    #[inline]
    pub fn saw_by(&mut self, inc: f64) -> f64 {
        let out = self.phase;
        if self.phase >= 1.0 {
            self.phase = wrap_down(self.phase, 2.0);
        }
        self.phase += inc;
        out
    }

    /// Square wave -1/1; like Maximilian it keeps the previous output at phase == 0.5.
    #[inline]
    pub fn square(&mut self, freq: f64, inv_sr: f64) -> f64 {
        if self.phase < 0.5 {
            self.last = -1.0;
        } else if self.phase > 0.5 {
            self.last = 1.0;
        }
        self.advance(freq * inv_sr);
        self.last
    }

    /// Pulse wave -1/1 with duty cycle `duty` (0..1), evaluated after the increment.
    #[inline]
    pub fn pulse(&mut self, freq: f64, duty: f64, inv_sr: f64) -> f64 {
        let duty = duty.clamp(0.0, 1.0);
        self.advance(freq * inv_sr);
        if self.phase < duty {
            self.last = -1.0;
        } else if self.phase > duty {
            self.last = 1.0;
        }
        self.last
    }

    /// 1 on the first sample of each period, else 0.
    #[inline]
    pub fn impulse(&mut self, freq: f64, inv_sr: f64) -> f64 {
        if self.phase >= 1.0 {
            self.phase = wrap_down(self.phase, 1.0);
        }
        let inc = freq * inv_sr;
        let out = if self.phase < inc { 1.0 } else { 0.0 };
        self.phase += inc;
        out
    }

    /// Triangle -1..1, evaluated after the increment.
    #[inline]
    pub fn triangle(&mut self, freq: f64, inv_sr: f64) -> f64 {
        self.advance(freq * inv_sr);
        if self.phase <= 0.5 {
            (self.phase - 0.25) * 4.0
        } else {
            ((1.0 - self.phase) - 0.25) * 4.0
        }
    }

    /// Band-limited sawtooth (Maximilian `sawn`): a descending ramp whose jump is
    /// replaced by Maximilian's tabulated transition (about five samples wide at 44.1 kHz
    /// whatever the sample rate, as in Maximilian), read with linear interpolation.
    #[inline]
    pub fn sawn(&mut self, freq: f64, inv_sr: f64) -> f64 {
        if self.phase >= 0.5 {
            self.phase = wrap_down(self.phase, 1.0);
        }
        self.phase += freq * inv_sr;
        let mut temp = if freq != 0.0 { (8820.22 / freq) * self.phase } else { 0.0 };
        temp = temp.clamp(-0.5, 0.5);
        temp = temp * 1000.0 + 500.0;
        let i = (temp as usize).min(TRANSITION.len() - 2);
        let rem = temp - temp.floor();
        (1.0 - rem) * TRANSITION[i] + rem * TRANSITION[i + 1] - self.phase
    }
}

/// `phase - by`, for the wrap of an oscillator's phase. Out of line and cold on purpose:
/// the wrap is then a well-predicted branch, and the loop carries only the phase's add
/// from one sample to the next (a branch-free select would put a compare and a blend on
/// that chain too, more than doubling the time per sample of a block of saw).
#[cold]
#[inline(never)]
fn wrap_down(phase: f64, by: f64) -> f64 {
    phase - by
}

/// The step `sawn` puts in place of the saw's jump: Maximilian's `transition` table (1001
/// points over the step's width, -0.5 → 0.5, with its ringing), taken from Maximilian by
/// `tools/maximilian-ref` into `sawn_transition.f64` (little-endian f64), plus a guard
/// entry for the interpolation at the top end. It is close to 1.5·sin(πx) − sin³(πx) for
/// x in -0.5..0.5 (within 1.5e-5; the table carries its own small ripple, so `sawn`
/// matches Maximilian sample by sample only with the table itself). The table's values
/// are Maximilian's data (Maximilian, © Mick Grierson and contributors, MIT licence);
/// no Maximilian code is part of this project.
static TRANSITION: [f64; 1002] = decode_transition(include_bytes!("sawn_transition.f64"));

const fn decode_transition(bytes: &[u8; 8008]) -> [f64; 1002] {
    let mut t = [0.0; 1002];
    let mut i = 0;
    while i < 1001 {
        let mut b = [0u8; 8];
        let mut k = 0;
        while k < 8 {
            b[k] = bytes[8 * i + k];
            k += 1;
        }
        t[i] = f64::from_le_bytes(b);
        i += 1;
    }
    t[1001] = t[1000];
    t
}

/// `sin(2π·x)` for `x` in turns: reduced to a quarter turn, then a Taylor polynomial to
/// the 13th power (error < 1e-9, far below the f32 output). About five times cheaper
/// than `f64::sin`, which matters for patches with many sine oscillators.
#[inline]
pub fn sin_turns(x: f64) -> f64 {
    if !x.is_finite() {
        return f64::NAN;
    }
    sin_of_offset(x - crate::dsp::sequencer::fast_floor(x + 0.5))
}

/// `sin(2π·t)` for `t` in [-0.5, 0.5]: folded to [-0.25, 0.25] (sin(π - a) = sin(a)),
/// then the Taylor polynomial. The fold is two selects (the second never applies after
/// the first), so loops over a block vectorise.
#[inline(always)]
fn sin_of_offset(t: f64) -> f64 {
    let t = if t > 0.25 { 0.5 - t } else { t };
    let t = if t < -0.25 { -0.5 - t } else { t };
    let z = t * TAU;
    let z2 = z * z;
    const C3: f64 = -1.0 / 6.0;
    const C5: f64 = 1.0 / 120.0;
    const C7: f64 = -1.0 / 5040.0;
    const C9: f64 = 1.0 / 362_880.0;
    const C11: f64 = -1.0 / 39_916_800.0;
    const C13: f64 = 1.0 / 6_227_020_800.0;
    z * (1.0 + z2 * (C3 + z2 * (C5 + z2 * (C7 + z2 * (C9 + z2 * (C11 + z2 * C13))))))
}

/// [`sin_turns`] without branches, for finite `x` with `|x + 0.5| < 2^51` (the same
/// operations in the same order, so the same result). Written so a loop over a block
/// vectorises.
#[inline(always)]
fn sin_turns_lane(x: f64) -> f64 {
    sin_of_offset(x - crate::dsp::sequencer::floor_lane(x + 0.5))
}

#[inline(always)]
fn sin_turns_block_body(buf: &mut [f64]) {
    // One vectorised test decides the path: phases stay near 0..1 in practice.
    let all_small = buf
        .iter()
        .fold(true, |ok, &x| ok & ((x + 0.5).abs() < crate::dsp::sequencer::FLOOR_LANE_LIMIT));
    if all_small {
        for x in buf.iter_mut() {
            *x = sin_turns_lane(*x);
        }
    } else {
        for x in buf.iter_mut() {
            *x = sin_turns(*x);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sin_turns_block_avx2(buf: &mut [f64]) {
    // AVX2 without FMA: four lanes of the very same multiplies and adds (no fused
    // rounding), so the results are bit-identical to the scalar path.
    sin_turns_block_body(buf)
}

/// [`sin_turns`] of every value of `buf`, in place: the second pass of a block of sine
/// oscillator output (the first accumulates the phases, serially, as Maximilian does).
/// Bit-identical to calling `sin_turns` on each value; four lanes at a time on CPUs with
/// AVX2, two otherwise.
pub fn sin_turns_block(buf: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { sin_turns_block_avx2(buf) };
        return;
    }
    sin_turns_block_body(buf)
}

/// White noise with amplitude `amp` (`noiz`).
#[inline]
#[cfg(test)]
pub fn noise(rng: &mut super::Rng, amp: f64) -> f64 {
    rng.next_bipolar() * amp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    #[test]
    fn saw_period_at_100_hz() {
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..2000).map(|_| o.saw(100.0, 1.0 / SR)).collect();
        // Each wrap (value jumps down) happens exactly every 480 samples.
        let wraps: Vec<usize> = (1..v.len()).filter(|&i| v[i] < v[i - 1]).collect();
        assert!(wraps.len() >= 3, "{wraps:?}");
        for w in wraps.windows(2) {
            assert_eq!(w[1] - w[0], 480);
        }
        // Like Maximilian the value before the wrap may overshoot 1 by one increment.
        assert!(v.iter().all(|x| (-1.0..=1.0 + 2.0 * 100.0 / SR).contains(x)));
    }

    #[test]
    fn fast_sine_matches_std() {
        let mut worst = 0.0f64;
        for i in -20_000..20_000 {
            let x = i as f64 * 0.000_173_1;
            worst = worst.max((sin_turns(x) - (x * TAU).sin()).abs());
        }
        assert!(worst < 1e-9, "{worst}");
    }

    #[test]
    fn block_sine_is_bit_identical_to_the_scalar_one() {
        // Phases of every kind: the usual 0..1, negative (negative frequencies), large,
        // beyond the lane's limit, and non-finite values.
        let mut v: Vec<f64> = (-3000..3000).map(|i| i as f64 * 0.000_731_3).collect();
        v.extend([0.25, -0.25, 0.5, -0.5, 0.75, 1.0, 1e6 + 0.123, -7.5e12 + 0.3]);
        let scalar: Vec<f64> = v.iter().map(|&x| sin_turns(x)).collect();
        let mut block = v.clone();
        sin_turns_block(&mut block);
        for (i, (a, b)) in scalar.iter().zip(&block).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "x = {}", v[i]);
        }
        // A block with values past the fast path's limit, and NaN/inf, takes the scalar path.
        let mut odd = vec![0.1, 3e15 + 0.5, f64::NAN, f64::INFINITY, -0.3];
        let want: Vec<f64> = odd.iter().map(|&x| sin_turns(x)).collect();
        sin_turns_block(&mut odd);
        for (a, b) in want.iter().zip(&odd) {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{a} {b}");
        }
        assert!(odd[2].is_nan() && odd[3].is_nan());
        // The lane itself gives NaN for NaN and infinities, as `sin_turns` does.
        assert!(sin_turns_lane(f64::NAN).is_nan() && sin_turns_lane(f64::INFINITY).is_nan());
    }

    #[test]
    fn sine_phase_and_frequency() {
        let mut o = Osc::new(0.25);
        assert!((o.sine(1000.0, 1.0 / SR) - 1.0).abs() < 1e-9);
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..480).map(|_| o.sine(100.0, 1.0 / SR)).collect();
        assert!((v[120] - 1.0).abs() < 1e-9 && (v[360] + 1.0).abs() < 1e-9);
    }

    #[test]
    fn impulse_once_per_period() {
        let mut o = Osc::new(0.0);
        let n: f64 = (0..48_000).map(|_| o.impulse(10.0, 1.0 / SR)).sum();
        assert_eq!(n, 10.0);
    }

    #[test]
    fn square_pulse_triangle_phasor_ranges() {
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..480).map(|_| o.square(100.0, 1.0 / SR)).collect();
        assert_eq!(v.iter().filter(|&&x| x == 1.0).count(), 239);
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..480).map(|_| o.pulse(100.0, 0.25, 1.0 / SR)).collect();
        let high = v.iter().filter(|&&x| x == 1.0).count();
        assert!((358..=362).contains(&high), "{high}");
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..480).map(|_| o.triangle(100.0, 1.0 / SR)).collect();
        let (mn, mx) = v.iter().fold((9.0f64, -9.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(mn < -0.99 && mx > 0.99);
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..480).map(|_| o.phasor(100.0, 1.0 / SR)).collect();
        assert!(v[0] == 0.0 && (v[240] - 0.5).abs() < 1e-9);
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..1000).map(|_| o.phasor_between(100.0, 0.3, 0.8, 1.0 / SR)).collect();
        assert!(v[5..].iter().all(|x| (0.3..0.8 + 1e-9).contains(x)));
    }

    #[test]
    fn sawn_is_bandlimited_descending_ramp() {
        // Maximilian's table: from -0.5 to 0.5 with its ringing (±0.707 at a quarter and
        // three quarters), close to 1.5·sin(πx) − sin³(πx).
        let t = &TRANSITION;
        assert!((t[0] + 0.5).abs() < 1e-5 && (t[1000] - 0.5).abs() < 1e-5);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((t[250] + r).abs() < 2e-6 && (t[750] - r).abs() < 2e-6);
        for (i, v) in t.iter().take(1001).enumerate() {
            let s = (std::f64::consts::PI * (i as f64 - 500.0) / 1000.0).sin();
            assert!((v - (1.5 * s - s * s * s)).abs() < 1.5e-5, "{i}: {v}");
        }
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..4800).map(|_| o.sawn(100.0, 1.0 / SR)).collect();
        let max_step = v.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max);
        // A naive saw jumps by 1 in one sample; the band-limited step spreads it out over
        // a few samples (with the table's ringing up to ±0.71).
        assert!(max_step < 0.9, "{max_step}");
        assert!(v.iter().all(|x| x.abs() <= 0.72));
    }

    #[test]
    fn noise_is_bounded_and_centred() {
        let mut r = crate::dsp::Rng::new(1);
        let v: Vec<f64> = (0..10_000).map(|_| noise(&mut r, 0.5)).collect();
        assert!(v.iter().all(|x| x.abs() <= 0.5));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.02);
    }
}
