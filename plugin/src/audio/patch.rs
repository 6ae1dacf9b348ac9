//! The contract between the realtime engine (plugin glue, transport, MIDI) and the
//! compiled DSL program. Everything here is used on the audio thread: no allocation,
//! no locks, no I/O. Buffers are sized when they are created, off the audio thread.

use crate::audio::midi_in::MidiInView;

/// Number of host parameters a DSL program can read with `{i}param`:
/// index 0 is `temperature`, 1..=8 are `macro1`..`macro8`.
pub const NUM_PARAMS: usize = 9;

/// Highest JS channel id + 1 that `createOutputChannel`/`fromJS` can use.
pub const NUM_CHANNELS: usize = 64;

/// Number of audio outputs the program writes (stereo).
pub const NUM_OUTPUTS: usize = 2;

/// The latest data each JS output channel sent, as the audio thread sees it.
///
/// Owned by the audio thread; new data arrives through the realtime handoff and the
/// replaced boxes travel back to be dropped elsewhere.
pub struct ChannelBank {
    /// `slots[id]` is what channel `id` last sent (empty before the first send).
    slots: Vec<Box<[f64]>>,
    /// Bumped every time a slot is replaced, so readers can notice new data cheaply.
    generations: Vec<u64>,
}

impl Default for ChannelBank {
    fn default() -> Self {
        Self::new()
    }
}

impl ChannelBank {
    pub fn new() -> Self {
        Self {
            slots: (0..NUM_CHANNELS).map(|_| Vec::new().into_boxed_slice()).collect(),
            generations: vec![0; NUM_CHANNELS],
        }
    }

    /// What channel `id` last sent: empty before anything was sent or for an id out of
    /// range. An array when the channel's block size is > 1, one value when it is 1.
    #[inline]
    pub fn get(&self, id: usize) -> &[f64] {
        self.slots.get(id).map(|s| &s[..]).unwrap_or(&[])
    }

    /// A counter that changes whenever channel `id` receives new data.
    #[inline]
    pub fn generation(&self, id: usize) -> u64 {
        self.generations.get(id).copied().unwrap_or(0)
    }

    /// Installs new data for channel `id` and returns the replaced box, which the
    /// caller must send off the audio thread to be dropped. Returns `data` itself when
    /// `id` is out of range.
    #[inline]
    pub fn replace(&mut self, id: usize, data: Box<[f64]>) -> Box<[f64]> {
        match self.slots.get_mut(id) {
            Some(slot) => {
                self.generations[id] = self.generations[id].wrapping_add(1);
                std::mem::replace(slot, data)
            }
            None => data,
        }
    }
}

/// One sample buffer the DSL's players read: mono, at its own sample rate (players step
/// through it at `rate / output rate`).
#[derive(Debug)]
pub struct SampleBuffer {
    pub data: Box<[f32]>,
    /// Sample rate in Hz (> 0).
    pub rate: f64,
}

/// The sample buffers the audio thread sees, indexed by slot: a program compiles each
/// sample name to a slot number (see [`crate::dsl::SampleLibrary::slot`]) and its players
/// read the slot while they play, so a buffer that arrives later plays at once, without
/// recompiling. An empty or missing slot plays silence.
///
/// Built off the audio thread; a new bank replaces the whole bank through the realtime
/// handoff and the old one travels back to be dropped elsewhere (with its `Arc`s, so no
/// buffer is ever freed on the audio thread).
#[derive(Debug, Default)]
pub struct SampleBank {
    slots: Vec<Option<std::sync::Arc<SampleBuffer>>>,
}

impl SampleBank {
    /// A bank of `slots` (slot `i` holds `slots[i]`).
    pub fn new(slots: Vec<Option<std::sync::Arc<SampleBuffer>>>) -> Self {
        Self { slots }
    }

    /// The buffer in `slot`, if one has arrived.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&SampleBuffer> {
        self.slots.get(slot as usize).and_then(|s| s.as_deref())
    }

    /// The data of `slot` and the read step for speed 1 at `sample_rate` (empty and 1 for
    /// a slot without a buffer).
    #[inline]
    pub fn view(&self, slot: u32, sample_rate: f64) -> (&[f32], f64) {
        match self.get(slot) {
            Some(b) => (&b.data, b.rate / sample_rate),
            None => (&[], 1.0),
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A note request from the DSL's `midi` function. The engine turns it into a note-on now
/// and a note-off after `length_bars` (and releases it early on stop or code swap).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoteRequest {
    /// MIDI note number 0..=127 (already rounded and clamped by the caller).
    pub pitch: u8,
    /// Velocity 0..=1. A velocity of 0 sends nothing.
    pub velocity: f32,
    /// Length in bars (> 0).
    pub length_bars: f64,
    /// MIDI channel 0..=15.
    pub channel: u8,
}

/// A fixed-capacity queue the program pushes into during one block; the engine drains
/// it after the block. Pushing into a full queue drops the item (never allocates).
pub struct FixedQueue<T: Copy> {
    items: Vec<T>,
}

impl<T: Copy> FixedQueue<T> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { items: Vec::with_capacity(capacity) }
    }
    /// Pushes `item` unless the queue is full; returns whether it was stored.
    #[inline]
    pub fn push(&mut self, item: T) -> bool {
        if self.items.len() < self.items.capacity() {
            self.items.push(item);
            true
        } else {
            false
        }
    }
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
    /// Mutable access to the queued items (the engine shifts note offsets of sub-blocks).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items
    }
    #[inline]
    pub fn capacity(&self) -> usize {
        self.items.capacity()
    }
    /// Drops the items pushed after the first `len`.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.items.truncate(len);
    }
    #[inline]
    pub fn clear(&mut self) {
        self.items.clear();
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A note request with the sample offset (within the block) at which it was made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedNote {
    pub offset: u32,
    pub note: NoteRequest,
}

/// A value the DSL's `toJS` sends to the JS `input(value, channel)` handler.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToJsValue {
    pub channel: u32,
    pub value: f64,
    /// Position of `value` in a list sent at once (`{trig, ch, [..], n}toJS`), which JS
    /// receives as one array; 0 for a single value.
    pub index: u16,
    /// Length of that list, 0 for a single value.
    pub len: u16,
}

impl ToJsValue {
    /// A single value for `input(value, channel)`.
    pub fn single(channel: u32, value: f64) -> Self {
        Self { channel, value, index: 0, len: 0 }
    }
}

/// What the program needs to know about time, computed by the engine for every sample
/// from the host transport (or free-running at the program's `clk` tempo).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockState {
    /// Position within the current bar, 0 <= phase < 1.
    pub bar_phase: f64,
    /// Index of the current bar (0 = first bar of the song), may be negative in pre-roll.
    pub bar: i64,
    /// Tempo in quarter-note beats per minute.
    pub bpm: f64,
    /// Beats per bar (time signature numerator scaled to quarter notes).
    pub beats_per_bar: f64,
    /// Whether the clock is advancing (host playing, or free-running).
    pub playing: bool,
    /// Audio sample rate in Hz.
    pub sample_rate: f64,
}

impl Default for ClockState {
    fn default() -> Self {
        Self {
            bar_phase: 0.0,
            bar: 0,
            bpm: 120.0,
            beats_per_bar: 4.0,
            playing: false,
            sample_rate: 48_000.0,
        }
    }
}

/// The clock of a block: where its first sample is and how fast the clock moves, from
/// which [`ClockRun::at`] computes the [`ClockState`] of any sample on demand (the same
/// values, to the bit, as a table filled sample by sample), so a block whose program
/// never reads the clock pays nothing for it. `Copy`, no allocation.
///
/// Sample `i` is at `anchor_beats + (first + i) * beats_per_sample` beats; its bar
/// position counts from `origin_beats`, which is bar `origin_bar`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockRun {
    anchor_beats: f64,
    first: u64,
    beats_per_sample: f64,
    origin_beats: f64,
    origin_bar: i64,
    /// Tempo in quarter-note beats per minute (constant over a block).
    pub bpm: f64,
    /// Beats per bar (constant over a block).
    pub beats_per_bar: f64,
    /// Whether the clock is advancing.
    pub playing: bool,
    /// Audio sample rate in Hz.
    pub sample_rate: f64,
    len: usize,
}

impl Default for ClockRun {
    fn default() -> Self {
        let c = ClockState::default();
        Self::new(0.0, 0, 0.0, (0.0, 0), c.bpm, c.beats_per_bar, c.playing, c.sample_rate, 0)
    }
}

impl ClockRun {
    /// A run of `len` samples; see the type's documentation for the arguments.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        anchor_beats: f64,
        first: u64,
        beats_per_sample: f64,
        (origin_beats, origin_bar): (f64, i64),
        bpm: f64,
        beats_per_bar: f64,
        playing: bool,
        sample_rate: f64,
        len: usize,
    ) -> Self {
        Self {
            anchor_beats,
            first,
            beats_per_sample,
            origin_beats,
            origin_bar,
            bpm,
            beats_per_bar,
            playing,
            sample_rate,
            len,
        }
    }

    /// A playing clock at a constant tempo from the song's start: sample `i` of the run is
    /// song sample `first + i` (tests, offline tools).
    pub fn from_song_start(first: u64, len: usize, bpm: f64, beats_per_bar: f64, sr: f64) -> Self {
        Self::new(0.0, first, bpm / 60.0 / sr, (0.0, 0), bpm, beats_per_bar, true, sr, len)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Position of sample `i` in beats.
    #[inline]
    pub fn beats(&self, i: usize) -> f64 {
        self.anchor_beats + (self.first + i as u64) as f64 * self.beats_per_sample
    }

    /// The clock at sample `i` (also past the run's end: the clock goes on).
    #[inline]
    pub fn at(&self, i: usize) -> ClockState {
        let (whole, phase) = split_bars((self.beats(i) - self.origin_beats) / self.beats_per_bar);
        ClockState {
            bar_phase: phase,
            bar: self.origin_bar + whole,
            bpm: self.bpm,
            beats_per_bar: self.beats_per_bar,
            playing: self.playing,
            sample_rate: self.sample_rate,
        }
    }

    /// Bar positions (`bar + bar_phase` of [`at`](Self::at), as `clp` reads them) of the
    /// run's samples `0..out.len()`, bit-identical to computing them one by one. When the
    /// sample and bar numbers of the run are in the range where that arithmetic is exact
    /// without branches (always, short of years of audio), it is one loop that
    /// vectorises; otherwise sample by sample.
    #[inline(always)]
    pub fn bar_positions(&self, out: &mut [f64]) {
        let fast =
            self.each_bar_position(out.len(), crate::dsp::sequencer::floor_lane, |i, p| out[i] = p);
        if !fast {
            for (i, o) in out.iter_mut().enumerate() {
                let c = self.at(i);
                *o = crate::dsp::sequencer::bar_position(c.bar, c.bar_phase);
            }
        }
    }

    /// The branch-free part of [`bar_positions`](Self::bar_positions): calls `each(i,
    /// position)` for the samples `0..n` in order and returns true, or calls nothing and
    /// returns false when the run is outside the range where this is exact. `floor` is
    /// `f64::floor` or another function equal to it below 2^51 (the caller picks what
    /// its target compiles best).
    #[inline(always)]
    pub fn each_bar_position(
        &self,
        n: usize,
        floor: impl Fn(f64) -> f64,
        mut each: impl FnMut(usize, f64),
    ) -> bool {
        use crate::dsp::sequencer::FLOOR_LANE_LIMIT;
        if n == 0 {
            return true;
        }
        // The sample numbers `first + i` are exact in f64, and the loop index fits an i32
        // (which converts to f64 in vector registers).
        let samples_exact =
            self.first.checked_add(n as u64).is_some_and(|end| end < 1 << 52) && n < 1 << 30;
        // Bar positions are affine in the sample: bounded at both ends, bounded between.
        let in_range = |i: usize| {
            let bars = (self.beats(i) - self.origin_beats) / self.beats_per_bar + 1e-9;
            bars.abs() < FLOOR_LANE_LIMIT / 2.0
        };
        let bars_exact = self.origin_bar.unsigned_abs() < 1 << 50;
        if !(samples_exact && bars_exact && in_range(0) && in_range(n - 1)) {
            return false;
        }
        let first = self.first as f64;
        let origin_bar = self.origin_bar as f64;
        let (anchor, bps, origin, bpb) =
            (self.anchor_beats, self.beats_per_sample, self.origin_beats, self.beats_per_bar);
        // As `at` and `split_bars`: (first + i) as f64 is first + i exactly here, and so
        // is the bar number plus the whole bars.
        let position = |bars: f64| {
            let whole = floor(bars + 1e-9);
            let phase = (bars - whole).clamp(0.0, 1.0 - f64::EPSILON);
            (origin_bar + whole) + phase
        };
        // Dividing by a power of two (2, 4, 8 beats a bar) is multiplying by its exact
        // reciprocal: the same correctly rounded result without a division per sample.
        let inv = 1.0 / bpb;
        let power_of_two = bpb.is_normal() && inv.is_normal() && bpb.to_bits() << 12 == 0;
        if power_of_two {
            for (i, k) in (0i32..).zip(0..n) {
                each(k, position((anchor + (first + f64::from(i)) * bps - origin) * inv));
            }
        } else {
            for (i, k) in (0i32..).zip(0..n) {
                each(k, position((anchor + (first + f64::from(i)) * bps - origin) / bpb));
            }
        }
        true
    }

    /// The clock at sample `i` of the run, `None` past its end.
    pub fn get(&self, i: usize) -> Option<ClockState> {
        (i < self.len).then(|| self.at(i))
    }

    /// The clock at the run's last sample.
    pub fn last(&self) -> Option<ClockState> {
        self.len.checked_sub(1).map(|i| self.at(i))
    }

    /// Samples `a..b` of the run as a run of their own.
    pub fn sub(&self, a: usize, b: usize) -> Self {
        let b = b.min(self.len).max(a.min(self.len));
        let a = a.min(b);
        Self { first: self.first + a as u64, len: b - a, ..*self }
    }

    /// The same clock with another length.
    pub fn with_len(&self, len: usize) -> Self {
        Self { len, ..*self }
    }

    /// The clock of every sample of the run, in order.
    pub fn iter(&self) -> impl Iterator<Item = ClockState> + '_ {
        (0..self.len).map(move |i| self.at(i))
    }
}

/// Splits a position in bars into (bar index, phase in [0, 1)). Positions within 1e-9
/// bars below a bar line count as on it: hosts give positions in binary fractions, and a
/// note meant for the downbeat must not land one sample late.
#[inline]
pub(crate) fn split_bars(bars: f64) -> (i64, f64) {
    let whole = crate::dsp::sequencer::fast_floor(bars + 1e-9);
    ((whole as i64), (bars - whole).clamp(0.0, 1.0 - f64::EPSILON))
}

/// Everything a compiled DSL program reads and writes while rendering one block.
///
/// The engine fills `clocks`, `inputs` and `params` before calling the program, and
/// reads `outputs`, `notes`, `to_js`, `scope` and `clock_request` afterwards.
pub struct BlockContext<'a> {
    /// Number of samples in this block (<= the `max_block` given at prepare time).
    pub len: usize,
    /// The block's clock (`clocks.at(i)` for sample `i`).
    pub clocks: ClockRun,
    /// Audio input (the optional sidechain) per channel, `len` samples each; zeros when
    /// the host gives none. Read by `adc`.
    pub inputs: [&'a [f32]; 2],
    /// Output per channel, `len` samples each. The program overwrites every sample.
    pub outputs: [&'a mut [f32]; NUM_OUTPUTS],
    /// Host parameter values (0 = temperature, 1..=8 = macros), constant for the block.
    pub params: &'a [f32; NUM_PARAMS],
    /// Latest data from the JS channels (`fromJS`).
    pub channels: &'a ChannelBank,
    /// Sample buffers the players read (`\\name`, `|name`, `@name`, `loop`).
    pub samples: &'a SampleBank,
    /// Notes requested by `midi` during this block.
    pub notes: &'a mut FixedQueue<TimedNote>,
    /// Values sent by `toJS` during this block.
    pub to_js: &'a mut FixedQueue<ToJsValue>,
    /// Samples for the editor's scope view (`scop`), one value per call.
    pub scope: &'a mut FixedQueue<f32>,
    /// Set by `clk`: the tempo (bpm, beats per bar) the code asks for, used when the
    /// clock is not synced to the host. Last write in the block wins.
    pub clock_request: Option<(f64, f64)>,
    /// MIDI input (host and clip): the state at the block's first sample and the block's
    /// events, timed relative to it. Read by `mnote`, `mgate`, `mtrig`, `mcc`, ...
    pub midi_in: MidiInView<'a>,
}

/// A compiled program the engine can run: the DSL's `Program` implements it, and so do
/// the small test patches of the engine's own tests.
pub trait Patch: Send + 'static {
    /// Renders `ctx.len` samples. Must not allocate, lock or do I/O.
    fn process(&mut self, ctx: &mut BlockContext);
    /// Whether this patch should replace the playing one at the next bar (`{1}quantise`)
    /// rather than at once.
    fn quantise(&self) -> bool {
        false
    }
    /// The tempo (bpm, beats per bar) set by a constant `clk`, used when free-running.
    fn initial_clock(&self) -> Option<(f64, f64)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::sequencer::bar_position;

    fn check(run: ClockRun) {
        let mut fast = vec![0.0; run.len()];
        run.bar_positions(&mut fast);
        for (i, v) in fast.iter().enumerate() {
            let c = run.at(i);
            let want = bar_position(c.bar, c.bar_phase);
            assert_eq!(v.to_bits(), want.to_bits(), "sample {i} of {run:?}: {v} vs {want}");
        }
    }

    #[test]
    fn block_bar_positions_equal_the_per_sample_clock() {
        // From the song start, at tempi that do and do not divide the sample rate.
        for bpm in [120.0, 97.3, 181.0, 60.000_001] {
            for beats in [4.0, 3.0, 7.0] {
                check(ClockRun::from_song_start(0, 512, bpm, beats, 48_000.0));
                check(ClockRun::from_song_start(1_234_567, 4096, bpm, beats, 44_100.0));
            }
        }
        // A host position with its own anchor and bar origin (after a relocation, a
        // change of metre), including a pre-roll before bar 0.
        check(ClockRun::new(
            -3.7,
            17,
            120.0 / 60.0 / 48_000.0,
            (2.5, 9),
            120.0,
            3.0,
            true,
            48_000.0,
            700,
        ));
        check(ClockRun::new(1e6 + 0.25, 5, 0.002_9, (12.0, -4), 174.0, 4.0, true, 48_000.0, 256));
        // Bars of 2, 8 and 0.5 beats (divided through an exact reciprocal) and of 6 and
        // 0.75 (divided).
        for beats in [2.0, 8.0, 0.5, 6.0, 0.75] {
            check(ClockRun::new(-1.3, 77, 0.002_73, (0.7, 3), 131.0, beats, true, 48_000.0, 999));
        }
        // A stopped clock (no advance) and a run so far out that the sample-by-sample
        // path takes over.
        check(ClockRun::new(8.0, 99, 0.0, (0.0, 0), 120.0, 4.0, false, 48_000.0, 64));
        check(ClockRun::new(0.0, (1 << 52) + 3, 1e-3, (0.0, 0), 120.0, 4.0, true, 48_000.0, 64));
        check(ClockRun::new(0.0, 0, 1e13, (0.0, 0), 120.0, 4.0, true, 48_000.0, 64));
    }
}
