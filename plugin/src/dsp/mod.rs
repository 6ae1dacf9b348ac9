//! DSP building blocks for the Sema default language, grouped by kind.
//!
//! Each node is a small struct with a per-sample `tick`-style method that follows the
//! behaviour of the Maximilian class Sema uses for the same DSL function (so patches
//! sound as they do in Sema). Nodes never allocate after construction: buffers are
//! sized in `new()`, off the audio thread.

pub(crate) mod acid;
pub(crate) mod bits;
pub(crate) mod blep;
pub(crate) mod effect;
pub(crate) mod envelope;
pub(crate) mod filter;
pub(crate) mod grains;
pub(crate) mod maps;
#[cfg(test)]
mod maxi_parity;
pub(crate) mod oscillator;
pub(crate) mod reverb;
pub(crate) mod sampler;
pub(crate) mod sequencer;
pub(crate) mod spectral;
pub(crate) mod trigger;

/// A small, fast pseudo-random generator (xorshift64*), used for `noiz`, `bitnoise` and
/// the chorus LFO. Deterministic per seed so renders are reproducible in tests.
#[derive(Clone, Copy, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// Creates a generator; a zero seed is replaced (xorshift must not start at 0).
    pub fn new(seed: u64) -> Self {
        Self { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [-1, 1).
    #[inline]
    pub fn next_bipolar(&mut self) -> f64 {
        self.next_unit() * 2.0 - 1.0
    }
}
