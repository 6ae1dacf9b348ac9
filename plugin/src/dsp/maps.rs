//! Value mappings (`blin`, `ulin`, `bexp`, `uexp`, `linlin`, `linexp`), conversions
//! (`mtof`, `ftom`) and waveshapers (`dist`, `softclip`, `hardclip`, `asymclip`) as in
//! Maximilian's `maxiMap` and `maxiNonlinearity`.

/// Linear map from [in_min, in_max] to [out_min, out_max]; the input is clamped first.
#[inline]
pub fn linlin(v: f64, in_min: f64, in_max: f64, out_min: f64, out_max: f64) -> f64 {
    let v = v.min(in_max).max(in_min);
    (v - in_min) / (in_max - in_min) * (out_max - out_min) + out_min
}

/// Exponential map from [in_min, in_max] to [out_min, out_max]; the input is clamped.
#[inline]
pub fn linexp(v: f64, in_min: f64, in_max: f64, out_min: f64, out_max: f64) -> f64 {
    let v = v.min(in_max).max(in_min);
    (out_max / out_min).powf((v - in_min) / (in_max - in_min)) * out_min
}

/// MIDI note number to frequency (A4 = 69 = 440 Hz), fractional notes allowed.
#[inline]
pub fn mtof(m: f64) -> f64 {
    440.0 * ((m - 69.0) / 12.0).exp2()
}

/// Frequency to (fractional) MIDI note number; 0 Hz or less gives 0.
#[inline]
pub fn ftom(f: f64) -> f64 {
    if f > 0.0 {
        69.0 + 12.0 * (f / 440.0).log2()
    } else {
        0.0
    }
}

/// atan distortion: `shape` from 1 (soft) to large (hard).
#[inline]
pub fn atan_dist(x: f64, shape: f64) -> f64 {
    (x * shape).atan() / shape.atan()
}

/// Cubic soft clipper, flat at ±1.
#[inline]
pub fn softclip(x: f64) -> f64 {
    if x >= 1.0 {
        1.0
    } else if x <= -1.0 {
        -1.0
    } else {
        (2.0 / 3.0) * (x - x * x * x / 3.0)
    }
}

/// Hard clipper at ±1.
#[inline]
pub fn hardclip(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

/// Asymmetric power-curve clipper (Maximilian `asymclip(x, a, b)`): `a` shapes values
/// below zero, `b` those above.
#[inline]
pub fn asymclip(x: f64, a: f64, b: f64) -> f64 {
    if x >= 1.0 {
        1.0
    } else if x <= -1.0 {
        -1.0
    } else if x < 0.0 {
        -(-x).powf(a)
    } else {
        x.powf(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps() {
        assert_eq!(linlin(0.0, -1.0, 1.0, 100.0, 200.0), 150.0);
        assert_eq!(linlin(5.0, -1.0, 1.0, 100.0, 200.0), 200.0);
        assert!((linexp(0.5, 0.0, 1.0, 100.0, 400.0) - 200.0).abs() < 1e-9);
        assert!((mtof(69.0) - 440.0).abs() < 1e-12 && (mtof(81.0) - 880.0).abs() < 1e-9);
        assert!((ftom(261.6255653) - 60.0).abs() < 1e-6);
        assert_eq!(ftom(0.0), 0.0);
    }

    #[test]
    fn shapers() {
        assert!((atan_dist(1.0, 10.0) - 1.0).abs() < 1e-12);
        assert!(atan_dist(0.1, 100.0) > 0.8);
        assert_eq!(softclip(2.0), 1.0);
        assert!((softclip(0.5) - (2.0 / 3.0) * (0.5 - 0.125 / 3.0)).abs() < 1e-12);
        assert_eq!(hardclip(-3.0), -1.0);
        assert!((asymclip(-0.5, 2.0, 0.5) + 0.25).abs() < 1e-12);
        assert!((asymclip(0.25, 2.0, 0.5) - 0.5).abs() < 1e-12);
    }
}
