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
            let c = ctx.clocks.at(i);
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
        self.block_midi(playing, &[], false).0
    }

    /// [`block`](Self::block) with MIDI input and thru; also returns the stamped
    /// input and the number of input events dropped.
    fn block_midi(
        &mut self,
        playing: bool,
        midi_in: &[MidiIn],
        midi_thru: bool,
    ) -> (Vec<MidiEvent>, Vec<StampedMidiIn>, u64) {
        let host = HostTime { playing, ..HostTime::playing_at(120.0, 4, self.pos) };
        let report = self.engine.process(BlockIo {
            host,
            sync: true,
            gain: 1.0,
            params: [0.0; NUM_PARAMS],
            inputs: [&[], &[]],
            outputs: [&mut self.l, &mut self.r],
            midi_in,
            midi_thru,
        });
        let out = (report.midi.to_vec(), report.midi_in.to_vec(), report.midi_in_dropped);
        if playing {
            self.pos += 512.0 / 48_000.0 * 2.0;
        }
        out
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

// ---- MIDI input, thru and clips ------------------------------------------------

use crate::audio::midi_in::ClipNote;

fn host(timing: u32, kind: MidiInKind, key: u8, value: f32) -> MidiIn {
    MidiIn { timing, kind, channel: 0, key, value, source: MidiSource::Host }
}

fn dsl(src: &str) -> crate::dsl::Program {
    let env = crate::dsl::CompileEnv {
        sample_rate: 48_000.0,
        max_block: 512,
        samples: std::sync::Arc::new(crate::dsl::SampleLibrary::new()),
    };
    match crate::dsl::compile(src, &env) {
        Ok(p) => p,
        Err(e) => panic!("{src}: {e:?}"),
    }
}

/// `mtrig` on the left, `mgate` on the right, `mnote`/100 … as the second block
/// shows: each is exact to the sample, in block mode and in per-sample mode.
#[test]
fn midi_functions_are_sample_accurate_in_block_and_per_sample_mode() {
    let block_mode = dsl("{{}mtrig, 0}dac;\n{{}mgate, 1}dac;");
    // Reading `:fb:` before writing it is feedback: the program runs per sample.
    let per_sample = dsl(":fb:{:fb:, 0}add;\n{{{}mtrig, :fb:}add, 0}dac;\n{{}mgate, 1}dac;");
    assert!(!block_mode.is_per_sample() && per_sample.is_per_sample());
    for program in [block_mode, per_sample] {
        let mut rig = Rig::new();
        rig.engine.install_patch(Box::new(program));
        rig.block(true);
        // A note-on at sample 100, another at 101 (a chord spread by the host), and a
        // note-off of both in the next block at 300.
        let on = [host(100, MidiInKind::NoteOn, 64, 0.5), host(101, MidiInKind::NoteOn, 67, 0.5)];
        rig.block_midi(true, &on, false);
        let trig: Vec<usize> = (0..512).filter(|&i| rig.l[i] != 0.0).collect();
        assert_eq!(trig, vec![100, 101], "mtrig is 1 on each note-on's sample only");
        assert!(rig.r[..100].iter().all(|&x| x == 0.0) && rig.r[100..].iter().all(|&x| x == 1.0));
        let off =
            [host(300, MidiInKind::NoteOff, 64, 0.0), host(300, MidiInKind::NoteOff, 67, 0.0)];
        rig.block_midi(true, &off, false);
        assert!(rig.l.iter().all(|&x| x == 0.0));
        assert!(rig.r[..300].iter().all(|&x| x == 1.0) && rig.r[300..].iter().all(|&x| x == 0.0));
    }
    // Pitch, velocity, count, controllers, bend and pressure, scaled into -1..1.
    let mut rig = Rig::new();
    rig.engine.install_patch(Box::new(dsl(
        "{{{{}mnote, 0.01}mul, {{}mheld, 0.1}mul, {{7}mcc, 2}mul}sum, 0}dac;\n\
         {{{{}mvel, {}mbend}add, {}mtouch}add, 1}dac;",
    )));
    rig.block(true);
    let events = [
        host(10, MidiInKind::NoteOn, 60, 0.5),
        host(20, MidiInKind::NoteOn, 72, 0.25),
        host(30, MidiInKind::Cc, 7, 0.125),
        host(40, MidiInKind::PitchBend, 0, -0.5),
        host(50, MidiInKind::ChannelPressure, 0, 0.125),
    ];
    rig.block_midi(true, &events, false);
    let at = |i: usize| (rig.l[i], rig.r[i]);
    let near = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6;
    assert!(near(at(9), (0.0, 0.0)), "{:?}", at(9));
    assert!(near(at(10), (0.6 + 0.1, 0.5)), "{:?}", at(10));
    assert!(near(at(20), (0.72 + 0.2, 0.25)), "{:?}", at(20));
    // Clipped at 1 by the safety net: 0.72 + 0.2 + 0.25.
    assert_eq!(at(30).0, 1.0);
    assert!(near(at(40), (1.0, -0.25)), "{:?}", at(40));
    assert!(near(at(511), (1.0, -0.125)), "{:?}", at(511));
}

#[test]
fn a_patch_swapped_in_mid_block_sees_the_state_at_its_first_sample() {
    let mut rig = Rig::new();
    let held = ">{{}mheld, 0.5}mul;";
    rig.engine.install_patch(Box::new(dsl(held)));
    for _ in 0..180 {
        rig.block(true);
    }
    assert!(rig
        .control
        .to_audio
        .push(ToAudio::Patch(Box::new(dsl(&format!("{{1}}quantise;\n{held}")))))
        .is_ok());
    for _ in 180..187 {
        rig.block(true);
    }
    // Block 187: bar 1 starts at 256, where the new program comes in. A note held
    // from 100 is still held in the new program; the note-off at 300 reaches it.
    let ev = [host(100, MidiInKind::NoteOn, 60, 1.0), host(300, MidiInKind::NoteOff, 60, 0.0)];
    rig.block_midi(true, &ev, false);
    assert!(rig.l[..100].iter().all(|&x| x == 0.0));
    assert!(rig.l[100..300].iter().all(|&x| (x - 0.5).abs() < 1e-6), "{:?}", &rig.l[250..262]);
    assert!(rig.l[300..].iter().all(|&x| x == 0.0));
}

#[test]
fn ten_thousand_events_in_one_block_neither_allocate_nor_panic() {
    let mut rig = Rig::new();
    rig.engine.install_patch(Box::new(dsl(
        "{{}mgate, 0}dac;\n{{{}mtrig, {64}mcc}add, 1}dac;\n{{}mtrig, {}mnote, 0.5, 0.01}midi;",
    )));
    rig.block_midi(true, &[], true);
    // Note-ons without note-offs, keys and channels out of range, unsorted and late
    // timings, controllers, NaN.
    let mut seed = 7u64;
    let events: Vec<MidiIn> = (0..10_000)
        .map(|i| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = (seed >> 33) as u32;
            let kind = match r % 5 {
                0 | 1 => MidiInKind::NoteOn,
                2 => MidiInKind::NoteOff,
                3 => MidiInKind::Cc,
                _ => MidiInKind::PitchBend,
            };
            MidiIn {
                timing: r % 700,
                kind,
                channel: (r % 17) as u8,
                key: (r % 140) as u8,
                value: if i % 97 == 0 { f32::NAN } else { (r % 128) as f32 / 127.0 },
                source: MidiSource::Host,
            }
        })
        .collect();
    let Rig { engine, l, r, .. } = &mut rig;
    let (n_in, sorted, dropped, n_out, offs_sorted) = nice_assert_no_alloc::assert_no_alloc(|| {
        let report = engine.process(BlockIo {
            host: HostTime::playing_at(120.0, 4, 512.0 / 48_000.0 * 2.0),
            sync: true,
            gain: 1.0,
            params: [0.0; NUM_PARAMS],
            inputs: [&[], &[]],
            outputs: [&mut l[..], &mut r[..]],
            midi_in: &events,
            midi_thru: true,
        });
        let sorted = report.midi_in.windows(2).all(|w| w[0].event.timing <= w[1].event.timing);
        let offs_sorted = report.midi.windows(2).all(|w| w[0].timing <= w[1].timing);
        (report.midi_in.len(), sorted, report.midi_in_dropped, report.midi.len(), offs_sorted)
    });
    rig.pos += 512.0 / 48_000.0 * 2.0;
    assert_eq!(n_in, MAX_EVENTS_PER_BLOCK);
    assert_eq!(n_in as u64 + dropped, 10_000, "every event is kept or counted");
    assert!(sorted && offs_sorted);
    assert!(n_out > 0);
    assert!(rig.l.iter().chain(rig.r.iter()).all(|x| x.is_finite()));
    let held = rig.engine.midi_in_state().held_count();
    assert!(held > 0 && held <= 16 * 128, "{held}");
    // Thru off: the notes it let through end at once, none is left hanging.
    let (out, _, _) = rig.block_midi(true, &[], false);
    let offs = out.iter().filter(|e| !e.on && e.timing == 0).count();
    assert!(offs > 0);
}

#[test]
fn midi_thru_sends_host_notes_out_in_time_order_with_the_code_notes() {
    let mut rig = Rig::new();
    rig.engine.install_patch(patch(0.0, false, 48));
    let ev = [host(50, MidiInKind::NoteOn, 60, 0.75), host(400, MidiInKind::NoteOff, 60, 0.0)];
    let (out, stamped, _) = rig.block_midi(true, &ev, true);
    let got: Vec<(u32, bool, u8)> = out.iter().map(|e| (e.timing, e.on, e.key)).collect();
    assert_eq!(got, vec![(0, true, 48), (50, true, 60), (400, false, 60)]);
    assert_eq!(out[1].velocity, 0.75);
    // The input is stamped with the clock at its sample (bar 0, 120 bpm, 4/4).
    assert_eq!(stamped.len(), 2);
    let beats = 50.0 * 2.0 / 48_000.0;
    assert!(
        (stamped[0].beats - beats).abs() < 1e-9 && (stamped[0].bars - beats / 4.0).abs() < 1e-9
    );
    assert_eq!((stamped[0].bpm, stamped[0].beats_per_bar, stamped[0].playing), (120.0, 4.0, true));
    // Without thru nothing of the host's goes out.
    let (out, _, _) = rig.block_midi(true, &[host(10, MidiInKind::NoteOn, 61, 1.0)], false);
    assert!(out.iter().all(|e| e.key != 61));
    // Thru on, a note held, thru off: its note-off goes out at once.
    rig.block_midi(true, &[host(10, MidiInKind::NoteOn, 62, 1.0)], true);
    let (out, _, _) = rig.block_midi(true, &[], false);
    assert!(out.iter().any(|e| !e.on && e.key == 62 && e.timing == 0), "{out:?}");
}

#[test]
fn a_clip_plays_from_its_bar_into_midi_out_and_the_dsl() {
    let mut rig = Rig::new();
    rig.engine.install_patch(Box::new(dsl("{{}mgate, 0}dac;\n{{{}mnote, 0.01}mul, 1}dac;")));
    let clip = Clip {
        start_bar: 1,
        notes: vec![
            ClipNote { start_beats: 0.0, end_beats: 1.0, pitch: 64, velocity: 0.9, channel: None },
            ClipNote { start_beats: 2.0, end_beats: 3.0, pitch: 67, velocity: 0.9, channel: None },
        ],
        length_beats: 4.0,
        channel: 3,
        looping: false,
    };
    assert!(rig.control.to_audio.push(ToAudio::Clip(Box::new(clip.clone()))).is_ok());
    let mut out = Vec::new();
    let mut clip_in = Vec::new();
    let mut gate_at_bar = None;
    for b in 0..400u64 {
        let (midi, stamped, _) = rig.block_midi(true, &[], false);
        out.extend(midi.iter().map(|e| (b * 512 + e.timing as u64, e.on, e.key, e.channel)));
        clip_in.extend(stamped.iter().map(|s| (s.event.source, s.bars)));
        if b == 187 {
            gate_at_bar = Some((rig.l[255], rig.l[256], rig.r[256]));
        }
    }
    // Bar 1 starts at sample 96000 (block 187, offset 256).
    let clip_notes: Vec<_> = out.iter().filter(|e| e.3 == 3).copied().collect();
    assert_eq!(
        clip_notes,
        vec![
            (96_000, true, 64, 3),
            (120_000, false, 64, 3),
            (144_000, true, 67, 3),
            (168_000, false, 67, 3)
        ]
    );
    assert_eq!(gate_at_bar, Some((0.0, 1.0, 0.64)));
    assert_eq!(clip_in.len(), 4);
    assert!(clip_in.iter().all(|(s, _)| *s == MidiSource::Clip));
    assert!((clip_in[0].1 - 1.0).abs() < 1e-12, "stamped on the downbeat of bar 1");
    // The first clip replaced nothing; a second one hands the first back.
    assert!(matches!(rig.control.garbage.pop(), Ok(Garbage::Nothing)));
    let looping = Clip { start_bar: 0, looping: true, length_beats: 1.0, ..clip };
    assert!(rig.control.to_audio.push(ToAudio::Clip(Box::new(looping))).is_ok());
    rig.block(true);
    assert!(matches!(rig.control.garbage.pop(), Ok(Garbage::Clip(_))));
    // It loops every beat; a loop jump (relocation) releases its note at once.
    let mut ons = 0;
    for _ in 0..200 {
        ons += rig.block(true).iter().filter(|e| e.on && e.channel == 3).count();
    }
    assert!(ons >= 4, "{ons}");
    while rig.engine.clip_notes_sounding() == 0 {
        rig.block(true);
    }
    rig.pos = 0.5;
    let ev = rig.block(true);
    assert!(ev.iter().any(|e| !e.on && e.channel == 3 && e.timing == 0), "{ev:?}");
    // Stop: nothing sounds, nothing is held in the DSL's view.
    rig.block(false);
    assert_eq!(rig.engine.clip_notes_sounding(), 0);
    assert_eq!(rig.engine.midi_in_state().held_count(), 0);
}
