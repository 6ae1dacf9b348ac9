//! What the audio thread tells the editor and the JS thread, lock-free: transport
//! position, DSP load, a log of the MIDI notes it sent, and the MIDI input it received
//! (stamped with musical time) with counts of what was received and dropped.

use atomic_float::{AtomicF32, AtomicF64};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::audio::midi_in::{MidiInReceiver, StampedMidiIn};
use crate::audio::midi_out::MidiEvent;
use crate::audio::patch::{ClockRun, ClockState, ToJsValue};
use crate::js::input::ToJsReceiver;

/// Capacity of the note log (audio → editor) and the toJS queue (audio → JS).
const NOTE_LOG_CAPACITY: usize = 4096;
const TO_JS_CAPACITY: usize = 16384;
/// Capacity of the MIDI-input queue to the JS thread (about ten seconds of dense playing
/// with controllers; what does not fit is dropped and counted).
const MIDI_IN_JS_CAPACITY: usize = 4096;
/// Capacity of the MIDI-input queue to the editor (its activity light and last note; a
/// closed editor lets it fill up, which is fine: nothing is counted for it).
const MIDI_IN_EDITOR_CAPACITY: usize = 1024;
/// Capacity of the `scop` queue (audio → editor): a few seconds of `scop` values at the
/// rates Sema code uses (one value per trigger, or per block).
const SCOPE_CAPACITY: usize = 16384;

/// A note the plugin sent, with its musical time, for the piano roll and `.mid` export.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoteRecord {
    /// Position in bars (bar index + phase) when the event happened.
    pub bars: f64,
    /// Tempo at that moment (for export to seconds/ticks).
    pub bpm: f64,
    pub on: bool,
    pub channel: u8,
    pub key: u8,
    pub velocity: f32,
}

/// Atomics written by the audio thread once per block.
#[derive(Default)]
pub struct Status {
    pub bpm: AtomicF64,
    pub beats_per_bar: AtomicF64,
    pub bar: AtomicI64,
    pub bar_phase: AtomicF64,
    pub playing: AtomicBool,
    /// Time spent in `process` / duration of the block, smoothed.
    pub dsp_load: AtomicF32,
    /// Number of blocks processed (tells the editor the engine is running).
    pub blocks: AtomicU64,
    /// MIDI events received from the host.
    pub midi_in_events: AtomicU64,
    /// MIDI input events dropped: more than a block holds, out of range, or the queue
    /// to the JS thread full.
    pub midi_in_dropped: AtomicU64,
    /// Offline renders: sync points at which the audio thread gave up waiting for the JS
    /// thread (see [`crate::js::offline`]).
    pub offline_timeouts: AtomicU64,
}

impl Status {
    pub fn publish(&self, clock: &ClockState) {
        self.bpm.store(clock.bpm, Ordering::Relaxed);
        self.beats_per_bar.store(clock.beats_per_bar, Ordering::Relaxed);
        self.bar.store(clock.bar, Ordering::Relaxed);
        self.bar_phase.store(clock.bar_phase, Ordering::Relaxed);
        self.playing.store(clock.playing, Ordering::Relaxed);
        self.blocks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn clock(&self) -> ClockState {
        ClockState {
            bar_phase: self.bar_phase.load(Ordering::Relaxed),
            bar: self.bar.load(Ordering::Relaxed),
            bpm: self.bpm.load(Ordering::Relaxed),
            beats_per_bar: self.beats_per_bar.load(Ordering::Relaxed),
            playing: self.playing.load(Ordering::Relaxed),
            sample_rate: 0.0,
        }
    }
}

/// The audio thread's ends of the audio → editor/JS queues.
pub struct AudioOutlets {
    pub notes: rtrb::Producer<NoteRecord>,
    pub to_js: rtrb::Producer<ToJsValue>,
    /// Values of the DSL's `scop`, for the editor's scope.
    pub scope: rtrb::Producer<f32>,
    /// MIDI input, stamped with musical time, for the JS thread.
    pub midi_in_js: rtrb::Producer<StampedMidiIn>,
    /// The same for the editor's MIDI-in indicator.
    pub midi_in_editor: rtrb::Producer<StampedMidiIn>,
}

/// The editor's consumer ends (never the audio thread's). Behind mutexes because they
/// live in the instance's [`crate::ControlSide`], which every editor window the host opens
/// shares; a frame drains them with `try_lock`.
pub struct Inlets {
    pub notes: Mutex<rtrb::Consumer<NoteRecord>>,
    pub scope: Mutex<rtrb::Consumer<f32>>,
    /// MIDI input (host and clip) for the status strip's indicator.
    pub midi_in: Mutex<rtrb::Consumer<StampedMidiIn>>,
}

/// Creates the audio → editor/JS queues: the audio thread's producer ends, the editor's
/// consumer ends, and the `toJS` and MIDI-input consumers, which go to the JS thread and
/// are owned (and polled) by its runtime alone (see [`crate::js::input`]).
pub fn outlets() -> (AudioOutlets, Inlets, ToJsReceiver, MidiInReceiver) {
    let (n_tx, n_rx) = rtrb::RingBuffer::new(NOTE_LOG_CAPACITY);
    let (j_tx, j_rx) = rtrb::RingBuffer::new(TO_JS_CAPACITY);
    let (s_tx, s_rx) = rtrb::RingBuffer::new(SCOPE_CAPACITY);
    let (m_tx, m_rx) = rtrb::RingBuffer::new(MIDI_IN_JS_CAPACITY);
    let (e_tx, e_rx) = rtrb::RingBuffer::new(MIDI_IN_EDITOR_CAPACITY);
    (
        AudioOutlets {
            notes: n_tx,
            to_js: j_tx,
            scope: s_tx,
            midi_in_js: m_tx,
            midi_in_editor: e_tx,
        },
        Inlets { notes: Mutex::new(n_rx), scope: Mutex::new(s_rx), midi_in: Mutex::new(e_rx) },
        j_rx,
        m_rx,
    )
}

impl AudioOutlets {
    /// Logs a block's MIDI events, toJS and `scop` values and passes its MIDI input on;
    /// drops what does not fit (the editor and JS catch up; the audio thread never waits).
    /// Returns the number of MIDI input events the JS thread's queue had no room for.
    pub fn publish(
        &mut self,
        clocks: &ClockRun,
        midi: &[MidiEvent],
        to_js: &[ToJsValue],
        scope: &[f32],
        midi_in: &[StampedMidiIn],
    ) -> u64 {
        let mut dropped = 0;
        for e in midi_in {
            if self.midi_in_js.push(*e).is_err() {
                dropped += 1;
            }
            let _ = self.midi_in_editor.push(*e);
        }
        for e in midi {
            let Some(c) = clocks.get(e.timing as usize).or(clocks.last()) else { break };
            let _ = self.notes.push(NoteRecord {
                bars: c.bar as f64 + c.bar_phase,
                bpm: c.bpm,
                on: e.on,
                channel: e.channel,
                key: e.key,
                velocity: e.velocity,
            });
        }
        for v in to_js {
            let _ = self.to_js.push(*v);
        }
        for v in scope {
            if self.scope.push(*v).is_err() {
                break;
            }
        }
        dropped
    }
}
