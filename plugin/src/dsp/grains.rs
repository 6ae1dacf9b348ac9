//! `@name` time-stretching sample player (after Maximilian's `maxiStretch`): a read
//! position moves through the sample at `timestretch` speed; every
//! `grainLength/overlaps` seconds a Hann-windowed grain starts there and plays at
//! `pitchstretch` speed. Grains come from a fixed pool (no allocation while playing).
//! Like the sample players it reads the buffer of its slot of the engine's sample bank
//! on every call (see [`crate::dsp::sampler`]).

use super::Rng;
use std::f64::consts::TAU;

/// Most grains sounding at once; more are dropped (overlaps above this are capped).
pub const MAX_GRAINS: usize = 32;

#[derive(Clone, Copy, Debug, Default)]
struct Grain {
    active: bool,
    /// Read position in buffer samples.
    pos: f64,
    /// Read step per output sample.
    step: f64,
    /// Samples played and grain length, in output samples.
    age: usize,
    len: usize,
}

/// The granular stretcher over one buffer.
#[derive(Clone, Debug)]
pub struct Stretch {
    /// The slot of the sample bank it reads.
    pub slot: u32,
    sample_rate: f64,
    /// Position of the next grain, in buffer samples.
    position: f64,
    looper: f64,
    random_offset: f64,
    grains: [Grain; MAX_GRAINS],
    rng: Rng,
}

impl Stretch {
    pub fn new(slot: u32, sample_rate: f64, seed: u64) -> Self {
        Self {
            slot,
            sample_rate,
            position: 0.0,
            looper: 0.0,
            random_offset: 0.0,
            grains: [Grain::default(); MAX_GRAINS],
            rng: Rng::new(seed),
        }
    }

    #[inline]
    fn read(data: &[f32], pos: f64) -> f64 {
        let n = data.len();
        if n == 0 || pos.is_nan() || pos < 0.0 {
            return 0.0;
        }
        let i = pos as usize;
        let r = pos - i as f64;
        let a = data[i % n] as f64;
        let b = data[(i + 1) % n] as f64;
        a + (b - a) * r
    }

    /// One sample of `data` (read step `rate_ratio` at speed 1): `pitch` 1 = original
    /// pitch, `time` 1 = original speed (0 freezes), `grain_secs` grain length, `overlaps`
    /// grains per grain length. An empty buffer (a sample not loaded yet) is silence.
    pub fn play(
        &mut self,
        data: &[f32],
        rate_ratio: f64,
        pitch: f64,
        time: f64,
        grain_secs: f64,
        overlaps: f64,
    ) -> f64 {
        let len = data.len() as f64;
        if len == 0.0 {
            return 0.0;
        }
        self.position += time * rate_ratio;
        if !self.position.is_finite() {
            self.position = 0.0;
        }
        self.position = self.position.rem_euclid(len);
        self.looper += 1.0;
        let grain_secs = if grain_secs.is_finite() { grain_secs.clamp(0.001, 2.0) } else { 0.05 };
        let overlaps =
            if overlaps.is_finite() { overlaps.clamp(1.0, MAX_GRAINS as f64) } else { 2.0 };
        let cycle = grain_secs * self.sample_rate / overlaps;
        if self.looper > cycle + self.random_offset {
            self.looper -= cycle + self.random_offset;
            if let Some(g) = self.grains.iter_mut().find(|g| !g.active) {
                *g = Grain {
                    active: true,
                    pos: self.position,
                    step: if pitch.is_finite() { pitch } else { 1.0 } * rate_ratio,
                    age: 0,
                    len: (grain_secs * self.sample_rate) as usize,
                };
            }
            // Maximilian jitters the grain period by 0–9 samples to avoid combing.
            self.random_offset = (self.rng.next_u64() % 10) as f64;
        }
        let mut out = 0.0;
        for i in 0..MAX_GRAINS {
            let g = self.grains[i];
            if !g.active {
                continue;
            }
            let w = 0.5 - 0.5 * (TAU * g.age as f64 / g.len.max(1) as f64).cos();
            out += Self::read(data, g.pos.rem_euclid(len)) * w;
            let g = &mut self.grains[i];
            g.pos += g.step;
            g.age += 1;
            if g.age >= g.len {
                g.active = false;
            }
        }
        // Overlapping Hann windows sum to about overlaps/2.
        out / (overlaps / 2.0).max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_keeps_pitch_at_half_speed() {
        let sr = 48_000.0;
        let f = 480.0;
        let data: Vec<f32> = (0..48_000).map(|i| (TAU * f * i as f64 / sr).sin() as f32).collect();
        let mut s = Stretch::new(0, sr, 1);
        let v: Vec<f64> = (0..48_000).map(|_| s.play(&data, 1.0, 1.0, 0.5, 0.05, 4.0)).collect();
        // Zero crossings in the second half: still about 480 Hz.
        let zc = v[24_000..].windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((230..=250).contains(&zc), "{zc}");
        let rms = (v[24_000..].iter().map(|x| x * x).sum::<f64>() / 24_000.0).sqrt();
        assert!(rms > 0.3 && rms < 1.2, "{rms}");
        // Pitch 2 doubles the frequency.
        let mut s2 = Stretch::new(0, sr, 1);
        let v: Vec<f64> = (0..48_000).map(|_| s2.play(&data, 1.0, 2.0, 1.0, 0.05, 4.0)).collect();
        let zc = v[24_000..].windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((440..=520).contains(&zc), "{zc}");
    }
}
