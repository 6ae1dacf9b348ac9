//! Many instances created and destroyed at once, as a DAW opening or exporting a project
//! with 16 of them does: each one loads a project whose JS loads a model, sends channel
//! data and leaves a runaway timer loop running, processes audio, and is destroyed while
//! its JS thread is busy. The process must survive (an abort kills this test) and every
//! destruction must be quick (a busy script is interrupted, not waited for).

mod common;

use std::time::{Duration, Instant};

use clack_extensions::state::PluginState;
use clack_host::prelude::*;

const BLOCK: usize = 512;

fn save(instance: &mut PluginInstance<common::TestHost>) -> Vec<u8> {
    let state: PluginState = instance.plugin_handle().get_extension().expect("state extension");
    let mut bytes = Vec::new();
    state.save(&instance.plugin_handle(), &mut bytes).expect("save state");
    bytes
}

fn load(instance: &mut PluginInstance<common::TestHost>, bytes: &[u8]) {
    let state: PluginState = instance.plugin_handle().get_extension().expect("state extension");
    state.load(&instance.plugin_handle(), &mut &bytes[..]).expect("load state");
}

/// A project whose resumed JS loads the bundled RNN from its folder, sends data to the
/// live code and starts a timer that loops until stopped.
fn project() -> Vec<u8> {
    let mut instance = common::instantiate();
    let bytes = save(&mut instance);
    let mut v: serde_json::Value = serde_json::from_slice(&bytes[8..]).expect("state is JSON");
    let mut session: serde_json::Value =
        serde_json::from_str(v["fields"]["session"].as_str().expect("session")).expect("JSON");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/models/basic_rnn");
    let blocks = [
        format!("var rnn = new music_rnn.MusicRNN({model:?});\nrnn.initialize();"),
        "var ch = createOutputChannel(5, 1);\nch.send(0.5);".to_string(),
        "setTimeout(() => { ch.send(0.7); var k = 0; while (true) { k++; } }, 30);".to_string(),
    ];
    session["dsl"] = ":x:{5}fromJS;\n>{:x:, 0.01}mul;".into();
    session["js_evaluated"] = serde_json::Value::Array(
        blocks
            .iter()
            .enumerate()
            .map(|(i, code)| serde_json::json!({"code": code, "block": i, "first_line": 1 + 3 * i}))
            .collect(),
    );
    session["resume_js"] = true.into();
    v["fields"]["session"] = serde_json::Value::String(session.to_string());
    let json = serde_json::to_vec(&v).expect("json");
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}

/// Processes one playing block at `pos` beats (120 bpm, 4/4); returns its last sample.
fn process(p: &mut StartedPluginAudioProcessor<common::TestHost>, now: u64, pos: f64) -> f32 {
    let transport = common::HostTransport::four_four(pos, 120.0, true);
    let (out, _) = common::process_block(p, now, BLOCK, &transport, &EventBuffer::new());
    assert!(out.iter().flatten().all(|x| x.is_finite()));
    out[0][BLOCK - 1]
}

/// One instance's life: `blocks` blocks, then `linger` with the JS thread busy; returns
/// how long its destruction took, whether the resumed JS's data was heard and whether its
/// timer was looping when it was destroyed.
fn life(project: &[u8], blocks: usize, linger: Duration) -> (Duration, bool, bool) {
    let mut instance = common::instantiate();
    load(&mut instance, project);
    let config = PluginAudioConfiguration {
        sample_rate: 48_000.0,
        min_frames_count: 1,
        max_frames_count: BLOCK as u32,
    };
    let stopped = instance.activate(|_, _| (), config).expect("activate");
    let mut p = stopped.start_processing().expect("start processing");
    let mut heard = false;
    let mut looping = false;
    for b in 0..blocks {
        let last = process(&mut p, (b * BLOCK) as u64, b as f64 * BLOCK as f64 / 24_000.0);
        heard |= (last - 0.005).abs() < 1e-6 || (last - 0.007).abs() < 1e-6;
        if b % 8 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if !linger.is_zero() {
        std::thread::sleep(linger);
        for b in blocks..blocks + 4 {
            let last = process(&mut p, (b * BLOCK) as u64, b as f64 * BLOCK as f64 / 24_000.0);
            // The timer sent 0.7 and is looping now.
            looping |= (last - 0.007).abs() < 1e-6;
        }
    }
    let t = Instant::now();
    instance.deactivate(p.stop_processing());
    drop(instance);
    (t.elapsed(), heard || looping, looping)
}

#[test]
fn sixteen_instances_created_and_destroyed_at_once() {
    let project = project();
    let mut slowest = Duration::ZERO;
    let mut heard = 0;
    let mut looping = 0;
    for round in 0..3 {
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let project = project.clone();
                // Rounds differ in how long the instances live: destroyed while the JS
                // thread starts, while the model loads, while the timer loops.
                let blocks = [2, 20 + i, 120 + 4 * i][round];
                let linger = Duration::from_millis([0, 0, 1500][round]);
                std::thread::spawn(move || life(&project, blocks, linger))
            })
            .collect();
        for t in threads {
            let (took, js, busy) = t.join().expect("an instance's thread");
            slowest = slowest.max(took);
            heard += usize::from(js);
            looping += usize::from(busy);
        }
    }
    eprintln!(
        "slowest destruction: {slowest:?}; the JS was heard in {heard} of 48 lives, \
         looping at destruction in {looping}"
    );
    // The last round lives long enough for the JS to run and loop at destruction.
    assert!(heard >= 16 && looping >= 16, "the JS ran in {heard}, looped in {looping}");
    // The JS thread is interrupted at once and the model worker waits at most 2 s for a
    // load in progress: never the 3 s after which a busy thread would be left behind.
    assert!(slowest < Duration::from_millis(2900), "slowest destruction took {slowest:?}");
}

#[test]
fn instances_created_and_destroyed_rapidly() {
    let project = project();
    let t = Instant::now();
    for i in 0..40 {
        life(&project, i % 5, Duration::ZERO);
    }
    eprintln!("40 instances in {:?}", t.elapsed());
}
