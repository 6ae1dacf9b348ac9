//! Trigger detectors and counters (`onzx`, `onchange`, `count`, `idx`, `sah`), after
//! Maximilian's `maxiTrigger`, `maxiCounter`, `maxiIndex` and `maxiSampleAndHold`.

/// Detects positive zero crossings and changes.
#[derive(Clone, Copy, Debug)]
pub struct Trigger {
    /// Previous input (Maximilian starts it at 1, so a constant positive input does not
    /// retrigger, but the very first positive sample does).
    prev: f64,
    /// True until the first call: a positive first input counts as a crossing.
    first: bool,
}

impl Default for Trigger {
    fn default() -> Self {
        Self { prev: 1.0, first: true }
    }
}

impl Trigger {
    /// 1 when the input goes from <= 0 (or the start) to > 0, else 0.
    #[inline]
    pub fn on_zx(&mut self, x: f64) -> f64 {
        let hit = (self.prev <= 0.0 || self.first) && x > 0.0;
        self.prev = x;
        self.first = false;
        if hit {
            1.0
        } else {
            0.0
        }
    }

    /// 1 when the input moved by more than `tolerance` since the last sample.
    #[inline]
    pub fn on_changed(&mut self, x: f64, tolerance: f64) -> f64 {
        let hit = (x - self.prev).abs() > tolerance;
        self.prev = x;
        if hit {
            1.0
        } else {
            0.0
        }
    }
}

/// Counts rising edges of one input; a rising edge of the other resets to 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter {
    value: f64,
    inc: Trigger,
    reset: Trigger,
}

impl Counter {
    #[inline]
    pub fn count(&mut self, inc: f64, reset: f64) -> f64 {
        if self.inc.on_zx(inc) > 0.0 {
            self.value += 1.0;
        }
        if self.reset.on_zx(reset) > 0.0 {
            self.value = 0.0;
        }
        self.value
    }
}

/// On a rising edge, picks `values[floor(index·0.99999999·len)]` (index 0..1) and holds it.
#[derive(Clone, Debug, Default)]
pub struct Index {
    trig: Trigger,
    value: f64,
}

impl Index {
    #[inline]
    pub fn pull(&mut self, trig: f64, index: f64, values: &[f64]) -> f64 {
        if self.trig.on_zx(trig) > 0.0 && !values.is_empty() {
            let index = if index.is_nan() { 0.0 } else { index.clamp(0.0, 1.0) };
            let i = ((index * 0.999_999_99 * values.len() as f64).floor() as usize)
                .min(values.len() - 1);
            self.value = values[i];
        }
        self.value
    }
}

/// Sample and hold: takes a new input value every `hold_ms` milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleAndHold {
    phase: f64,
    held: f64,
}

impl SampleAndHold {
    #[inline]
    pub fn sah(&mut self, x: f64, hold_ms: f64, sample_rate: f64) -> f64 {
        let hold = (hold_ms / 1000.0 * sample_rate).max(0.0).floor();
        if self.phase >= hold {
            self.phase -= hold;
        }
        if self.phase < 1.0 {
            self.held = x;
        }
        self.phase += 1.0;
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_crossings() {
        let mut t = Trigger::default();
        let out: Vec<f64> =
            [1.0, 1.0, -1.0, 0.0, 0.5, 0.7, -0.2, 0.1].iter().map(|&x| t.on_zx(x)).collect();
        assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        let mut t = Trigger::default();
        let out: Vec<f64> = [1.0, 1.05, 1.3, 1.3].iter().map(|&x| t.on_changed(x, 0.1)).collect();
        assert_eq!(out, vec![0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn counter_and_index() {
        let mut c = Counter::default();
        let seq =
            [(1.0, 0.0), (0.0, 0.0), (1.0, 0.0), (0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 0.0)];
        let out: Vec<f64> = seq.iter().map(|&(a, b)| c.count(a, b)).collect();
        assert_eq!(out, vec![1.0, 1.0, 2.0, 2.0, 3.0, 0.0, 1.0]);
        let mut ix = Index::default();
        let vals = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(ix.pull(1.0, 0.5, &vals), 20.0);
        assert_eq!(ix.pull(1.0, 0.0, &vals), 20.0); // no new edge: held
        ix.pull(0.0, 0.0, &vals);
        assert_eq!(ix.pull(1.0, 1.0, &vals), 40.0);
    }

    #[test]
    fn sample_and_hold_period() {
        let mut s = SampleAndHold::default();
        // 1 ms at 48 kHz = 48 samples: the held value changes every 48 samples.
        let out: Vec<f64> = (0..200).map(|i| s.sah(i as f64, 1.0, 48_000.0)).collect();
        assert_eq!(out[0], 0.0);
        assert_eq!(out[47], 0.0);
        assert_eq!(out[48], 48.0);
        assert_eq!(out[96], 96.0);
    }
}
