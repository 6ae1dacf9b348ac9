//! `o303`: a TB-303 style bass voice with the controls of Sema's `o303` (which wraps
//! the Open303 engine). This is an own, simpler design, not a port of Open303: a
//! saw/square oscillator with slide, an accentable amplitude envelope, a decaying filter
//! envelope and a resonant 4-pole ladder low pass with a soft-saturating feedback path.

use super::blep::{PolyBlep, Waveform};
use super::maps::mtof;
use std::f64::consts::PI;

/// The 303-style voice state.
#[derive(Clone, Debug)]
pub struct Acid {
    saw: PolyBlep,
    square: PolyBlep,
    sr: f64,
    /// Current and target pitch (MIDI note numbers; slide glides between them).
    pitch: f64,
    target: f64,
    gate: bool,
    accent: bool,
    amp: f64,
    /// Filter envelope value and whether it is still rising (attack).
    fenv: f64,
    rising: bool,
    /// Ladder filter stages (trapezoidal integrators).
    s: [f64; 4],
}

/// The per-sample controls (see [`Acid::play`]).
#[derive(Clone, Copy, Debug)]
pub struct AcidControls {
    /// 0 = saw … 1 = square.
    pub waveform: f64,
    pub cutoff_hz: f64,
    /// 0–100 %.
    pub resonance: f64,
    /// 0–100 %.
    pub env_mod: f64,
    pub attack_ms: f64,
    pub decay_ms: f64,
    /// 0–100 %.
    pub accent_amount: f64,
}

impl Acid {
    pub fn new(sample_rate: f64) -> Self {
        let mut square = PolyBlep::new(Waveform::Square);
        square.pulse_width = 0.5;
        Self {
            saw: PolyBlep::new(Waveform::Sawtooth),
            square,
            sr: sample_rate,
            pitch: 36.0,
            target: 36.0,
            gate: false,
            accent: false,
            amp: 0.0,
            fenv: 0.0,
            rising: false,
            s: [0.0; 4],
        }
    }

    /// Starts a note (`slide`: glide to it without retriggering the envelopes).
    pub fn note_on(&mut self, note: f64, accent: bool, slide: bool) {
        let note = if note.is_finite() { note.clamp(0.0, 127.0) } else { 36.0 };
        self.target = note;
        if !(slide && self.gate) {
            self.pitch = note;
            self.rising = true;
        }
        self.gate = true;
        self.accent = accent;
    }

    /// Releases the note.
    pub fn all_notes_off(&mut self) {
        self.gate = false;
    }

    /// One sample.
    pub fn play(&mut self, c: &AcidControls) -> f64 {
        let sr = self.sr;
        // Slide: about 60 ms exponential glide in pitch.
        let glide = 1.0 - (-1.0 / (0.06 * sr)).exp();
        self.pitch += (self.target - self.pitch) * glide;
        let freq = mtof(self.pitch);
        let w = if c.waveform.is_finite() { c.waveform.clamp(0.0, 1.0) } else { 0.0 };
        let osc = (1.0 - w) * self.saw.play(freq, sr) + w * self.square.play(freq, sr);

        // Amplitude: fast attack, slow decay while held, short release.
        let amp_target_rate = if self.gate {
            if self.amp < 1.0 && self.rising {
                1.0 / (0.003 * sr)
            } else {
                0.0
            }
        } else {
            0.0
        };
        if self.gate {
            if amp_target_rate > 0.0 && self.amp < 1.0 {
                self.amp = (self.amp + amp_target_rate).min(1.0);
            } else {
                self.amp *= (-1.0 / (1.2 * sr)).exp();
            }
        } else {
            self.amp *= (-1.0 / (0.008 * sr)).exp();
        }

        // Filter envelope: attack then exponential decay (accented notes decay fast).
        let attack = (c.attack_ms.max(0.1) * 0.001 * sr).max(1.0);
        let decay_ms = if self.accent { 200.0 } else { c.decay_ms.clamp(30.0, 3000.0) };
        if self.rising {
            self.fenv += 1.0 / attack;
            if self.fenv >= 1.0 {
                self.fenv = 1.0;
                self.rising = false;
            }
        } else {
            self.fenv *= (-1.0 / (decay_ms * 0.001 * sr)).exp();
        }
        let acc = if self.accent { c.accent_amount.clamp(0.0, 100.0) / 100.0 } else { 0.0 };
        let octaves = c.env_mod.clamp(0.0, 100.0) / 100.0 * 4.0 + acc * 2.0;
        let cutoff = (c.cutoff_hz.max(20.0) * (octaves * self.fenv).exp2()).min(sr * 0.45);

        // Ladder low pass (Zavalishin's TPT form), feedback through tanh.
        let g = (PI * cutoff / sr).tan();
        let gg = g / (1.0 + g);
        let k = c.resonance.clamp(0.0, 100.0) / 100.0 * 3.9;
        // Estimate of the output for the feedback (one-step prediction from the states).
        let g4 = gg * gg * gg * gg;
        let s_est = self.s[3] * (1.0 - gg)
            + gg * (self.s[2] * (1.0 - gg)
                + gg * (self.s[1] * (1.0 - gg) + gg * self.s[0] * (1.0 - gg)));
        let u = (osc - k * (s_est / (1.0 + k * g4))).tanh();
        let mut x = u;
        for st in self.s.iter_mut() {
            let v = (x - *st) * gg;
            let y = v + *st;
            *st = y + v;
            x = y;
        }
        let level = 1.0 + acc * 0.6;
        x * self.amp * level * (1.0 + k * 0.25) * 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctl(cutoff: f64) -> AcidControls {
        AcidControls {
            waveform: 0.0,
            cutoff_hz: cutoff,
            resonance: 50.0,
            env_mod: 50.0,
            attack_ms: 3.0,
            decay_ms: 300.0,
            accent_amount: 50.0,
        }
    }

    #[test]
    fn note_sounds_decays_and_releases() {
        let mut a = Acid::new(48_000.0);
        a.note_on(45.0, false, false);
        let on: Vec<f64> = (0..24_000).map(|_| a.play(&ctl(500.0))).collect();
        a.all_notes_off();
        let off: Vec<f64> = (0..4800).map(|_| a.play(&ctl(500.0))).collect();
        let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        assert!(on.iter().all(|x| x.is_finite()));
        assert!(rms(&on[..4800]) > 0.05, "{}", rms(&on[..4800]));
        assert!(rms(&off[2400..]) < rms(&on[..4800]) * 0.01);
        // Zero crossings near 110 Hz (A2).
        let zc = on[4800..14_400].windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((18..=26).contains(&zc), "{zc}");
    }

    #[test]
    fn slide_glides_without_retrigger() {
        let mut a = Acid::new(48_000.0);
        a.note_on(40.0, false, false);
        for _ in 0..4800 {
            a.play(&ctl(800.0));
        }
        a.note_on(52.0, true, true);
        a.play(&ctl(800.0));
        assert!(a.pitch > 40.0 && a.pitch < 41.0, "{}", a.pitch);
        // 60 ms time constant: within 0.01 semitone after 0.5 s.
        for _ in 0..24_000 {
            a.play(&ctl(800.0));
        }
        assert!((a.pitch - 52.0).abs() < 0.01, "{}", a.pitch);
        assert!(!a.rising);
    }
}
