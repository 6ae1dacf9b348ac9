//! The realtime engine: runs the compiled patch in time with the host, swaps in new code
//! (at once or at the next bar, with a short crossfade), applies JS channel data, and
//! produces sample-accurate MIDI notes. Shared by the plugin and the offline renderer.
//!
//! Everything the engine needs is allocated in [`Engine::new`] / [`Engine::configure`]
//! (off the audio thread). New patches and channel data arrive through a lock-free ring
//! buffer; whatever they replace goes back through a second ring buffer to be dropped by
//! the [`crate::control::controller::Controller`], never on the audio thread.

use crate::audio::clip::{ClipPlayer, CLIP_EVENTS_PER_BLOCK};
use crate::audio::midi_in::{
    Clip, MidiIn, MidiInKind, MidiInState, MidiInView, MidiSource, StampedMidiIn,
    MAX_EVENTS_PER_BLOCK,
};
use crate::audio::midi_out::{MidiEvent, NoteScheduler};
use crate::audio::patch::{
    BlockContext, ChannelBank, ClockRun, ClockState, FixedQueue, Patch, SampleBank, TimedNote,
    ToJsValue, NUM_PARAMS,
};
use crate::audio::transport::{Clock, HostTime};

/// Messages from the controller (editor, JS thread, state loading) to the audio thread.
pub enum ToAudio {
    /// A newly compiled patch. Swapped in at once, or at the next bar if it asks for
    /// `quantise`.
    Patch(Box<dyn Patch>),
    /// New data for a JS channel (`fromJS`).
    Channel { id: u32, data: Box<[f64]> },
    /// Notes to play from a bar (an answer, a variation): replaces the playing clip at
    /// once (its sounding notes end); a clip without notes stops clip playback.
    Clip(Box<Clip>),
    /// A new sample bank (every buffer the players can read), replacing the old one at
    /// once: players whose slot was empty start playing the buffer that arrived.
    Samples(Box<SampleBank>),
}

/// Things the audio thread has replaced and hands back to be dropped elsewhere.
///
/// Every message yields exactly one item, which is how the controller counts messages in
/// flight: a channel message hands back the data it replaced; a patch message hands back
/// the patch it retires (at once, or when its crossfade ends), or [`Garbage::Nothing`]
/// when it went into an engine that had no patch yet; a clip message hands back the clip
/// it replaced, or [`Garbage::Nothing`] when none was playing; a sample bank message
/// hands back the bank it replaced.
pub enum Garbage {
    Patch(Box<dyn Patch>),
    Channel(Box<[f64]>),
    Clip(Box<Clip>),
    Samples(Box<SampleBank>),
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
/// How close the smoothed gain must come to its target before it snaps onto it (and the
/// block loop becomes a plain multiply): 1e-5 of full scale, -100 dB, inaudible.
const GAIN_SETTLED: f32 = 1e-5;
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
    /// MIDI the host sent this block (source [`MidiSource::Host`]), sorted by `timing`
    /// (unsorted input is sorted; timings past the block are clamped to its last sample).
    /// At most [`MAX_EVENTS_PER_BLOCK`] are used, the rest are dropped and counted.
    pub midi_in: &'a [MidiIn],
    /// Send the host's note-ons and note-offs out again (the `midi_thru` parameter).
    pub midi_thru: bool,
}

/// What one block produced besides audio.
pub struct BlockReport<'a> {
    /// Note events, sorted by time: the code's `midi` notes, the clip's and, with MIDI
    /// thru, the host's.
    pub midi: &'a [MidiEvent],
    /// The block's MIDI input (host and clip, in time order), stamped with the clock at
    /// its sample.
    pub midi_in: &'a [StampedMidiIn],
    /// Host events dropped this block for lack of room (more than [`MAX_EVENTS_PER_BLOCK`],
    /// or keys, channels or values out of range).
    pub midi_in_dropped: u64,
    /// Values the DSL sent with `toJS`.
    pub to_js: &'a [ToJsValue],
    /// Scope samples (`scop`).
    pub scope: &'a [f32],
    /// Clock state at the block's first sample.
    pub clock: ClockState,
    /// Clock state of every sample of the block.
    pub clocks: ClockRun,
}

/// The realtime engine. See the module documentation.
pub struct Engine {
    ends: AudioEnds,
    clock: Clock,
    /// Largest block `process` accepts; longer blocks are split.
    max_block: usize,
    /// Per-sample clock states of the current block.
    clocks: ClockRun,
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
    /// The sample buffers the players read (replaced whole by [`ToAudio::Samples`]).
    samples: Box<SampleBank>,
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
    /// Plays the clip the control side sent.
    clips: ClipPlayer,
    /// This block's host MIDI input (sanitised, sorted) and host + clip input merged.
    midi_host: FixedQueue<MidiIn>,
    midi_merged: FixedQueue<MidiIn>,
    /// The events of the sub-block being rendered, timed relative to its start.
    midi_sub: FixedQueue<MidiIn>,
    /// The MIDI input state at the first sample of the sub-block being rendered.
    midi_state: MidiInState,
    /// The merged input stamped with musical time, for the JS thread and the editor.
    midi_stamped: FixedQueue<StampedMidiIn>,
    /// Host notes held through MIDI thru, per channel (released when thru is turned off).
    thru_held: [u128; 16],
    /// The block's outgoing notes: scheduler, clip and thru merged.
    midi_out: FixedQueue<MidiEvent>,
}

/// Capacity of the scheduler's per-block event queue.
const SCHEDULER_EVENTS: usize = 4096;
/// Capacity of the merged MIDI-input buffers: every host event kept and every clip event.
const MERGED_IN: usize = MAX_EVENTS_PER_BLOCK + CLIP_EVENTS_PER_BLOCK;

impl Engine {
    /// Creates an engine for `sample_rate` and blocks of at most `max_block` samples.
    pub fn new(ends: AudioEnds, sample_rate: f64, max_block: usize) -> Self {
        let mut engine = Self {
            ends,
            clock: Clock::new(sample_rate),
            max_block: 0,
            clocks: ClockRun::default(),
            current: None,
            fading: None,
            fade_pos: 0,
            fade_len: 1,
            pending: None,
            channels: ChannelBank::new(),
            samples: Box::default(),
            notes: FixedQueue::with_capacity(1024),
            to_js: FixedQueue::with_capacity(4096),
            scope: FixedQueue::with_capacity(8192),
            fade_buf: [Vec::new(), Vec::new()],
            input_buf: [Vec::new(), Vec::new()],
            scheduler: NoteScheduler::new(SCHEDULER_EVENTS),
            release_requested: false,
            last_bar: i64::MIN,
            gain: 1.0,
            gain_initialised: false,
            gain_coef: 1.0,
            clips: ClipPlayer::new(),
            midi_host: FixedQueue::with_capacity(MAX_EVENTS_PER_BLOCK),
            midi_merged: FixedQueue::with_capacity(MERGED_IN),
            midi_sub: FixedQueue::with_capacity(MERGED_IN),
            midi_state: MidiInState::new(),
            midi_stamped: FixedQueue::with_capacity(MERGED_IN),
            thru_held: [0; 16],
            midi_out: FixedQueue::with_capacity(0),
        };
        // Room for everything that can go out in one block: the scheduler's queue (which
        // may be larger than asked), the clip's, and the host's notes sent through.
        let out_capacity =
            engine.scheduler_capacity() + CLIP_EVENTS_PER_BLOCK + MAX_EVENTS_PER_BLOCK + 16 * 128;
        engine.midi_out = FixedQueue::with_capacity(out_capacity);
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
        self.fade_buf = [vec![0.0; max_block], vec![0.0; max_block]];
        self.input_buf = [vec![0.0; max_block], vec![0.0; max_block]];
        self.fade_len = ((sample_rate * CROSSFADE_SECONDS) as usize).max(1);
        self.gain_coef = (1.0 - (-1.0 / (GAIN_RAMP_SECONDS * sample_rate).max(1.0)).exp()) as f32;
    }

    pub fn sample_rate(&self) -> f64 {
        self.clock.sample_rate()
    }

    fn scheduler_capacity(&self) -> usize {
        self.scheduler.capacity()
    }

    /// The MIDI input state after the last block (for tests and checks).
    pub fn midi_in_state(&self) -> &MidiInState {
        &self.midi_state
    }

    /// Number of clip notes sounding now.
    pub fn clip_notes_sounding(&self) -> usize {
        self.clips.sounding()
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

    /// Installs a sample bank directly (off the audio thread). Returns the replaced bank.
    pub fn install_samples(&mut self, bank: Box<SampleBank>) -> Box<SampleBank> {
        std::mem::replace(&mut self.samples, bank)
    }

    /// The sample bank the players read (for tests and checks).
    pub fn samples(&self) -> &SampleBank {
        &self.samples
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
                ToAudio::Clip(clip) => self.install_clip(clip, 0),
                ToAudio::Samples(bank) => {
                    let old = std::mem::replace(&mut self.samples, bank);
                    self.discard(Garbage::Samples(old));
                }
            }
        }
    }

    /// Makes `clip` the playing clip at `offset` and hands the old one back (one piece of
    /// garbage per message).
    fn install_clip(&mut self, clip: Box<Clip>, offset: u32) {
        match self.clips.replace(clip, offset) {
            Some(old) => self.discard(Garbage::Clip(old)),
            None => self.discard(Garbage::Nothing),
        }
    }

    /// Clears all DSP state that must not carry over (reset / deactivate): held notes are
    /// released at the start of the next block and the free-running clock restarts.
    pub fn reset(&mut self) {
        self.release_requested = true;
        // The host sends no note-offs for notes held across a reset or deactivation.
        self.midi_state.release_all();
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
        let BlockIo { host, sync, gain, params, inputs, outputs, midi_in, midi_thru } = io;
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
        self.clips.begin_block();
        self.midi_out.clear();
        self.midi_stamped.clear();

        let (clocks, events) = self.clock.block(&host, sync, len);
        self.clocks = clocks;
        if len == 0 {
            return BlockReport {
                midi: &[],
                midi_in: &[],
                midi_in_dropped: midi_in.len() as u64,
                to_js: &[],
                scope: &[],
                clock: ClockState::default(),
                clocks: ClockRun::default(),
            };
        }
        let playing = self.clocks.playing;
        // A stop or a relocation (locate, loop jump) ends every held note at once.
        if events.stopped || events.relocated || self.release_requested {
            self.scheduler.release_all(0);
            self.clips.interrupt(0);
            self.release_requested = false;
        }

        // Apply queued messages. Quantised patches wait for the next bar while playing.
        while let Ok(msg) = self.ends.from_control.pop() {
            match msg {
                ToAudio::Channel { id, data } => {
                    let old = self.channels.replace(id as usize, data);
                    self.discard(Garbage::Channel(old));
                }
                ToAudio::Clip(clip) => self.install_clip(clip, 0),
                ToAudio::Samples(bank) => {
                    let old = std::mem::replace(&mut self.samples, bank);
                    self.discard(Garbage::Samples(old));
                }
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
            for (i, c) in self.clocks.iter().enumerate() {
                if prev != i64::MIN && c.bar != prev {
                    split = i;
                    break;
                }
                prev = c.bar;
            }
        }
        self.prepare_inputs(inputs, len);
        // MIDI: the clip's notes, then the host's and the clip's input in time order.
        self.clips.process(&self.clocks);
        let midi_in_dropped = self.gather_midi_in(midi_in, len);
        self.midi_thru(midi_thru);
        self.render(0, split, &params, out_l, out_r);
        if split < len {
            if let Some(p) = self.pending.take() {
                self.swap_in(p, split as u32);
            }
            self.render(split, len, &params, out_l, out_r);
        }
        self.last_bar = self.clocks.at(len - 1).bar;

        // Gain (smoothed) and the safety net: no NaN/inf, hard clip.
        let target = if gain.is_finite() { gain.max(0.0) } else { 0.0 };
        if !self.gain_initialised {
            self.gain = target;
            self.gain_initialised = true;
        }
        if self.gain == target {
            // Settled (nearly always): a constant factor, a loop the compiler vectorises.
            scale_and_sanitize(out_l, out_r, self.gain);
        } else {
            for (l, r) in out_l.iter_mut().zip(out_r.iter_mut()) {
                self.gain += (target - self.gain) * self.gain_coef;
                *l = sanitize(*l * self.gain);
                *r = sanitize(*r * self.gain);
            }
            // The one-pole ramp only approaches its target: land on it once inaudibly close.
            if (target - self.gain).abs() <= GAIN_SETTLED {
                self.gain = target;
            }
        }

        self.stamp_midi_in();
        // The block's outgoing notes: the code's, the clip's and those sent through.
        for e in self.scheduler.finish_block() {
            self.midi_out.push(*e);
        }
        for e in self.clips.events().0 {
            self.midi_out.push(*e);
        }
        // Sorted as the scheduler sorts (note-offs first on ties); never allocates.
        crate::audio::midi_out::sort_events(self.midi_out.as_mut_slice());

        let clock = self.clocks.at(0);
        BlockReport {
            midi: self.midi_out.as_slice(),
            midi_in: self.midi_stamped.as_slice(),
            midi_in_dropped,
            to_js: self.to_js.as_slice(),
            scope: self.scope.as_slice(),
            clock,
            clocks: self.clocks,
        }
    }

    /// Sanitises and sorts the host's MIDI input and merges it with the clip's into
    /// `midi_merged`. Returns the number of host events dropped.
    fn gather_midi_in(&mut self, host: &[MidiIn], len: usize) -> u64 {
        self.midi_host.clear();
        self.midi_merged.clear();
        let last = (len - 1) as u32;
        let mut dropped = 0u64;
        for (i, e) in host.iter().enumerate() {
            if self.midi_host.len() == self.midi_host.capacity() {
                dropped += (host.len() - i) as u64;
                break;
            }
            let valid = e.key <= 127 && e.channel <= 15 && e.value.is_finite();
            if !valid {
                dropped += 1;
                continue;
            }
            self.midi_host.push(MidiIn {
                timing: e.timing.min(last),
                source: MidiSource::Host,
                ..*e
            });
        }
        let h = self.midi_host.as_mut_slice();
        if h.windows(2).any(|w| w[1].timing < w[0].timing) {
            // Hosts send events in order; if one does not, order by time (within a sample
            // the order is then arbitrary). `sort_unstable` never allocates.
            h.sort_unstable_by_key(|e| e.timing);
        }
        // Merge (host first on ties: what was played comes before what answers it).
        let (host, clip) = (self.midi_host.as_slice(), self.clips.events().1);
        let (mut i, mut j) = (0, 0);
        while i < host.len() || j < clip.len() {
            let take_host = j >= clip.len() || (i < host.len() && host[i].timing <= clip[j].timing);
            let e = if take_host {
                i += 1;
                host[i - 1]
            } else {
                j += 1;
                clip[j - 1]
            };
            self.midi_merged.push(e);
        }
        dropped
    }

    /// MIDI thru: the host's note-ons and note-offs go out again; turning thru off ends
    /// the notes it let through.
    fn midi_thru(&mut self, thru: bool) {
        if !thru {
            for ch in 0..16 {
                let mut held = std::mem::take(&mut self.thru_held[ch]);
                while held != 0 {
                    let key = held.trailing_zeros() as u8;
                    held &= held - 1;
                    self.midi_out.push(MidiEvent {
                        timing: 0,
                        on: false,
                        channel: ch as u8,
                        key,
                        velocity: 0.0,
                    });
                }
            }
            return;
        }
        for e in self.midi_host.as_slice() {
            let bit = 1u128 << e.key;
            let held = &mut self.thru_held[e.channel as usize];
            let on = match e.kind {
                MidiInKind::NoteOn if e.value > 0.0 => {
                    *held |= bit;
                    true
                }
                MidiInKind::NoteOn | MidiInKind::NoteOff => {
                    *held &= !bit;
                    false
                }
                MidiInKind::Cc
                    if e.key == crate::audio::midi_in::CC_ALL_NOTES_OFF
                        || e.key == crate::audio::midi_in::CC_ALL_SOUND_OFF =>
                {
                    // "All notes off" from the host: end what was let through.
                    let mut ended = std::mem::take(held);
                    while ended != 0 {
                        let key = ended.trailing_zeros() as u8;
                        ended &= ended - 1;
                        self.midi_out.push(MidiEvent {
                            timing: e.timing,
                            on: false,
                            channel: e.channel,
                            key,
                            velocity: 0.0,
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            self.midi_out.push(MidiEvent {
                timing: e.timing,
                on,
                channel: e.channel,
                key: e.key,
                velocity: if on { e.value.min(1.0) } else { 0.0 },
            });
        }
    }

    /// Stamps the block's merged MIDI input with the clock at each event's sample.
    fn stamp_midi_in(&mut self) {
        for e in self.midi_merged.as_slice() {
            let Some(c) = self.clocks.get(e.timing as usize) else { continue };
            let bars = c.bar as f64 + c.bar_phase;
            self.midi_stamped.push(StampedMidiIn {
                event: *e,
                bars,
                beats: bars * c.beats_per_bar,
                bpm: c.bpm,
                beats_per_bar: c.beats_per_bar,
                playing: c.playing,
            });
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
        // The sub-block's MIDI input, timed from its first sample.
        self.midi_sub.clear();
        let merged = self.midi_merged.as_slice();
        let lo = merged.partition_point(|e| (e.timing as usize) < a);
        let hi = merged.partition_point(|e| (e.timing as usize) < b);
        for e in &merged[lo..hi] {
            self.midi_sub.push(MidiIn { timing: e.timing - a as u32, ..*e });
        }
        // The fading patch first: its notes and toJS values are discarded.
        // What both patches read in this sub-block.
        let view = SubBlock {
            clocks: self.clocks.sub(a, b),
            inputs: [&self.input_buf[0][a..b], &self.input_buf[1][a..b]],
            params,
            channels: &self.channels,
            samples: &self.samples,
            midi_in: MidiInView { state: &self.midi_state, events: self.midi_sub.as_slice() },
        };
        let mut queues =
            Queues { notes: &mut self.notes, to_js: &mut self.to_js, scope: &mut self.scope };
        if let Some(fading) = self.fading.as_mut() {
            let notes_before = queues.notes.len();
            let to_js_before = queues.to_js.len();
            let [fl, fr] = &mut self.fade_buf;
            view.run(fading.as_mut(), [&mut fl[..n], &mut fr[..n]], &mut queues);
            queues.notes.truncate(notes_before);
            queues.to_js.truncate(to_js_before);
        }
        let notes_before = queues.notes.len();
        let mut request = None;
        if let Some(current) = self.current.as_mut() {
            request = view.run(current.as_mut(), [&mut out_l[a..b], &mut out_r[a..b]], &mut queues);
        } else {
            out_l[a..b].fill(0.0);
            out_r[a..b].fill(0.0);
        }
        if let Some((bpm, beats)) = request {
            self.clock.set_code_tempo(bpm, beats);
        }
        // The state at the next sub-block's first sample.
        for e in self.midi_sub.as_slice() {
            self.midi_state.apply(e);
        }
        // Notes were timed relative to `a`: shift them into the block and schedule them.
        for i in notes_before..self.notes.len() {
            let t = self.notes.as_slice()[i];
            let offset = (t.offset as usize).min(n - 1) + a;
            let c = self.clocks.at(offset);
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

/// What every patch of a sub-block reads: its clocks, sidechain input, parameters, JS
/// channel data and MIDI input.
struct SubBlock<'a> {
    clocks: ClockRun,
    inputs: [&'a [f32]; 2],
    params: &'a [f32; NUM_PARAMS],
    channels: &'a ChannelBank,
    samples: &'a SampleBank,
    midi_in: MidiInView<'a>,
}

/// Where the patches of a block put their notes, `toJS` values and scope samples.
struct Queues<'a> {
    notes: &'a mut FixedQueue<TimedNote>,
    to_js: &'a mut FixedQueue<ToJsValue>,
    scope: &'a mut FixedQueue<f32>,
}

impl SubBlock<'_> {
    /// Runs `patch` over the sub-block into `outputs`; returns the tempo its `clk` asked for.
    fn run(
        &self,
        patch: &mut dyn Patch,
        outputs: [&mut [f32]; 2],
        queues: &mut Queues,
    ) -> Option<(f64, f64)> {
        let mut ctx = BlockContext {
            len: self.clocks.len(),
            clocks: self.clocks,
            inputs: self.inputs,
            outputs,
            params: self.params,
            channels: self.channels,
            samples: self.samples,
            notes: queues.notes,
            to_js: queues.to_js,
            scope: queues.scope,
            clock_request: None,
            midi_in: self.midi_in,
        };
        patch.process(&mut ctx);
        ctx.clock_request
    }
}

/// `sanitize(x * gain)` for every sample of both channels.
fn scale_and_sanitize(left: &mut [f32], right: &mut [f32], gain: f32) {
    #[inline(always)]
    fn body(left: &mut [f32], right: &mut [f32], g: f32) {
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            *l = sanitize(*l * g);
            *r = sanitize(*r * g);
        }
    }
    // Eight lanes instead of four where the CPU has AVX2 (the same multiplies and
    // compares, so the same results).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn body_avx2(left: &mut [f32], right: &mut [f32], g: f32) {
        body(left, right, g)
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { body_avx2(left, right, gain) };
        return;
    }
    body(left, right, gain)
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
mod tests;
