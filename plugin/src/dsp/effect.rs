//! Delay-based effects: `dl` (Maximilian `maxiDelayline`), `flange` and `chor`.

use super::filter::Filter;
use super::oscillator::Osc;
use super::Rng;

/// Largest delay Maximilian's delay line holds (88200·8 samples); used when the delay
/// length is not a constant known at compile time.
pub const MAX_DELAY: usize = 88_200 * 8;

/// A feedback delay line of fixed capacity (allocated once, at compile time).
#[derive(Clone, Debug)]
pub struct DelayLine {
    memory: Box<[f64]>,
    pos: usize,
}

impl DelayLine {
    /// A delay line able to delay up to `capacity` samples.
    pub fn new(capacity: usize) -> Self {
        Self { memory: vec![0.0; capacity.max(1)].into_boxed_slice(), pos: 0 }
    }

    /// Returns the input of `size` samples ago scaled as Maximilian does: the memory
    /// stores `old·feedback + input·feedback·0.5`, so an impulse comes back after
    /// `size` samples at `0.5·feedback`, then decays by `feedback` each pass.
    #[inline]
    pub fn dl(&mut self, input: f64, size: f64, feedback: f64) -> f64 {
        let size = if size.is_finite() {
            (size as i64).clamp(1, self.memory.len() as i64) as usize
        } else {
            1
        };
        if self.pos >= size {
            self.pos = 0;
        }
        let out = self.memory[self.pos];
        self.memory[self.pos] = out * feedback + input * feedback * 0.5;
        self.pos += 1;
        out
    }
}

/// Flanger: a delay modulated by a triangle LFO, mixed with the dry signal.
#[derive(Clone, Debug)]
pub struct Flanger {
    dl: DelayLine,
    lfo: Osc,
}

impl Flanger {
    pub fn new(capacity: usize) -> Self {
        Self { dl: DelayLine::new(capacity), lfo: Osc::new(0.0) }
    }

    /// `delay` in samples (truncated to an integer), `feedback` 0..1, `speed` in Hz,
    /// `depth` 0..1.
    #[inline]
    pub fn flange(
        &mut self,
        input: f64,
        delay: f64,
        feedback: f64,
        speed: f64,
        depth: f64,
        inv_sr: f64,
    ) -> f64 {
        let delay = delay.max(0.0).trunc();
        let lfo = self.lfo.triangle(speed, inv_sr);
        let mut out = self.dl.dl(input, delay + lfo * depth * delay + 1.0, feedback);
        out *= 1.0 - out.abs();
        (out + input) / 2.0
    }
}

/// Chorus: two delays modulated by low-passed noise, mixed with the dry signal.
#[derive(Clone, Debug)]
pub struct Chorus {
    dl1: DelayLine,
    dl2: DelayLine,
    lfo_filter: Filter,
    rng: Rng,
}

impl Chorus {
    pub fn new(capacity: usize, seed: u64) -> Self {
        Self {
            dl1: DelayLine::new(capacity),
            dl2: DelayLine::new(capacity),
            lfo_filter: Filter::default(),
            rng: Rng::new(seed),
        }
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn chorus(
        &mut self,
        input: f64,
        delay: f64,
        feedback: f64,
        speed: f64,
        depth: f64,
        sample_rate: f64,
    ) -> f64 {
        let delay = delay.max(0.0).trunc();
        let noise = self.rng.next_bipolar();
        let lfo = self.lfo_filter.lores(noise, speed, 1.0, sample_rate) * 2.0;
        let mut o1 = self.dl1.dl(input, delay + lfo * depth * delay + 1.0, feedback);
        let mut o2 =
            self.dl2.dl(input, (delay + lfo * depth * delay * 1.02 + 1.0) * 0.98, feedback * 0.99);
        o1 *= 1.0 - o1.abs();
        o2 *= 1.0 - o2.abs();
        (o1 + o2 + input) / 3.0
    }
}

/// The capacity a modulated delay needs for a constant `delay` and depth ≤ 1.
pub fn modulated_capacity(delay: Option<f64>) -> usize {
    match delay {
        Some(d) if d.is_finite() && d >= 0.0 => ((d * 2.0) as usize + 4).min(MAX_DELAY),
        _ => MAX_DELAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_length_and_feedback() {
        let mut d = DelayLine::new(1000);
        let v: Vec<f64> =
            (0..2500).map(|i| d.dl(if i == 0 { 1.0 } else { 0.0 }, 1000.0, 0.5)).collect();
        let first = v.iter().position(|&x| x != 0.0).unwrap();
        assert_eq!(first, 1000);
        assert!((v[1000] - 0.25).abs() < 1e-12);
        assert!((v[2000] - 0.125).abs() < 1e-12);
        assert_eq!(v.iter().filter(|&&x| x != 0.0).count(), 2);
    }

    #[test]
    fn flanger_delay_is_delay_plus_one() {
        // Depth 0: the wet path is a plain delay of delay+1 samples, shaped by x(1-|x|).
        let mut f = Flanger::new(modulated_capacity(Some(100.0)));
        let v: Vec<f64> = (0..300)
            .map(|i| f.flange(if i == 0 { 1.0 } else { 0.0 }, 100.0, 0.5, 1.0, 0.0, 1.0 / 48_000.0))
            .collect();
        assert_eq!(v[0], 0.5);
        let echo = 1 + v[1..].iter().position(|&x| x != 0.0).unwrap();
        assert_eq!(echo, 101);
        // dl gives 0.5·fb = 0.25, shaped: 0.25·0.75, halved by the mix.
        assert!((v[101] - 0.25 * 0.75 / 2.0).abs() < 1e-12);
    }

    #[test]
    fn flanger_and_chorus_mix_dry() {
        let mut f = Flanger::new(modulated_capacity(Some(200.0)));
        let y = f.flange(1.0, 200.0, 0.5, 0.1, 0.9, 1.0 / 48_000.0);
        assert!((y - 0.5).abs() < 1e-12);
        let mut c = Chorus::new(modulated_capacity(Some(400.0)), 3);
        let y = c.chorus(0.9, 400.0, 0.9, 2.0, 0.9, 48_000.0);
        assert!((y - 0.3).abs() < 1e-12);
        let v: Vec<f64> = (0..48_000)
            .map(|i| c.chorus(((i as f64) * 0.05).sin(), 400.0, 0.9, 2.0, 0.9, 48_000.0))
            .collect();
        // With high feedback the delay lines resonate (as in Maximilian); it must stay
        // finite and differ from the dry signal.
        assert!(v.iter().all(|x| x.is_finite()));
        let dry: Vec<f64> = (0..48_000).map(|i| ((i as f64) * 0.05).sin() / 3.0).collect();
        assert!(v.iter().zip(&dry).skip(1000).any(|(a, b)| (a - b).abs() > 0.01));
    }
}
