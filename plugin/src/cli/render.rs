//! Offline rendering through the realtime engine, driven as a host bouncing offline would:
//! blocks of at most the given size (cut at bar starts), transport advancing at the given
//! tempo, the session's JS in step with the render ([`crate::cli::lockstep`]) and a MIDI
//! file as the host's MIDI input ([`crate::cli::midi_input`]). Used by `sema-live render`
//! and tests.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::audio::engine::{self, BlockIo, Engine};
use crate::audio::midi_in::MAX_EVENTS_PER_BLOCK;
use crate::audio::patch::NUM_PARAMS;
use crate::audio::transport::HostTime;
use crate::cli::lockstep::LockstepJs;
use crate::cli::midi_file::{self, TimedEvent};
use crate::cli::midi_input::MidiFeed;
use crate::control::console::Console;
use crate::control::controller::Controller;
use crate::control::samples::SampleSources;
use crate::control::state::SessionState;

/// How to render.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderSettings {
    pub bars: u32,
    pub bpm: f64,
    /// Beats per bar (time signature numerator over 4).
    pub beats_per_bar: u8,
    pub sample_rate: f64,
    /// Block size, as a host's buffer size.
    pub block: usize,
    /// Parameter values: temperature, macro1..8.
    pub params: [f32; NUM_PARAMS],
}

impl Default for RenderSettings {
    fn default() -> Self {
        let mut params = [0.0; NUM_PARAMS];
        params[0] = 1.0;
        Self { bars: 4, bpm: 120.0, beats_per_bar: 4, sample_rate: 48_000.0, block: 512, params }
    }
}

/// Peak and RMS of a render, gathered block by block as it streams.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Levels {
    /// Stereo frames rendered.
    pub frames: u64,
    peak: f32,
    /// Sum of the squares of every sample, both channels.
    sum_sq: f64,
}

impl Levels {
    /// Adds one block. Sixteen f32 lanes, so the loop vectorises (this runs over every
    /// sample of an hour-long render): each lane sums the squares of at most a block's
    /// 1/16th in f32 (a relative error of about 1e-5 for a block of 4096, far below what
    /// a meter shows), then the block's sum joins the total in f64.
    pub fn add(&mut self, left: &[f32], right: &[f32]) {
        self.frames += left.len() as u64;
        let (peak, sum) = block_levels(left, right);
        self.peak = self.peak.max(peak);
        self.sum_sq += sum;
    }

    pub fn peak(&self) -> f32 {
        self.peak
    }

    pub fn rms(&self) -> f32 {
        if self.frames == 0 {
            return 0.0;
        }
        (self.sum_sq / (2 * self.frames) as f64).sqrt() as f32
    }
}

/// A block's peak and sum of squares (see [`Levels::add`]).
#[inline(always)]
fn block_levels(left: &[f32], right: &[f32]) -> (f32, f64) {
    let mut peak = [0.0f32; 16];
    let mut sum = [0.0f32; 16];
    for ch in [left, right] {
        let mut chunks = ch.chunks_exact(16);
        for c in &mut chunks {
            for k in 0..16 {
                let x = c[k].abs();
                peak[k] = if x > peak[k] { x } else { peak[k] };
                sum[k] += c[k] * c[k];
            }
        }
        for (k, &x) in chunks.remainder().iter().enumerate() {
            peak[k] = peak[k].max(x.abs());
            sum[k] += x * x;
        }
    }
    let peak = peak.iter().fold(0.0f32, |m, &x| m.max(x));
    (peak, sum.iter().map(|&x| f64::from(x)).sum::<f64>())
}

/// Where a render's blocks go: the engine renders each block straight into the sink's
/// buffers (the WAV writer's chunks, see [`crate::cli::wav_out`]), so streaming a render
/// copies nothing on the render's thread.
pub trait BlockSink {
    type Error;
    /// Buffers (left, right) of `n` frames for the next block, which the engine overwrites.
    fn block(&mut self, n: usize) -> Result<[&mut [f32]; 2], Self::Error>;
    /// The `n` frames last asked for with [`BlockSink::block`] are rendered.
    fn done(&mut self, n: usize) -> Result<(), Self::Error>;
}

/// A sink that reads each block: the engine renders into buffers of its own, then
/// `read(left, right)` sees the block.
struct ReadEach<F> {
    left: Vec<f32>,
    right: Vec<f32>,
    read: F,
}

impl<F, E> BlockSink for ReadEach<F>
where
    F: FnMut(&[f32], &[f32]) -> Result<(), E>,
{
    type Error = E;

    fn block(&mut self, n: usize) -> Result<[&mut [f32]; 2], E> {
        if self.left.len() < n {
            self.left.resize(n, 0.0);
            self.right.resize(n, 0.0);
        }
        Ok([&mut self.left[..n], &mut self.right[..n]])
    }

    fn done(&mut self, n: usize) -> Result<(), E> {
        (self.read)(&self.left[..n], &self.right[..n])
    }
}

/// The result of a render.
pub struct Rendered {
    /// Stereo audio, kept only by [`OfflineEngine::render_with`] (streamed renders hand
    /// each block to their sink and keep none: these are empty).
    pub audio: [Vec<f32>; 2],
    /// Length, peak and RMS.
    pub levels: Levels,
    /// MIDI note events, timed in beats from the start.
    pub events: Vec<TimedEvent>,
    pub settings: RenderSettings,
    /// How many times the JS sent to each channel (set-up and render), when JS ran.
    pub sends: std::collections::BTreeMap<u32, usize>,
    /// MIDI input events the engine dropped (too many in a block, out of range).
    pub midi_in_dropped: u64,
}

impl Rendered {
    pub fn peak(&self) -> f32 {
        self.levels.peak()
    }

    pub fn rms(&self) -> f32 {
        self.levels.rms()
    }

    /// Writes `notes.mid` and `summary.txt` into `dir` (which exists; the render wrote
    /// `audio.wav` there as it went); returns the summary.
    pub fn write_notes(
        &self,
        dir: &Path,
        channels: &std::collections::BTreeMap<u32, Vec<f64>>,
    ) -> Result<String, String> {
        let mid = dir.join("notes.mid");
        std::fs::write(
            &mid,
            midi_file::encode(&self.events, self.settings.bpm, self.settings.beats_per_bar),
        )
        .map_err(|e| format!("cannot write {}: {e}", mid.display()))?;
        let summary = self.summary(channels);
        std::fs::write(dir.join("summary.txt"), &summary)
            .map_err(|e| format!("cannot write summary: {e}"))?;
        Ok(summary)
    }

    /// A short text summary: length, levels, notes per MIDI channel, channel data.
    pub fn summary(&self, channels: &std::collections::BTreeMap<u32, Vec<f64>>) -> String {
        let s = &self.settings;
        let secs = self.levels.frames as f64 / s.sample_rate;
        let mut out = format!(
            "{} bars at {} bpm ({}/4), {:.2} s, {} Hz\npeak {:.3} ({:.1} dBFS), RMS {:.4} ({:.1} dBFS)\n",
            s.bars,
            s.bpm,
            s.beats_per_bar,
            secs,
            s.sample_rate,
            self.peak(),
            20.0 * self.peak().max(1e-9).log10(),
            self.rms(),
            20.0 * self.rms().max(1e-9).log10()
        );
        let mut per_channel = std::collections::BTreeMap::<u8, (usize, Vec<u8>)>::new();
        for e in self.events.iter().filter(|e| e.on) {
            let entry = per_channel.entry(e.channel).or_default();
            entry.0 += 1;
            entry.1.push(e.key);
        }
        if per_channel.is_empty() {
            out.push_str("MIDI: no notes\n");
        }
        for (ch, (n, keys)) in per_channel {
            let first: Vec<String> = keys.iter().take(16).map(|k| k.to_string()).collect();
            out.push_str(&format!(
                "MIDI channel {}: {n} notes (first: {})\n",
                ch + 1,
                first.join(" ")
            ));
        }
        for (id, data) in channels {
            let vals: Vec<String> = data.iter().take(16).map(|v| format!("{v:.2}")).collect();
            let sent = match self.sends.get(id) {
                Some(&n) if n > 1 => format!(" (the last of {n} sends)"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "JS channel {id}: {} values [{}]{sent}\n",
                data.len(),
                vals.join(", ")
            ));
        }
        out
    }
}

/// A controller + engine pair configured for offline rendering.
pub struct OfflineEngine {
    /// Shared like in the plugin, so the JS runtime's channel sink can send to it.
    pub controller: Arc<Mutex<Controller>>,
    pub engine: Engine,
    settings: RenderSettings,
}

impl OfflineEngine {
    /// Builds the engine and installs `session` (its DSL and channel data).
    pub fn new(session: SessionState, settings: RenderSettings, console: Arc<Console>) -> Self {
        Self::with_samples(session, settings, console, SampleSources::from_env())
    }

    /// Like [`OfflineEngine::new`], with samples from `samples` instead of the
    /// environment's folders.
    pub fn with_samples(
        session: SessionState,
        settings: RenderSettings,
        console: Arc<Console>,
        samples: SampleSources,
    ) -> Self {
        let (ends, audio) = engine::queues();
        let mut controller = Controller::new(ends, session, console);
        controller.set_sample_sources(samples);
        let mut engine = Engine::new(audio, settings.sample_rate, settings.block);
        controller.resync(&mut engine, settings.sample_rate, settings.block);
        Self { controller: Arc::new(Mutex::new(controller)), engine, settings }
    }

    #[cfg(test)]
    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    /// Re-installs the controller's session into the engine (after JS changed it).
    pub fn resync(&mut self) {
        self.controller.lock().resync(
            &mut self.engine,
            self.settings.sample_rate,
            self.settings.block,
        );
    }

    /// Renders `settings.bars` bars from the song start without JS or MIDI input;
    /// `progress` is called with the fraction done after each block.
    pub fn render(&mut self, progress: impl FnMut(f64)) -> Rendered {
        self.render_with(None, &mut MidiFeed::empty(), progress)
    }

    /// Renders `settings.bars` bars from the song start and keeps the audio in
    /// [`Rendered::audio`] (tests, short renders); see [`OfflineEngine::render_into`].
    pub fn render_with(
        &mut self,
        js: Option<&mut LockstepJs>,
        midi: &mut MidiFeed,
        progress: impl FnMut(f64),
    ) -> Rendered {
        let mut audio = [Vec::new(), Vec::new()];
        let kept = self.render_into(
            js,
            midi,
            |l: &[f32], r: &[f32]| {
                audio[0].extend_from_slice(l);
                audio[1].extend_from_slice(r);
                Ok::<(), std::convert::Infallible>(())
            },
            progress,
        );
        let Ok(mut rendered) = kept;
        rendered.audio = audio;
        rendered
    }

    /// Renders `settings.bars` bars from the song start, as a host bouncing offline
    /// would: blocks of at most `settings.block` samples, cut at bar starts; `midi` is
    /// played as the host's MIDI input; `js`, when given, runs in step with the render
    /// (see [`crate::cli::lockstep`]). The controller is active meanwhile, so what JS
    /// sends goes through the engine's queue as in the plugin.
    ///
    /// Each block goes to `sink` as it is rendered (left, right); nothing of the audio is
    /// kept, so memory stays flat however long the render. An error from the sink stops
    /// the render and is returned. `progress` gets the fraction done whenever it moves
    /// by a thousandth.
    pub fn render_into<E>(
        &mut self,
        js: Option<&mut LockstepJs>,
        midi: &mut MidiFeed,
        sink: impl FnMut(&[f32], &[f32]) -> Result<(), E>,
        progress: impl FnMut(f64),
    ) -> Result<Rendered, E> {
        // Its buffers grow to the first block's size.
        let mut sink = ReadEach { left: Vec::new(), right: Vec::new(), read: sink };
        self.render_to(js, midi, &mut sink, progress)
    }

    /// Like [`OfflineEngine::render_into`], the engine rendering each block straight into
    /// `sink`'s buffers.
    pub fn render_to<S: BlockSink>(
        &mut self,
        mut js: Option<&mut LockstepJs>,
        midi: &mut MidiFeed,
        sink: &mut S,
        mut progress: impl FnMut(f64),
    ) -> Result<Rendered, S::Error> {
        let s = self.settings.clone();
        let samples_per_beat = s.sample_rate * 60.0 / s.bpm;
        let beats_per_bar = f64::from(s.beats_per_bar.max(1));
        let samples_per_bar = beats_per_bar * samples_per_beat;
        let total = (s.bars as f64 * samples_per_bar).round() as usize;
        let mut levels = Levels::default();
        let mut events = Vec::new();
        let mut midi_in = Vec::with_capacity(MAX_EVENTS_PER_BLOCK);
        let mut stamped = Vec::with_capacity(MAX_EVENTS_PER_BLOCK);
        let mut to_js = Vec::new();
        let mut midi_in_dropped = 0u64;
        let mut reported = 0u64;
        self.controller.lock().set_active(true);
        let mut pos = 0usize;
        let mut failed = None;
        while pos < total {
            let bar = bar_of(pos, samples_per_bar);
            // Blocks never cross a bar start: what JS sends for a bar lands on its first
            // sample.
            let next_bar = bar_start(bar + 1, samples_per_bar).max(pos + 1);
            let n = s.block.min(total - pos).min(next_bar - pos);
            let t = std::time::Duration::from_secs_f64(pos as f64 / s.sample_rate);
            if let Some(js) = js.as_deref_mut() {
                let bar_phase = (pos as f64 / samples_per_bar - bar as f64).clamp(0.0, 1.0);
                js.before_block(t, bar, bar_phase, beats_per_bar);
            }
            midi.block(pos as u64, n, &mut midi_in);
            let beats = pos as f64 / samples_per_beat;
            // As the plugin's `process()` does: denormals flushed to zero (a decaying
            // envelope or filter tail would otherwise slow the render down, and the
            // render would differ from what the plugin plays).
            let _denormals = crate::audio::denormals::DenormalGuard::new();
            let [l, r] = match sink.block(n) {
                Ok(buffers) => buffers,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let report = self.engine.process(BlockIo {
                host: HostTime::playing_at(s.bpm, s.beats_per_bar as i32, beats),
                sync: true,
                gain: 1.0,
                params: s.params,
                inputs: [&[], &[]],
                outputs: [&mut *l, &mut *r],
                midi_in: &midi_in,
                midi_thru: false,
            });
            for e in report.midi {
                events.push(TimedEvent {
                    beats: (pos + e.timing as usize) as f64 / samples_per_beat,
                    on: e.on,
                    channel: e.channel,
                    key: e.key,
                    velocity: e.velocity,
                });
            }
            midi_in_dropped += report.midi_in_dropped;
            if let Some(js) = js.as_deref_mut() {
                // The engine's MIDI input (host and clip notes), stamped with its clock, as
                // the plugin hands it to the JS thread.
                to_js.clear();
                to_js.extend_from_slice(report.to_js);
                stamped.clear();
                stamped.extend_from_slice(report.midi_in);
                js.after_block(t, &to_js, &stamped);
            }
            levels.add(l, r);
            if let Err(e) = sink.done(n) {
                failed = Some(e);
                break;
            }
            pos += n;
            self.controller.lock().collect_garbage();
            let done = (pos as u64 * 1000) / total.max(1) as u64;
            if done != reported || pos >= total {
                reported = done;
                progress(pos as f64 / total.max(1) as f64);
            }
        }
        let mut sends = std::collections::BTreeMap::new();
        if let Some(js) = js {
            js.finish();
            sends = js.sends();
        }
        self.controller.lock().set_active(false);
        if let Some(e) = failed {
            return Err(e);
        }
        events.shrink_to_fit();
        Ok(Rendered {
            audio: [Vec::new(), Vec::new()],
            levels,
            events,
            settings: s,
            sends,
            midi_in_dropped,
        })
    }
}

/// The first sample of bar `bar` (the first whose beat position is at or past the bar's
/// first beat).
fn bar_start(bar: i64, samples_per_bar: f64) -> usize {
    (bar as f64 * samples_per_bar - 1e-6).ceil().max(0.0) as usize
}

/// The bar sample `pos` is in.
fn bar_of(pos: usize, samples_per_bar: f64) -> i64 {
    let mut bar = (pos as f64 / samples_per_bar).floor() as i64;
    // Rounding at a bar start that is not a whole sample.
    if bar_start(bar + 1, samples_per_bar) <= pos {
        bar += 1;
    }
    bar
}

/// The process's peak resident memory (`VmHWM` of /proc/self/status), where the system
/// reports it (Linux).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 =
        line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// A live-code program rendered offline on its own (no JS, no MIDI input) through the
/// offline engine, as `sema-live render` renders a bare `.sem` file: what the render and
/// peer benchmarks time as "the engine".
pub struct ProgramRender {
    engine: OfflineEngine,
}

impl ProgramRender {
    /// Compiles `dsl` for `bars` bars at 120 bpm in 4/4, 48 kHz, 512-sample blocks, with
    /// `channels` as the JS channels' data. Err: the compile errors.
    pub fn new(dsl: &str, channels: &[(u32, Vec<f64>)], bars: u32) -> Result<Self, String> {
        let state = SessionState {
            dsl: dsl.into(),
            channels: channels.iter().cloned().collect(),
            ..SessionState::default()
        };
        let settings = RenderSettings { bars, ..RenderSettings::default() };
        let engine = OfflineEngine::new(state, settings, Arc::new(Console::new()));
        if let Err(errors) = engine.controller.lock().compile(dsl) {
            let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            return Err(list.join("\n"));
        }
        Ok(Self { engine })
    }

    /// Renders the bars from the song start, each block to `sink`; returns the frames.
    pub fn render_into<E>(
        &mut self,
        sink: impl FnMut(&[f32], &[f32]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let r = self.engine.render_into(None, &mut MidiFeed::empty(), sink, |_| {})?;
        Ok(r.levels.frames)
    }
}
