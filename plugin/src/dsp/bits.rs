//! Bit operations on unsigned 32-bit values (`bit*` functions, Maximilian `maxiBits`).
//! Signals are converted to `u32` like JavaScript's `ToUint32` (truncate, wrap mod 2³²).

/// Converts a signal value to a bit word (truncation, wrapping; NaN → 0).
#[inline]
pub fn to_u32(x: f64) -> u32 {
    if x.is_finite() {
        (x.trunc() as i64) as u32
    } else {
        0
    }
}

/// Bit word → signal in -1..1 (0 → -1, u32::MAX → 1).
#[inline]
pub fn to_signal(v: u32) -> f64 {
    v as f64 / u32::MAX as f64 * 2.0 - 1.0
}

/// Bit word → trigger signal: 1 when non-zero, else -1.
#[inline]
pub fn to_trig_signal(v: u32) -> f64 {
    if v > 0 {
        1.0
    } else {
        -1.0
    }
}

/// Signal -1..1 → bit word centred on u32::MAX/2.
#[inline]
pub fn from_signal(x: f64) -> u32 {
    let half = (u32::MAX / 2) as f64;
    to_u32(half + x * (half - 1.0))
}

/// `width` bits of `v` ending at bit `offset` (Maximilian `maxiBits::r`).
#[inline]
pub fn range(v: u32, offset: u32, width: u32) -> u32 {
    let mask = if width >= 32 { u32::MAX } else { (1u32 << width) - 1 };
    let shift = offset.wrapping_sub(width).wrapping_add(1);
    if shift >= 32 {
        return 0;
    }
    (v & mask.wrapping_shl(shift)) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(to_u32(-1.0), u32::MAX);
        assert_eq!(to_u32(5.9), 5);
        assert_eq!(to_signal(0), -1.0);
        assert_eq!(to_signal(u32::MAX), 1.0);
        assert_eq!(to_trig_signal(0), -1.0);
        assert!((to_signal(from_signal(0.5)) - 0.5).abs() < 1e-6);
        assert_eq!(range(0b1011_0000, 7, 4), 0b1011);
    }
}
