//! Sample players over shared mono buffers: `\name` (one-shot on a rising edge, with
//! speed and offset), `|name` (looping, position set on a rising edge) and `loop`,
//! after Maximilian's `maxiSample`. Playback speed accounts for the file's sample rate.

use super::trigger::Trigger;
use std::sync::Arc;

/// One player: its buffer, read position and edge detector.
#[derive(Clone, Debug)]
pub struct SamplePlayer {
    data: Arc<[f32]>,
    /// Buffer sample rate / output sample rate: the step for speed 1.
    rate_ratio: f64,
    /// Read position in buffer samples. Starts past the end: nothing plays until the
    /// first trigger (the trigger detector fires on the first positive sample).
    position: f64,
    trig: Trigger,
}

impl SamplePlayer {
    pub fn new(data: Arc<[f32]>, buffer_rate: f64, sample_rate: f64) -> Self {
        let len = data.len() as f64;
        Self {
            data,
            rate_ratio: buffer_rate / sample_rate,
            position: len,
            trig: Trigger::default(),
        }
    }

    /// Linear interpolation at `pos`; 0 outside the buffer.
    #[inline]
    fn read(&self, pos: f64) -> f64 {
        if pos.is_nan() || pos < 0.0 {
            return 0.0;
        }
        let i = pos as usize;
        let Some(&a) = self.data.get(i) else { return 0.0 };
        let b = self.data.get(i + 1).copied().unwrap_or(0.0);
        let r = pos - i as f64;
        a as f64 * (1.0 - r) + b as f64 * r
    }

    /// `{trig, speed, offset}\name`: restarts at `offset` (0..1 of the length) on each
    /// rising edge of `trig`, plays once at `speed` (negative plays backwards).
    #[inline]
    pub fn play_on_zx(&mut self, trig: f64, speed: f64, offset: f64) -> f64 {
        if self.trig.on_zx(trig) > 0.0 {
            self.position = offset.clamp(0.0, 1.0) * self.data.len() as f64;
            if speed < 0.0 && self.position >= self.data.len() as f64 {
                // Reverse playback from the end starts on the last sample.
                self.position = self.data.len() as f64 - 1.0;
            }
        }
        let out = self.read(self.position);
        self.position += speed * self.rate_ratio;
        out
    }

    /// `{trig, pos}|name`: loops forever; a rising edge of `trig` jumps to `pos` (0..1).
    #[inline]
    pub fn loop_set_pos_on_zx(&mut self, trig: f64, pos: f64) -> f64 {
        let len = self.data.len() as f64;
        if len == 0.0 {
            return 0.0;
        }
        if self.trig.on_zx(trig) > 0.0 {
            self.position = pos.clamp(0.0, 1.0) * len;
        }
        self.looped(1.0)
    }

    /// `{speed, 'name'}loop`: loops the buffer at `speed`.
    #[inline]
    pub fn looped(&mut self, speed: f64) -> f64 {
        let len = self.data.len() as f64;
        if len == 0.0 {
            return 0.0;
        }
        if !(self.position >= 0.0 && self.position < len) {
            self.position = self.position.rem_euclid(len);
            if !self.position.is_finite() {
                self.position = 0.0;
            }
        }
        let out = self.read(self.position);
        self.position += speed * self.rate_ratio;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Arc<[f32]> {
        (0..n).map(|i| i as f32).collect::<Vec<_>>().into()
    }

    #[test]
    fn one_shot_plays_once_per_trigger() {
        let mut p = SamplePlayer::new(ramp(100), 48_000.0, 48_000.0);
        let v: Vec<f64> = (0..300)
            .map(|i| p.play_on_zx(if i == 0 || i == 200 { 1.0 } else { 0.0 }, 1.0, 0.0))
            .collect();
        assert_eq!(v[0], 0.0);
        assert_eq!(v[50], 50.0);
        assert_eq!(v[99], 99.0);
        assert_eq!(v[150], 0.0);
        assert_eq!(v[210], 10.0);
        // Half speed and a buffer at half the output rate both slow playback.
        let mut p = SamplePlayer::new(ramp(100), 24_000.0, 48_000.0);
        let v: Vec<f64> = (0..10).map(|_| p.play_on_zx(1.0, 1.0, 0.5)).collect();
        assert_eq!(v[0], 50.0);
        assert_eq!(v[4], 52.0);
    }

    #[test]
    fn reverse_and_slices() {
        let mut p = SamplePlayer::new(ramp(100), 48_000.0, 48_000.0);
        let v: Vec<f64> = (0..5).map(|_| p.play_on_zx(1.0, -1.0, 1.0)).collect();
        assert_eq!(v, vec![99.0, 98.0, 97.0, 96.0, 95.0]);
        let mut p = SamplePlayer::new(ramp(100), 48_000.0, 48_000.0);
        let v: Vec<f64> =
            (0..60).map(|i| p.loop_set_pos_on_zx(if i == 0 { 1.0 } else { 0.0 }, 0.5)).collect();
        assert_eq!(v[0], 50.0);
        assert_eq!(v[49], 99.0);
        assert_eq!(v[50], 0.0);
    }
}
