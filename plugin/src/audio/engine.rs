//! The realtime engine: runs the compiled patch in time with the host, swaps in new code
//! (at once or at the next bar, with a short crossfade), applies JS channel data, and
//! produces sample-accurate MIDI notes. Shared by the plugin and the offline renderer.
//!
//! Everything the engine needs is allocated in [`Engine::new`] / [`Engine::configure`]
//! (off the audio thread). New patches and channel data arrive through a lock-free ring
//! buffer; whatever they replace goes back through a second ring buffer to be dropped by
//! the [`crate::control::controller::Controller`], never on the audio thread.

use crate::audio::midi_out::{MidiEvent, NoteScheduler};
use crate::audio::patch::{
    BlockContext, ChannelBank, ClockState, FixedQueue, Patch, TimedNote, ToJsValue, NUM_PARAMS,
};
use crate::audio::transport::{Clock, HostTime};

/// Messages from the controller (editor, JS thread, state loading) to the audio thread.
pub enum ToAudio {
    /// A newly compiled patch. Swapped in at once, or at the next bar if it asks for
    /// `quantise`.
    Patch(Box<dyn Patch>),
    /// New data for a JS channel (`fromJS`).
    Channel { id: u32, data: Box<[f64]> },
    /// Notes to play from a bar (`host.play`, call-and-response answers).
    // Stub on the `midi-js` branch: the engine hands the clip straight back; the audio
    // side's clip player replaces this at merge.
    Clip(Box<crate::audio::midi_in::Clip>),
}

/// Things the audio thread has replaced and hands back to be dropped elsewhere.
///
/// Every message yields exactly one item, which is how the controller counts messages in
/// flight: a channel message hands back the data it replaced; a patch message hands back
/// the patch it retires (at once, or when its crossfade ends), or [`Garbage::Nothing`]
/// when it went into an engine that had no patch yet.
pub enum Garbage {
    Patch(Box<dyn Patch>),
    Channel(Box<[f64]>),
    /// A clip message hands back the clip it replaced (or the one it brought).
    Clip(Box<crate::audio::midi_in::Clip>),
    /// A patch message that replaced nothing (allocates nothing to drop).
    Nothing,
}

/// Capacity of both ring buffers. The controller keeps at most `MAX_IN_FLIGHT` messages
/// whose garbage has not come back yet, so the garbage queue can never be full when the
/// audio thread needs to push (each message yields exactly one piece of garbage).
pub const QUEUE_CAPACITY: usize = 256;
/// See [`QUEUE_CAPACITY`]. A patch message's garbage may be a patch installed directly
/// (by a resync) and a retired patch comes back only after its crossfade, so leave room.
pub const MAX_IN_FLIGHT: usize = QUEUE_CAPACITY - crate::audio::patch::NUM_CHANNELS - 8;

/// Crossfade length when code is swapped, in seconds (short enough to feel immediate,
/// long enough to avoid a click).
const CROSSFADE_SECONDS: f64 = 0.01;
/// Gain smoothing time in seconds.
const GAIN_RAMP_SECONDS: f64 = 0.02;
/// Output above this magnitude is clipped: a safety net for ears and speakers.
pub const SAFETY_CLIP: f32 = 1.0;

/// The two ends the controller keeps.
pub struct ControlEnds {
    pub to_audio: rtrb::Producer<ToAudio>,
    pub garbage: rtrb::Consumer<Garbage>,
}

/// Creates the engine's message queues: the engine keeps `AudioEnds`, the controller
/// the [`ControlEnds`].
pub fn queues() -> (ControlEnds, AudioEnds) {
    let (to_audio, from_control) = rtrb::RingBuffer::new(QUEUE_CAPACITY);
    let (garbage_tx, garbage_rx) = rtrb::RingBuffer::new(QUEUE_CAPACITY);
    (ControlEnds { to_audio, garbage: garbage_rx }, AudioEnds { from_control, garbage: garbage_tx })
}

/// The two ends the engine keeps.
pub struct AudioEnds {
    from_control: rtrb::Consumer<ToAudio>,
    garbage: rtrb::Producer<Garbage>,
}

/// What the host gives the engine for one block.
pub struct BlockIo<'a> {
    pub host: HostTime,
    /// Follow the host transport (the `sync` parameter).
    pub sync: bool,
    /// Output gain (linear), smoothed by the engine.
    pub gain: f32,
    /// Parameter values for `param`: temperature, macro1..8.
    pub params: [f32; NUM_PARAMS],
    /// Sidechain input per channel (may be shorter than the block: then zeros).
    pub inputs: [&'a [f32]; 2],
    /// Output per channel; the block length is the length of these slices.
    pub outputs: [&'a mut [f32]; 2],
}

/// What one block produced besides audio.
pub struct BlockReport<'a> {
    /// Note events, sorted by time.
    pub midi: &'a [MidiEvent],
    /// Values the DSL sent with `toJS`.
    pub to_js: &'a [ToJsValue],
    /// Scope samples (`scop`).
    pub scope: &'a [f32],
    /// Clock state at the block's first sample.
    pub clock: ClockState,
    /// Clock state of every sample of the block.
    pub clocks: &'a [ClockState],
}

/// The realtime engine. See the module documentation.
pub struct Engine {
    ends: AudioEnds,
    clock: Clock,
    /// Largest block `process` accepts; longer blocks are split.
    max_block: usize,
    /// Per-sample clock states of the current block.
    clocks: Vec<ClockState>,
    /// The playing patch.
    current: Option<Box<dyn Patch>>,
    /// The patch being faded out after a swap.
    fading: Option<Box<dyn Patch>>,
    /// Samples of crossfade done / in total.
    fade_pos: usize,
    fade_len: usize,
    /// A quantised patch waiting for the next bar.
    pending: Option<Box<dyn Patch>>,
    channels: ChannelBank,
    notes: FixedQueue<TimedNote>,
    to_js: FixedQueue<ToJsValue>,
    scope: FixedQueue<f32>,
    /// Output of the fading patch during a crossfade.
    fade_buf: [Vec<f32>; 2],
    /// Sidechain input copied to block length.
    input_buf: [Vec<f32>; 2],
    scheduler: NoteScheduler,
    /// Release every held note at the start of the next block (reset, deactivate).
    release_requested: bool,
    /// Bar index at the end of the previous block, to find bar starts.
    last_bar: i64,
    /// Current smoothed gain and its per-sample step.
    gain: f32,
    gain_initialised: bool,
    /// One-pole smoothing coefficient for the gain.
    gain_coef: f32,
}

impl Engine {
    /// Creates an engine for `sample_rate` and blocks of at most `max_block` samples.
    pub fn new(ends: AudioEnds, sample_rate: f64, max_block: usize) -> Self {
        let mut engine = Self {
            ends,
            clock: Clock::new(sample_rate),
            max_block: 0,
            clocks: Vec::new(),
            current: None,
            fading: None,
            fade_pos: 0,
            fade_len: 1,
            pending: None,
            channels: ChannelBank::new(),
            notes: FixedQueue::with_capacity(1024),
            to_js: FixedQueue::with_capacity(4096),
            scope: FixedQueue::with_capacity(8192),
            fade_buf: [Vec::new(), Vec::new()],
            input_buf: [Vec::new(), Vec::new()],
            scheduler: NoteScheduler::new(4096),
            release_requested: false,
            last_bar: i64::MIN,
            gain: 1.0,
            gain_initialised: false,
            gain_coef: 1.0,
        };
        engine.configure(sample_rate, max_block);
        engine
    }

    /// Re-sizes buffers for a new sample rate / block size. Call off the audio thread
    /// (activate). Keeps the playing patch, channel data and held-note state.
    pub fn configure(&mut self, sample_rate: f64, max_block: usize) {
        let max_block = max_block.max(1);
        let mut clock = Clock::new(sample_rate);
        if let Some((bpm, beats)) = self.current.as_ref().and_then(|p| p.initial_clock()) {
            clock.set_code_tempo(bpm, beats);
        }
        self.clock = clock;
        self.max_block = max_block;
        self.clocks = vec![ClockState::default(); max_block];
        self.fade_buf = [vec![0.0; max_block], vec![0.0; max_block]];
        self.input_buf = [vec![0.0; max_block], vec![0.0; max_block]];
        self.fade_len = ((sample_rate * CROSSFADE_SECONDS) as usize).max(1);
        self.gain_coef = (1.0 - (-1.0 / (GAIN_RAMP_SECONDS * sample_rate).max(1.0)).exp()) as f32;
    }

    pub fn sample_rate(&self) -> f64 {
        self.clock.sample_rate()
    }

    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Installs a patch directly (off the audio thread: activate, state load before
    /// processing, tests). Returns the replaced patch.
    pub fn install_patch(&mut self, patch: Box<dyn Patch>) -> Option<Box<dyn Patch>> {
        if let Some((bpm, beats)) = patch.initial_clock() {
            self.clock.set_code_tempo(bpm, beats);
        }
        self.release_requested = true;
        self.current.replace(patch)
    }

    /// Installs channel data directly (off the audio thread). Returns the replaced data.
    pub fn install_channel(&mut self, id: u32, data: Box<[f64]>) -> Box<[f64]> {
        self.channels.replace(id as usize, data)
    }

    /// The latest channel data the engine sees (for tests and state checks).
    pub fn channel(&self, id: u32) -> &[f64] {
        self.channels.get(id as usize)
    }

    /// Drains queued messages without processing audio (activate, before a resync).
    pub fn drain_messages(&mut self) {
        while let Ok(msg) = self.ends.from_control.pop() {
            match msg {
                ToAudio::Patch(p) => self.discard(Garbage::Patch(p)),
                ToAudio::Channel { id, data } => {
                    let old = self.channels.replace(id as usize, data);
                    self.discard(Garbage::Channel(old));
                }
                ToAudio::Clip(c) => self.discard(Garbage::Clip(c)),
            }
        }
    }

    /// Clears all DSP state that must not carry over (reset / deactivate): held notes are
    /// released at the start of the next block and the free-running clock restarts.
    pub fn reset(&mut self) {
        self.release_requested = true;
        self.clock.reset();
        self.last_bar = i64::MIN;
        if let Some(old) = self.fading.take() {
            self.discard(Garbage::Patch(old));
        }
    }

    /// Hands something back to be dropped off the audio thread.
    fn discard(&mut self, g: Garbage) {
        if let Err(rtrb::PushError::Full(g)) = self.ends.garbage.push(g) {
            // Cannot happen while the controller respects MAX_IN_FLIGHT; leaking is the
            // realtime-safe fallback (dropping here could free memory on the audio thread).
            std::mem::forget(g);
        }
    }

    /// Renders one block. The block length is `io.outputs[0].len()`; blocks longer than
    /// `max_block` render only their first `max_block` samples and silence the rest.
    pub fn process(&mut self, io: BlockIo) -> BlockReport<'_> {
        let BlockIo { host, sync, gain, params, inputs, outputs } = io;
        let [out_l, out_r] = outputs;
        let full_len = out_l.len().min(out_r.len());
        let len = full_len.min(self.max_block);
        out_l[len..].fill(0.0);
        out_r[len..].fill(0.0);
        let out_l = &mut out_l[..len];
        let out_r = &mut out_r[..len];

        self.notes.clear();
        self.to_js.clear();
        self.scope.clear();
        self.scheduler.begin_block(len.max(1));

        let events = self.clock.fill_block(&host, sync, &mut self.clocks[..len]);
        if len == 0 {
            return BlockReport {
                midi: &[],
                to_js: &[],
                scope: &[],
                clock: ClockState::default(),
                clocks: &[],
            };
        }
        let playing = self.clocks[0].playing;
        // A stop or a relocation (locate, loop jump) ends every held note at once.
        if events.stopped || events.relocated || self.release_requested {
            self.scheduler.release_all(0);
            self.release_requested = false;
        }

        // Apply queued messages. Quantised patches wait for the next bar while playing.
        while let Ok(msg) = self.ends.from_control.pop() {
            match msg {
                ToAudio::Channel { id, data } => {
                    let old = self.channels.replace(id as usize, data);
                    self.discard(Garbage::Channel(old));
                }
                ToAudio::Clip(c) => self.discard(Garbage::Clip(c)),
                ToAudio::Patch(p) => {
                    if p.quantise() && playing && self.current.is_some() {
                        if let Some(old) = self.pending.replace(p) {
                            self.discard(Garbage::Patch(old));
                        }
                    } else {
                        if let Some(old) = self.pending.take() {
                            self.discard(Garbage::Patch(old));
                        }
                        self.swap_in(p, 0);
                    }
                }
            }
        }
        if !playing {
            if let Some(p) = self.pending.take() {
                self.swap_in(p, 0);
            }
        }

        // Split the block where a quantised patch must come in (the first bar start).
        let mut split = len;
        if self.pending.is_some() {
            let mut prev = self.last_bar;
            for (i, c) in self.clocks[..len].iter().enumerate() {
                if prev != i64::MIN && c.bar != prev {
                    split = i;
                    break;
                }
                prev = c.bar;
            }
        }
        self.prepare_inputs(inputs, len);
        self.render(0, split, &params, out_l, out_r);
        if split < len {
            if let Some(p) = self.pending.take() {
                self.swap_in(p, split as u32);
            }
            self.render(split, len, &params, out_l, out_r);
        }
        self.last_bar = self.clocks[len - 1].bar;

        // Gain (smoothed) and the safety net: no NaN/inf, hard clip.
        let target = if gain.is_finite() { gain.max(0.0) } else { 0.0 };
        if !self.gain_initialised {
            self.gain = target;
            self.gain_initialised = true;
        }
        for (l, r) in out_l.iter_mut().zip(out_r.iter_mut()) {
            self.gain += (target - self.gain) * self.gain_coef;
            *l = sanitize(*l * self.gain);
            *r = sanitize(*r * self.gain);
        }

        let clock = self.clocks[0];
        BlockReport {
            midi: self.scheduler.finish_block(),
            to_js: self.to_js.as_slice(),
            scope: self.scope.as_slice(),
            clock,
            clocks: &self.clocks[..len],
        }
    }

    /// Copies the sidechain into block-length buffers (hosts may give none).
    fn prepare_inputs(&mut self, inputs: [&[f32]; 2], len: usize) {
        for (ch, src) in inputs.iter().enumerate() {
            let n = src.len().min(len);
            self.input_buf[ch][..n].copy_from_slice(&src[..n]);
            self.input_buf[ch][n..len].fill(0.0);
        }
    }

    /// Makes `patch` the playing one at `offset`: the old one fades out, its notes end.
    fn swap_in(&mut self, patch: Box<dyn Patch>, offset: u32) {
        if let Some((bpm, beats)) = patch.initial_clock() {
            self.clock.set_code_tempo(bpm, beats);
        }
        self.scheduler.release_all(offset);
        match self.current.replace(patch) {
            Some(old) => {
                if let Some(older) = self.fading.replace(old) {
                    self.discard(Garbage::Patch(older));
                }
                self.fade_pos = 0;
            }
            // Nothing retires (or will, after a crossfade): still one item per message.
            None => self.discard(Garbage::Nothing),
        }
    }

    /// Renders samples `a..b` of the block with the current (and fading) patch.
    fn render(
        &mut self,
        a: usize,
        b: usize,
        params: &[f32; NUM_PARAMS],
        out_l: &mut [f32],
        out_r: &mut [f32],
    ) {
        if a >= b {
            return;
        }
        let n = b - a;
        // The fading patch first: its notes and toJS values are discarded.
        if let Some(fading) = self.fading.as_mut() {
            let notes_before = self.notes.len();
            let to_js_before = self.to_js.len();
            let [fl, fr] = &mut self.fade_buf;
            let mut ctx = BlockContext {
                len: n,
                clocks: &self.clocks[a..b],
                inputs: [&self.input_buf[0][a..b], &self.input_buf[1][a..b]],
                outputs: [&mut fl[..n], &mut fr[..n]],
                params,
                channels: &self.channels,
                notes: &mut self.notes,
                to_js: &mut self.to_js,
                scope: &mut self.scope,
                clock_request: None,
            };
            fading.process(&mut ctx);
            self.notes.truncate(notes_before);
            self.to_js.truncate(to_js_before);
        }
        let notes_before = self.notes.len();
        let mut request = None;
        if let Some(current) = self.current.as_mut() {
            let mut ctx = BlockContext {
                len: n,
                clocks: &self.clocks[a..b],
                inputs: [&self.input_buf[0][a..b], &self.input_buf[1][a..b]],
                outputs: [&mut out_l[a..b], &mut out_r[a..b]],
                params,
                channels: &self.channels,
                notes: &mut self.notes,
                to_js: &mut self.to_js,
                scope: &mut self.scope,
                clock_request: None,
            };
            current.process(&mut ctx);
            request = ctx.clock_request;
        } else {
            out_l[a..b].fill(0.0);
            out_r[a..b].fill(0.0);
        }
        if let Some((bpm, beats)) = request {
            self.clock.set_code_tempo(bpm, beats);
        }
        // Notes were timed relative to `a`: shift them into the block and schedule them.
        for i in notes_before..self.notes.len() {
            let t = self.notes.as_slice()[i];
            let offset = (t.offset as usize).min(n - 1) + a;
            let c = self.clocks[offset];
            let samples_per_bar = 60.0 / c.bpm.max(1e-3) * c.beats_per_bar * c.sample_rate;
            self.scheduler.note_on(offset as u32, t.note, t.note.length_bars * samples_per_bar);
        }
        // Crossfade from the old patch to the new one.
        if self.fading.is_some() {
            let fade_len = self.fade_len as f32;
            for i in 0..n {
                let g = ((self.fade_pos + i) as f32 / fade_len).min(1.0);
                out_l[a + i] = out_l[a + i] * g + self.fade_buf[0][i] * (1.0 - g);
                out_r[a + i] = out_r[a + i] * g + self.fade_buf[1][i] * (1.0 - g);
            }
            self.fade_pos += n;
            if self.fade_pos >= self.fade_len {
                if let Some(old) = self.fading.take() {
                    self.discard(Garbage::Patch(old));
                }
            }
        }
    }
}

#[inline]
fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-SAFETY_CLIP, SAFETY_CLIP)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::patch::NoteRequest;

    /// Outputs `level` and plays a note at each bar start; can ask for quantise.
    struct BarNotes {
        level: f32,
        quantise: bool,
        pitch: u8,
        last_bar: Option<i64>,
    }

    impl Patch for BarNotes {
        fn process(&mut self, ctx: &mut BlockContext) {
            for i in 0..ctx.len {
                let c = ctx.clocks[i];
                if c.playing && self.last_bar != Some(c.bar) {
                    ctx.notes.push(TimedNote {
                        offset: i as u32,
                        note: NoteRequest {
                            pitch: self.pitch,
                            velocity: 1.0,
                            length_bars: 0.5,
                            channel: 0,
                        },
                    });
                }
                self.last_bar = Some(c.bar);
                ctx.outputs[0][i] = self.level;
                ctx.outputs[1][i] = self.level;
            }
        }
        fn quantise(&self) -> bool {
            self.quantise
        }
    }

    fn patch(level: f32, quantise: bool, pitch: u8) -> Box<dyn Patch> {
        Box::new(BarNotes { level, quantise, pitch, last_bar: None })
    }

    struct Rig {
        control: ControlEnds,
        engine: Engine,
        pos: f64,
        l: Vec<f32>,
        r: Vec<f32>,
    }

    impl Rig {
        fn new() -> Self {
            let (control, audio) = queues();
            Self {
                control,
                engine: Engine::new(audio, 48_000.0, 512),
                pos: 0.0,
                l: vec![0.0; 512],
                r: vec![0.0; 512],
            }
        }
        /// Processes one 512-sample block at 120 bpm 4/4; returns its MIDI events.
        fn block(&mut self, playing: bool) -> Vec<MidiEvent> {
            let host = HostTime { playing, ..HostTime::playing_at(120.0, 4, self.pos) };
            let report = self.engine.process(BlockIo {
                host,
                sync: true,
                gain: 1.0,
                params: [0.0; NUM_PARAMS],
                inputs: [&[], &[]],
                outputs: [&mut self.l, &mut self.r],
            });
            let midi = report.midi.to_vec();
            if playing {
                self.pos += 512.0 / 48_000.0 * 2.0;
            }
            midi
        }
    }

    #[test]
    fn notes_are_sample_accurate_at_bar_starts() {
        let mut rig = Rig::new();
        rig.engine.install_patch(patch(0.5, false, 60));
        let mut found = Vec::new();
        for b in 0..200 {
            for e in rig.block(true) {
                found.push((b, e.timing, e.on));
            }
        }
        // Bar 0 at block 0 offset 0; its note-off half a bar (48000 samples) later =
        // block 93 offset 384; bar 1 at sample 96000 = block 187 offset 256.
        assert_eq!(found, vec![(0, 0, true), (93, 384, false), (187, 256, true)]);
        assert_eq!(rig.l[0], 0.5);
    }

    #[test]
    fn quantised_code_swaps_at_the_next_bar() {
        let mut rig = Rig::new();
        rig.engine.install_patch(patch(0.25, false, 60));
        for _ in 0..10 {
            rig.block(true);
        }
        assert!(rig.control.to_audio.push(ToAudio::Patch(patch(0.75, true, 72))).is_ok());
        let mut swap_at = None;
        for b in 10..200 {
            let midi = rig.block(true);
            if swap_at.is_none() && rig.l.iter().any(|&x| x > 0.3) {
                // The first sample past 0.25 is the swap point (crossfade starts there).
                let i = rig.l.iter().position(|&x| x > 0.2501).unwrap_or(0);
                swap_at = Some((b, i));
                assert!(midi.iter().any(|e| e.on && e.key == 72 && e.timing as usize == 256));
            }
        }
        // Bar 1 starts at sample 96000 = block 187, offset 256; the crossfade's first
        // sample (gain 0) is there, so the level first moves at 257.
        assert_eq!(swap_at, Some((187, 257)));
        // The old patch went back as garbage once the crossfade ended.
        let mut garbage = 0;
        while rig.control.garbage.pop().is_ok() {
            garbage += 1;
        }
        assert_eq!(garbage, 1);
    }

    #[test]
    fn immediate_swap_crossfades_without_a_jump() {
        let mut rig = Rig::new();
        rig.engine.install_patch(patch(0.0, false, 60));
        rig.block(true);
        assert!(rig.control.to_audio.push(ToAudio::Patch(patch(1.0, false, 61))).is_ok());
        rig.block(true);
        let max_step = rig.l.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(max_step < 0.01, "step {max_step}");
        assert!(rig.l[0] < 0.01 && rig.l[511] > 0.99);
    }

    #[test]
    fn transport_stop_releases_held_notes() {
        let mut rig = Rig::new();
        rig.engine.install_patch(patch(0.0, false, 60));
        let on = rig.block(true);
        assert!(on.iter().any(|e| e.on));
        let off = rig.block(false);
        assert_eq!(off.len(), 1);
        assert!(!off[0].on && off[0].timing == 0);
    }

    #[test]
    fn loop_jump_releases_held_notes_but_jitter_does_not() {
        let mut rig = Rig::new();
        rig.engine.install_patch(patch(0.0, false, 60));
        let on = rig.block(true);
        assert!(on.iter().any(|e| e.on));
        // The host reports a position a few samples behind (rounding): the note holds.
        rig.pos -= 4.0 / 48_000.0 * 2.0;
        assert!(rig.block(true).is_empty());
        // A loop jump back to the song start: the held note ends at once.
        rig.pos = 0.0;
        let ev = rig.block(true);
        assert!(ev.iter().any(|e| !e.on && e.key == 60 && e.timing == 0), "{ev:?}");
    }

    #[test]
    fn code_swap_releases_the_old_patch_notes() {
        let mut rig = Rig::new();
        rig.engine.install_patch(patch(0.0, false, 60));
        rig.block(true);
        assert!(rig.control.to_audio.push(ToAudio::Patch(patch(0.0, false, 62))).is_ok());
        let ev = rig.block(true);
        assert!(ev.iter().any(|e| !e.on && e.key == 60));
    }

    #[test]
    fn every_patch_message_yields_one_piece_of_garbage() {
        let mut rig = Rig::new();
        // The first patch into an empty engine replaces nothing: an empty marker comes back.
        assert!(rig.control.to_audio.push(ToAudio::Patch(patch(0.5, false, 60))).is_ok());
        rig.block(true);
        assert!(matches!(rig.control.garbage.pop(), Ok(Garbage::Nothing)));
        assert!(rig.control.garbage.pop().is_err());
        // The next one retires the first, which comes back once the crossfade ended.
        assert!(rig.control.to_audio.push(ToAudio::Patch(patch(0.25, false, 62))).is_ok());
        rig.block(true);
        assert!(matches!(rig.control.garbage.pop(), Ok(Garbage::Patch(_))));
        assert!(rig.control.garbage.pop().is_err());
    }

    #[test]
    fn channel_data_arrives_and_old_data_comes_back() {
        let mut rig = Rig::new();
        let data: Box<[f64]> = vec![440.0, 0.0].into_boxed_slice();
        assert!(rig.control.to_audio.push(ToAudio::Channel { id: 1, data }).is_ok());
        rig.block(true);
        assert_eq!(rig.engine.channel(1), &[440.0, 0.0]);
        assert!(matches!(rig.control.garbage.pop(), Ok(Garbage::Channel(_))));
    }

    struct Nan;
    impl Patch for Nan {
        fn process(&mut self, ctx: &mut BlockContext) {
            ctx.outputs[0].fill(f32::NAN);
            ctx.outputs[1].fill(100.0);
        }
    }

    #[test]
    fn output_is_sanitised() {
        let mut rig = Rig::new();
        rig.engine.install_patch(Box::new(Nan));
        rig.block(true);
        assert!(rig.l.iter().all(|&x| x == 0.0));
        assert!(rig.r.iter().all(|&x| x == SAFETY_CLIP));
    }
}
