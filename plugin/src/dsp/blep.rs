//! PolyBLEP band-limited oscillators (`sinb` … `vtrapb`, `polyblep`), following the
//! waveform set of Martin Finke's PolyBLEP library that Maximilian's `maxiPolyBLEP`
//! wraps. Each waveform is the naive shape plus polynomial corrections (BLEP for
//! jumps, BLAMP for corners) around its discontinuities.

use std::f64::consts::{PI, TAU};

/// The 14 waveforms, numbered as in Sema (`{f, n}polyblep` selects by number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waveform {
    Sine = 0,
    Cosine,
    Triangle,
    Square,
    Rectangle,
    Sawtooth,
    Ramp,
    ModifiedTriangle,
    ModifiedSquare,
    HalfRectifiedSine,
    FullRectifiedSine,
    TriangularPulse,
    TrapezoidFixed,
    TrapezoidVariable,
}

impl Waveform {
    /// The waveform for a (possibly fractional or out-of-range) number; `None` outside 0..=13.
    pub fn from_index(i: f64) -> Option<Self> {
        use Waveform::*;
        const ALL: [Waveform; 14] = [
            Sine,
            Cosine,
            Triangle,
            Square,
            Rectangle,
            Sawtooth,
            Ramp,
            ModifiedTriangle,
            ModifiedSquare,
            HalfRectifiedSine,
            FullRectifiedSine,
            TriangularPulse,
            TrapezoidFixed,
            TrapezoidVariable,
        ];
        if i.is_finite() && i >= 0.0 {
            ALL.get(i as usize).copied()
        } else {
            None
        }
    }
}

#[inline]
fn frac(x: f64) -> f64 {
    x - x.trunc()
}

#[inline]
fn blep(t: f64, dt: f64) -> f64 {
    if t < dt {
        let x = t / dt - 1.0;
        -x * x
    } else if t > 1.0 - dt {
        let x = (t - 1.0) / dt + 1.0;
        x * x
    } else {
        0.0
    }
}

#[inline]
fn blamp(t: f64, dt: f64) -> f64 {
    if t < dt {
        let x = t / dt - 1.0;
        -1.0 / 3.0 * x * x * x
    } else if t > 1.0 - dt {
        let x = (t - 1.0) / dt + 1.0;
        1.0 / 3.0 * x * x * x
    } else {
        0.0
    }
}

/// A PolyBLEP oscillator: phase `t` in [0,1), waveform and pulse width.
#[derive(Clone, Copy, Debug)]
pub struct PolyBlep {
    /// Phase in [0, 1).
    t: f64,
    /// Selected waveform; `None` (an out-of-range number) outputs 0 as in the original.
    pub waveform: Option<Waveform>,
    /// Pulse width 0..1 for the waveforms that use it.
    pub pulse_width: f64,
}

impl PolyBlep {
    pub fn new(waveform: Waveform) -> Self {
        Self { t: 0.0, waveform: Some(waveform), pulse_width: 0.5 }
    }

    /// Returns the current sample for `freq` Hz and advances the phase.
    #[inline]
    pub fn play(&mut self, freq: f64, sample_rate: f64) -> f64 {
        let dt = freq / sample_rate;
        let out = self.get(dt, freq >= sample_rate / 4.0);
        self.t += dt;
        self.t = frac(self.t);
        if self.t < 0.0 {
            self.t += 1.0;
        }
        out
    }

    fn get(&self, dt: f64, too_high: bool) -> f64 {
        let t = self.t;
        let pw = self.pulse_width;
        let Some(w) = self.waveform else { return 0.0 };
        if too_high {
            // Above a quarter of the sample rate every shape is reduced to a sine.
            return (TAU * t).sin();
        }
        match w {
            Waveform::Sine => (TAU * t).sin(),
            Waveform::Cosine => (TAU * t).cos(),
            Waveform::Triangle => {
                let t1 = frac(t + 0.25);
                let t2 = frac(t + 0.75);
                let mut y = t * 4.0;
                if y >= 3.0 {
                    y -= 4.0;
                } else if y > 1.0 {
                    y = 2.0 - y;
                }
                y + 4.0 * dt * (blamp(t1, dt) - blamp(t2, dt))
            }
            Waveform::Square => {
                let t2 = frac(t + 0.5);
                let y = if t < 0.5 { 1.0 } else { -1.0 };
                y + blep(t, dt) - blep(t2, dt)
            }
            Waveform::Rectangle => {
                let t2 = frac(t + 1.0 - pw);
                let mut y = -2.0 * pw;
                if t < pw {
                    y += 2.0;
                }
                y + blep(t, dt) - blep(t2, dt)
            }
            Waveform::Sawtooth => {
                let t1 = frac(t + 0.5);
                2.0 * t1 - 1.0 - blep(t1, dt)
            }
            Waveform::Ramp => 1.0 - 2.0 * t + blep(t, dt),
            Waveform::ModifiedTriangle => {
                let pw = pw.clamp(0.0001, 0.9999);
                let t1 = frac(t + 0.5 * pw);
                let t2 = frac(t + 1.0 - 0.5 * pw);
                let mut y = t * 2.0;
                if y >= 2.0 - pw {
                    y = (y - 2.0) / pw;
                } else if y >= pw {
                    y = 1.0 - (y - pw) / (1.0 - pw);
                } else {
                    y /= pw;
                }
                y + dt / (pw - pw * pw) * (blamp(t1, dt) - blamp(t2, dt))
            }
            Waveform::ModifiedSquare => {
                let mut t1 = frac(t + 0.875 + 0.25 * (pw - 0.5));
                let mut t2 = frac(t + 0.375 + 0.25 * (pw - 0.5));
                let mut y = if t1 < 0.5 { 1.0 } else { -1.0 };
                y += blep(t1, dt) - blep(t2, dt);
                t1 = frac(t1 + 0.5 * (1.0 - pw));
                t2 = frac(t2 + 0.5 * (1.0 - pw));
                y += if t1 < 0.5 { 1.0 } else { -1.0 };
                y += blep(t1, dt) - blep(t2, dt);
                0.5 * y
            }
            Waveform::HalfRectifiedSine => {
                let t2 = frac(t + 0.5);
                let mut y = if t < 0.5 { 2.0 * (TAU * t).sin() - 2.0 / PI } else { -2.0 / PI };
                y += TAU * dt * (blamp(t, dt) + blamp(t2, dt));
                y
            }
            Waveform::FullRectifiedSine => {
                let t1 = frac(t + 0.25);
                2.0 * (PI * t1).sin() - 4.0 / PI + TAU * dt * blamp(t1, dt)
            }
            Waveform::TriangularPulse => {
                let t1 = frac(t + 0.75 + 0.5 * pw);
                let mut y = if t1 >= pw {
                    -pw
                } else {
                    let y = 4.0 * t1;
                    if y >= 2.0 * pw {
                        4.0 - y / pw - pw
                    } else {
                        y / pw - pw
                    }
                };
                if pw > 0.0 {
                    let t2 = frac(t1 + 1.0 - 0.5 * pw);
                    let t3 = frac(t1 + 1.0 - pw);
                    y += 2.0 * dt / pw * (blamp(t1, dt) - 2.0 * blamp(t2, dt) + blamp(t3, dt));
                }
                y
            }
            Waveform::TrapezoidFixed => {
                let mut y = 4.0 * t;
                if y >= 3.0 {
                    y -= 4.0;
                } else if y > 1.0 {
                    y = 2.0 - y;
                }
                y = (2.0 * y).clamp(-1.0, 1.0);
                for off in [0.125, 0.375] {
                    let t1 = frac(t + off);
                    let t2 = frac(t1 + 0.5);
                    y += 4.0 * dt * (blamp(t1, dt) - blamp(t2, dt));
                }
                y
            }
            Waveform::TrapezoidVariable => {
                let pw = pw.min(0.9999);
                let scale = 1.0 / (1.0 - pw);
                let mut y = 4.0 * t;
                if y >= 3.0 {
                    y -= 4.0;
                } else if y > 1.0 {
                    y = 2.0 - y;
                }
                y = (scale * y).clamp(-1.0, 1.0);
                for off in [0.25 - 0.25 * pw, 0.25 + 0.25 * pw] {
                    let t1 = frac(t + off);
                    let t2 = frac(t1 + 0.5);
                    y += scale * 2.0 * dt * (blamp(t1, dt) - blamp(t2, dt));
                }
                y
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_waveform_is_bounded_and_periodic() {
        for i in 0..14 {
            let w = Waveform::from_index(i as f64).unwrap();
            let mut o = PolyBlep::new(w);
            let v: Vec<f64> = (0..4800).map(|_| o.play(100.0, 48_000.0)).collect();
            assert!(v.iter().all(|x| x.is_finite() && x.abs() < 2.5), "{w:?}");
            // Period of 480 samples: one cycle later the value repeats.
            assert!((v[1000] - v[1480]).abs() < 1e-6, "{w:?}");
            let energy: f64 = v.iter().map(|x| x * x).sum();
            assert!(energy > 10.0, "{w:?}");
        }
        assert!(Waveform::from_index(14.0).is_none());
    }

    #[test]
    fn saw_jump_is_smoothed() {
        let mut o = PolyBlep::new(Waveform::Sawtooth);
        let v: Vec<f64> = (0..960).map(|_| o.play(100.0, 48_000.0)).collect();
        let max_step = v.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max);
        assert!(max_step < 1.5 && max_step > 0.5, "{max_step}");
    }
}
