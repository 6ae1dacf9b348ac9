//! Tests of the JS side of MIDI input without a model: `host.onNote`/`onCC` with the
//! musical time of each event, `host.phrase`, `host.play`/`stopClip`, and the timing of
//! `host.callAndResponse` against a stand-in model whose answers the test releases.
//! Events are pushed into the MIDI-input ring buffer as the audio thread does, at 120 bpm
//! in 4/4.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::tests::Harness;
use crate::audio::midi_in::{MidiIn, MidiInKind, MidiSource, StampedMidiIn};
use crate::control::console::Level;

/// An event at `beats` (quarter notes from the song start), 120 bpm, 4/4, playing.
pub(crate) fn at(beats: f64, kind: MidiInKind, key: u8, value: f32) -> StampedMidiIn {
    StampedMidiIn {
        event: MidiIn { timing: 0, kind, channel: 0, key, value, source: MidiSource::Host },
        bars: beats / 4.0,
        beats,
        bpm: 120.0,
        beats_per_bar: 4.0,
        playing: true,
    }
}

impl Harness {
    pub(crate) fn push_midi(&mut self, e: StampedMidiIn) {
        self.midi_in.push(e).expect("room in the MIDI ring buffer");
    }

    /// Plays `pitch` from `on` to `off` (beats).
    pub(crate) fn note(&mut self, pitch: u8, on: f64, off: f64) {
        self.push_midi(at(on, MidiInKind::NoteOn, pitch, 0.8));
        self.push_midi(at(off, MidiInKind::NoteOff, pitch, 0.0));
    }

    /// Moves the host to `bars` (bar index + phase), playing.
    pub(crate) fn locate(&mut self, bars: f64) {
        self.host.playing.store(true, Ordering::Relaxed);
        self.host.bar.store(bars.floor() as i64, Ordering::Relaxed);
        self.host.bar_phase.store(bars - bars.floor(), Ordering::Relaxed);
    }

    /// Pumps a few times (no model involved).
    pub(crate) fn settle(&mut self) {
        for _ in 0..3 {
            self.rt.pump();
        }
        self.collect();
    }

    /// Evaluates `expr` and returns it, JSON-decoded.
    pub(crate) fn json(&mut self, expr: &str) -> Value {
        let before = self.logs().len();
        assert!(
            self.eval(&format!("console.log(JSON.stringify({expr}))"), 90),
            "{:?}",
            self.errors()
        );
        let logs = self.logs();
        serde_json::from_str(&logs[before]).expect("JSON")
    }
}

/// `[pitch, start step, end step]` of a NoteSequence.
pub(crate) fn steps(seq: &Value) -> Vec<[i64; 3]> {
    seq["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| {
            [
                n["pitch"].as_i64().unwrap(),
                n["quantizedStartStep"].as_i64().unwrap(),
                n["quantizedEndStep"].as_i64().unwrap(),
            ]
        })
        .collect()
}

/// The call the tests play: bars 1 and 2 (index 0 and 1) at 120 bpm, a little off the grid.
fn play_call(h: &mut Harness) {
    h.note(60, 0.02, 0.98); // steps 0..4
    h.note(62, 1.03, 1.49); // 4..6
    h.note(64, 2.0, 3.0); // 8..12
    h.note(67, 4.49, 6.0); // 18..24 (bar 2)
    h.note(65, 6.0, 7.1); // 24..28
}

#[test]
fn on_note_and_on_cc_see_the_musical_time() {
    let mut h = Harness::plain();
    h.run(
        "var seen = [];\n\
         host.onNote(n => seen.push([n.pitch, n.on, n.bar, n.beat, n.beats, n.velocity, n.channel, n.source].join(' ')));\n\
         host.onCC(c => seen.push(['cc', c.number, c.value, c.bar, c.beats].join(' ')));\n",
    );
    h.locate(0.0);
    h.push_midi(at(0.0, MidiInKind::NoteOn, 60, 0.5));
    h.push_midi(at(1.5, MidiInKind::NoteOff, 60, 0.0));
    h.push_midi(at(5.25, MidiInKind::Cc, 74, 0.25));
    let mut clip = at(6.0, MidiInKind::NoteOn, 72, 1.0);
    clip.event.source = MidiSource::Clip;
    clip.event.channel = 3;
    h.push_midi(clip);
    // Not handed to the callbacks: pitch bend, pressure.
    h.push_midi(at(6.5, MidiInKind::PitchBend, 0, 0.5));
    h.settle();
    let seen: Vec<String> = serde_json::from_value(h.json("seen")).unwrap();
    assert_eq!(
        seen,
        vec![
            "60 true 0 0 0 0.5 0 host",
            "60 false 0 1.5 1.5 0 0 host",
            "cc 74 0.25 1 5.25",
            "72 true 1 2 6 1 3 clip",
        ]
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
}

#[test]
fn listeners_are_replaced_with_their_block_and_errors_located() {
    let mut h = Harness::plain();
    assert!(h.eval("var n = 0; var id = host.onNote(e => { n++; });", 1));
    // Evaluating block 1 again replaces its listener instead of adding one.
    assert!(h.eval("var n = 0; var id = host.onNote(e => { n++; });", 1));
    h.note(60, 0.0, 1.0);
    h.settle();
    assert_eq!(h.json("n"), 2);
    assert!(h.eval("host.offNote(id);", 2));
    h.note(62, 1.0, 2.0);
    h.settle();
    assert_eq!(h.json("n"), 2);
    // A failing callback is reported once per pump, with its block and line.
    h.run("\n___\n\n___\nhost.onNote(e => {\n  nope.x = 1;\n});\n");
    for i in 0..5 {
        h.note(64, 2.0 + i as f64, 2.5 + i as f64);
    }
    h.settle();
    let errors = h.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].text.contains("host.onNote") && errors[0].text.contains("nope"),
        "{errors:?}"
    );
    assert_eq!((errors[0].js_block(), errors[0].js_line()), (Some(2), Some(6)));
    assert!(!h.eval("host.onCC(3)", 3));
    assert!(h.errors()[1].text.contains("host.onCC: the argument must be a function"));
}

#[test]
fn phrase_returns_the_last_complete_bars_quantised() {
    let mut h = Harness::plain();
    h.locate(0.0);
    play_call(&mut h);
    // A note in the current bar (index 2) is not part of the last 2 complete bars.
    h.note(69, 8.5, 9.0);
    h.locate(2.3);
    h.settle();
    let p = h.json("host.phrase(2)");
    assert_eq!(steps(&p), vec![[60, 0, 4], [62, 4, 6], [64, 8, 12], [67, 18, 24], [65, 24, 28]]);
    assert_eq!(p["totalQuantizedSteps"], 32);
    assert_eq!(p["quantizationInfo"]["stepsPerQuarter"], 4);
    assert_eq!(p["tempos"][0]["qpm"], 120.0);
    assert_eq!(p["totalTime"], 4.0);
    assert_eq!(p["notes"][3]["startTime"], 18.0 * 0.125);
    assert_eq!(p["notes"][0]["velocity"], 102);
    // One bar: bar index 1.
    assert_eq!(steps(&h.json("host.phrase(1)")), vec![[67, 2, 8], [65, 8, 12]]);
    // It is what magenta's models take: a quantised sequence with its length.
    h.eval("importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js')", 3);
    assert_eq!(h.json("core.sequences.isQuantizedSequence(host.phrase(2))"), true);
    assert!(!h.eval("host.phrase(0)", 4));
    assert!(!h.eval("host.phrase(1.5)", 5));
    let errors = h.errors();
    assert!(
        errors.iter().all(|e| e.text.contains("host.phrase: bars must be an integer")),
        "{errors:?}"
    );
}

#[test]
fn play_sends_clips_from_the_next_bar() {
    let mut h = Harness::plain();
    h.locate(5.5);
    assert!(h.eval(
        "host.play({notes: [{pitch: 64, quantizedStartStep: 4, quantizedEndStep: 6, velocity: 127},\n\
                            {pitch: 60, quantizedStartStep: 0, quantizedEndStep: 2}],\n\
                    quantizationInfo: {stepsPerQuarter: 4}, totalQuantizedSteps: 16}, {channel: 2});\n\
         host.play({notes: [{pitch: 67, startTime: 0.5, endTime: 1}], totalTime: 2}, {bar: 9, loop: true, velocity: 0.5});\n\
         host.stopClip();",
        1
    ));
    let clips = h.clips.lock().clone();
    assert_eq!(clips.len(), 3);
    let c = &clips[0];
    assert_eq!((c.start_bar, c.channel, c.length_beats, c.looping), (6, 2, 4.0, false));
    let notes: Vec<(u8, f64, f64)> =
        c.notes.iter().map(|n| (n.pitch, n.start_beats, n.end_beats)).collect();
    assert_eq!(notes, vec![(60, 0.0, 0.5), (64, 1.0, 1.5)]);
    assert_eq!(c.notes[1].velocity, 1.0);
    // Unquantised: seconds at the host tempo (120 bpm: 0.5 s is one beat).
    let c = &clips[1];
    assert_eq!((c.start_bar, c.looping, c.length_beats), (9, true, 4.0));
    assert_eq!(
        (c.notes[0].start_beats, c.notes[0].end_beats, c.notes[0].velocity),
        (1.0, 2.0, 0.5)
    );
    // stopClip: an empty clip from the current bar.
    assert!(clips[2].notes.is_empty());
    assert_eq!(clips[2].start_bar, 5);
    // Bad input: clear errors, nothing sent.
    for (i, (code, message)) in [
        ("host.play({})", "host.play: expected a NoteSequence"),
        ("host.play({notes: [{pitch: 200, startTime: 0, endTime: 1}]})", "outside 0..127"),
        ("host.play({notes: []}, {channel: 16})", "host.play: channel must be an integer 0..15"),
        ("host.play({notes: []}, 'bar 3')", "the options must be an object"),
        ("host.play({notes: [{pitch: 60, startTime: 0}]})", "note 0 has no startTime/endTime"),
    ]
    .iter()
    .enumerate()
    {
        assert!(!h.eval(code, 10 + i), "{code} should throw");
        let last = h.errors().last().cloned().expect("an error");
        assert!(last.text.contains(message), "{code}: {}", last.text);
    }
    assert_eq!(h.clips.lock().len(), 3);
}

/// A stand-in for a MusicRNN: remembers what it was asked and answers when the test
/// calls `release()`, with one note per 4 steps rising from the call's first pitch.
const FAKE_MODEL: &str = "var asked = [];\n\
    var waiting = [];\n\
    var answers = [];\n\
    var model = { continueSequence(seq, steps, temperature) {\n\
      asked.push({seq: seq, steps: steps, temperature: temperature});\n\
      return new Promise(resolve => waiting.push(() => {\n\
        const notes = [];\n\
        for (let s = 0; s < steps; s += 4) notes.push({pitch: seq.notes[0].pitch + s / 4, quantizedStartStep: s, quantizedEndStep: s + 2});\n\
        resolve({notes: notes, quantizationInfo: {stepsPerQuarter: 4}, totalQuantizedSteps: steps});\n\
      }));\n\
    } };\n\
    function release() { waiting.splice(0).forEach(f => f()); }\n";

fn call_and_response(options: &str) -> Harness {
    let mut h = Harness::plain();
    h.run(&format!(
        "{FAKE_MODEL}___\nhost.callAndResponse({{model: model, {options} onAnswer: (s, info) => answers.push(info)}});\n"
    ));
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    h
}

#[test]
fn call_and_response_answers_on_the_boundary_when_ready_in_time() {
    let mut h = call_and_response("channel: 1,");
    h.locate(0.0);
    play_call(&mut h);
    h.locate(1.5);
    h.settle();
    assert_eq!(h.json("asked.length"), 0, "too early to ask");
    // The default lookahead is one beat: a quarter of a bar before bar 2's end.
    h.locate(1.8);
    h.settle();
    assert_eq!(h.json("asked.length"), 1);
    let asked = h.json("asked[0]");
    assert_eq!(asked["steps"], 32, "answer as long as the call: 2 bars");
    assert!(asked["temperature"].is_null(), "no temperature: the host parameter decides");
    assert_eq!(
        steps(&asked["seq"]),
        vec![[60, 0, 4], [62, 4, 6], [64, 8, 12], [67, 18, 24], [65, 24, 28]]
    );
    assert_eq!(asked["seq"]["totalQuantizedSteps"], 32);
    // Ready before the downbeat of bar index 2: plays from there.
    h.locate(1.9);
    h.eval("release()", 91);
    h.settle();
    let clips = h.clips.lock().clone();
    assert_eq!(clips.len(), 1, "{:?}", h.console);
    assert_eq!((clips[0].start_bar, clips[0].channel), (2, 1));
    let pitches: Vec<u8> = clips[0].notes.iter().map(|n| n.pitch).collect();
    assert_eq!(pitches, (60..68).collect::<Vec<u8>>());
    assert_eq!(clips[0].length_beats, 8.0);
    assert_eq!(h.json("answers"), serde_json::json!([{"bar": 2, "late": false}]));
    assert!(!h.console.iter().any(|l| l.level == Level::Warn), "{:?}", h.console);
}

#[test]
fn call_and_response_plays_a_late_answer_from_the_next_bar() {
    let mut h = call_and_response("bars: 1, answerBars: 1, temperature: 0.5,");
    h.locate(0.0);
    h.note(60, 0.0, 1.0);
    h.locate(0.8);
    h.settle();
    assert_eq!(h.json("asked.length"), 1);
    assert_eq!(h.json("asked[0].steps"), 16);
    assert_eq!(h.json("asked[0].temperature"), 0.5);
    // The answer comes after the downbeat of bar 1.
    h.locate(1.1);
    h.eval("release()", 91);
    h.settle();
    let clips = h.clips.lock().clone();
    assert_eq!(clips.len(), 1);
    assert_eq!(clips[0].start_bar, 2);
    assert_eq!(h.json("answers"), serde_json::json!([{"bar": 2, "late": true}]));
    let warn = h.console.iter().find(|l| l.level == Level::Warn).expect("a warning");
    assert!(warn.text.contains("plays from bar 2"), "{}", warn.text);
}

#[test]
fn call_and_response_by_silence_discards_when_the_musician_plays_on() {
    let mut h = call_and_response("bars: 0, silence: 2,");
    h.locate(0.0);
    h.note(60, 0.0, 2.0);
    // Released at beat 2: 2 beats of silence end at beat 4, bar line 1: ask at 0.75.
    h.locate(0.8);
    h.settle();
    assert_eq!(h.json("asked.length"), 1);
    // The musician plays on before the bar line: the answer is dropped.
    h.note(62, 3.5, 4.5);
    h.settle();
    h.eval("release()", 91);
    h.settle();
    assert!(h.clips.lock().is_empty());
    assert!(h.console.iter().any(|l| l.text.contains("the call goes on")), "{:?}", h.console);
    // Silence from beat 4.5 ends at 6.5: the call ends at bar line 2 (beat 8). The
    // dropped answer was quick, so the lookahead is down to a 16th (1/16 bar).
    h.locate(1.9);
    h.settle();
    assert_eq!(h.json("asked.length"), 1);
    h.locate(1.95);
    h.settle();
    assert_eq!(h.json("asked.length"), 2);
    assert_eq!(steps(&h.json("asked[1].seq")), vec![[60, 0, 8], [62, 14, 18]]);
    h.eval("release()", 91);
    h.settle();
    let clips = h.clips.lock().clone();
    assert_eq!(clips.len(), 1);
    assert_eq!(clips[0].start_bar, 2);
}

#[test]
fn call_and_response_restarts_on_stop_and_folds_the_call_into_the_model_range() {
    let mut h = call_and_response("");
    h.locate(0.0);
    // Far below basic_rnn's range (48..83): folded up by octaves.
    h.note(24, 0.0, 1.0);
    h.note(100, 1.0, 2.0);
    h.locate(1.0);
    h.settle();
    // Stopped: the call is forgotten, nothing is asked at its end.
    h.host.playing.store(false, Ordering::Relaxed);
    h.settle();
    h.locate(1.9);
    h.settle();
    assert_eq!(h.json("asked.length"), 0);
    // A new call, after a loop back to the start.
    h.locate(0.0);
    h.settle();
    h.note(24, 0.0, 1.0);
    h.note(100, 1.0, 2.0);
    h.locate(1.8);
    h.settle();
    assert_eq!(h.json("asked.length"), 1);
    assert_eq!(steps(&h.json("asked[0].seq")), vec![[48, 0, 4], [76, 4, 8]]);
    // Turned off: no more answers.
    h.eval("host.callAndResponse(null)", 92);
    h.eval("release()", 91);
    h.settle();
    assert!(h.clips.lock().is_empty());
    // Bad options are clear errors.
    for (code, message) in [
        ("host.callAndResponse({})", "options.model must be a MusicRNN"),
        ("host.callAndResponse({model: model, bars: 1.5})", "must be integers"),
        ("host.callAndResponse({model: model, channel: 20})", "channel must be a number 0..15"),
        ("host.callAndResponse({model: model, range: [60, 64]})", "at least an octave"),
        ("host.callAndResponse({model: model, onAnswer: 3})", "onAnswer must be a function"),
    ] {
        assert!(!h.eval(code, 93), "{code} should throw");
        let last = h.errors().last().cloned().expect("an error");
        assert!(last.text.contains(message), "{code}: {}", last.text);
    }
}
