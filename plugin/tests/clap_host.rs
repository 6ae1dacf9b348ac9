//! A headless CLAP host (clack-host) drives the built plugin as a DAW would: 48 kHz / 512,
//! a 120 bpm 4/4 transport, several seconds of audio. Checks sound, MIDI notes, bar phase
//! after a relocation, and that saved state reproduces the same output in a new instance.
//!
//! The plugin binary is `$SEMA_LIVE_CLAP` (CI points it at the bundled `Sema Live.clap`),
//! or else the cdylib cargo built next to this test. Debug builds of the plugin have
//! `assert_process_allocs` on: any allocation in `process()` aborts this test.

mod common;

use common::{process_block, HostTransport, TestHost};

use clack_extensions::state::PluginState;
use clack_host::events::event_types::{NoteOffEvent, NoteOnEvent};
use clack_host::events::{Match, Pckn};
use clack_host::prelude::*;

const SAMPLE_RATE: f64 = 48_000.0;
const BLOCK: usize = 512;

/// A note event the plugin sent: (absolute sample, on?, key).
type NoteOut = (u64, bool, i16);
/// A note event played into the plugin: (sample within the block, on?, key, velocity).
type NoteIn = (u32, bool, u16, f64);

struct Instance {
    instance: PluginInstance<TestHost>,
    processor: Option<StartedPluginAudioProcessor<TestHost>>,
    /// Absolute sample position of the next block.
    now: u64,
}

impl Instance {
    /// An activated instance, processing.
    fn new() -> Self {
        let mut inst = Self::inactive();
        inst.start();
        inst
    }

    /// An instance that is not activated yet.
    fn inactive() -> Self {
        Self { instance: common::instantiate(), processor: None, now: 0 }
    }

    /// Activates the instance (48 kHz, 512-sample blocks) and starts processing.
    fn start(&mut self) {
        let config = PluginAudioConfiguration {
            sample_rate: SAMPLE_RATE,
            min_frames_count: BLOCK as u32,
            max_frames_count: BLOCK as u32,
        };
        let stopped = self.instance.activate(|_, _| (), config).expect("activate");
        self.processor = Some(stopped.start_processing().expect("start processing"));
    }

    /// Stops processing and deactivates.
    fn stop(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p.stop_processing());
        }
    }

    fn save(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        let mut bytes = Vec::new();
        state.save(&self.instance.plugin_handle(), &mut bytes).expect("save state");
        bytes
    }

    fn load(&mut self, bytes: &[u8]) {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state.load(&self.instance.plugin_handle(), &mut &bytes[..]).expect("load state");
    }

    /// Replaces the DSL program through the saved state (as a project load would).
    fn set_dsl(&mut self, dsl: &str) {
        let state = self.state_with_dsl(dsl);
        self.load(&state);
    }

    /// Replaces the DSL program and sets the `midi_thru` parameter through the state.
    fn set_dsl_and_thru(&mut self, dsl: &str, thru: bool) {
        let state = self.state_with(dsl, |v| {
            v["params"]["midi_thru"] = serde_json::json!({ "bool": thru });
        });
        self.load(&state);
    }

    /// This instance's saved state with another DSL program in it.
    fn state_with_dsl(&mut self, dsl: &str) -> Vec<u8> {
        self.state_with(dsl, |_| {})
    }

    /// This instance's saved state with another DSL program in it, and `edit` applied to
    /// the state's JSON (parameters).
    fn state_with(&mut self, dsl: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        // nice-plug's CLAP state: a little-endian u64 length, then the JSON.
        let bytes = self.save();
        assert!(bytes.len() > 8, "state too short");
        let mut v: serde_json::Value = serde_json::from_slice(&bytes[8..]).expect("state is JSON");
        let session_str = v["fields"]["session"].as_str().expect("session field").to_string();
        let mut session: serde_json::Value =
            serde_json::from_str(&session_str).expect("session JSON");
        session["dsl"] = serde_json::Value::String(dsl.to_string());
        v["fields"]["session"] = serde_json::Value::String(session.to_string());
        edit(&mut v);
        let json = serde_json::to_vec(&v).expect("json");
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&json);
        out
    }

    /// This instance's saved state with its session (the JSON object) changed by `edit`.
    fn state_edited(&mut self, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let bytes = self.save();
        assert!(bytes.len() > 8, "state too short");
        let mut v: serde_json::Value = serde_json::from_slice(&bytes[8..]).expect("state is JSON");
        let session_str = v["fields"]["session"].as_str().expect("session field").to_string();
        let mut session: serde_json::Value =
            serde_json::from_str(&session_str).expect("session JSON");
        edit(&mut session);
        v["fields"]["session"] = serde_json::Value::String(session.to_string());
        let json = serde_json::to_vec(&v).expect("json");
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&json);
        out
    }

    /// Processes one block with the transport at `pos_beats` (playing or not); returns
    /// the stereo output and the note events.
    fn block(&mut self, pos_beats: f64, playing: bool) -> ([Vec<f32>; 2], Vec<NoteOut>) {
        self.block_at(pos_beats, playing, 120.0)
    }

    /// [`block`](Self::block) at another tempo (4/4).
    fn block_at(
        &mut self,
        pos_beats: f64,
        playing: bool,
        tempo: f64,
    ) -> ([Vec<f32>; 2], Vec<NoteOut>) {
        self.block_with_notes(pos_beats, playing, tempo, &[])
    }

    /// [`block_at`](Self::block_at) with notes played into the plugin.
    fn block_with_notes(
        &mut self,
        pos_beats: f64,
        playing: bool,
        tempo: f64,
        notes: &[NoteIn],
    ) -> ([Vec<f32>; 2], Vec<NoteOut>) {
        let processor = self.processor.as_mut().expect("processor");
        let result = run_block_with_notes(processor, self.now, pos_beats, playing, tempo, notes);
        self.now += BLOCK as u64;
        result
    }
}

/// Processes one block starting at absolute sample `now`, with the transport at
/// `pos_beats` (4/4 at `tempo`, playing or not); returns the stereo output and the notes.
fn run_block(
    processor: &mut StartedPluginAudioProcessor<TestHost>,
    now: u64,
    pos_beats: f64,
    playing: bool,
    tempo: f64,
) -> ([Vec<f32>; 2], Vec<NoteOut>) {
    run_block_with_notes(processor, now, pos_beats, playing, tempo, &[])
}

/// [`run_block`] with note events (sorted by time) played into the plugin on channel 0.
fn run_block_with_notes(
    processor: &mut StartedPluginAudioProcessor<TestHost>,
    now: u64,
    pos_beats: f64,
    playing: bool,
    tempo: f64,
    notes_in: &[NoteIn],
) -> ([Vec<f32>; 2], Vec<NoteOut>) {
    let mut in_events = EventBuffer::new();
    for &(time, on, key, velocity) in notes_in {
        let pckn = Pckn::new(0u16, 0u16, key, Match::All);
        if on {
            in_events.push(&NoteOnEvent::new(time, pckn, velocity));
        } else {
            in_events.push(&NoteOffEvent::new(time, pckn, velocity));
        }
    }
    let transport = HostTransport::four_four(pos_beats, tempo, playing);
    let (out, out_events) = process_block(processor, now, BLOCK, &transport, &in_events);
    let mut notes = Vec::new();
    for e in out_events.iter() {
        if let Some(on) = e.as_event::<NoteOnEvent>() {
            notes.push((now + on.header().time() as u64, true, on.pckn().raw_key()));
        } else if let Some(off) = e.as_event::<NoteOffEvent>() {
            notes.push((now + off.header().time() as u64, false, off.pckn().raw_key()));
        }
    }
    (out, notes)
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}

const BEATS_PER_BLOCK: f64 = BLOCK as f64 / SAMPLE_RATE * 2.0;

#[test]
fn default_session_sounds_in_time_with_the_host() {
    let mut inst = Instance::new();
    let mut peak = 0.0f32;
    let mut pos = 0.0;
    // Four seconds = two bars at 120 bpm.
    let mut ons = 0;
    for _ in 0..(4.0 * SAMPLE_RATE / BLOCK as f64) as usize {
        let (out, notes) = inst.block(pos, true);
        ons += notes.iter().filter(|n| n.1).count();
        assert!(out[0].iter().chain(out[1].iter()).all(|x| x.is_finite()));
        peak = out[0].iter().fold(peak, |m, x| m.max(x.abs()));
        pos += BEATS_PER_BLOCK;
    }
    // The seed patch plays the primer (saw at 0.08 gain) as soon as the host plays.
    assert!(peak > 0.02, "peak {peak}");
    assert!(peak <= 0.1, "peak {peak}");
    // And sends its melody as MIDI (the Sema Live addition to the seed patch), so arming
    // a track records it: 15 steps per bar, one note each.
    assert!(ons >= 28, "{ons} note-ons in two bars");
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

/// The position a rounding host (see `common/rounding_host.rs`) reports for the block
/// starting at `sample`.
fn rounded_host_position(sample: u64, bpm: f64, rng: &mut u64) -> f64 {
    common::rounding_host::rounded_host_position(sample, bpm, SAMPLE_RATE, rng)
}

#[test]
fn jittered_host_positions_keep_the_sequence_in_time() {
    // The seed's sequencer on a 15-per-bar phasor, its phase on the left, the step on the
    // right, and a MIDI note on every beat.
    let dsl = ":ph:{15}clp;\n:seq:{:ph:,[1],[1,2,3,4,5,6,7,8,9,10,11,12]}rsq;\n\
               {{:ph:,0.5}mul,0}dac;\n{{:seq:,0.01}mul,1}dac;\n{{4}clt,60,0.8,0.125}midi;";
    for (bpm, seed) in [(100.0, 7u64), (120.0, 11), (110.0, 13)] {
        let mut inst = Instance::new();
        inst.set_dsl(dsl);
        let samples_per_bar = 4.0 * 60.0 / bpm * SAMPLE_RATE;
        let bars = 4.0;
        // Two stopped blocks first: the new program's 10 ms crossfade is over when playing starts.
        inst.block_at(0.0, false, bpm);
        inst.block_at(0.0, false, bpm);
        let start = inst.now;
        let mut rng = seed;
        let (mut left, mut right, mut ons) = (Vec::new(), Vec::new(), Vec::new());
        while ((inst.now - start) as f64) < bars * samples_per_bar {
            let pos = rounded_host_position(inst.now - start, bpm, &mut rng);
            let (out, notes) = inst.block_at(pos, true, bpm);
            left.extend_from_slice(&out[0]);
            right.extend_from_slice(&out[1]);
            ons.extend(notes.iter().filter(|n| n.1).map(|n| n.0 - start));
        }
        let n = (bars * samples_per_bar) as usize;
        left.truncate(n);
        right.truncate(n);
        // The phase ramps up and only goes down at a wrap: 15 wraps per bar.
        let mut wraps = 0;
        for (i, w) in left.windows(2).enumerate() {
            if w[1] < w[0] {
                assert!(
                    w[0] > 0.45 && w[1] < 0.05,
                    "{bpm} bpm: backward step {} -> {} at sample {i}",
                    w[0],
                    w[1]
                );
                wraps += 1;
            }
        }
        assert_eq!(wraps, 15 * bars as usize - 1, "{bpm} bpm: wraps");
        // The sequence steps once per cycle, in order (the first step, from the last value
        // to the first, comes on the first sample after the start).
        let steps: Vec<f32> = right
            .windows(2)
            .filter(|w| (w[1] - w[0]).abs() > 1e-6)
            .map(|w| (w[1] * 100.0).round())
            .collect();
        assert_eq!(steps.len(), 15 * bars as usize, "{bpm} bpm: sequence steps");
        for w in steps.windows(2) {
            assert_eq!(
                w[1],
                if w[0] == 12.0 { 1.0 } else { w[0] + 1.0 },
                "{bpm} bpm: order {steps:?}"
            );
        }
        // A note on every beat, within the host's own rounding of the true beat.
        ons.retain(|&t| (t as f64) < bars * samples_per_bar - 24.0);
        assert_eq!(ons.len(), 4 * bars as usize, "{bpm} bpm: {ons:?}");
        for (k, &t) in ons.iter().enumerate() {
            let beat = k as f64 * samples_per_bar / 4.0;
            assert!((t as f64 - beat).abs() <= 24.0, "{bpm} bpm: beat {k} at {t}, expected {beat}");
        }
    }
}

#[test]
fn saved_state_reproduces_the_same_output() {
    let mut a = Instance::new();
    a.set_dsl(
        ":m:{1}fromJS;\n:seq:{{15}clp, [1], :m:}rsq;\n>{{:seq:}saw, 0.1}mul;\n>1{{:seq:,2}mul}sin;",
    );
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

/// The last sample of the left channel after `blocks` playing blocks (a constant program's
/// level once the code-swap crossfade is over).
fn level_after(inst: &mut Instance, blocks: usize) -> f32 {
    let mut last = 0.0;
    for _ in 0..blocks {
        let pos = inst.now as f64 / SAMPLE_RATE * 2.0;
        last = inst.block(pos, true).0[0][BLOCK - 1];
    }
    last
}

#[test]
fn state_loads_before_during_and_after_activation_all_play() {
    // Loaded before the first activation (a project being opened).
    let mut inst = Instance::inactive();
    let state = inst.state_with_dsl(">{0.3}const;");
    inst.load(&state);
    inst.start();
    let level = level_after(&mut inst, 4);
    assert!((level - 0.3).abs() < 1e-6, "loaded before activation: {level}");

    // Loaded on the main thread over and over while the audio thread processes: no block
    // is ever silent (every program plays a level >= 0.1) and the last load wins.
    let states: Vec<Vec<u8>> =
        (1..=5).map(|k| inst.state_with_dsl(&format!(">{{{}}}const;", k as f64 / 10.0))).collect();
    let last_state = inst.state_with_dsl(">{0.6}const;");
    let mut processor = inst.processor.take().expect("processor");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let audio = {
        let stop = stop.clone();
        let mut now = inst.now;
        std::thread::spawn(move || {
            let mut quietest = f32::MAX;
            let mut blocks = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || blocks < 8 {
                let pos = now as f64 / SAMPLE_RATE * 2.0;
                let (out, _) = run_block(&mut processor, now, pos, true, 120.0);
                quietest = out[0].iter().fold(quietest, |m, x| m.min(x.abs()));
                now += BLOCK as u64;
                blocks += 1;
            }
            (processor, now, quietest, blocks)
        })
    };
    for round in 0..40 {
        inst.load(&states[round % states.len()]);
    }
    inst.load(&last_state);
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (processor, now, quietest, blocks) = audio.join().expect("audio thread");
    inst.processor = Some(processor);
    inst.now = now;
    assert!(blocks >= 8);
    assert!(quietest > 0.05, "a block went silent while states loaded: {quietest}");
    let level = level_after(&mut inst, 4);
    assert!((level - 0.6).abs() < 1e-6, "the last load plays: {level}");

    // Loaded while deactivated, then activated again.
    inst.stop();
    let state = inst.state_with_dsl(">{0.45}const;");
    inst.load(&state);
    inst.start();
    let level = level_after(&mut inst, 4);
    assert!((level - 0.45).abs() < 1e-6, "loaded while inactive: {level}");
}

#[test]
fn reopening_a_project_resumes_its_js() {
    // The project: live code reading JS channel 5, and one evaluated JS block that sends
    // 123 to it. The saved channel data is removed, so only the resumed JS can make sound.
    let dsl = ":x:{5}fromJS;\n>{:x:, 0.001}mul;";
    let block = "var ch = createOutputChannel(5, 1);\nch.send(123);";
    let mut a = Instance::new();
    let project = |resume: bool| {
        move |s: &mut serde_json::Value| {
            s["dsl"] = dsl.into();
            s["channels"] = serde_json::json!({});
            s["js_evaluated"] = serde_json::json!([{"code": block, "block": 0, "first_line": 1}]);
            s["resume_js"] = resume.into();
        }
    };
    let resuming = a.state_edited(project(true));
    let not_resuming = a.state_edited(project(false));

    // Reopened (loaded before activation, as a DAW opens a project): the block runs on the
    // JS thread and its data reaches the live code.
    let mut b = Instance::inactive();
    b.load(&resuming);
    b.start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut level = 0.0;
    while std::time::Instant::now() < deadline {
        level = level_after(&mut b, 2);
        if (level - 0.123).abs() < 1e-4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!((level - 0.123).abs() < 1e-4, "the resumed JS did not send its data: {level}");
    // Saving again keeps the record (and the data the JS sent).
    let saved = b.save();
    let v: serde_json::Value = serde_json::from_slice(&saved[8..]).expect("JSON");
    let session: serde_json::Value =
        serde_json::from_str(v["fields"]["session"].as_str().expect("session")).expect("JSON");
    assert_eq!(session["js_evaluated"][0]["code"], block);
    assert_eq!(session["channels"]["5"][0], 123.0);

    // With "Resume JS on load" off nothing runs: the channel stays empty.
    let mut c = Instance::inactive();
    c.load(&not_resuming);
    c.start();
    let until = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    while std::time::Instant::now() < until {
        assert_eq!(level_after(&mut c, 2), 0.0, "JS ran although resuming is off");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Positive zero crossings of `x` (a sine's period count).
fn rising_crossings(x: &[f32]) -> usize {
    x.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count()
}

#[test]
fn notes_played_into_the_plugin_reach_the_dsl_and_midi_thru_sends_them_back() {
    let mut inst = Instance::new();
    // A sine at the pitch of the last note, gated by whether a note is held.
    let dsl = ">{{{{}mnote}mtof}sin, {{}mgate, 0.3}mul}mul;";
    inst.set_dsl(dsl);
    let mut pos = 0.0;
    let mut play = |inst: &mut Instance, notes: &[NoteIn]| {
        let r = inst.block_with_notes(pos, true, 120.0, notes);
        pos += BEATS_PER_BLOCK;
        r
    };
    // The default patch fades out over the first block (the code swap's crossfade);
    // then silence while nothing is held.
    play(&mut inst, &[]);
    for _ in 0..3 {
        let (out, _) = play(&mut inst, &[]);
        assert!(out[0].iter().all(|&x| x == 0.0));
    }
    // A (440 Hz) from sample 100 of this block.
    let (out, notes) = play(&mut inst, &[(100, true, 69, 0.8)]);
    assert!(out[0][..100].iter().all(|&x| x == 0.0), "silent before the note-on's sample");
    assert!(out[0][101..].iter().any(|&x| x.abs() > 0.1), "sounds from the note-on");
    assert!(notes.is_empty(), "MIDI thru is off: nothing goes back out");
    // Hold it for a second: 440 periods.
    let mut held = out[0][100..].to_vec();
    while held.len() < SAMPLE_RATE as usize {
        held.extend_from_slice(&play(&mut inst, &[]).0[0]);
    }
    held.truncate(SAMPLE_RATE as usize);
    let periods = rising_crossings(&held);
    assert!((439..=441).contains(&periods), "{periods} periods in a second, expected 440");
    assert!(held.iter().all(|x| x.abs() <= 0.3 + 1e-6));
    // Released at sample 200: silent from there on.
    let (out, _) = play(&mut inst, &[(200, false, 69, 0.0)]);
    assert!(out[0][..200].iter().any(|&x| x.abs() > 0.1));
    assert!(out[0][200..].iter().all(|&x| x == 0.0), "silent after the note-off");
    let (out, _) = play(&mut inst, &[]);
    assert!(out[0].iter().all(|&x| x == 0.0));

    // MIDI thru on: the notes played in come back out at their samples, and the DSL
    // hears them as before.
    inst.set_dsl_and_thru(dsl, true);
    for _ in 0..4 {
        play(&mut inst, &[]);
    }
    let start = inst.now;
    let (out, notes) = play(&mut inst, &[(10, true, 60, 0.5), (300, false, 60, 0.0)]);
    assert_eq!(notes, vec![(start + 10, true, 60), (start + 300, false, 60)]);
    assert!(out[0][11..300].iter().any(|&x| x.abs() > 0.1));
    assert!(out[0][300..].iter().all(|&x| x == 0.0));
}

/// The call-and-response example as a reopened project whose JS blocks were all evaluated
/// (so loading it runs them), with its beat click removed (every note the plugin sends is
/// then the answer), `extra_js` appended as one more evaluated block, and sampling seeded
/// with `seed`.
fn call_and_response_project(inst: &mut Instance, extra_js: &str, seed: u64) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/examples/call-and-response.sema.toml");
    let text = std::fs::read_to_string(path).expect("example");
    let example: toml::Table = toml::from_str(&text).expect("example TOML");
    let dsl: String = example["dsl"]
        .as_str()
        .expect("dsl")
        .lines()
        .filter(|l| !l.contains("}midi;"))
        .collect::<Vec<_>>()
        .join("\n");
    let js = format!("{}\n___\n{extra_js}\n", example["js"].as_str().expect("js"));
    let evaluated: Vec<serde_json::Value> = sema_live::js::split_blocks(&js)
        .iter()
        .filter(|b| !b.is_blank())
        .map(|b| serde_json::json!({"code": b.code, "block": b.index, "first_line": b.first_line}))
        .collect();
    inst.state_edited(|s| {
        s["dsl"] = dsl.clone().into();
        s["js"] = js.clone().into();
        s["channels"] = serde_json::json!({});
        s["js_evaluated"] = evaluated.into();
        s["resume_js"] = true.into();
        s["seed"] = seed.into();
    })
}

/// Note events to play: (absolute sample, on?, key), sorted by sample (offs first).
fn phrase_events(first_beat: f64, notes: &[(f64, f64, u16)]) -> Vec<(u64, bool, u16)> {
    let sample = |beat: f64| ((first_beat + beat) * SAMPLE_RATE / 2.0).round() as u64;
    let mut events: Vec<(u64, bool, u16)> = notes
        .iter()
        .flat_map(|&(start, end, key)| [(sample(start), true, key), (sample(end), false, key)])
        .collect();
    events.sort_by_key(|&(s, on, _)| (s, on));
    events
}

/// What an offline bounce played: the plugin's note events and the notes it was sent.
struct Bounce {
    inst: Instance,
    played: Vec<(u64, bool, u16)>,
    out: Vec<NoteOut>,
}

impl Bounce {
    /// Renders blocks until absolute sample `until`, the transport playing from song
    /// position `pos_at(now)`, and the events of `played` in their blocks.
    fn run_until(&mut self, until: u64, playing: bool, pos_at: impl Fn(u64) -> f64) {
        while self.inst.now < until {
            let now = self.inst.now;
            let end = now + BLOCK as u64;
            let notes: Vec<NoteIn> = self
                .played
                .iter()
                .filter(|e| e.0 >= now && e.0 < end)
                .map(|&(s, on, key)| ((s - now) as u32, on, key, if on { 0.8 } else { 0.0 }))
                .collect();
            let pos = pos_at(now);
            let (_, notes_out) = self.inst.block_with_notes(pos, playing, 120.0, &notes);
            self.out.extend(notes_out);
        }
    }

    /// Keys whose note-ons outnumber their note-offs (sounding notes).
    fn sounding(&self) -> Vec<i16> {
        let mut held = std::collections::BTreeMap::<i16, i32>::new();
        for &(_, on, key) in &self.out {
            *held.entry(key).or_default() += if on { 1 } else { -1 };
        }
        held.into_iter().filter(|&(_, n)| n > 0).map(|(k, _)| k).collect()
    }
}

/// The notes (start step, pitch) of `sema-live model continue --seed SEED` of `primer`
/// with the bundled basic_rnn at temperature 1 (the plugin's default `temperature`).
fn continuation(primer: &serde_json::Value, steps: usize, seed: u64) -> Vec<(i64, i64)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("primer.json");
    std::fs::write(&file, primer.to_string()).expect("write primer");
    let checkpoint =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/basic_rnn");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .args(["model", "continue"])
        .arg(&checkpoint)
        .arg(&file)
        .args(["--steps", &steps.to_string(), "--temperature", "1", "--seed", &seed.to_string()])
        .output()
        .expect("run sema-live model continue");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut notes: Vec<(i64, i64)> = v["sequences"][0]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| {
            let step = n["quantizedStartStep"].as_i64().unwrap_or(0);
            (step, n["pitch"].as_i64().expect("pitch"))
        })
        .collect();
    notes.sort();
    notes
}

#[test]
fn an_offline_bounce_answers_a_played_call_from_the_first_sample_of_bar_three() {
    // The JS also reports the musical time of every note it hears, on channel 7 (kept in
    // the saved state).
    let heard = "var heard = createOutputChannel(7, 16), times = [];\n\
                 host.onNote(n => { if (n.on && n.source == 'host') {\n\
                 times.push(n.bar * 4 + n.beat); heard.send(times); } });";
    let mut setup = Instance::inactive();
    let project = call_and_response_project(&mut setup, heard, 7);
    let mut inst = Instance::inactive();
    let handle = inst.instance.plugin_handle();
    let render: clack_extensions::render::PluginRender =
        handle.get_extension().expect("render extension");
    render
        .set(&inst.instance.plugin_handle(), clack_extensions::render::RenderMode::Offline)
        .expect("offline mode");
    inst.load(&project);
    inst.start();

    // A 2-bar call at 120 bpm: eight 8th notes up and four down, legato, over beats 0-6.
    let pitches: [u16; 12] = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65];
    let call: Vec<(f64, f64, u16)> = pitches
        .iter()
        .enumerate()
        .map(|(i, &p)| (i as f64 * 0.5, i as f64 * 0.5 + 0.5, p))
        .collect();
    let mut b = Bounce { inst, played: phrase_events(0.0, &call), out: Vec::new() };
    let beat = |beats: f64| (beats * SAMPLE_RATE / 2.0).round() as u64;
    let song = |now: u64| now as f64 * 2.0 / SAMPLE_RATE;
    b.run_until(beat(16.0), true, song);

    // JS heard each note at its musical time.
    let saved = b.inst.save();
    let v: serde_json::Value = serde_json::from_slice(&saved[8..]).expect("JSON");
    let session: serde_json::Value =
        serde_json::from_str(v["fields"]["session"].as_str().expect("session")).expect("JSON");
    let times: Vec<f64> = session["channels"]["7"]
        .as_array()
        .expect("channel 7 in the state: the JS heard nothing")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect();
    for (i, (t, n)) in times.iter().zip(&call).enumerate() {
        assert!((t - n.0).abs() < 1e-6, "note {i} heard at beat {t}, played at {}", n.0);
    }

    // The answer: the model's continuation of the call as the phrase recorder quantises
    // it (2 bars of 16th steps), 2 bars long, sampled with the session's seed, played
    // from the first sample of bar 3 (beat 8): each note-on on the sample of its step.
    let primer = serde_json::json!({
        "notes": call.iter().map(|&(s, e, p)| serde_json::json!({
            "pitch": p, "velocity": 100,
            "quantizedStartStep": (s * 4.0) as i64, "quantizedEndStep": (e * 4.0) as i64,
        })).collect::<Vec<_>>(),
        "totalQuantizedSteps": 32,
        "quantizationInfo": {"stepsPerQuarter": 4},
    });
    let expected: Vec<(u64, i64)> = continuation(&primer, 32, 7)
        .into_iter()
        .map(|(step, pitch)| (beat(8.0 + step as f64 / 4.0), pitch))
        .collect();
    assert!(!expected.is_empty());
    let answer: Vec<(u64, i64)> = b.out.iter().filter(|e| e.1).map(|e| (e.0, e.2 as i64)).collect();
    assert_eq!(answer, expected, "the answer is the model's continuation, from bar 3");

    // A second call (bars 5-6, the same phrase) is answered from bar 7; the first answer
    // ended on the bar line; the transport stops half-way through the second answer:
    // every note is released.
    b.played = phrase_events(16.0, &call);
    b.run_until(beat(16.0) + BLOCK as u64, true, song);
    assert!(b.sounding().is_empty(), "the answer ended: no note left on {:?}", b.sounding());
    b.run_until(beat(26.0), true, song);
    let answered = b.out.iter().filter(|e| e.1 && e.0 >= beat(24.0)).count();
    assert!(answered > 0, "the second call was answered from bar 7: {:?}", b.out);
    assert!(!b.sounding().is_empty(), "a note of the answer sounds when the transport stops");
    let stopped_at = b.inst.now;
    b.run_until(stopped_at + beat(2.0), false, move |_| song(stopped_at));
    assert!(b.sounding().is_empty(), "stop left {:?} on", b.sounding());

    // Playing again: a third call (bars 9-10, from the stopped position on) is answered;
    // a loop jump back to bar 1 in the middle of the answer releases its notes.
    let restart = b.inst.now;
    let offset = song(restart) - song(stopped_at);
    let from = move |now: u64| song(now) - offset;
    let first = (song(stopped_at) / 4.0).ceil() * 4.0; // the next bar line
    b.played = phrase_events(first + offset, &call);
    let answer_at = beat(first + offset + 8.0);
    b.run_until(answer_at + beat(5.0), true, from);
    assert!(b.out.iter().any(|e| e.1 && e.0 >= answer_at), "third call answered: {:?}", b.out);
    assert!(!b.sounding().is_empty(), "a note of the answer sounds at the loop jump");
    let jump = b.inst.now;
    b.played.clear();
    b.run_until(jump + beat(1.0), true, move |now| song(now - jump));
    assert!(b.sounding().is_empty(), "the loop jump left {:?} on", b.sounding());

    // From the loop start: a call in bars 2-3 is answered from bar 4; the code is swapped
    // (a project edit loads new code) during the answer: nothing is left on once it ends.
    let song_from_jump = move |now: u64| song(now - jump);
    b.played = phrase_events(song(jump) + 4.0, &call);
    let answer_at = jump + beat(12.0);
    // Up to the answer's first note.
    while !b.out.iter().any(|e| e.1 && e.0 >= answer_at) && b.inst.now < answer_at + beat(8.0) {
        let next = b.inst.now + BLOCK as u64;
        b.run_until(next, true, song_from_jump);
    }
    assert!(!b.sounding().is_empty(), "fourth call answered: {:?}", b.out);
    b.inst.set_dsl(">{{{{}mnote}mtof}sin, {{}mgate, 0.2}mul}mul;");
    b.run_until(answer_at + beat(8.0) + BLOCK as u64, true, song_from_jump);
    assert!(b.sounding().is_empty(), "the code swap left {:?} on", b.sounding());
}

#[test]
fn an_offline_bounce_plays_what_onbar_sends_from_the_first_sample_of_each_bar() {
    // `host.onBar` sends the bar number + 1; the live code outputs it as a level. A bar
    // is 96 000 samples, 187.5 blocks: every other bar line falls inside a block.
    let block = "var ch = createOutputChannel(5, 1);\nhost.onBar(b => ch.send(b + 1));";
    let mut setup = Instance::inactive();
    let project = setup.state_edited(|s| {
        s["dsl"] = ":x:{5}fromJS;\n>{:x:, 0.001}mul;".into();
        s["channels"] = serde_json::json!({});
        s["js_evaluated"] = serde_json::json!([{"code": block, "block": 0, "first_line": 1}]);
        s["resume_js"] = true.into();
    });
    let mut inst = Instance::inactive();
    let render: clack_extensions::render::PluginRender =
        inst.instance.plugin_handle().get_extension().expect("render extension");
    render
        .set(&inst.instance.plugin_handle(), clack_extensions::render::RenderMode::Offline)
        .expect("offline mode");
    inst.load(&project);
    inst.start();
    let mut left = Vec::new();
    while left.len() < 4 * 96_000 {
        let pos = inst.now as f64 * 2.0 / SAMPLE_RATE;
        left.extend(inst.block(pos, true).0[0].iter().copied());
    }
    for bar in 0..4 {
        let want = (bar + 1) as f32 * 0.001;
        let samples = &left[bar * 96_000..(bar + 1) * 96_000];
        let wrong = samples.iter().position(|&x| (x - want).abs() > 1e-6);
        assert_eq!(wrong, None, "bar {bar}: sample {wrong:?} is not {want}");
    }
}
