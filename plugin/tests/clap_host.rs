//! A headless CLAP host (clack-host) drives the built plugin as a DAW would: 48 kHz / 512,
//! a 120 bpm 4/4 transport, several seconds of audio. Checks sound, MIDI notes, bar phase
//! after a relocation, and that saved state reproduces the same output in a new instance.
//!
//! The plugin binary is `$SEMA_LIVE_CLAP` (CI points it at the bundled `Sema Live.clap`),
//! or else the cdylib cargo built next to this test. Debug builds of the plugin have
//! `assert_process_allocs` on: any allocation in `process()` aborts this test.

mod common;

use common::TestHost;

use clack_extensions::state::PluginState;
use clack_host::events::event_types::{NoteOffEvent, NoteOnEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

const SAMPLE_RATE: f64 = 48_000.0;
const BLOCK: usize = 512;


/// A note event the plugin sent: (absolute sample, on?, key).
type NoteOut = (u64, bool, i16);

struct Instance {
    instance: PluginInstance<TestHost>,
    processor: Option<StartedPluginAudioProcessor<TestHost>>,
    /// Absolute sample position of the next block.
    now: u64,
}

impl Instance {
    fn new() -> Self {
        let mut instance = common::instantiate();
        let config = PluginAudioConfiguration {
            sample_rate: SAMPLE_RATE,
            min_frames_count: BLOCK as u32,
            max_frames_count: BLOCK as u32,
        };
        let stopped = instance.activate(|_, _| (), config).expect("activate");
        let processor = Some(stopped.start_processing().expect("start processing"));
        Self { instance, processor, now: 0 }
    }

    fn save(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        let mut bytes = Vec::new();
        state.save(&mut self.instance.plugin_handle(), &mut bytes).expect("save state");
        bytes
    }

    fn load(&mut self, bytes: &[u8]) {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state.load(&mut self.instance.plugin_handle(), &mut &bytes[..]).expect("load state");
    }

    /// Replaces the DSL program through the saved state (as a project load would).
    fn set_dsl(&mut self, dsl: &str) {
        // nice-plug's CLAP state: a little-endian u64 length, then the JSON.
        let bytes = self.save();
        assert!(bytes.len() > 8, "state too short");
        let mut v: serde_json::Value = serde_json::from_slice(&bytes[8..]).expect("state is JSON");
        let session_str = v["fields"]["session"].as_str().expect("session field").to_string();
        let mut session: serde_json::Value = serde_json::from_str(&session_str).expect("session JSON");
        session["dsl"] = serde_json::Value::String(dsl.to_string());
        v["fields"]["session"] = serde_json::Value::String(session.to_string());
        let json = serde_json::to_vec(&v).expect("json");
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&json);
        self.load(&out);
    }

    /// Processes one block with the transport at `pos_beats` (playing or not); returns
    /// the stereo output and the note events.
    fn block(&mut self, pos_beats: f64, playing: bool) -> ([Vec<f32>; 2], Vec<NoteOut>) {
        let mut flags = TransportFlags::HAS_TEMPO | TransportFlags::HAS_BEATS_TIMELINE | TransportFlags::HAS_TIME_SIGNATURE;
        if playing {
            flags |= TransportFlags::IS_PLAYING;
        }
        let bar = (pos_beats / 4.0).floor();
        let transport = TransportEvent {
            header: EventHeader::new_core(0, EventFlags::empty()),
            flags,
            song_pos_beats: BeatTime::from(pos_beats),
            song_pos_seconds: SecondsTime::from(pos_beats / 2.0),
            tempo: 120.0,
            tempo_inc: 0.0,
            loop_start_beats: BeatTime::from(0.0),
            loop_end_beats: BeatTime::from(0.0),
            loop_start_seconds: SecondsTime::from(0.0),
            loop_end_seconds: SecondsTime::from(0.0),
            bar_start: BeatTime::from(bar * 4.0),
            bar_number: bar as i32,
            time_signature_numerator: 4,
            time_signature_denominator: 4,
        };
        let mut sidechain = [vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]];
        let mut out = [vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]];
        let mut in_ports = AudioPorts::with_capacity(2, 1);
        let mut out_ports = AudioPorts::with_capacity(2, 1);
        let input = in_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(sidechain.iter_mut().map(|b| InputChannel::constant(b.as_mut_slice()))),
        }]);
        let mut output = out_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(out.iter_mut().map(|b| b.as_mut_slice())),
        }]);
        let in_events = EventBuffer::new();
        let mut out_events = EventBuffer::new();
        let processor = self.processor.as_mut().expect("processor");
        processor
            .process(
                &input,
                &mut output,
                &InputEvents::from_buffer(&in_events),
                &mut OutputEvents::from_buffer(&mut out_events),
                Some(self.now),
                Some(&transport),
            )
            .expect("process");
        let mut notes = Vec::new();
        for e in out_events.iter() {
            if let Some(on) = e.as_event::<NoteOnEvent>() {
                notes.push((self.now + on.header().time() as u64, true, on.pckn().raw_key()));
            } else if let Some(off) = e.as_event::<NoteOffEvent>() {
                notes.push((self.now + off.header().time() as u64, false, off.pckn().raw_key()));
            }
        }
        self.now += BLOCK as u64;
        (out, notes)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p.stop_processing());
        }
    }
}

const BEATS_PER_BLOCK: f64 = BLOCK as f64 / SAMPLE_RATE * 2.0;

#[test]
fn default_session_sounds_in_time_with_the_host() {
    let mut inst = Instance::new();
    let mut peak = 0.0f32;
    let mut pos = 0.0;
    // Four seconds = two bars at 120 bpm.
    for _ in 0..(4.0 * SAMPLE_RATE / BLOCK as f64) as usize {
        let (out, _) = inst.block(pos, true);
        assert!(out[0].iter().chain(out[1].iter()).all(|x| x.is_finite()));
        peak = out[0].iter().fold(peak, |m, x| m.max(x.abs()));
        pos += BEATS_PER_BLOCK;
    }
    // The seed patch plays the primer (saw at 0.08 gain) as soon as the host plays.
    assert!(peak > 0.02, "peak {peak}");
    assert!(peak <= 0.1, "peak {peak}");
}

#[test]
fn midi_notes_come_out_on_the_beat_and_stop_with_the_transport() {
    let mut inst = Instance::new();
    // A note at every quarter note, an eighth of a bar long.
    inst.set_dsl("{{4}clt, 60, 0.8, 0.125}midi;\n>{0}sin;");
    let mut pos = 0.0;
    let mut notes = Vec::new();
    for _ in 0..(2.0 * SAMPLE_RATE / BLOCK as f64) as usize {
        notes.extend(inst.block(pos, true).1);
        pos += BEATS_PER_BLOCK;
    }
    let ons: Vec<u64> = notes.iter().filter(|n| n.1).map(|n| n.0).collect();
    let offs: Vec<u64> = notes.iter().filter(|n| !n.1).map(|n| n.0).collect();
    // 120 bpm: a quarter note is 24000 samples, an eighth of a bar 12000.
    assert_eq!(ons, vec![0, 24_000, 48_000, 72_000]);
    assert_eq!(offs, vec![12_000, 36_000, 60_000, 84_000]);
    assert!(notes.iter().all(|n| n.2 == 60));
    // A note is held when the transport stops: it must be released at once.
    while inst.now < 96_000 || !(1..=6_000).contains(&(inst.now % 24_000)) {
        inst.block(pos, true);
        pos += BEATS_PER_BLOCK;
    }
    let (_, stop_notes) = inst.block(pos, false);
    assert_eq!(stop_notes.iter().filter(|n| !n.1).count(), 1, "{stop_notes:?}");
}

#[test]
fn bar_phase_follows_a_relocation() {
    let mut inst = Instance::new();
    // Output = bar phase (one ramp per bar).
    inst.set_dsl(">{1}clp;");
    let mut pos = 8.0;
    for _ in 0..20 {
        inst.block(pos, true);
        pos += BEATS_PER_BLOCK;
    }
    // Jump to beat 17.5: bar 4, phase 1.5/4.
    let (out, _) = inst.block(17.5, true);
    assert!((out[0][0] - 0.375).abs() < 1e-4, "phase {}", out[0][0]);
    let expect_last = 0.375 + (BLOCK - 1) as f32 / 96_000.0;
    assert!((out[0][BLOCK - 1] - expect_last).abs() < 1e-4);
}

#[test]
fn saved_state_reproduces_the_same_output() {
    let mut a = Instance::new();
    a.set_dsl(":m:{1}fromJS;\n:seq:{{15}clp, [1], :m:}rsq;\n>{{:seq:}saw, 0.1}mul;\n>1{{:seq:,2}mul}sin;");
    let saved = a.save();
    let mut b = Instance::new();
    b.load(&saved);
    let mut pos = 0.0;
    for _ in 0..200 {
        let (oa, _) = a.block(pos, true);
        let (ob, _) = b.block(pos, true);
        assert_eq!(oa, ob);
        pos += BEATS_PER_BLOCK;
    }
    assert_eq!(saved, b.save(), "state survives a round trip");
}
