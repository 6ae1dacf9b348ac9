//! Spectral analysis and resynthesis: `fft`, `ifft` and `mfcc` (after Maximilian's
//! `maxiFFT`, `maxiIFFT` and `maxiMFCC` as Sema wraps them), on an own radix-2 FFT.
//! Everything is allocated in `new()`; `process` only works in place.

use std::f64::consts::{PI, TAU};

/// In-place radix-2 complex FFT of a fixed power-of-two size.
#[derive(Clone, Debug)]
pub struct Fft {
    n: usize,
    /// cos/sin of -2πk/n for k < n/2.
    cos: Vec<f64>,
    sin: Vec<f64>,
    /// Bit-reversal permutation.
    rev: Vec<usize>,
}

impl Fft {
    /// An FFT of size `n` (rounded up to a power of two, at least 2).
    pub fn new(n: usize) -> Self {
        let n = n.max(2).next_power_of_two();
        let bits = n.trailing_zeros();
        let rev = (0..n).map(|i| i.reverse_bits() >> (usize::BITS - bits)).collect();
        let cos = (0..n / 2).map(|k| (TAU * k as f64 / n as f64).cos()).collect();
        let sin = (0..n / 2).map(|k| -(TAU * k as f64 / n as f64).sin()).collect();
        Self { n, cos, sin, rev }
    }

    /// Transform size.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Forward transform of (`re`, `im`) in place; `inverse` conjugates the twiddles
    /// (no 1/n scaling).
    pub fn transform(&self, re: &mut [f64], im: &mut [f64], inverse: bool) {
        let n = self.n;
        for i in 0..n {
            let j = self.rev[i];
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let sign = if inverse { -1.0 } else { 1.0 };
        let mut len = 2;
        while len <= n {
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..len / 2 {
                    let (c, s) = (self.cos[k * step], sign * self.sin[k * step]);
                    let (a, b) = (start + k, start + k + len / 2);
                    let tr = re[b] * c - im[b] * s;
                    let ti = re[b] * s + im[b] * c;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

fn hann(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (TAU * i as f64 / n as f64).cos()).collect()
}

/// Short-time analysis: every `hop` samples, the magnitudes and phases of the last
/// `size` samples (Hann window). Magnitudes are scaled so a full-scale sine on a bin
/// reads about 1.
#[derive(Clone, Debug)]
pub struct FftAnalyzer {
    fft: Fft,
    hop: usize,
    window: Vec<f64>,
    /// The last `size` input samples (a ring).
    input: Vec<f64>,
    write: usize,
    since_frame: usize,
    re: Vec<f64>,
    im: Vec<f64>,
    /// Magnitudes of bins 0..size/2 of the latest frame.
    pub mags: Vec<f64>,
    /// Phases (radians) of bins 0..size/2 of the latest frame.
    pub phases: Vec<f64>,
    scale: f64,
}

impl FftAnalyzer {
    /// `bins` output bins (FFT size 2·bins), a new frame every `hop` samples.
    pub fn new(bins: usize, hop: usize) -> Self {
        let fft = Fft::new(bins.max(1) * 2);
        let n = fft.len();
        let window = hann(n);
        let scale = 2.0 / window.iter().sum::<f64>();
        Self {
            hop: hop.clamp(1, n),
            input: vec![0.0; n],
            write: 0,
            since_frame: 0,
            re: vec![0.0; n],
            im: vec![0.0; n],
            mags: vec![0.0; n / 2],
            phases: vec![0.0; n / 2],
            window,
            fft,
            scale,
        }
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.mags.len()
    }

    /// Adds one sample; returns true when a new frame was computed.
    pub fn process(&mut self, x: f64) -> bool {
        let n = self.fft.len();
        self.input[self.write] = x;
        self.write = (self.write + 1) % n;
        self.since_frame += 1;
        if self.since_frame < self.hop {
            return false;
        }
        self.since_frame = 0;
        for i in 0..n {
            self.re[i] = self.input[(self.write + i) % n] * self.window[i];
            self.im[i] = 0.0;
        }
        self.fft.transform(&mut self.re, &mut self.im, false);
        for k in 0..n / 2 {
            self.mags[k] = (self.re[k] * self.re[k] + self.im[k] * self.im[k]).sqrt() * self.scale;
            self.phases[k] = self.im[k].atan2(self.re[k]);
        }
        true
    }
}

/// Overlap-add resynthesis from magnitudes and phases (the inverse of [`FftAnalyzer`]).
#[derive(Clone, Debug)]
pub struct IfftSynth {
    fft: Fft,
    /// Synthesis window (Hann), so modified spectra cross-fade between frames.
    window: Vec<f64>,
    re: Vec<f64>,
    im: Vec<f64>,
    /// Overlap-add accumulator, read from `read`.
    acc: Vec<f64>,
    read: usize,
    gain: f64,
}

impl IfftSynth {
    pub fn new(bins: usize, hop: usize) -> Self {
        let fft = Fft::new(bins.max(1) * 2);
        let n = fft.len();
        let window = hann(n);
        let hop = hop.clamp(1, n);
        // The inverse of the analysis: undo its 2/Σw scale and the FFT's n, which gives
        // back the analysis-windowed frame; it is windowed again and overlap-added every
        // `hop` samples, where the squared windows sum to Σw²/hop on average, divided out
        // too. Unity gain from `fft` to `ifft`.
        let sum_w: f64 = window.iter().sum();
        let sum_w2: f64 = window.iter().map(|w| w * w).sum();
        let gain = (sum_w / 2.0) / n as f64 * hop as f64 / sum_w2;
        Self { re: vec![0.0; n], im: vec![0.0; n], acc: vec![0.0; n], read: 0, fft, window, gain }
    }

    /// On a trigger, adds a frame built from `mags`/`phases` (bins beyond their length
    /// are 0); returns the next output sample.
    pub fn process(&mut self, trig: bool, mags: &[f64], phases: &[f64]) -> f64 {
        let n = self.fft.len();
        if trig {
            for k in 0..n {
                self.re[k] = 0.0;
                self.im[k] = 0.0;
            }
            for k in 1..n / 2 {
                let m = mags.get(k).copied().unwrap_or(0.0);
                let p = phases.get(k).copied().unwrap_or(0.0);
                let (re, im) = (m * p.cos(), m * p.sin());
                self.re[k] = re;
                self.im[k] = im;
                // Hermitian symmetry for a real signal.
                self.re[n - k] = re;
                self.im[n - k] = -im;
            }
            self.re[0] = mags.first().copied().unwrap_or(0.0);
            self.fft.transform(&mut self.re, &mut self.im, true);
            for i in 0..n {
                let idx = (self.read + i) % n;
                self.acc[idx] += self.re[i] * self.window[i] * self.gain;
            }
        }
        let out = self.acc[self.read];
        self.acc[self.read] = 0.0;
        self.read = (self.read + 1) % n;
        out
    }
}

/// Mel-frequency cepstral coefficients of an [`FftAnalyzer`]'s frames: 40 mel bands
/// from 20 Hz to 20 kHz, log energy, DCT-II.
#[derive(Clone, Debug)]
pub struct Mfcc {
    pub fft: FftAnalyzer,
    /// filters[b] = (first bin, weights).
    filters: Vec<(usize, Vec<f64>)>,
    bands: Vec<f64>,
    /// The latest coefficients.
    pub coeffs: Vec<f64>,
}

impl Mfcc {
    pub fn new(fft_size: usize, hop: usize, num_coeffs: usize, sample_rate: f64) -> Self {
        let fft = FftAnalyzer::new(fft_size.max(2) / 2, hop);
        let bins = fft.bins();
        let n_bands = 40;
        let mel = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
        let inv = |m: f64| 700.0 * ((m / 1127.0).exp() - 1.0);
        let (lo, hi) = (mel(20.0), mel(20_000.0f64.min(sample_rate / 2.0)));
        let edges: Vec<f64> = (0..n_bands + 2)
            .map(|i| inv(lo + (hi - lo) * i as f64 / (n_bands + 1) as f64))
            .collect();
        let bin_hz = sample_rate / (bins * 2) as f64;
        let filters = (0..n_bands)
            .map(|b| {
                let (f0, f1, f2) = (edges[b], edges[b + 1], edges[b + 2]);
                let first = (f0 / bin_hz).floor() as usize;
                let last = ((f2 / bin_hz).ceil() as usize).min(bins.saturating_sub(1));
                let weights = (first..=last.max(first))
                    .map(|k| {
                        let f = k as f64 * bin_hz;
                        if f <= f0 || f >= f2 {
                            0.0
                        } else if f <= f1 {
                            (f - f0) / (f1 - f0)
                        } else {
                            (f2 - f) / (f2 - f1)
                        }
                    })
                    .collect();
                (first.min(bins.saturating_sub(1)), weights)
            })
            .collect();
        Self {
            fft,
            filters,
            bands: vec![0.0; n_bands],
            coeffs: vec![0.0; num_coeffs.clamp(1, n_bands)],
        }
    }

    /// Adds a sample; returns true when new coefficients were computed.
    pub fn process(&mut self, x: f64) -> bool {
        if !self.fft.process(x) {
            return false;
        }
        let mags = &self.fft.mags;
        for (b, (first, w)) in self.filters.iter().enumerate() {
            let e: f64 = w
                .iter()
                .enumerate()
                .map(|(i, wi)| wi * mags.get(first + i).copied().unwrap_or(0.0).powi(2))
                .sum();
            self.bands[b] = (e + 1e-10).ln();
        }
        let nb = self.bands.len() as f64;
        for (c, out) in self.coeffs.iter_mut().enumerate() {
            *out = self
                .bands
                .iter()
                .enumerate()
                .map(|(b, v)| v * (PI / nb * (b as f64 + 0.5) * c as f64).cos())
                .sum();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_finds_a_sine_bin_and_ifft_reconstructs() {
        let sr = 48_000.0;
        let bins = 256;
        let mut a = FftAnalyzer::new(bins, 128);
        // Bin 20 centre frequency.
        let f = 20.0 * sr / 512.0;
        let mut s = IfftSynth::new(bins, 128);
        let mut outs = vec![];
        let mut frames = 0;
        for i in 0..8192 {
            let x = (TAU * f * i as f64 / sr).sin();
            let t = a.process(x);
            if t {
                frames += 1;
            }
            outs.push((x, s.process(t, &a.mags.clone(), &a.phases.clone())));
        }
        assert_eq!(frames, 8192 / 128);
        let peak = (0..bins).max_by(|&i, &j| a.mags[i].total_cmp(&a.mags[j])).unwrap();
        assert_eq!(peak, 20);
        assert!((a.mags[20] - 1.0).abs() < 0.05, "{}", a.mags[20]);
        // Resynthesis: a steady sine of the same amplitude (delayed by the frame).
        let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        let y: Vec<f64> = outs[4096..].iter().map(|p| p.1).collect();
        assert!((rms(&y) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.07, "{}", rms(&y));
    }

    #[test]
    fn pvshift_moves_the_peak() {
        let sr = 48_000.0;
        let mut p = PvShift::new();
        let mut a = FftAnalyzer::new(512, 256);
        let f = 40.0 * sr / 1024.0; // bin 40
        for i in 0..16_384 {
            let y = p.play((TAU * f * i as f64 / sr).sin(), 10.0);
            a.process(y);
        }
        let peak = (0..512).max_by(|&i, &j| a.mags[i].total_cmp(&a.mags[j])).unwrap();
        assert_eq!(peak, 50);
        assert!(a.mags[50] > 0.5, "{}", a.mags[50]);
    }

    #[test]
    fn mfcc_differs_for_different_spectra() {
        let mut m1 = Mfcc::new(1024, 512, 13, 48_000.0);
        let mut m2 = Mfcc::new(1024, 512, 13, 48_000.0);
        let mut rng = crate::dsp::Rng::new(5);
        for i in 0..4096 {
            m1.process((i as f64 * 0.05).sin());
            m2.process(rng.next_bipolar());
        }
        assert_eq!(m1.coeffs.len(), 13);
        assert!(m1.coeffs.iter().all(|c| c.is_finite()));
        let d: f64 = m1.coeffs.iter().zip(&m2.coeffs).map(|(a, b)| (a - b).abs()).sum();
        assert!(d > 1.0, "{d}");
    }
}

/// `pvshift`: shifts the spectrum by a number of FFT bins (1024-point FFT, hop 256, as
/// in Sema), then resynthesises: a frequency shifter (inharmonic, by design).
#[derive(Clone, Debug)]
pub struct PvShift {
    analyzer: FftAnalyzer,
    synth: IfftSynth,
    mags: Vec<f64>,
    phases: Vec<f64>,
    /// Frames since the start: a shifted bin needs `shift·2π·hop/size` more phase per
    /// frame to stay continuous (Sema's version omits this and sounds phasey).
    frames: u64,
}

impl Default for PvShift {
    fn default() -> Self {
        Self::new()
    }
}

impl PvShift {
    pub fn new() -> Self {
        Self {
            analyzer: FftAnalyzer::new(512, 256),
            synth: IfftSynth::new(512, 256),
            mags: vec![0.0; 512],
            phases: vec![0.0; 512],
            frames: 0,
        }
    }

    /// One sample; `shift` in bins (46.9 Hz each at 48 kHz), rounded; negative shifts down.
    pub fn play(&mut self, x: f64, shift: f64) -> f64 {
        let frame = self.analyzer.process(x);
        if frame {
            let n = self.mags.len() as i64;
            let s = if shift.is_finite() {
                shift.round().clamp(-(n as f64), n as f64) as i64
            } else {
                0
            };
            self.frames += 1;
            // hop/size = 1/4: the extra advance is s·π/2 per frame (kept in 0..2π).
            let extra =
                ((self.frames % 4) as f64 * s as f64 * std::f64::consts::FRAC_PI_2).rem_euclid(TAU);
            for i in 0..n {
                let src = i - s;
                let (m, p) = if (1..n).contains(&src) && i > 0 {
                    (self.analyzer.mags[src as usize], self.analyzer.phases[src as usize])
                } else {
                    (0.0, 0.0)
                };
                self.mags[i as usize] = m;
                self.phases[i as usize] = p + extra;
            }
        }
        self.synth.process(frame, &self.mags, &self.phases)
    }
}
