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
    /// The normalised cumulative trigger points of the ratios given to `prepare`
    /// (capacity fixed at construction, so preparing never allocates).
    points: Vec<f64>,
}

impl Default for RatioSeq {
    fn default() -> Self {
        Self::new(16)
    }
}

impl RatioSeq {
    /// A sequencer for ratio lists of up to `max_ratios` entries.
    pub fn new(max_ratios: usize) -> Self {
        Self {
            prev_phase: 0.0,
            first: true,
            counter: 0,
            values_len: usize::MAX,
            points: Vec::with_capacity(max_ratios.max(1)),
        }
    }

    /// Computes the trigger points for `times` (call when the ratios may have changed;
    /// entries beyond the capacity given to `new` are ignored).
    #[inline]
    pub fn prepare(&mut self, times: &[f64]) {
        let times = &times[..times.len().min(self.points.capacity())];
        let sum: f64 = times.iter().sum();
        self.points.clear();
        let mut acc = 0.0;
        for &t in times {
            acc += t;
            let point = acc / sum;
            // A point at exactly 1 is the wrap, i.e. 0.
            self.points.push(if point == 1.0 { 0.0 } else { point });
        }
    }

    /// Handles the first call and a change of the values list's length once, before
    /// a run of [`trig_fast`](Self::trig_fast)/[`values_fast`](Self::values_fast) calls
    /// (the block loop then skips those checks).
    #[inline]
    pub fn begin(&mut self, first_phase: f64, values_len: usize, inv_sr: f64) {
        if self.first {
            self.first = false;
            self.prev_phase = first_phase - inv_sr;
        }
        if self.values_len != values_len {
            self.values_len = values_len;
            self.counter = values_len.saturating_sub(1);
        }
    }

    /// 1 when `phase` wraps or crosses one of the prepared points.
    #[inline]
    #[cfg(test)]
    pub fn trig(&mut self, phase: f64, inv_sr: f64) -> f64 {
        if self.first {
            self.first = false;
            self.prev_phase = phase - inv_sr;
        }
        self.trig_fast(phase, inv_sr)
    }

    /// [`trig`](Self::trig) after [`begin`](Self::begin).
    #[inline]
    pub fn trig_fast(&mut self, phase: f64, inv_sr: f64) -> f64 {
        if self.prev_phase > phase {
            // The phasor wrapped: start the comparison from just below 0.
            self.prev_phase = -inv_sr;
        }
        let prev = self.prev_phase;
        self.prev_phase = phase;
        let hit = match self.points.as_slice() {
            // The most common case, `[1]`: one trigger per cycle, at the wrap.
            [p] => prev <= *p && phase > *p,
            ps => ps.iter().any(|&p| prev <= p && phase > p),
        };
        if hit {
            1.0
        } else {
            0.0
        }
    }

    /// [`values_fast`](Self::values_fast) (with `values`) or
    /// [`trig_fast`](Self::trig_fast) (without) for each phase of a block, into `out`,
    /// with the same results. The triggers are found in one pass that vectorises (the
    /// phase each sample compares with is the previous sample's, or just below 0 after a
    /// wrap); a block without a trigger (nearly all of them) then holds one value, and
    /// only a block with one steps through its values sample by sample.
    #[inline(always)]
    pub fn run_block(
        &mut self,
        phases: &[f64],
        values: Option<&[f64]>,
        inv_sr: f64,
        out: &mut [f64],
    ) {
        let n = phases.len().min(out.len());
        if n == 0 {
            return;
        }
        let (phases, out) = (&phases[..n], &mut out[..n]);
        let below_zero = -inv_sr;
        let prev_of = |before: f64, phase: f64| if before > phase { below_zero } else { before };
        let mut any = false;
        match self.points.as_slice() {
            &[p] => {
                let hit = |prev: f64, phase: f64| (prev <= p) & (phase > p);
                let first = hit(prev_of(self.prev_phase, phases[0]), phases[0]);
                out[0] = if first { 1.0 } else { 0.0 };
                for j in 1..n {
                    let h = hit(prev_of(phases[j - 1], phases[j]), phases[j]);
                    out[j] = if h { 1.0 } else { 0.0 };
                }
                any = out.iter().fold(false, |a, &h| a | (h != 0.0));
            }
            points => {
                let prev0 = prev_of(self.prev_phase, phases[0]);
                for (j, o) in out.iter_mut().enumerate() {
                    let prev = if j == 0 { prev0 } else { prev_of(phases[j - 1], phases[j]) };
                    let phase = phases[j];
                    let h = points.iter().any(|&p| prev <= p && phase > p);
                    any |= h;
                    *o = if h { 1.0 } else { 0.0 };
                }
            }
        }
        self.prev_phase = phases[n - 1];
        // Without values the trigger flags are the output.
        let Some(values) = values else { return };
        let len = values.len();
        let value = |counter: usize| values.get(counter).copied().unwrap_or(0.0);
        if !any {
            out.fill(value(self.counter));
            return;
        }
        let mut counter = self.counter;
        for o in out.iter_mut() {
            if *o != 0.0 {
                counter += 1;
                if counter >= len {
                    counter = 0;
                }
            }
            *o = value(counter);
        }
        self.counter = counter;
    }

    /// 1 when `phase` wraps or crosses one of the cumulative, normalised ratio points.
    #[inline]
    #[cfg(test)]
    pub fn play_trig(&mut self, phase: f64, times: &[f64], inv_sr: f64) -> f64 {
        self.prepare(times);
        self.trig(phase, inv_sr)
    }

    /// [`play_values`](Self::play_values) with points already prepared.
    #[inline]
    #[cfg(test)]
    pub fn values(&mut self, phase: f64, values: &[f64], inv_sr: f64) -> f64 {
        self.begin(phase, values.len(), inv_sr);
        self.values_fast(phase, values, inv_sr)
    }

    /// [`values`](Self::values) after [`begin`](Self::begin) with this `values` list.
    #[inline]
    pub fn values_fast(&mut self, phase: f64, values: &[f64], inv_sr: f64) -> f64 {
        let n = values.len();
        if self.trig_fast(phase, inv_sr) > 0.0 {
            self.counter += 1;
            if self.counter >= n {
                self.counter = 0;
            }
        }
        values.get(self.counter).copied().unwrap_or(0.0)
    }

    /// Steps through `values` on each trigger of [`play_trig`](Self::play_trig) and holds
    /// the current value. Before the first trigger the last value is output (the counter
    /// starts at len-1 so the first trigger reads index 0).
    #[inline]
    #[cfg(test)]
    pub fn play_values(&mut self, phase: f64, times: &[f64], values: &[f64], inv_sr: f64) -> f64 {
        self.prepare(times);
        self.values(phase, values, inv_sr)
    }
}

/// Position in bars since the song start (bar index + phase within the bar).
#[inline]
pub fn bar_position(bar: i64, bar_phase: f64) -> f64 {
    bar as f64 + bar_phase
}

/// `floor` without a libm call (baseline x86-64 has no SSE4.1 `roundsd`): adding and
/// subtracting 2^52·1.5 rounds to the nearest integer, then one compare fixes the
/// direction. Exact for |x| < 2^51; larger values (far beyond any bar position) and
/// NaN fall back to `f64::floor`.
#[inline]
pub fn fast_floor(x: f64) -> f64 {
    if x.abs() < FLOOR_LANE_LIMIT {
        floor_lane(x)
    } else {
        x.floor()
    }
}

/// `|x|` below this keeps [`floor_lane`] exact (2^51).
pub const FLOOR_LANE_LIMIT: f64 = 2_251_799_813_685_248.0;

/// [`fast_floor`]'s rounding trick alone, without the range check: exact for
/// `|x| < FLOOR_LANE_LIMIT`, branch-free so that loops over a block vectorise (callers
/// check the range for the whole block first).
#[inline(always)]
pub fn floor_lane(x: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
    let r = (x + MAGIC) - MAGIC;
    if r > x {
        r - 1.0
    } else {
        r
    }
}

/// [`clock_phase`] without branches, for a whole block at once: the same result when
/// `|bars · cycles|` and `|offset|` are below [`FLOOR_LANE_LIMIT`] / 2. `floor` is
/// [`floor_lane`], or [`floor_rounded`] where the CPU rounds in one instruction (the two
/// are equal in that range).
#[inline(always)]
pub fn clock_phase_lane_by(bars: f64, cycles: f64, offset: f64, floor: impl Fn(f64) -> f64) -> f64 {
    let wrap = |x: f64| {
        let f = x - floor(x);
        if f >= 1.0 {
            0.0
        } else {
            f
        }
    };
    let f = wrap(bars * cycles);
    let shifted = wrap(f + offset);
    if offset == 0.0 {
        f
    } else {
        shifted
    }
}

/// [`floor_lane`] through `f64::floor`: one instruction (`roundpd`) in code compiled for
/// SSE4.1 or later, and on AArch64. Adding zero turns `floor(-0.0)` into `+0.0`, as
/// [`floor_lane`] gives; every other value is unchanged, so the two are equal wherever
/// [`floor_lane`] is exact.
#[inline(always)]
pub fn floor_rounded(x: f64) -> f64 {
    x.floor() + 0.0
}

/// `x mod 1` in [0, 1).
#[inline]
fn wrap01(x: f64) -> f64 {
    let f = x - fast_floor(x);
    if f >= 1.0 {
        0.0
    } else {
        f
    }
}

/// `clp`: a phasor running `cycles` times per bar, shifted by `offset` (0..1). Derived
/// from the absolute bar position so it stays in sync after a transport relocation and
/// works for fractional rates (e.g. 0.01 cycles per bar).
#[inline]
pub fn clock_phase(bars: f64, cycles: f64, offset: f64) -> f64 {
    if offset == 0.0 {
        wrap01(bars * cycles)
    } else {
        wrap01(wrap01(bars * cycles) + offset)
    }
}

/// `clt`: 1 on the first sample of each `clp` cycle, else 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClockTrig {
    /// Index of the cycle seen at the previous sample (`None` before the first).
    prev_cycle: Option<f64>,
}

impl ClockTrig {
    /// Forgets the previous cycle while the clock stands still, so the next
    /// [`tick`](Self::tick) fires if the transport starts on a cycle start (pressing play
    /// at a bar line plays its downbeat).
    #[inline]
    pub fn stop(&mut self) {
        self.prev_cycle = None;
    }

    /// `bars_per_sample` is how far the bar position moves in one sample (tempo); a
    /// trigger fires when a new cycle starts within the last sample's step, so a jump of
    /// the transport into the middle of a cycle does not fire.
    #[inline]
    pub fn tick(&mut self, bars: f64, cycles: f64, offset: f64, bars_per_sample: f64) -> f64 {
        let pos = bars * cycles + offset;
        let cycle = fast_floor(pos);
        let frac = pos - cycle;
        let step = (bars_per_sample * cycles).abs();
        let hit = match self.prev_cycle {
            Some(prev) => cycle != prev && frac < step * 1.5 + 1e-12,
            None => frac < step + 1e-12,
        };
        self.prev_cycle = Some(cycle);
        if hit {
            1.0
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sequencer_equals_the_per_sample_one() {
        let inv_sr = 1.0 / 48_000.0;
        // A phasor at an odd rate with a jump back (a relocation) in the middle.
        let mut phases: Vec<f64> = (0..3000).map(|i| (i as f64 * 0.001_37).fract()).collect();
        phases[1700..].iter_mut().for_each(|p| *p = (*p * 0.5 + 0.31).fract());
        let values = [3.0, 1.0, 4.0, 1.5, 9.0];
        for times in [&[1.0][..], &[1.0, 2.0, 1.0][..], &[0.5, 0.25, 0.25, 3.0][..]] {
            for vals in [Some(&values[..]), None] {
                let mut a = RatioSeq::new(8);
                let mut b = RatioSeq::new(8);
                a.prepare(times);
                b.prepare(times);
                let mut fast = vec![0.0; phases.len()];
                let mut want = vec![0.0; phases.len()];
                // In blocks of 512, as the engine calls it.
                for (k, chunk) in phases.chunks(512).enumerate() {
                    let n = vals.map_or(0, <[f64]>::len);
                    a.begin(chunk[0], n, inv_sr);
                    a.run_block(chunk, vals, inv_sr, &mut fast[k * 512..k * 512 + chunk.len()]);
                    b.begin(chunk[0], n, inv_sr);
                    for (j, &p) in chunk.iter().enumerate() {
                        want[k * 512 + j] = match vals {
                            Some(v) => b.values_fast(p, v, inv_sr),
                            None => b.trig_fast(p, inv_sr),
                        };
                    }
                }
                assert_eq!(fast, want, "{times:?} {vals:?}");
                assert!(want.iter().any(|&v| v != want[0]), "the sequence moves");
            }
        }
    }

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
        // Changing the list length restarts from the first value at the next trigger
        // (here the phasor wraps, which is a trigger).
        let v = r.play_values(0.5, &[1.0], &[1.0, 2.0], 1.0 / SR);
        assert_eq!(v, 1.0);
    }

    #[test]
    fn fast_floor_matches_floor() {
        for x in [-2.5, -2.0, -0.1, 0.0, 0.3, 1.0, 7.9, 1e12 + 0.5, -1e12 - 0.5] {
            assert_eq!(fast_floor(x), x.floor(), "{x}");
        }
    }

    #[test]
    fn floor_rounded_is_floor_lane_bit_for_bit() {
        let mut rng = crate::dsp::Rng::new(7);
        let mut xs = vec![-0.0, 0.0, -1.0, -0.5, 0.5, 1.0 - f64::EPSILON, -f64::MIN_POSITIVE];
        xs.extend([1125899906842624.5, -1125899906842624.5, 1e15 + 0.25]);
        for _ in 0..100_000 {
            let scale = 10f64.powi((rng.next_unit() * 16.0) as i32);
            xs.push(rng.next_bipolar() * scale);
        }
        for x in xs.into_iter().filter(|x| x.abs() < FLOOR_LANE_LIMIT) {
            assert_eq!(floor_rounded(x).to_bits(), floor_lane(x).to_bits(), "{x:e}");
        }
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
        let hits: Vec<usize> =
            (0..192_000).filter(|&i| t.tick(i as f64 * bps, 4.0, 0.0, bps) > 0.0).collect();
        assert_eq!(hits, vec![0, 24_000, 48_000, 72_000, 96_000, 120_000, 144_000, 168_000]);
        // A relocation into the middle of a cycle does not fire.
        assert_eq!(t.tick(10.1, 4.0, 0.0, bps), 0.0);
    }
}
