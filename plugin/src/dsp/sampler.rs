//! Sample players over shared mono buffers: `\\name` (one-shot on a rising edge, with
//! speed and offset), `|name` (looping, position set on a rising edge) and `loop`,
//! after Maximilian's `maxiSample`. Playback speed accounts for the file's sample rate.
//!
//! A player does not own its buffer: it reads the buffer of its slot in the engine's
//! [`crate::audio::patch::SampleBank`] on every call (`data` and the read step `ratio` for
//! speed 1), so a buffer that arrives after the program was compiled plays at once, and
//! an empty slot plays silence.

use super::trigger::Trigger;

/// One player: its slot, read position and edge detector.
#[derive(Clone, Debug)]
pub struct SamplePlayer {
    /// The slot of the sample bank it reads.
    pub slot: u32,
    /// Read position in buffer samples. Starts at infinity: nothing plays until the
    /// first trigger (the trigger detector fires on the first positive sample).
    position: f64,
    trig: Trigger,
}

/// Linear interpolation at `pos`; 0 outside the buffer.
#[inline]
fn read(data: &[f32], pos: f64) -> f64 {
    if pos.is_nan() || pos < 0.0 {
        return 0.0;
    }
    let i = pos as usize;
    let Some(&a) = data.get(i) else { return 0.0 };
    let b = data.get(i + 1).copied().unwrap_or(0.0);
    let r = pos - i as f64;
    a as f64 * (1.0 - r) + b as f64 * r
}

impl SamplePlayer {
    pub fn new(slot: u32) -> Self {
        Self { slot, position: f64::INFINITY, trig: Trigger::default() }
    }

    /// `{trig, speed, offset}\\name`: restarts at `offset` (0..1 of the length) on each
    /// rising edge of `trig`, plays once at `speed` (negative plays backwards).
    #[inline]
    pub fn play_on_zx(
        &mut self,
        data: &[f32],
        ratio: f64,
        trig: f64,
        speed: f64,
        offset: f64,
    ) -> f64 {
        if self.trig.on_zx(trig) > 0.0 {
            if data.is_empty() {
                // Nothing to play (the sample has not arrived): a buffer arriving later
                // waits for the next trigger rather than starting mid-way.
                self.position = f64::INFINITY;
                return 0.0;
            }
            self.position = offset.clamp(0.0, 1.0) * data.len() as f64;
            if speed < 0.0 && self.position >= data.len() as f64 {
                // Reverse playback from the end starts on the last sample.
                self.position = data.len() as f64 - 1.0;
            }
        }
        let out = read(data, self.position);
        self.position += speed * ratio;
        out
    }

    /// `{trig, pos}|name`: loops forever; a rising edge of `trig` jumps to `pos` (0..1).
    #[inline]
    pub fn loop_set_pos_on_zx(&mut self, data: &[f32], ratio: f64, trig: f64, pos: f64) -> f64 {
        let len = data.len() as f64;
        // The edge is seen even while the slot is empty, so a buffer arriving later
        // starts where the last trigger asked.
        if self.trig.on_zx(trig) > 0.0 {
            self.position = pos.clamp(0.0, 1.0) * len;
        }
        if len == 0.0 {
            return 0.0;
        }
        self.looped(data, ratio, 1.0)
    }

    /// `{speed, 'name'}loop`: loops the buffer at `speed`.
    #[inline]
    pub fn looped(&mut self, data: &[f32], ratio: f64, speed: f64) -> f64 {
        let len = data.len() as f64;
        if len == 0.0 {
            return 0.0;
        }
        if !(self.position >= 0.0 && self.position < len) {
            self.position = self.position.rem_euclid(len);
            if !self.position.is_finite() {
                self.position = 0.0;
            }
        }
        let out = read(data, self.position);
        self.position += speed * ratio;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn one_shot_plays_once_per_trigger() {
        let d = ramp(100);
        let mut p = SamplePlayer::new(0);
        let v: Vec<f64> = (0..300)
            .map(|i| p.play_on_zx(&d, 1.0, if i == 0 || i == 200 { 1.0 } else { 0.0 }, 1.0, 0.0))
            .collect();
        assert_eq!(v[0], 0.0);
        assert_eq!(v[50], 50.0);
        assert_eq!(v[99], 99.0);
        assert_eq!(v[150], 0.0);
        assert_eq!(v[210], 10.0);
        // Half speed and a buffer at half the output rate both slow playback.
        let mut p = SamplePlayer::new(0);
        let v: Vec<f64> = (0..10).map(|_| p.play_on_zx(&d, 0.5, 1.0, 1.0, 0.5)).collect();
        assert_eq!(v[0], 50.0);
        assert_eq!(v[4], 52.0);
    }

    #[test]
    fn reverse_and_slices() {
        let d = ramp(100);
        let mut p = SamplePlayer::new(0);
        let v: Vec<f64> = (0..5).map(|_| p.play_on_zx(&d, 1.0, 1.0, -1.0, 1.0)).collect();
        assert_eq!(v, vec![99.0, 98.0, 97.0, 96.0, 95.0]);
        let mut p = SamplePlayer::new(0);
        let v: Vec<f64> = (0..60)
            .map(|i| p.loop_set_pos_on_zx(&d, 1.0, if i == 0 { 1.0 } else { 0.0 }, 0.5))
            .collect();
        assert_eq!(v[0], 50.0);
        assert_eq!(v[49], 99.0);
        assert_eq!(v[50], 0.0);
    }

    #[test]
    fn an_empty_slot_is_silent_and_a_later_buffer_plays() {
        let mut p = SamplePlayer::new(3);
        // Triggered while the buffer is missing: silence, no panic.
        assert_eq!(p.play_on_zx(&[], 1.0, 1.0, 1.0, 0.0), 0.0);
        assert_eq!(p.looped(&[], 1.0, 1.0), 0.0);
        // The buffer arrives: the next trigger plays it.
        let d = ramp(10);
        assert_eq!(p.play_on_zx(&d, 1.0, 0.0, 1.0, 0.0), 0.0);
        assert_eq!(p.play_on_zx(&d, 1.0, 1.0, 1.0, 0.0), 0.0);
        assert_eq!(p.play_on_zx(&d, 1.0, 1.0, 1.0, 0.0), 1.0);
    }
}
