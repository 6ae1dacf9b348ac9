// Call-and-response: the time from the end of a 2-bar call to the answer being ready
// to play, with the bundled basic_rnn (`assets/models`, or `$SEMA_LIVE_MODELS`): the
// phrase recorder fed the call as the audio thread stamps it (120 bpm, 4/4) → the
// quantised phrase → a greedy continuation of 32 steps (2 bars) → the clip for the
// engine. The model is loaded once, as the worker keeps it loaded.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{rngs::SmallRng, SeedableRng};

use sema_live::audio::{MidiIn, MidiInKind, MidiSource, StampedMidiIn};
use sema_live::js::{sequence_to_clip, ClipOptions, PhraseRecorder};
use sema_live::ml::default_bundled_dir;
use sema_live::ml::music_rnn::MusicRnn;

/// A 2-bar call: eighth notes and a few longer ones, slightly off the grid.
fn call() -> Vec<StampedMidiIn> {
    let pitches = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 64, 62];
    let mut events = Vec::new();
    for (i, &p) in pitches.iter().enumerate() {
        let on = i as f64 * 0.5 + if i % 3 == 0 { 0.02 } else { -0.01 };
        let off = on + if i % 4 == 3 { 0.9 } else { 0.4 };
        for (beats, kind, value) in
            [(on, MidiInKind::NoteOn, 0.8), (off.min(7.99), MidiInKind::NoteOff, 0.0)]
        {
            events.push(StampedMidiIn {
                event: MidiIn {
                    timing: 0,
                    kind,
                    channel: 0,
                    key: p,
                    value,
                    source: MidiSource::Host,
                },
                bars: beats.max(0.0) / 4.0,
                beats: beats.max(0.0),
                bpm: 120.0,
                beats_per_bar: 4.0,
                playing: true,
            });
        }
    }
    events.sort_by(|a, b| a.beats.total_cmp(&b.beats));
    events
}

fn call_response(c: &mut Criterion) {
    let dir = default_bundled_dir().join("basic_rnn");
    let mut rnn = MusicRnn::load(&dir)
        .unwrap_or_else(|e| panic!("the bundled basic_rnn at {}: {e}", dir.display()));
    let events = call();
    let mut rng = SmallRng::seed_from_u64(1);
    let options = ClipOptions {
        start_bar: 2,
        channel: 0,
        velocity: Some(0.8),
        looping: false,
        bpm: 120.0,
        beats_per_bar: 4.0,
    };

    let mut g = c.benchmark_group("call_response");
    g.sample_size(20);
    g.bench_function("end_of_2_bar_call_to_answer_clip_basic_rnn_32_steps", |b| {
        b.iter(|| {
            let mut recorder = PhraseRecorder::new();
            for e in &events {
                recorder.push(e);
            }
            let phrase = recorder.phrase(0, 2.0, 120.0, 4.0);
            let answer =
                rnn.continue_sequence(&phrase, 32, 0.0, 1, &mut rng).expect("continue").remove(0);
            black_box(sequence_to_clip(&answer, &options).expect("clip"))
        })
    });
    g.finish();
}

criterion_group!(benches, call_response);
criterion_main!(benches);
