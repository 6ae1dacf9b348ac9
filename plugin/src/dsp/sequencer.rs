//! Sequencing: the ratio sequencer `rsq` (Maximilian `maxiRatioSeq`) and the bar clock
//! functions `clp`/`clt`.

/// Ratio sequencer: divides a phasor's cycle by a list of ratios.
#[derive(Clone, Debug)]
pub struct RatioSeq {
    prev_phase: f64,
    first: bool,
    counter: usize,
    /// Length of the values list seen last time; a change resets the counter.
    values_len: usize,
}

impl Default for RatioSeq {
    fn default() -> Self {
        Self { prev_phase: 0.0, first: true, counter: 0, values_len: usize::MAX }
    }
}

impl RatioSeq {
    /// 1 when `phase` wraps or crosses one of the cumulative, normalised ratio points.
    #[inline]
    pub fn play_trig(&mut self, phase: f64, times: &[f64], inv_sr: f64) -> f64 {
        if self.first {
            self.first = false;
            self.prev_phase = phase - inv_sr;
        }
        let sum: f64 = times.iter().sum();
        if self.prev_phase > phase {
            // The phasor wrapped: start the comparison from just below 0.
            self.prev_phase = -inv_sr;
        }
        let mut trig = 0.0;
        let mut acc = 0.0;
        for &t in times {
            acc += t;
            let mut point = acc / sum;
            if point == 1.0 {
                point = 0.0;
            }
            if self.prev_phase <= point && phase > point {
                trig = 1.0;
                break;
            }
        }
        self.prev_phase = phase;
        trig
    }

    /// Steps through `values` on each trigger of [`play_trig`](Self::play_trig) and holds
    /// the current value. Before the first trigger the last value is output (the counter
    /// starts at len-1 so the first trigger reads index 0).
    #[inline]
    pub fn play_values(&mut self, phase: f64, times: &[f64], values: &[f64], inv_sr: f64) -> f64 {
        let n = values.len();
        if self.values_len != n {
            self.values_len = n;
            self.counter = n.saturating_sub(1);
        }
        if self.play_trig(phase, times, inv_sr) > 0.0 {
            self.counter += 1;
            if self.counter >= n {
                self.counter = 0;
            }
        }
        values.get(self.counter).copied().unwrap_or(0.0)
    }
}

/// Position in bars since the song start (bar index + phase within the bar).
#[inline]
pub fn bar_position(bar: i64, bar_phase: f64) -> f64 {
    bar as f64 + bar_phase
}

/// `clp`: a phasor running `cycles` times per bar, shifted by `offset` (0..1). Derived
/// from the absolute bar position so it stays in sync after a transport relocation and
/// works for fractional rates (e.g. 0.01 cycles per bar).
#[inline]
pub fn clock_phase(bars: f64, cycles: f64, offset: f64) -> f64 {
    let p = ((bars * cycles).rem_euclid(1.0) + offset).rem_euclid(1.0);
    // rem_euclid can return exactly 1.0 for tiny negative inputs: keep the range [0, 1).
    if p >= 1.0 { 0.0 } else { p }
}

/// `clt`: 1 on the first sample of each `clp` cycle, else 0.
#[derive(Clone, Debug, Default)]
pub struct ClockTrig {
    /// Index of the cycle seen at the previous sample (`None` before the first).
    prev_cycle: Option<f64>,
}

impl ClockTrig {
    /// `bars_per_sample` is how far the bar position moves in one sample (tempo); a
    /// trigger fires when a new cycle starts within the last sample's step, so a jump of
    /// the transport into the middle of a cycle does not fire.
    #[inline]
    pub fn tick(&mut self, bars: f64, cycles: f64, offset: f64, bars_per_sample: f64) -> f64 {
        let pos = bars * cycles + offset;
        let cycle = pos.floor();
        let frac = pos - cycle;
        let step = (bars_per_sample * cycles).abs();
        let hit = match self.prev_cycle {
            Some(prev) => cycle != prev && frac < step * 1.5 + 1e-12,
            None => frac < step + 1e-12,
        };
        self.prev_cycle = Some(cycle);
        if hit { 1.0 } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    #[test]
    fn rsq_trigger_points() {
        let mut r = RatioSeq::default();
        // A 1 Hz phasor, ratios 3:1 → triggers at phase 0.75 and at the wrap.
        let trigs: Vec<usize> = (0..96_000)
            .filter(|&i| r.play_trig((i as f64 / SR).fract(), &[3.0, 1.0], 1.0 / SR) > 0.0)
            .collect();
        assert_eq!(trigs, vec![1, 36_001, 48_001, 84_001]);
    }

    #[test]
    fn rsq_value_order() {
        let mut r = RatioSeq::default();
        let vals = [10.0, 20.0, 30.0];
        let mut seen = vec![];
        for i in 0..(4 * 4800) {
            let v = r.play_values((i as f64 / 4800.0).fract(), &[1.0], &vals, 1.0 / SR);
            if seen.last() != Some(&v) {
                seen.push(v);
            }
        }
        // Starts on the last value, then steps in order once per phasor cycle.
        assert_eq!(seen, vec![30.0, 10.0, 20.0, 30.0, 10.0]);
        // Changing the list length restarts from the first value at the next trigger.
        let v = r.play_values(0.5, &[1.0], &[1.0, 2.0], 1.0 / SR);
        assert_eq!(v, 2.0);
    }

    #[test]
    fn clock_phase_cycles() {
        assert_eq!(clock_phase(0.5, 1.0, 0.0), 0.5);
        assert!((clock_phase(3.25, 4.0, 0.0) - 0.0).abs() < 1e-12);
        assert!((clock_phase(0.1, 15.0, 0.0) - 0.5).abs() < 1e-9);
        assert!((clock_phase(0.5, 1.0, 0.75) - 0.25).abs() < 1e-12);
        assert!((clock_phase(50.0, 0.01, 0.0) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn clock_trigger_once_per_cycle() {
        let mut t = ClockTrig::default();
        let bps = 1.0 / 96_000.0; // 120 bpm 4/4 at 48 kHz: 2 s per bar
        let hits: Vec<usize> = (0..192_000).filter(|&i| t.tick(i as f64 * bps, 4.0, 0.0, bps) > 0.0).collect();
        assert_eq!(hits, vec![0, 24_000, 48_000, 72_000, 96_000, 120_000, 144_000, 168_000]);
        // A relocation into the middle of a cycle does not fire.
        assert_eq!(t.tick(10.1, 4.0, 0.0, bps), 0.0);
    }
}
