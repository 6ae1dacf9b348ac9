//! `freeverb`: Schroeder/Moorer reverb in the Freeverb layout Maximilian's
//! `maxiFreeVerb` uses: eight parallel low-pass-feedback combs then four allpasses.
//! Room size sets the comb feedback (0.84..0.94), absorption the damping low pass.

/// Comb lengths (samples at 44.1 kHz) and allpass lengths, as in Freeverb.
const COMBS: [usize; 8] = [1557, 1617, 1491, 1422, 1277, 1356, 1188, 1116];
const ALLPASSES: [usize; 4] = [225, 556, 441, 341];

#[derive(Clone, Debug)]
struct Comb {
    buf: Box<[f64]>,
    pos: usize,
    store: f64,
}

#[derive(Clone, Debug)]
struct Allpass {
    buf: Box<[f64]>,
    pos: usize,
}

/// A mono Freeverb.
#[derive(Clone, Debug)]
pub struct FreeVerb {
    combs: Vec<Comb>,
    allpasses: Vec<Allpass>,
}

impl FreeVerb {
    /// Allocates the delay lines, scaled from 44.1 kHz to `sample_rate`.
    pub fn new(sample_rate: f64) -> Self {
        let scale = |n: usize| ((n as f64 * sample_rate / 44_100.0).round() as usize).max(1);
        Self {
            combs: COMBS
                .iter()
                .map(|&n| Comb { buf: vec![0.0; scale(n)].into_boxed_slice(), pos: 0, store: 0.0 })
                .collect(),
            allpasses: ALLPASSES
                .iter()
                .map(|&n| Allpass { buf: vec![0.0; scale(n)].into_boxed_slice(), pos: 0 })
                .collect(),
        }
    }

    /// One sample; `room` and `absorption` in 0..1.
    #[inline]
    pub fn play(&mut self, input: f64, room: f64, absorption: f64) -> f64 {
        let feedback = room.clamp(0.0, 1.0) * 0.1 + 0.84;
        // The damping low pass inside each comb: coefficient (1 - absorption).
        let damp = 1.0 - absorption.clamp(0.0, 1.0);
        let mut acc = 0.0;
        for c in self.combs.iter_mut() {
            let delayed = c.buf[c.pos];
            c.store += damp * (delayed - c.store);
            let out = input + feedback * c.store;
            c.buf[c.pos] = out;
            c.pos += 1;
            if c.pos == c.buf.len() {
                c.pos = 0;
            }
            acc += out;
        }
        let mut x = acc;
        for a in self.allpasses.iter_mut() {
            let delayed = a.buf[a.pos];
            let v = x + delayed * 0.5;
            x = delayed - v * 0.5;
            a.buf[a.pos] = v;
            a.pos += 1;
            if a.pos == a.buf.len() {
                a.pos = 0;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_long_and_stable() {
        let mut r = FreeVerb::new(48_000.0);
        let v: Vec<f64> =
            (0..96_000).map(|i| r.play(if i == 0 { 1.0 } else { 0.0 }, 0.9, 0.1)).collect();
        assert!(v.iter().all(|x| x.is_finite()));
        let energy = |a: usize, b: usize| v[a..b].iter().map(|x| x * x).sum::<f64>();
        // Still ringing after half a second, but decaying.
        assert!(energy(24_000, 48_000) > 1e-4);
        assert!(energy(72_000, 96_000) < energy(24_000, 48_000));
        // Bigger rooms ring longer.
        let mut small = FreeVerb::new(48_000.0);
        let s: Vec<f64> =
            (0..96_000).map(|i| small.play(if i == 0 { 1.0 } else { 0.0 }, 0.0, 0.1)).collect();
        assert!(s[48_000..].iter().map(|x| x * x).sum::<f64>() < energy(48_000, 96_000));
    }
}
