//! Filters: one-pole `lpf`/`hpf`, resonant `lpz`/`hpz` (Maximilian `maxiFilter`) and the
//! state-variable `svf` (Maximilian `maxiSVF`, a trapezoidal SVF).

use std::f64::consts::{PI, TAU};

/// One-pole and resonant two-pole filters (one call site uses one of the modes).
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    /// One-pole state (previous output).
    y1: f64,
    /// Resonant filter state.
    x: f64,
    y: f64,
    /// Cached coefficients of the resonant filter for the last cutoff/resonance.
    last_cut: f64,
    last_res: f64,
    c: f64,
    r: f64,
}

impl Filter {
    /// One-pole low pass, `cutoff` 0..1.
    #[inline]
    pub fn lopass(&mut self, input: f64, cutoff: f64) -> f64 {
        let out = self.y1 + cutoff * (input - self.y1);
        self.y1 = out;
        out
    }

    /// One-pole high pass, `cutoff` 0..1. Like Maximilian, the state is the high-pass
    /// output itself (which gives this filter its particular response).
    #[inline]
    pub fn hipass(&mut self, input: f64, cutoff: f64) -> f64 {
        let out = input - (self.y1 + cutoff * (input - self.y1));
        self.y1 = out;
        out
    }

    #[inline]
    fn resonant(&mut self, input: f64, cutoff: f64, resonance: f64, sample_rate: f64) -> f64 {
        let cutoff = cutoff.clamp(10.0, sample_rate);
        let resonance = resonance.max(1.0);
        if cutoff != self.last_cut || resonance != self.last_res {
            // Recomputing cos/sqrt/pow only when the parameters move saves most of the cost.
            let z = (TAU * cutoff / sample_rate).cos();
            self.c = 2.0 - 2.0 * z;
            self.r = (2f64.sqrt() * (-(z - 1.0).powi(3)).sqrt() + resonance * (z - 1.0))
                / (resonance * (z - 1.0));
            self.last_cut = cutoff;
            self.last_res = resonance;
        }
        self.x += (input - self.y) * self.c;
        self.y += self.x;
        self.x *= self.r;
        self.y
    }

    /// Resonant low pass: cutoff in Hz, resonance from 1 upwards.
    #[inline]
    pub fn lores(&mut self, input: f64, cutoff: f64, resonance: f64, sample_rate: f64) -> f64 {
        self.resonant(input, cutoff, resonance, sample_rate)
    }

    /// Resonant high pass: cutoff in Hz, resonance from 1 upwards.
    #[inline]
    pub fn hires(&mut self, input: f64, cutoff: f64, resonance: f64, sample_rate: f64) -> f64 {
        input - self.resonant(input, cutoff, resonance, sample_rate)
    }
}

/// State-variable filter with a mix of low, band, high and notch outputs.
#[derive(Clone, Copy, Debug)]
pub struct Svf {
    v0z: f64,
    v1: f64,
    v2: f64,
    k: f64,
    g1: f64,
    g2: f64,
    g3: f64,
    g4: f64,
    freq: f64,
    res: f64,
}

impl Default for Svf {
    fn default() -> Self {
        let mut s = Self {
            v0z: 0.0,
            v1: 0.0,
            v2: 0.0,
            k: 0.0,
            g1: 0.0,
            g2: 0.0,
            g3: 0.0,
            g4: 0.0,
            freq: f64::NAN,
            res: f64::NAN,
        };
        s.set(1000.0, 1.0, 48_000.0);
        s
    }
}

impl Svf {
    /// Sets cutoff (Hz) and resonance (0 upwards; rings from about 2–3).
    pub fn set(&mut self, freq: f64, res: f64, sample_rate: f64) {
        self.freq = freq;
        self.res = res;
        let g = (PI * freq / sample_rate).tan();
        self.k = if res == 0.0 { 0.0 } else { 1.0 / res };
        let ginv = g / (1.0 + g * (g + self.k));
        self.g1 = ginv;
        self.g2 = 2.0 * (g + self.k) * ginv;
        self.g3 = g * ginv;
        self.g4 = 2.0 * ginv;
    }

    /// Filters one sample; parameters are recomputed only when they change (as Sema does
    /// with its change triggers, tolerance 1e-5).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn play(
        &mut self,
        w: f64,
        freq: f64,
        res: f64,
        lp: f64,
        bp: f64,
        hp: f64,
        notch: f64,
        sample_rate: f64,
    ) -> f64 {
        if !((freq - self.freq).abs() <= 1e-5 && (res - self.res).abs() <= 1e-5) {
            self.set(freq, res, sample_rate);
        }
        let v1z = self.v1;
        let v2z = self.v2;
        let v3 = w + self.v0z - 2.0 * v2z;
        self.v1 += self.g1 * v3 - self.g2 * v1z;
        self.v2 += self.g3 * v3 + self.g4 * v1z;
        self.v0z = w;
        let low = self.v2;
        let band = self.v1;
        let high = w - self.k * self.v1 - self.v2;
        let notch_out = w - self.k * self.v1;
        low * lp + band * bp + high * hp + notch_out * notch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::oscillator::Osc;

    fn rms(v: &[f64]) -> f64 {
        (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
    }

    fn run(f: impl FnMut(f64) -> f64, freq: f64) -> f64 {
        let mut f = f;
        let mut o = Osc::new(0.0);
        let v: Vec<f64> = (0..48_000).map(|_| f(o.sine(freq, 1.0 / 48_000.0))).collect();
        rms(&v[24_000..])
    }

    #[test]
    fn one_pole_lowpass_attenuates_highs() {
        let mut a = Filter::default();
        let lo = run(|x| a.lopass(x, 0.05), 100.0);
        let mut b = Filter::default();
        let hi = run(|x| b.lopass(x, 0.05), 8000.0);
        assert!(lo > 0.6 && hi < 0.1, "{lo} {hi}");
        let mut c = Filter::default();
        // Maximilian's one-pole high pass feeds back its own output: its DC gain is
        // (1-c)/(2-c), not 0, and it boosts the top of the spectrum.
        let dc: f64 = (0..1000).map(|_| c.hipass(1.0, 0.1)).last().unwrap();
        assert!((dc - 0.9 / 1.9).abs() < 1e-9, "{dc}");
        let mut d = Filter::default();
        let hi = run(|x| d.hipass(x, 0.1), 20_000.0);
        assert!(hi > 1.0, "{hi}");
    }

    #[test]
    fn resonant_filters() {
        let mut a = Filter::default();
        let pass = run(|x| a.lores(x, x * 0.0 + 1000.0, 1.0, 48_000.0), 200.0);
        let mut b = Filter::default();
        let stop = run(|x| b.lores(x, 1000.0, 1.0, 48_000.0), 8000.0);
        assert!(pass > 0.6 && stop < 0.05, "{pass} {stop}");
        let mut c = Filter::default();
        let peak = run(|x| c.lores(x, 1000.0, 10.0, 48_000.0), 1000.0);
        assert!(peak > 3.0, "{peak}");
        let mut d = Filter::default();
        let hp_low = run(|x| d.hires(x, 3000.0, 1.0, 48_000.0), 100.0);
        assert!(hp_low < 0.05, "{hp_low}");
    }

    #[test]
    fn svf_modes() {
        let mut s = Svf::default();
        let lp = run(|x| s.play(x, 500.0, 1.0, 1.0, 0.0, 0.0, 0.0, 48_000.0), 5000.0);
        let mut s = Svf::default();
        let hp = run(|x| s.play(x, 500.0, 1.0, 0.0, 0.0, 1.0, 0.0, 48_000.0), 5000.0);
        assert!(lp < 0.02 && hp > 0.65, "{lp} {hp}");
    }
}
