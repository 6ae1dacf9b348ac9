//! A host that rounds the positions it reports, as Ardour does: its own time runs in ticks
//! of 1/1920 beat, each block's start is the tick at or before the true position, and at
//! about one block in four it is up to 8 samples later still (as measured in Ardour, whose
//! positions are a few samples behind at some blocks).
//!
//! Shared by the transport's unit tests (included with `#[path]`) and the clack-host
//! integration tests, so both drive the clock with the same jitter.

/// The position in beats the rounding host reports for the block starting at `sample`.
/// `rng` is the host's jitter state (any seed; advanced on every call).
pub fn rounded_host_position(sample: u64, bpm: f64, sample_rate: f64, rng: &mut u64) -> f64 {
    let beats_per_sample = bpm / 60.0 / sample_rate;
    let ticks = (sample as f64 * beats_per_sample * 1920.0).floor();
    *rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let late = if (*rng >> 33).is_multiple_of(4) { ((*rng >> 40) % 9) as f64 } else { 0.0 };
    (ticks / 1920.0 - late * beats_per_sample).max(0.0)
}
