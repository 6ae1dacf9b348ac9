//! Envelopes: `env` (Maximilian `maxiEnv::adsr` driven by a gate) and `line`
//! (Maximilian `maxiLine`, a triggered 0→1 ramp).

/// ADSR on a gate. Coefficients follow Maximilian's setters: the attack adds a fixed
/// step per sample (`1 - 0.01^(1/N)`, N = attack in samples, so the rise takes about
/// N/4.6 samples), decay and release multiply by `0.01^(1/N)` per sample (−40 dB in N).
#[derive(Clone, Copy, Debug, Default)]
pub struct Adsr {
    amplitude: f64,
    output: f64,
    attack_phase: bool,
    decay_phase: bool,
    hold_phase: bool,
    release_phase: bool,
    hold_count: u64,
    attack: f64,
    decay: f64,
    sustain: f64,
    release: f64,
    /// The (a, d, s, r) the coefficients were computed from; recomputed on change.
    params: [f64; 4],
}

impl Adsr {
    pub fn new() -> Self {
        Self { params: [f64::NAN; 4], ..Default::default() }
    }

    fn set(&mut self, a: f64, d: f64, s: f64, r: f64, sr: f64) {
        let ms = |x: f64| (x * sr * 0.001).max(1e-9);
        self.attack = 1.0 - 0.01f64.powf(1.0 / ms(a));
        self.decay = 0.01f64.powf(1.0 / ms(d));
        self.sustain = s;
        self.release = 0.01f64.powf(1.0 / ms(r));
        self.params = [a, d, s, r];
    }

    /// One sample. `gate` is truncated to an integer and the envelope is open while it
    /// equals 1 (as Maximilian's integer trigger argument).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn play(&mut self, gate: f64, a: f64, d: f64, s: f64, r: f64, sr: f64) -> f64 {
        if self.params != [a, d, s, r] {
            self.set(a, d, s, r, sr);
        }
        // `trunc(gate) == 1` without the libm call baseline x86-64 makes for `trunc`
        // (false for NaN and infinities too).
        let on = (1.0..2.0).contains(&gate);
        const HOLD_TIME: u64 = 1;
        if on && !self.attack_phase && !self.hold_phase && !self.decay_phase {
            self.hold_count = 0;
            self.decay_phase = false;
            self.release_phase = false;
            self.attack_phase = true;
        }
        if self.attack_phase {
            self.release_phase = false;
            self.amplitude += self.attack;
            self.output = self.amplitude;
            if self.amplitude >= 1.0 {
                self.amplitude = 1.0;
                self.attack_phase = false;
                self.decay_phase = true;
            }
        }
        if self.decay_phase {
            self.amplitude *= self.decay;
            self.output = self.amplitude;
            if self.amplitude <= self.sustain {
                self.decay_phase = false;
                self.hold_phase = true;
            }
        }
        if self.hold_count < HOLD_TIME && self.hold_phase {
            self.output = self.amplitude;
            self.hold_count += 1;
        }
        if self.hold_count >= HOLD_TIME && on {
            self.output = self.amplitude;
        }
        if self.hold_count >= HOLD_TIME && !on {
            self.hold_phase = false;
            self.release_phase = true;
        }
        if self.release_phase && self.amplitude > 0.0 {
            self.amplitude *= self.release;
            self.output = self.amplitude;
        }
        self.output
    }
}

/// A line from 0 to 1 over `duration` ms, started by a rising edge of its trigger; it
/// drops back to 0 after reaching the end and waits for the next trigger.
#[derive(Clone, Copy, Debug)]
pub struct Line {
    value: f64,
    inc: f64,
    last_trig: f64,
    triggered: bool,
    duration_ms: f64,
}

impl Line {
    pub fn new(duration_ms: f64, sample_rate: f64) -> Self {
        let mut l =
            Self { value: 0.0, inc: 0.0, last_trig: -1.0, triggered: false, duration_ms: f64::NAN };
        l.set_duration(duration_ms, sample_rate);
        l
    }

    fn set_duration(&mut self, duration_ms: f64, sample_rate: f64) {
        self.duration_ms = duration_ms;
        let samples = (duration_ms / 1000.0 * sample_rate).max(1.0);
        self.inc = 1.0 / samples;
    }

    #[inline]
    pub fn play(&mut self, trig: f64, duration_ms: f64, sample_rate: f64) -> f64 {
        if duration_ms != self.duration_ms {
            self.set_duration(duration_ms, sample_rate);
        }
        if !self.triggered {
            self.triggered = trig > 0.0 && self.last_trig <= 0.0;
            self.value = 0.0;
        }
        if self.triggered {
            self.value += self.inc;
            if self.value >= 1.0 {
                // Not one-shot (Sema prepares it looping): re-arm for the next trigger.
                self.triggered = false;
            }
        }
        self.last_trig = trig;
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    #[test]
    fn adsr_stage_timings() {
        let mut e = Adsr::new();
        // Gate open for 0.5 s, then closed.
        let v: Vec<f64> = (0..48_000)
            .map(|i| e.play(if i < 24_000 { 1.0 } else { 0.0 }, 10.0, 200.0, 0.05, 200.0, SR))
            .collect();
        // Attack: step 1-0.01^(1/480) per sample reaches 1 after ceil(1/step) samples.
        let step = 1.0 - 0.01f64.powf(1.0 / 480.0);
        let n_attack = (1.0 / step).ceil() as usize;
        // The sample reaching 1 already applies one decay step.
        let peak = v.iter().position(|&x| x >= 0.999).unwrap();
        assert!((peak as i64 - (n_attack as i64 - 1)).abs() <= 1, "{peak} {n_attack}");
        // Decay: multiplied by 0.01^(1/9600) until <= 0.05: ln(0.05)/ln(0.01)*9600 samples.
        let n_decay = (0.05f64.ln() / 0.01f64.ln() * 9600.0).ceil() as usize;
        let at_sustain = peak + v[peak..].iter().position(|&x| x <= 0.05).unwrap();
        assert!(
            (at_sustain as i64 - (peak + n_decay) as i64).abs() <= 2,
            "{at_sustain} {}",
            peak + n_decay
        );
        // Sustain holds while the gate is open.
        assert!((v[23_999] - v[at_sustain]).abs() < 1e-12);
        // Release: -40 dB after 200 ms (9600 samples).
        let ratio = v[24_000 + 9600] / v[23_999];
        assert!((ratio - 0.01).abs() < 0.001, "{ratio}");
    }

    #[test]
    fn adsr_gate_must_be_one() {
        let mut e = Adsr::new();
        let v: f64 = (0..100).map(|_| e.play(0.9, 1.0, 10.0, 0.5, 10.0, SR)).sum();
        assert_eq!(v, 0.0);
    }

    #[test]
    fn line_ramps_over_duration() {
        let mut l = Line::new(100.0, SR);
        let v: Vec<f64> =
            (0..10_000).map(|i| l.play(if i == 10 { 1.0 } else { 0.0 }, 100.0, SR)).collect();
        assert_eq!(v[9], 0.0);
        assert!((v[10] - 1.0 / 4800.0).abs() < 1e-12);
        assert!((v[10 + 2399] - 0.5).abs() < 1e-9);
        let end = v.iter().position(|&x| x >= 1.0 - 1e-9).unwrap();
        assert_eq!(end, 10 + 4799);
        assert_eq!(v[end + 1], 0.0);
    }
}
