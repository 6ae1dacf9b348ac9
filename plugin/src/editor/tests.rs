use super::routing::{char_index, line_of_char};
use super::widgets::scope_range;
use super::*;
use nice_plug::prelude::{GuiContextInner, ParamPtr, PluginApi, PluginState};

const JS: &str = "var a = 1;\n___\nconsole.log(a);\nvar b = 2;\n___\n";

#[test]
fn cursor_lines_count_newlines() {
    assert_eq!(line_of_char("ab\ncd\nef", 0), 1);
    assert_eq!(line_of_char("ab\ncd\nef", 3), 2);
    assert_eq!(line_of_char("ab\ncd\nef", 100), 3);
}

#[test]
fn ctrl_enter_runs_the_block_under_the_cursor() {
    assert_eq!(
        route_evaluation(Pane::Js, JS, 4, false),
        Evaluation::Js { code: "console.log(a);\nvar b = 2;\n".into(), block: 1, first_line: 3 }
    );
    assert_eq!(
        route_evaluation(Pane::Js, JS, 1, false),
        Evaluation::Js { code: "var a = 1;\n".into(), block: 0, first_line: 1 }
    );
}

#[test]
fn shift_enter_runs_the_line() {
    assert_eq!(
        route_evaluation(Pane::Js, JS, 4, true),
        Evaluation::Js { code: "var b = 2;".into(), block: 1, first_line: 4 }
    );
}

#[test]
fn separators_and_the_dsl_route_as_expected() {
    assert_eq!(route_evaluation(Pane::Js, JS, 2, false), Evaluation::Nothing);
    assert_eq!(route_evaluation(Pane::Dsl, JS, 2, true), Evaluation::Dsl);
}

#[test]
fn evaluated_lines_flash() {
    let block = route_evaluation(Pane::Js, JS, 4, false);
    assert_eq!(block.lines(""), Some((Pane::Js, 3..=4)));
    let line = route_evaluation(Pane::Js, JS, 4, true);
    assert_eq!(line.lines(""), Some((Pane::Js, 4..=4)));
    assert_eq!(Evaluation::Dsl.lines("a;\nb;\nc;"), Some((Pane::Dsl, 1..=3)));
    assert_eq!(Evaluation::Nothing.lines("a"), None);
}

#[test]
fn located_messages_jump_to_their_line() {
    assert_eq!(
        jump_target(Source::Dsl { line: 3, col: 7 }),
        Some(Jump { pane: Pane::Dsl, line: 3, col: 7 })
    );
    assert_eq!(
        jump_target(Source::Js { block: Some(2), line: Some(12) }),
        Some(Jump { pane: Pane::Js, line: 12, col: 1 })
    );
    assert_eq!(jump_target(Source::Js { block: Some(2), line: None }), None);
    assert_eq!(jump_target(Source::Model), None);
    assert_eq!(jump_target(Source::System), None);
}

#[test]
fn line_and_column_map_to_a_char_index() {
    let text = "ab\ncdé\n\nlast";
    assert_eq!(char_index(text, 1, 1), 0);
    assert_eq!(char_index(text, 2, 3), 5);
    // Columns past the end stop at the end of the line; lines past the end at the end.
    assert_eq!(char_index(text, 2, 99), 6);
    assert_eq!(char_index(text, 3, 1), 7);
    assert_eq!(char_index(text, 4, 2), 9);
    assert_eq!(char_index(text, 9, 1), text.chars().count());
    // And back: the index lies on the requested line.
    for line in 1..=4 {
        assert_eq!(line_of_char(text, char_index(text, line, 1)), line);
    }
}

#[test]
fn a_dsl_error_points_at_the_line_the_compiler_names() {
    let src = "{120,4}clk;\n>{{440}sin,0.1}mul;\n>{440}nosuchfn;\n";
    let env = crate::dsl::CompileEnv {
        sample_rate: 48_000.0,
        max_block: 64,
        samples: Arc::new(crate::dsl::SampleLibrary::default()),
    };
    let Err(errors) = crate::dsl::compile(src, &env) else {
        panic!("the program must not compile")
    };
    let jump =
        jump_target(Source::Dsl { line: errors[0].line, col: errors[0].col }).expect("located");
    assert_eq!((jump.pane, jump.line), (Pane::Dsl, 3));
    let idx = char_index(src, jump.line, jump.col);
    assert_eq!(line_of_char(src, idx), 3);
}

/// A host that accepts parameter changes and nothing else, for headless frames.
struct TestHost;

impl GuiContextInner for TestHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, _param: ParamPtr, _normalized: f32) {}
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        PluginState {
            version: String::new(),
            params: Default::default(),
            fields: Default::default(),
        }
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

/// Runs one frame of the whole editor at 1180×760 points with `events`.
fn frame(ctx: &egui::Context, ed: &mut SemaEditor, events: Vec<egui::Event>) -> egui::FullOutput {
    let gui = GuiContext::new(Arc::new(TestHost));
    let setter = gui.param_setter();
    let raw = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1180.0, 760.0))),
        events,
        ..Default::default()
    };
    let mut out = ctx.run_ui(raw, |ui| ed.draw(ui, &setter));
    // No renderer here: the font atlas upload is dropped on purpose.
    out.textures_delta.clear();
    out
}

fn ctrl_enter() -> egui::Event {
    egui::Event::Key {
        key: egui::Key::Enter,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::COMMAND,
    }
}

#[test]
fn a_panic_in_a_frame_is_reported_and_the_editor_draws_again() {
    let plugin = crate::SemaLive::default();
    let mut ed = SemaEditor::new(plugin.shared.clone());
    let ctx = egui::Context::default();
    let gui = GuiContext::new(Arc::new(TestHost));
    let setter = gui.param_setter();
    let run = |ed: &mut SemaEditor| {
        let raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1180.0, 760.0),
            )),
            ..Default::default()
        };
        let mut out = ctx.run_ui(raw, |ui| ed.draw_guarded(ui, &setter));
        out.textures_delta.clear();
        out
    };
    run(&mut ed);
    ed.js.push_str("\n// typed, not saved yet");
    ed.panic_next = true;
    run(&mut ed);
    assert_eq!(ed.crashes.count(), 1);
    assert!(!ed.js.contains("typed, not saved yet"), "reset from the session");
    let lines = plugin.shared.console.snapshot();
    assert!(
        lines.iter().any(|l| l.text.contains("the editor crashed (test panic in the editor)")),
        "{lines:?}"
    );
    let out = run(&mut ed);
    assert!(out.shapes.len() > 100, "draws again: {} shapes", out.shapes.len());
    assert_eq!(ed.crashes.count(), 1);
}

#[test]
fn the_whole_editor_draws_headless_and_saves_its_layout() {
    let plugin = crate::SemaLive::default();
    let mut ed = SemaEditor::new(plugin.shared.clone());
    let ctx = egui::Context::default();
    frame(&ctx, &mut ed, vec![]);
    let out = frame(&ctx, &mut ed, vec![]);
    assert!(out.shapes.len() > 100, "{} shapes", out.shapes.len());
    let saved = plugin.shared.controller.lock().session().editor.clone();
    assert_eq!(saved.window, Some([1180.0, 760.0]));
    assert!((0.15..=0.85).contains(&saved.split), "split {}", saved.split);
    assert!(saved.console_height >= 60.0 && saved.dsl_text.is_none(), "{saved:?}");
}

#[test]
fn ctrl_enter_with_a_dsl_error_marks_the_line_keeps_the_patch_and_jumps() {
    let plugin = crate::SemaLive::default();
    let shared = plugin.shared.clone();
    let mut ed = SemaEditor::new(shared.clone());
    let ctx = egui::Context::default();
    frame(&ctx, &mut ed, vec![]);
    let playing = shared.controller.lock().session().dsl.clone();
    ed.dsl = "{120,4}clk;\n>{{440}sin,0.1}mul;\n>{440}nosuchfn;\n".into();
    ed.focus = Some(Pane::Dsl);
    frame(&ctx, &mut ed, vec![ctrl_enter()]);
    // The old program plays on; the error line is marked and flashes with the rest.
    assert_eq!(shared.controller.lock().session().dsl, playing);
    assert_eq!(ed.dsl_error_line, Some(3));
    let marks = ed.marks(Pane::Dsl);
    assert_eq!(marks.error_line, Some(3));
    assert!(
        matches!(marks.flash, Some((ref lines, a)) if *lines == (1..=4) && a > 0.0),
        "{:?}",
        marks.flash
    );
    // The unevaluated text is saved with the project.
    let saved = shared.controller.lock().session().editor.dsl_text.clone();
    assert_eq!(saved.as_deref(), Some(ed.dsl.as_str()));
    // Its console message is located; following it puts the cursor on line 3.
    let line = shared
        .console
        .snapshot()
        .into_iter()
        .find(|l| matches!(l.source, Source::Dsl { .. }))
        .expect("a located DSL error");
    ed.jump = jump_target(line.source);
    frame(&ctx, &mut ed, vec![]);
    let state = egui::TextEdit::load_state(&ctx, egui::Id::unique(("sema-live-code", "dsl")))
        .expect("state");
    let cursor = state.cursor.char_range().expect("cursor").primary.index.0;
    assert_eq!(line_of_char(&ed.dsl, cursor), 3);
    assert_eq!(ed.focus, Some(Pane::Dsl));
}

#[test]
fn ctrl_enter_on_a_full_engine_queue_says_so_and_keeps_the_code() {
    let plugin = crate::SemaLive::default();
    let shared = plugin.shared.clone();
    // Active, but the engine is not processing: its queue fills up.
    shared.controller.lock().set_active(true);
    let mut i = 0.0;
    while shared.controller.lock().send_channel(2, vec![i]).is_ok() {
        i += 1.0;
    }
    let mut ed = SemaEditor::new(shared.clone());
    let ctx = egui::Context::default();
    frame(&ctx, &mut ed, vec![]);
    let playing = shared.controller.lock().session().dsl.clone();
    ed.dsl = ">{330}sin;".into();
    ed.focus = Some(Pane::Dsl);
    frame(&ctx, &mut ed, vec![ctrl_enter()]);
    assert_eq!(shared.controller.lock().session().dsl, playing);
    assert_eq!(ed.dsl_error_line, None);
    let lines = shared.console.snapshot();
    assert!(
        lines.iter().any(|l| l.level == Level::Error
            && l.text.starts_with("the audio engine is not taking new code (queue full)")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.text == "live code evaluated"), "{lines:?}");
}

#[test]
fn a_state_load_replaces_the_editor_text() {
    let plugin = crate::SemaLive::default();
    let shared = plugin.shared.clone();
    let mut ed = SemaEditor::new(shared.clone());
    let ctx = egui::Context::default();
    frame(&ctx, &mut ed, vec![]);
    let mut state = crate::control::state::SessionState {
        dsl: ">{330}sin;".into(),
        js: "console.log(1);".into(),
        ..Default::default()
    };
    state.editor.font_size = 17.0;
    shared.controller.lock().load_state(state);
    frame(&ctx, &mut ed, vec![]);
    assert_eq!((ed.dsl.as_str(), ed.js.as_str()), (">{330}sin;", "console.log(1);"));
    assert_eq!(shared.controller.lock().session().editor.font_size, 17.0);
}

#[test]
fn notes_the_audio_thread_sent_are_drawn_and_exported() {
    use crate::control::status::NoteRecord;
    let mut plugin = crate::SemaLive::default();
    let shared = plugin.shared.clone();
    // Two bars of quarter notes at 120 bpm, 4/4, as the audio thread logs them.
    for q in 0..8 {
        let bars = q as f64 / 4.0;
        let key = 60 + q as u8;
        for (at, on) in [(bars, true), (bars + 0.125, false)] {
            let record = NoteRecord { bars: at, bpm: 120.0, on, channel: 0, key, velocity: 0.8 };
            plugin.outlets.notes.push(record).expect("room in the note log");
        }
    }
    shared.status.publish(&crate::audio::patch::ClockState {
        bar: 2,
        bar_phase: 0.0,
        bpm: 120.0,
        beats_per_bar: 4.0,
        playing: true,
        sample_rate: 48_000.0,
    });
    let mut ed = SemaEditor::new(shared.clone());
    let ctx = egui::Context::default();
    let before = frame(&ctx, &mut ed, vec![]).shapes.len();
    assert_eq!(ed.history.len(), 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("last.mid");
    ed.export_path = path.display().to_string();
    ed.export_bars = 1;
    ed.export_midi();
    let bytes = std::fs::read(&path).expect("the export was written");
    let notes = crate::cli::midi_file::decode_notes(&bytes).expect("a MIDI file");
    // The last bar: keys 64..=67 at beats 0, 1, 2, 3, each half a beat long.
    let expected: Vec<(f64, f64, u8)> =
        (0..4).map(|q| (q as f64, q as f64 + 0.5, 64 + q as u8)).collect();
    assert_eq!(notes, expected);
    // And the piano roll drew them: more shapes than without notes.
    let mut empty = SemaEditor::new(shared.clone());
    empty.history = NoteHistory::default();
    let ctx2 = egui::Context::default();
    let without = frame(&ctx2, &mut empty, vec![]).shapes.len();
    assert!(before > without, "{before} shapes with notes, {without} without");
}

#[test]
fn scop_values_reach_the_scope() {
    let mut plugin = crate::SemaLive::default();
    let shared = plugin.shared.clone();
    let mut ed = SemaEditor::new(shared.clone());
    let ctx = egui::Context::default();
    let without = frame(&ctx, &mut ed, vec![]).shapes.len();
    assert!(ed.scope_seen.is_none());
    let wave: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.05).sin()).collect();
    plugin.outlets.publish(&Default::default(), &[], &[], &wave, &[]);
    let with = frame(&ctx, &mut ed, vec![]).shapes.len();
    // The newest SCOPE_LEN values are kept, in order.
    assert_eq!(ed.scope.len(), SCOPE_LEN);
    assert_eq!(ed.scope.back().copied(), wave.last().copied());
    assert_eq!(ed.scope.front().copied(), Some(wave[2000 - SCOPE_LEN]));
    assert!(with > without, "the scope is drawn: {with} vs {without} shapes");
    let (lo, hi) = scope_range(ed.scope.iter().copied());
    assert!(lo < -0.99 && hi > 0.99, "{lo}..{hi}");
    assert_eq!(scope_range([0.25, 0.25]), (0.0, 0.25));
    assert_eq!(scope_range([0.0, f32::NAN]), (-0.5, 0.5));
}

/// The Studio tests' setting: a plugin whose host plays bar 4 (beat 16) at 120 bpm in
/// 4/4, an editor with the Studio panel open, the Studio's model worker seeded and
/// offline with a model cache of its own (empty), and a folder for kept .mid files.
struct StudioFixture {
    plugin: crate::SemaLive,
    shared: Arc<ControlSide>,
    ed: SemaEditor,
    ctx: egui::Context,
    /// The Studio's model cache.
    cache: tempfile::TempDir,
    /// Where kept .mid files go.
    folder: tempfile::TempDir,
}

impl StudioFixture {
    fn new(seed: u64) -> Self {
        let plugin = crate::SemaLive::default();
        let shared = plugin.shared.clone();
        let mut ed = SemaEditor::new(shared.clone());
        let clock = crate::audio::patch::ClockState {
            bar: 4,
            bar_phase: 0.0,
            bpm: 120.0,
            beats_per_bar: 4.0,
            playing: true,
            sample_rate: 48_000.0,
        };
        shared.status.publish(&clock);
        shared.js.view.bar.store(4, Ordering::Relaxed);
        let cache = tempfile::tempdir().expect("temp dir");
        let folder = tempfile::tempdir().expect("temp dir");
        {
            let mut st = shared.studio.lock();
            let mut cfg = crate::ml::WorkerConfig::new(crate::ml::default_bundled_dir());
            cfg.seed = Some(seed);
            cfg.allow_network = false;
            cfg.cache_dir = cache.path().to_path_buf();
            st.config = Some(cfg);
            st.settings.folder = folder.path().display().to_string();
        }
        // The panels open from the session row's toggle (saved with the layout).
        shared.controller.lock().session_mut().editor.studio_width = Some(380.0);
        ed.layout.studio_width = Some(380.0);
        StudioFixture { plugin, shared, ed, ctx: egui::Context::default(), cache, folder }
    }

    /// Bars 2 and 3 played in: quarter notes of `keys` from beat 8, as the JS thread
    /// records them.
    fn play_in(&self, keys: &[u8]) {
        use crate::audio::midi_in::{MidiIn, MidiInKind, MidiSource, StampedMidiIn};
        let mut rec = self.shared.js.view.phrases.lock();
        for (i, &key) in keys.iter().enumerate() {
            for (at, kind) in
                [(i as f64, MidiInKind::NoteOn), (i as f64 + 0.9, MidiInKind::NoteOff)]
            {
                let event = MidiIn {
                    timing: 0,
                    kind,
                    channel: 0,
                    key,
                    value: 0.8,
                    source: MidiSource::Host,
                };
                rec.push(&StampedMidiIn {
                    event,
                    bars: 2.0 + at / 4.0,
                    beats: 8.0 + at,
                    bpm: 120.0,
                    beats_per_bar: 4.0,
                    playing: true,
                });
            }
        }
    }

    fn frame(&mut self) -> egui::FullOutput {
        frame(&self.ctx, &mut self.ed, vec![])
    }

    /// The text of a frame.
    fn shown(&mut self) -> String {
        shown_text(&self.frame())
    }

    /// Clicks the text `text` (drawn exactly so) in the next frame, as a user would: the
    /// pointer moves there, presses and releases.
    fn click_text(&mut self, text: &str) {
        let out = self.frame();
        let Some(pos) = text_pos(&out, text) else {
            panic!("{text:?} is not drawn: {}", shown_text(&out))
        };
        let button = |pressed| egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        frame(&self.ctx, &mut self.ed, vec![egui::Event::PointerMoved(pos)]);
        frame(&self.ctx, &mut self.ed, vec![button(true)]);
        frame(&self.ctx, &mut self.ed, vec![button(false)]);
        self.frame();
    }

    /// Applies a panel action as the editor does after a frame.
    fn apply(&self, action: crate::control::studio::Action) {
        self.shared.studio.lock().apply(action, &self.shared);
    }

    /// Draws frames (which poll the Studio) until `done` holds for the Studio, failing
    /// after 60 s or as soon as the Studio shows an error.
    fn frames_until(&mut self, what: &str, done: impl Fn(&crate::control::studio::Studio) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            {
                let st = self.shared.studio.lock();
                if done(&st) {
                    return;
                }
                let error = st.message.as_ref().filter(|m| m.0);
                assert!(Instant::now() < deadline && error.is_none(), "{what}: {:?}", st.message);
            }
            self.frame();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs the selected tool and waits for its variations.
    fn run(&mut self) -> crate::control::studio::Results {
        self.apply(crate::control::studio::Action::Run);
        self.frames_until("run", |st| st.results.is_some());
        self.shared.studio.lock().results.clone().expect("results")
    }

    /// Renders the engine from the start of bar 4 (after a resync) for two bars; every
    /// note-on as (sample counted from bar 4, MIDI channel, key).
    fn note_ons(&mut self) -> Vec<(usize, u8, u8)> {
        use crate::audio::engine::BlockIo;
        use crate::audio::transport::HostTime;
        self.shared.controller.lock().resync(&mut self.plugin.engine, 48_000.0, 512);
        let (mut l, mut r) = (vec![0.0f32; 500], vec![0.0f32; 500]);
        let mut ons = Vec::new();
        for block in 0..2 * 96_000 / 500 {
            let pos = block * 500;
            let report = self.plugin.engine.process(BlockIo {
                host: HostTime::playing_at(120.0, 4, 16.0 + pos as f64 / 24_000.0),
                sync: true,
                gain: 1.0,
                params: [0.0; crate::audio::NUM_PARAMS],
                inputs: [&[], &[]],
                outputs: [&mut l, &mut r],
                midi_in: &[],
                midi_thru: false,
            });
            ons.extend(
                report
                    .midi
                    .iter()
                    .filter(|e| e.on)
                    .map(|e| (pos + e.timing as usize, e.channel, e.key)),
            );
        }
        ons
    }

    /// Renders the engine from the start of bar 4 (after a resync) for two bars; the sample
    /// (counted from bar 4) and MIDI channel of the first note-on of `pitch`.
    fn first_note_on(&mut self, pitch: i32) -> Option<(usize, u8)> {
        self.note_ons()
            .into_iter()
            .find(|&(_, _, key)| i32::from(key) == pitch)
            .map(|(at, ch, _)| (at, ch))
    }
}

/// The sample (from bar 4 at 120 bpm, 48 kHz) where a note of `seq` starting first
/// plays when auditioned from bar 5, and its pitch.
fn first_note_in_bar_5(seq: &crate::ml::core::note_seq::NoteSequence) -> (usize, i32) {
    let first = seq.notes.iter().min_by_key(|n| n.quantized_start_step).expect("a note");
    (96_000 + first.quantized_start_step.unwrap_or(0) as usize * 6_000, first.pitch)
}

/// The Studio's Continue panel end to end: a 2-bar phrase played in, Continue with 4
/// variations gives 4 clips; auditioning the third plays it from the next bar line (MIDI
/// out of the engine); keep writes it into the session, a .mid file and a JS channel;
/// undo takes each keep back.
#[test]
fn studio_continue_auditions_keeps_and_undoes() {
    use crate::control::studio::{Action, Input, KeepTo, Tool};

    let mut fx = StudioFixture::new(7);
    let shared = fx.shared.clone();
    // Bars 2 and 3: eight quarter notes of C major.
    fx.play_in(&[60, 62, 64, 65, 67, 65, 64, 62]);
    {
        let mut st = shared.studio.lock();
        let s = &mut st.settings;
        (s.tool, s.input, s.input_bars, s.bars, s.variations) =
            (Tool::Continue, Input::Played, 2, 2, 4);
        s.js_channel = 5;
    }
    let closed = {
        let mut other = SemaEditor::new(shared.clone());
        other.layout.studio_width = None;
        frame(&egui::Context::default(), &mut other, vec![]).shapes.len()
    };
    fx.frame();
    assert!(fx.frame().shapes.len() > closed, "the Studio panel draws");

    let variations = fx.run().variations;
    assert_eq!(variations.len(), 4);
    for v in &variations {
        assert_eq!(v.total_quantized_steps, Some(32), "2 bars of 16ths");
        assert!(!v.notes.is_empty());
    }
    // Results are drawn as clips to pick from.
    assert!(fx.frame().shapes.len() > closed);

    // Audition the third: it plays from the first sample of bar 5, as MIDI out.
    let chosen = variations[2].clone();
    {
        let mut st = shared.studio.lock();
        st.apply(Action::Select(2), &shared);
        st.apply(Action::Audition(true), &shared);
        assert_eq!(st.auditioning, Some(2), "{:?}", st.message);
    }
    let (first_sample, pitch) = first_note_in_bar_5(&chosen);
    assert_eq!(
        fx.first_note_on(pitch).map(|(at, _)| at),
        Some(first_sample),
        "the first note of variation 3 at its step of bar 5"
    );

    // Keep: into the session, as a .mid file, onto JS channel 5.
    {
        let mut st = shared.studio.lock();
        st.apply(Action::Keep(KeepTo::Session), &shared);
        st.apply(Action::Keep(KeepTo::MidiFile), &shared);
        st.apply(Action::Keep(KeepTo::JsChannel), &shared);
        assert_eq!(st.undo_depth(), 3, "{:?}", st.message);
    }
    let kept = shared.controller.lock().session().studio_clips.clone();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].name.as_str(), &kept[0].sequence), ("Continue 1", &chosen));
    let path = fx.folder.path().join("continue-1.mid");
    let notes = crate::cli::midi_file::decode_notes(&std::fs::read(&path).expect("the .mid"))
        .expect("a MIDI file");
    let mut want: Vec<(f64, f64, u8)> = chosen
        .notes
        .iter()
        .map(|n| {
            let s = |v: Option<i64>| v.unwrap_or(0) as f64 / 4.0;
            (s(n.quantized_start_step), s(n.quantized_end_step), n.pitch as u8)
        })
        .collect();
    want.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(notes, want);
    let freqs = shared.controller.lock().session().channels.get(&5).cloned();
    assert_eq!(freqs.map(|f| f.len()), Some(chosen.notes.len()));
    // A kept clip is an input of the next run.
    shared.studio.lock().settings.input = Input::Kept(0);
    assert!(fx.frame().shapes.len() > closed);

    // Undo, newest first.
    for _ in 0..3 {
        fx.apply(Action::Undo);
    }
    assert!(!shared.controller.lock().session().channels.contains_key(&5));
    assert!(!path.exists());
    assert!(shared.controller.lock().session().studio_clips.is_empty());
    fx.apply(Action::Undo);
    let message = shared.studio.lock().message.clone();
    assert_eq!(message, Some((true, "nothing to undo".to_string())));
}

/// The centre of the first text the frame draws that is exactly `text`.
fn text_pos(out: &egui::FullOutput, text: &str) -> Option<egui::Pos2> {
    fn walk(shape: &egui::Shape, text: &str) -> Option<egui::Pos2> {
        match shape {
            egui::Shape::Text(t) if t.galley.text() == text => {
                Some(t.pos + t.galley.rect.center().to_vec2())
            }
            egui::Shape::Vec(shapes) => shapes.iter().find_map(|s| walk(s, text)),
            _ => None,
        }
    }
    out.shapes.iter().find_map(|c| walk(&c.shape, text))
}

/// Every text the frame draws, joined by newlines.
fn shown_text(out: &egui::FullOutput) -> String {
    fn walk(shape: &egui::Shape, text: &mut String) {
        match shape {
            egui::Shape::Text(t) => {
                text.push_str(t.galley.text());
                text.push('\n');
            }
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| walk(s, text)),
            _ => {}
        }
    }
    let mut text = String::new();
    out.shapes.iter().for_each(|c| walk(&c.shape, &mut text));
    text
}

/// The Drums panel set up on a 2-bar beat kept in the session (4 variations of 2 bars).
fn drums_fixture(seed: u64) -> StudioFixture {
    use crate::control::state::KeptClip;
    use crate::control::studio::{Input, Tool};
    let fx = StudioFixture::new(seed);
    let beat = crate::ml::studio::tests::beat();
    fx.shared
        .controller
        .lock()
        .session_mut()
        .studio_clips
        .push(KeptClip { name: "Beat".into(), sequence: beat });
    let mut st = fx.shared.studio.lock();
    let s = &mut st.settings;
    (s.tool, s.drum_input, s.input_bars, s.bars, s.variations, s.temperature) =
        (Tool::Drums, Input::Kept(0), 2, 2, 4, 1.0);
    drop(st);
    fx
}

/// Checks 4 Drums variations: 2 bars of drum hits on drum_kit_rnn's pitches, not all
/// the same.
fn assert_drum_clips(results: &crate::control::studio::Results) {
    assert_eq!(results.tool, crate::control::studio::Tool::Drums);
    let variations = &results.variations;
    assert_eq!(variations.len(), 4);
    let first_pitches: Vec<i32> =
        crate::ml::core::drums::DEFAULT_DRUM_PITCH_CLASSES.iter().map(|c| c[0]).collect();
    for v in variations {
        assert_eq!(v.total_quantized_steps, Some(32), "2 bars of 16ths");
        assert!(!v.notes.is_empty());
        assert!(v
            .notes
            .iter()
            .all(|n| n.is_drum == Some(true) && first_pitches.contains(&n.pitch)));
    }
    assert!(variations.iter().any(|v| v != &variations[0]), "the variations differ");
}

/// The Studio's Drums panel: while drum_kit_rnn is not in the model cache, the panel and
/// a run name the model, its URL and the command that fetches it; with a drum_kit_rnn
/// checkpoint in the cache (random weights at a small size), Drums with 4 variations
/// continues a kept beat into 4 drum clips, auditioned on MIDI channel 10 and kept as the
/// other panels' clips are.
#[test]
fn studio_drums_names_the_missing_model_then_makes_4_drum_clips() {
    use crate::control::studio::{Action, KeepTo, DRUM_KIT_RNN_URL};
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};
    use crate::ml::random_checkpoint::{write_rnn_family, RnnFamily};

    let mut fx = drums_fixture(11);
    let shared = fx.shared.clone();

    // No model in the cache: the panel says which one and how to get it, before a run...
    fx.frame();
    let shown = fx.shown();
    assert!(shown.contains("Model missing"), "{shown}");
    assert!(shown.contains("drum_kit_rnn"), "{shown}");
    assert!(shown.contains("Fetch drum_kit_rnn"), "{shown}");
    // ...and a run fails with the model, its URL and the fetch command, starting nothing.
    fx.apply(Action::Run);
    {
        let st = shared.studio.lock();
        let (error, text) = st.message.clone().expect("a message");
        assert!(error, "{text}");
        for part in [
            "MusicRNN drum_kit_rnn",
            DRUM_KIT_RNN_URL,
            "sema-live model fetch",
            "not in the model cache",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
        assert!(!st.busy() && st.results.is_none());
    }
    shared.studio.lock().message = None;

    // The model fetched into the cache (here: a random checkpoint of drum_kit_rnn's shape).
    let dir = cache_path(fx.cache.path(), DRUM_KIT_RNN_URL);
    write_rnn_family(&dir, &RnnFamily::drum_kit_rnn(vec![32, 24]), Storage::Float32, 9)
        .expect("checkpoint");
    std::fs::write(dir.join(COMPLETE_MARKER), b"").expect("marker");
    let shown = fx.shown();
    assert!(!shown.contains("Model missing"), "{shown}");
    assert!(!shown.contains("Fetch drum_kit_rnn"), "{shown}");

    let results = fx.run();
    assert_drum_clips(&results);
    let variations = results.variations;
    let shown = fx.shown();
    assert!(shown.contains("Drums variations"), "{shown}");

    // Audition the second: its first hit leaves on MIDI channel 10 at its step of bar 5.
    let chosen = variations[1].clone();
    {
        let mut st = shared.studio.lock();
        st.apply(Action::Select(1), &shared);
        st.apply(Action::Audition(true), &shared);
        assert_eq!((st.auditioning, st.channel()), (Some(1), 9), "{:?}", st.message);
    }
    let (first_sample, pitch) = first_note_in_bar_5(&chosen);
    assert_eq!(
        fx.first_note_on(pitch),
        Some((first_sample, 9)),
        "the first hit of variation 2, on channel 10"
    );

    // Keep: into the session as "Drums 1", and as a .mid file.
    {
        let mut st = shared.studio.lock();
        st.apply(Action::Keep(KeepTo::Session), &shared);
        st.apply(Action::Keep(KeepTo::MidiFile), &shared);
        assert_eq!(st.undo_depth(), 2, "{:?}", st.message);
    }
    let kept = shared.controller.lock().session().studio_clips.clone();
    assert_eq!(kept.len(), 2);
    assert_eq!((kept[1].name.as_str(), &kept[1].sequence), ("Drums 1", &chosen));
    let bytes = std::fs::read(fx.folder.path().join("drums-1.mid")).expect("the .mid");
    let notes = crate::cli::midi_file::decode_notes(&bytes).expect("a MIDI file");
    assert_eq!(notes.len(), chosen.notes.len());
    // Channel 10's note-on status byte (0x99) is in the file.
    assert!(bytes.contains(&0x99), "note-ons on channel 10");
}

/// The Drums panel's Fetch button downloads the missing model with `sema-live model
/// fetch`'s code from a local HTTP server, on a thread of its own: the panel shows the
/// download while it runs, a failed download (404) as an error with the Fetch button
/// back, and a good one puts the model in the cache, where the panel picks it up (no
/// "Model missing", the worker loads it) and Drums makes 4 clips from it.
#[test]
fn studio_drums_fetch_button_downloads_the_model() {
    use crate::control::studio::Action;
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::core::resolve::tests::{serve, serve_on};
    use crate::ml::core::resolve::{cache_path, cached};
    use crate::ml::random_checkpoint::{write_rnn_family, RnnFamily};

    let served = tempfile::tempdir().expect("temp dir");
    let ckpt = served.path().join("music_rnn/drum_kit_rnn");
    write_rnn_family(&ckpt, &RnnFamily::drum_kit_rnn(vec![32, 24]), Storage::Float32, 9)
        .expect("checkpoint");
    let files = std::fs::read_dir(&ckpt).expect("served files").count();
    let mut fx = drums_fixture(12);
    let shared = fx.shared.clone();

    // A wrong URL: the download fails (404), the panel says so and offers Fetch again.
    let (base, server) = serve(served.path().to_path_buf(), 1);
    shared.studio.lock().checkpoints = format!("{base}/nowhere");
    fx.apply(Action::Fetch("drum_kit_rnn".into()));
    assert!(shared.studio.lock().fetch_status().is_some(), "the download started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.studio.lock().fetch_status().is_some() {
        assert!(Instant::now() < deadline, "the failed download ends");
        fx.frame();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (error, text) = shared.studio.lock().message.clone().expect("a message");
    assert!(error, "{text}");
    assert!(text.contains("download of drum_kit_rnn failed"), "{text}");
    assert!(text.contains("nowhere/music_rnn/drum_kit_rnn/config.json"), "{text}");
    server.join().expect("the server answered");
    let shown = fx.shown();
    assert!(shown.contains("Model missing") && shown.contains("Fetch drum_kit_rnn"), "{shown}");

    // The right URL: the panel shows the download, then the model is there. The server
    // answers only once the panel has been drawn (connections wait in its backlog).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let url = format!("{base}/music_rnn/drum_kit_rnn");
    shared.studio.lock().checkpoints = base;
    shared.studio.lock().message = None;
    fx.apply(Action::Fetch("drum_kit_rnn".into()));
    assert!(shared.studio.lock().fetch_status().is_some(), "the download started");
    // A second press while it runs is refused.
    fx.apply(Action::Fetch("drum_kit_rnn".into()));
    let (error, text) = shared.studio.lock().message.clone().expect("a message");
    assert!(error && text.contains("drum_kit_rnn is being downloaded"), "{text}");
    shared.studio.lock().message = None;
    let shown = fx.shown();
    assert!(shown.contains("Fetching drum_kit_rnn: "), "{shown}");
    assert!(shown.contains("Cancel"), "{shown}");
    assert!(shown.contains("drum_kit_rnn"), "{shown}");
    assert!(!shown.contains("Fetch drum_kit_rnn ("), "no second Fetch button: {shown}");
    assert!(shared.studio.lock().fetch_status().is_some(), "still waiting for the server");
    let server = serve_on(listener, served.path().to_path_buf(), files);
    fx.frames_until("fetch", |st| st.fetch_status().is_none());
    server.join().expect("the server answered every request");
    let dir = cache_path(fx.cache.path(), &url);
    assert_eq!(cached(fx.cache.path(), &url), Some(dir.clone()));
    let (error, text) = shared.studio.lock().message.clone().expect("a message");
    assert!(!error && text.contains("drum_kit_rnn downloaded"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    let shown = fx.shown();
    assert!(!shown.contains("Model missing"), "{shown}");
    assert_eq!(
        crate::ml::core::checkpoint::load(&dir).expect("the downloaded checkpoint").vars,
        crate::ml::core::checkpoint::load(&ckpt).expect("the served checkpoint").vars
    );
    // Pressing Fetch now only says the model is there.
    fx.apply(Action::Fetch("drum_kit_rnn".into()));
    let (error, text) = shared.studio.lock().message.clone().expect("a message");
    assert!(!error && text.contains("in the model cache already"), "{text}");
    assert!(shared.studio.lock().fetch_status().is_none());
    // Drums runs on the downloaded model (the server is gone: it came from the cache).
    assert_drum_clips(&fx.run());
}

/// A random MusicVAE checkpoint shaped like `name` (mel_4bar_small_q2 or trio_4bar, small
/// layers) written to `dir`.
fn write_random_vae(dir: &std::path::Path, name: &str) {
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::random_checkpoint::{write_vae_family, Hierarchy, VaeData, VaeFamily};
    let family = match name {
        "mel_4bar_small_q2" => VaeFamily {
            data: VaeData::Melody { min_pitch: 21, max_pitch: 108 },
            num_steps: 64,
            encoder: 24,
            decoder: vec![16, 16],
            z: 8,
            hierarchy: None,
        },
        "trio_4bar" => VaeFamily {
            data: VaeData::Trio { melody: (21, 108), bass: (33, 56) },
            num_steps: 64,
            encoder: 16,
            decoder: vec![16],
            z: 8,
            hierarchy: Some(Hierarchy { segments: 4, encoder_top: 16, conductor: vec![16] }),
        },
        other => panic!("no random {other}"),
    };
    write_vae_family(dir, &family, Storage::Float32, 21).expect("checkpoint");
}

/// Puts a random checkpoint of the MusicVAE `name` into the fixture's model cache, where
/// a fetch of its magenta.js URL would put it.
fn cache_random_vae(fx: &StudioFixture, name: &str) {
    use crate::control::studio::StudioModel;
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};
    let model = StudioModel::named(name).expect("a Studio model");
    let url = fx.shared.studio.lock().url(model);
    let dir = cache_path(fx.cache.path(), &url);
    write_random_vae(&dir, name);
    std::fs::write(dir.join(COMPLETE_MARKER), b"").expect("marker");
}

/// The model picker: Generate on mel_4bar_small_q2 (a random checkpoint in the model
/// cache) makes 2 clips of 4 bars; a model not in the cache (trio_4bar) is listed with
/// "(fetch)", the panel names it with its Fetch button and a run says how to get it.
/// The picks are saved with the session.
#[test]
fn studio_model_picker_generates_4_bars_and_names_a_missing_model() {
    use crate::control::studio::{Action, Tool};

    let mut fx = StudioFixture::new(5);
    let shared = fx.shared.clone();
    {
        let mut st = shared.studio.lock();
        (st.settings.tool, st.settings.variations) = (Tool::Generate, 2);
    }
    // The bundled default: no Fetch anywhere.
    let shown = fx.shown();
    assert!(shown.contains("Model") && shown.contains("mel_2bar_small"), "{shown}");
    assert!(!shown.contains("Model missing") && !shown.contains("Fetch "), "{shown}");

    // trio_4bar, not in the cache, is listed with "(fetch)"; picked (clicked in the
    // open picker), the panel names it as missing, with its Fetch button.
    fx.click_text("mel_2bar_small");
    let shown = fx.shown();
    for entry in ["mel_4bar_small_q2 (fetch)", "mel_16bar_small_q2 (fetch)", "trio_4bar (fetch)"] {
        assert!(shown.contains(entry), "{entry:?} listed: {shown}");
    }
    fx.click_text("trio_4bar (fetch)");
    assert_eq!(shared.controller.lock().session().studio_models.generate, "trio_4bar");
    let shown = fx.shown();
    assert!(shown.contains("trio_4bar (fetch)"), "{shown}");
    assert!(
        shown.contains("Model missing: Generate needs the model MusicVAE trio_4bar"),
        "{shown}"
    );
    assert!(shown.contains("Fetch trio_4bar (17.6 MB)"), "{shown}");
    fx.apply(Action::Run);
    {
        let st = shared.studio.lock();
        let (error, text) = st.message.clone().expect("a message");
        assert!(error && text.contains("sema-live model fetch"), "{text}");
        assert!(text.contains("music_vae/trio_4bar"), "{text}");
        assert!(!st.busy() && st.results.is_none());
    }
    shared.studio.lock().message = None;

    // mel_4bar_small_q2 in the cache: Generate ×2 gives 2 clips of 4 bars.
    cache_random_vae(&fx, "mel_4bar_small_q2");
    fx.click_text("trio_4bar (fetch)");
    fx.click_text("mel_4bar_small_q2");
    let shown = fx.shown();
    assert!(shown.contains("mel_4bar_small_q2"), "{shown}");
    assert!(!shown.contains("(fetch)") && !shown.contains("Model missing"), "{shown}");
    let results = fx.run();
    assert_eq!(results.model.name, "mel_4bar_small_q2");
    assert_eq!(results.variations.len(), 2);
    for v in &results.variations {
        assert_eq!(v.total_quantized_steps, Some(64), "4 bars of 16ths");
        assert!(v.notes.iter().all(|n| n.quantized_end_step.unwrap_or(0) <= 64));
    }
    assert!(
        results
            .variations
            .iter()
            .any(|v| v.notes.iter().any(|n| n.quantized_start_step >= Some(32))),
        "notes past bar 2"
    );
    // The bundled model is one pick away, and Interpolate kept its own.
    let saved = shared.controller.lock().session().studio_models.clone();
    assert_eq!(
        (saved.generate.as_str(), saved.interpolate.as_str()),
        ("mel_4bar_small_q2", "mel_2bar_small")
    );
    let state = serde_json::to_string(shared.controller.lock().session()).expect("state");
    assert!(state.contains(r#""generate":"mel_4bar_small_q2""#), "saved with the session");
}

/// Continue on attention_rnn and Interpolate on mel_4bar_small_q2, both picked and read
/// from the model cache (random checkpoints): Continue gives 4 continuations of the
/// played phrase; Interpolate reads its ends over the model's 4 bars and gives 3 steps of
/// 4 bars.
#[test]
fn studio_continue_and_interpolate_run_on_picked_cached_models() {
    use crate::control::state::KeptClip;
    use crate::control::studio::{Input, StudioModel, Tool};
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};
    use crate::ml::random_checkpoint::{write_attention_rnn, RnnSizes};

    let mut fx = StudioFixture::new(17);
    let shared = fx.shared.clone();
    fx.play_in(&[60, 62, 64, 65, 67, 65, 64, 62]);
    let model = StudioModel::named("attention_rnn").expect("catalogued");
    let dir = cache_path(fx.cache.path(), &shared.studio.lock().url(model));
    let sizes = RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![24, 24] };
    write_attention_rnn(&dir, &sizes, 8, Storage::Float32, 4).expect("checkpoint");
    std::fs::write(dir.join(COMPLETE_MARKER), b"").expect("marker");
    cache_random_vae(&fx, "mel_4bar_small_q2");
    {
        let mut c = shared.controller.lock();
        let models = &mut c.session_mut().studio_models;
        Tool::Continue.pick(models, "attention_rnn");
        Tool::Interpolate.pick(models, "mel_4bar_small_q2");
    }
    {
        let mut st = shared.studio.lock();
        let s = &mut st.settings;
        (s.tool, s.input, s.input_bars, s.bars, s.variations, s.temperature) =
            (Tool::Continue, Input::Played, 2, 2, 4, 1.5);
    }
    let results = fx.run();
    assert_eq!(results.model.name, "attention_rnn");
    assert_eq!(results.variations.len(), 4);
    for v in &results.variations {
        assert_eq!(v.total_quantized_steps, Some(32));
        assert!(v.notes.iter().all(|n| (48..=83).contains(&n.pitch)), "{v:?}");
    }

    // Interpolate: from the played phrase (4 bars read: it fills bars 2 and 3) to a kept
    // 4-bar clip.
    let kept = results.variations[0].clone();
    let four_bars = crate::ml::core::note_seq::NoteSequence {
        notes: kept
            .notes
            .iter()
            .flat_map(|n| {
                let later = crate::ml::core::note_seq::Note {
                    quantized_start_step: n.quantized_start_step.map(|s| s + 32),
                    quantized_end_step: n.quantized_end_step.map(|s| s + 32),
                    ..n.clone()
                };
                [n.clone(), later]
            })
            .collect(),
        total_quantized_steps: Some(64),
        ..kept.clone()
    };
    shared
        .controller
        .lock()
        .session_mut()
        .studio_clips
        .push(KeptClip { name: "Four".into(), sequence: four_bars });
    {
        let mut st = shared.studio.lock();
        let s = &mut st.settings;
        (s.tool, s.from, s.to, s.variations, s.temperature) =
            (Tool::Interpolate, Input::Played, Input::Kept(0), 3, 0.0);
        st.results = None;
    }
    let shown = fx.shown();
    assert!(shown.contains("first 4 bar(s)"), "{shown}");
    let results = fx.run();
    assert_eq!((results.tool, results.model.name), (Tool::Interpolate, "mel_4bar_small_q2"));
    assert_eq!(results.variations.len(), 3);
    assert!(results.variations.iter().all(|v| v.total_quantized_steps == Some(64)));
    assert_eq!(shared.studio.lock().loaded(), ["attention_rnn", "mel_4bar_small_q2"]);

    // Continue back on the bundled basic_rnn: attention_rnn, picked by no panel now, is
    // dropped from the worker when basic_rnn loads.
    Tool::Continue.pick(&mut shared.controller.lock().session_mut().studio_models, "basic_rnn");
    {
        let mut st = shared.studio.lock();
        st.settings.tool = Tool::Continue;
        st.results = None;
    }
    assert_eq!(fx.run().model.name, "basic_rnn");
    assert_eq!(shared.studio.lock().loaded(), ["basic_rnn", "mel_4bar_small_q2"]);
}

/// trio_4bar's results (a random checkpoint in the cache): each variation holds melody,
/// bass and drums; kept as a .mid file, each part is on its own channel (melody 1, bass
/// 2, drums 10).
#[test]
fn studio_trio_results_keep_each_part_on_its_channel() {
    use crate::control::studio::{Action, KeepTo, Tool};

    let mut fx = StudioFixture::new(9);
    let shared = fx.shared.clone();
    cache_random_vae(&fx, "trio_4bar");
    Tool::Generate.pick(&mut shared.controller.lock().session_mut().studio_models, "trio_4bar");
    {
        let mut st = shared.studio.lock();
        let s = &mut st.settings;
        (s.tool, s.variations, s.temperature, s.use_key) = (Tool::Generate, 4, 1.5, false);
    }
    let results = fx.run();
    assert_eq!(results.variations.len(), 4);
    let all: Vec<_> = results.variations.iter().flat_map(|v| v.notes.iter()).collect();
    assert!(all.iter().any(|n| n.instrument == Some(0)), "melody notes");
    assert!(all.iter().any(|n| n.instrument == Some(1)), "bass notes");
    assert!(all.iter().any(|n| n.is_drum == Some(true)), "drum hits");
    // The variation with the most parts, kept as .mid.
    let parts = |v: &crate::ml::core::note_seq::NoteSequence| {
        [Some(0), Some(1), Some(2)]
            .iter()
            .filter(|i| v.notes.iter().any(|n| n.instrument == **i))
            .count()
    };
    let best = (0..4).max_by_key(|&i| parts(&results.variations[i])).unwrap_or(0);
    let chosen = results.variations[best].clone();
    {
        let st = shared.studio.lock();
        assert_eq!(
            st.note_channel(&crate::ml::core::note_seq::Note {
                instrument: Some(1),
                ..Default::default()
            }),
            1
        );
        assert_eq!(
            st.note_channel(&crate::ml::core::note_seq::Note {
                instrument: Some(2),
                is_drum: Some(true),
                ..Default::default()
            }),
            9
        );
    }
    shared.studio.lock().apply(Action::Select(best), &shared);
    // Auditioned from bar 5, each part's notes leave on its channel.
    shared.studio.lock().apply(Action::Audition(true), &shared);
    let ons = fx.note_ons();
    // Bar 5 is the clip's first bar (the rendering covers bars 4 and 5).
    let first_bar: Vec<_> =
        chosen.notes.iter().filter(|n| n.quantized_start_step < Some(16)).collect();
    assert!(first_bar.len() >= 2, "{first_bar:?}");
    for n in first_bar {
        let channel = match (n.instrument, n.is_drum) {
            (_, Some(true)) => 9,
            (Some(1), _) => 1,
            _ => 0,
        };
        let at = 96_000 + n.quantized_start_step.unwrap_or(0) as usize * 6_000;
        assert!(
            ons.contains(&(at, channel, n.pitch as u8)),
            "{n:?} on channel {} at sample {at}: {ons:?}",
            channel + 1
        );
    }
    shared.studio.lock().apply(Action::Keep(KeepTo::MidiFile), &shared);
    let bytes = std::fs::read(fx.folder.path().join("generate-1.mid")).expect("the .mid");
    for (instrument, status) in [(0, 0x90u8), (1, 0x91), (2, 0x99)] {
        if chosen.notes.iter().any(|n| n.instrument == Some(instrument)) {
            assert!(bytes.contains(&status), "part {instrument}: note-ons {status:#x}");
        }
    }
    assert!(parts(&chosen) >= 2, "a variation with at least two parts");
}

/// A fetch from a slow server (4 KB every 50 ms) is cancelled from the panel: the thread
/// ends within a second, the model cache holds nothing (no model, no partial folder),
/// the panel says it was cancelled and offers Fetch again.
#[test]
fn studio_fetch_can_be_cancelled() {
    use crate::control::studio::{Action, Tool};
    use crate::ml::core::resolve::tests::serve_slowly;
    use crate::ml::core::resolve::{cache_path, cached};

    let served = tempfile::tempdir().expect("temp dir");
    let ckpt = served.path().join("music_vae/mel_4bar_small_q2");
    write_random_vae(&ckpt, "mel_4bar_small_q2");
    let files = std::fs::read_dir(&ckpt).expect("served files").count();
    let mut fx = StudioFixture::new(3);
    let shared = fx.shared.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let url = format!("{base}/music_vae/mel_4bar_small_q2");
    let server = serve_slowly(
        listener,
        served.path().to_path_buf(),
        files,
        4096,
        Duration::from_millis(50),
        None,
    );
    shared.studio.lock().checkpoints = base;
    shared.studio.lock().settings.tool = Tool::Generate;
    Tool::Generate
        .pick(&mut shared.controller.lock().session_mut().studio_models, "mel_4bar_small_q2");
    let shown = fx.shown();
    assert!(shown.contains("Fetch mel_4bar_small_q2 (26.5 MB)"), "{shown}");
    fx.apply(Action::Fetch("mel_4bar_small_q2".into()));
    // The shards are coming in, slowly.
    fx.frames_until("download", |st| {
        st.fetch_status().is_some_and(|(_, s)| s.contains("KB") || s.contains("checkpoint"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let shown = fx.shown();
    assert!(shown.contains("Fetching mel_4bar_small_q2: ") && shown.contains("Cancel"), "{shown}");
    let handle = shared.studio.lock().fetch_cancel_handle().expect("a download");
    let t0 = Instant::now();
    fx.apply(Action::CancelFetch);
    fx.frames_until("cancel", |st| st.fetch_status().is_none());
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(1), "the download ended {took:?} after Cancel");
    assert_eq!(Arc::strong_count(&handle), 1, "the download's thread has ended");
    let (error, text) = shared.studio.lock().message.clone().expect("a message");
    assert!(!error && text.contains("mel_4bar_small_q2 was cancelled"), "{text}");
    let shown = fx.shown();
    assert!(shown.contains("cancelled"), "{shown}");
    assert!(shown.contains("Fetch mel_4bar_small_q2"), "Fetch is offered again: {shown}");
    assert!(cached(fx.cache.path(), &url).is_none());
    let dir = cache_path(fx.cache.path(), &url);
    assert!(!dir.exists(), "no model in the cache");
    let parent = dir.parent().expect("a parent");
    let left: Vec<_> = std::fs::read_dir(parent).into_iter().flatten().flatten().collect();
    assert!(left.is_empty(), "nothing left beside it: {left:?}");
    server.join().expect("the server saw the client go");
}

/// The plugin closes mid-download (a server that stopped sending): dropping the Studio
/// cancels the download and joins its thread at once; nothing reaches the cache.
#[test]
fn closing_the_plugin_mid_fetch_cancels_and_joins_the_download() {
    use crate::control::studio::Action;
    use crate::ml::core::resolve::cache_path;
    use crate::ml::core::resolve::tests::serve_slowly;
    use crate::ml::random_checkpoint::{write_rnn_family, RnnFamily};

    let served = tempfile::tempdir().expect("temp dir");
    let ckpt = served.path().join("music_rnn/drum_kit_rnn");
    write_rnn_family(
        &ckpt,
        &RnnFamily::drum_kit_rnn(vec![128, 128]),
        crate::ml::core::checkpoint::Storage::Float32,
        9,
    )
    .expect("checkpoint");
    let files = std::fs::read_dir(&ckpt).expect("served files").count();
    let mut fx = drums_fixture(13);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (release, stall) = std::sync::mpsc::channel::<()>();
    let server = serve_slowly(
        listener,
        served.path().to_path_buf(),
        files,
        4096,
        Duration::from_millis(1),
        Some(stall),
    );
    let shared = fx.shared.clone();
    shared.studio.lock().checkpoints = base.clone();
    fx.apply(Action::Fetch("drum_kit_rnn".into()));
    fx.frames_until("download", |st| {
        st.fetch_status().is_some_and(|(_, s)| s.contains("checkpoint"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let handle = shared.studio.lock().fetch_cancel_handle().expect("a download");
    assert!(!handle.is_cancelled());
    let cache = fx.cache.path().to_path_buf();
    let keep_cache = std::mem::replace(&mut fx.cache, tempfile::tempdir().expect("temp dir"));
    // The plugin and its editor close: the Studio goes with their shared state.
    let gone = Arc::downgrade(&shared);
    drop(shared);
    let t0 = Instant::now();
    drop(fx);
    let took = t0.elapsed();
    assert!(gone.upgrade().is_none(), "the shared state (and the Studio) were dropped");
    assert!(handle.is_cancelled());
    assert_eq!(Arc::strong_count(&handle), 1, "the download's thread has ended");
    assert!(took < Duration::from_secs(1), "dropping took {took:?}");
    let dir = cache_path(&cache, &format!("{base}/music_rnn/drum_kit_rnn"));
    assert!(!dir.exists());
    let left: Vec<_> =
        std::fs::read_dir(dir.parent().expect("parent")).into_iter().flatten().flatten().collect();
    assert!(left.is_empty(), "no partial download left: {left:?}");
    drop(release);
    server.join().expect("the server ended");
    drop(keep_cache);
}

/// A picture of the Studio panel (Continue, 4 variations, the third selected) drawn from
/// the headless frames by `snapshot`: it shows the panel's text and the selected
/// variation's piano roll. `SEMA_LIVE_SCREENSHOT=$PWD/docs/studio.png cargo test -p
/// sema_live --lib studio_panel_picture` (from the repository root) writes the README's
/// picture (a relative path is taken from `plugin/`, where tests run).
#[test]
fn studio_panel_picture() {
    use crate::control::studio::{Input, Tool};

    let mut fx = StudioFixture::new(7);
    fx.play_in(&[60, 62, 64, 65, 67, 65, 64, 62]);
    {
        let mut st = fx.shared.studio.lock();
        let s = &mut st.settings;
        (s.tool, s.input, s.input_bars, s.bars, s.variations) =
            (Tool::Continue, Input::Played, 2, 2, 4);
    }
    // The piano roll's notes, melody blue.
    let blue = |p: &[u8; 3]| p == &[110, 170, 240];
    studio_picture(
        &mut fx,
        2,
        "Continue: 4 variations in one batch",
        &blue,
        "SEMA_LIVE_SCREENSHOT",
    );
}

/// The same picture of the Drumify panel (a tapped rhythm, 4 grooves of a random
/// tap2drum_2bar, the second selected; hits fainter as they are softer):
/// `SEMA_LIVE_SCREENSHOT_DRUMIFY=$PWD/docs/studio-drumify.png cargo test -p sema_live
/// --lib studio_drumify_picture`.
#[test]
fn studio_drumify_picture() {
    use crate::control::studio::{Input, StudioModel, Tool};
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};

    let mut fx = StudioFixture::new(8);
    fx.play_in(&[60, 60, 64, 60, 60, 67, 60, 64]);
    let url = fx.shared.studio.lock().url(StudioModel::named("tap2drum_2bar").expect("model"));
    let dir = cache_path(fx.cache.path(), &url);
    drop(crate::ml::studio::tests::small_groove(&dir, true));
    std::fs::write(dir.join(COMPLETE_MARKER), b"").expect("marker");
    {
        let mut st = fx.shared.studio.lock();
        let s = &mut st.settings;
        (s.tool, s.groove_input, s.variations, s.temperature) =
            (Tool::Drumify, Input::Played, 4, 1.0);
    }
    // Hits of several loudnesses: orange, faded towards the background.
    let hit = |p: &[u8; 3]| p[0] > 60 && p[0] as i32 > p[2] as i32 + 40;
    studio_picture(
        &mut fx,
        1,
        "Drumify: 4 grooves in one batch",
        &hit,
        "SEMA_LIVE_SCREENSHOT_DRUMIFY",
    );
}

/// Runs the selected tool of `fx`, selects variation `select`, and rasterises the editor
/// with `status` as the status line (a fixed text keeps the picture stable); checks the
/// Studio panel holds anti-aliased text and over 100 pixels the piano roll's notes
/// (`note`) paint; writes the PNG to the path in `$env` if it is set.
fn studio_picture(
    fx: &mut StudioFixture,
    select: usize,
    status: &str,
    note: &dyn Fn(&[u8; 3]) -> bool,
    env: &str,
) {
    use super::snapshot::{rasterise, write_png, Textures};
    use crate::control::studio::Action;

    let shared = fx.shared.clone();
    shared.studio.lock().settings.folder = "~/Music/Sema Live/clips".into();
    shared.controller.lock().session_mut().editor.studio_width = Some(420.0);
    let (ed, ctx) = (&mut fx.ed, &fx.ctx);
    ed.layout.studio_width = Some(420.0);
    ed.session_path = "~/Music/Sema Live/session.sema.toml".into();
    ed.export_path = "~/Music/Sema Live/notes.mid".into();
    let mut textures = Textures::default();
    let shot = |ed: &mut SemaEditor, textures: &mut Textures| {
        let mut out = frame_keeping_textures(ctx, ed);
        textures.apply(&out.textures_delta);
        out.textures_delta.clear();
        out
    };
    shot(ed, &mut textures);
    shared.studio.lock().apply(Action::Run, &shared);
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.studio.lock().results.is_none() {
        assert!(Instant::now() < deadline, "{:?}", shared.studio.lock().message);
        shot(ed, &mut textures);
        std::thread::sleep(Duration::from_millis(5));
    }
    shared.studio.lock().apply(Action::Select(select), &shared);
    shared.studio.lock().message = Some((false, status.into()));
    shot(ed, &mut textures);
    let out = shot(ed, &mut textures);
    let primitives = ctx.tessellate(out.shapes, out.pixels_per_point);
    let size = egui::vec2(1180.0, 760.0);
    let bg = ctx.global_style().visuals.panel_fill;
    let (w, h, img) = rasterise(&primitives, &textures, out.pixels_per_point, size, bg);
    assert_eq!((w, h), (1180, 760));
    // The Studio panel (the right 420 points) holds text and the piano roll's notes.
    let quant = |p: &[f32; 3]| p.map(|v| (v * 255.0).round() as u8);
    let panel: Vec<[u8; 3]> = (0..h)
        .flat_map(|y| (w - 400..w).map(move |x| (x, y)))
        .map(|(x, y)| quant(&img[y * w + x]))
        .collect();
    let distinct: std::collections::HashSet<[u8; 3]> = panel.iter().copied().collect();
    assert!(distinct.len() > 50, "{} colours: the text is drawn anti-aliased", distinct.len());
    let notes = panel.iter().filter(|p| note(p)).count();
    assert!(notes > 100, "{notes} pixels of the piano roll's notes");
    if let Ok(path) = std::env::var(env) {
        write_png(std::path::Path::new(&path), w, h, &img).expect("write the PNG");
        let bytes = std::fs::read(&path).expect("read it back");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        println!("wrote {path} ({w}x{h})");
    }
}

/// [`frame`] that keeps the texture changes (the font atlas) for [`snapshot`].
fn frame_keeping_textures(ctx: &egui::Context, ed: &mut SemaEditor) -> egui::FullOutput {
    let gui = GuiContext::new(Arc::new(TestHost));
    let setter = gui.param_setter();
    let raw = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1180.0, 760.0))),
        ..Default::default()
    };
    ctx.run_ui(raw, |ui| ed.draw(ui, &setter))
}

/// The Studio's Drumify panel end to end: picked by clicking its tab, it names its
/// missing model (tap2drum_2bar, download-only); with a GrooVAE checkpoint of that shape
/// in the cache (random weights), a rhythm played in becomes 4 drum performances (hits
/// off the 16th grid, velocities of their own); the audition plays the chosen one from
/// the next bar line on MIDI channel 10 at its own times and velocities, and keeping it
/// writes those into the session and a .mid file.
#[test]
fn studio_drumify_turns_a_played_rhythm_into_4_grooves() {
    use crate::control::studio::{Action, Input, KeepTo, StudioModel, Tool};
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};

    let mut fx = StudioFixture::new(21);
    let shared = fx.shared.clone();
    fx.play_in(&[60, 60, 64, 60, 60, 67, 60, 64]);
    fx.frame();
    fx.click_text("Drumify");
    assert_eq!(shared.studio.lock().settings.tool, Tool::Drumify);
    let shown = fx.shown();
    assert!(shown.contains("Model missing") && shown.contains("tap2drum_2bar"), "{shown}");
    assert!(shown.contains("Turns a tapped rhythm into drums"), "{shown}");

    // The model fetched into the cache: a random checkpoint of a 2-bar GrooVAE.
    let model = StudioModel::named("tap2drum_2bar").expect("catalogued");
    let url = shared.studio.lock().url(model);
    assert!(url.ends_with("/groovae/tap2drum_2bar"), "{url}");
    let dir = cache_path(fx.cache.path(), &url);
    drop(crate::ml::studio::tests::small_groove(&dir, true));
    std::fs::write(dir.join(COMPLETE_MARKER), b"").expect("marker");
    assert!(!fx.shown().contains("Model missing"));
    {
        let mut st = shared.studio.lock();
        let s = &mut st.settings;
        (s.groove_input, s.variations, s.temperature) = (Input::Played, 4, 1.0);
    }
    let results = fx.run();
    assert_eq!(results.tool, Tool::Drumify);
    let v = &results.variations;
    assert_eq!(v.len(), 4);
    let step = 60.0 / 120.0 / 4.0;
    let off_grid = |n: &crate::ml::core::note_seq::Note| {
        let s = n.start_time.unwrap_or(0.0) / step;
        (s - s.round()).abs() > 1e-3
    };
    for seq in v {
        assert!(!seq.is_quantized() && !seq.notes.is_empty());
        assert!((seq.total_time.unwrap_or(0.0) - 32.0 * step).abs() < 1e-9, "2 bars");
        assert!(seq.notes.iter().all(|n| n.is_drum == Some(true)));
    }
    assert!(v.iter().any(|s| s != &v[0]), "the variations differ");
    let all: Vec<_> = v.iter().flat_map(|s| &s.notes).collect();
    assert!(all.iter().any(|n| off_grid(n)), "some hits are off the grid");
    let velocities: std::collections::BTreeSet<_> = all.iter().map(|n| n.velocity).collect();
    assert!(velocities.len() > 3, "{velocities:?}");
    assert!(fx.shown().contains("Drumify variations"));

    // Audition the second from bar 5: its hits leave on channel 10 at their own times.
    let chosen = v[1].clone();
    {
        let mut st = shared.studio.lock();
        st.apply(Action::Select(1), &shared);
        st.apply(Action::Audition(true), &shared);
        assert_eq!((st.auditioning, st.channel()), (Some(1), 9), "{:?}", st.message);
    }
    // The render covers bars 4 and 5: the variation's first bar.
    let ons = fx.note_ons();
    let mut want: Vec<(usize, u8)> = chosen
        .notes
        .iter()
        .map(|n| (96_000 + (n.start_time.unwrap() * 48_000.0).round() as usize, n.pitch as u8))
        .filter(|&(at, _)| at < 192_000)
        .collect();
    want.sort();
    let bar5: Vec<(usize, u8)> = ons
        .iter()
        .filter(|&&(at, ch, _)| ch == 9 && (96_000..192_000).contains(&at))
        .map(|&(at, _, key)| (at, key))
        .collect();
    assert!(want.len() > 4);
    assert_eq!(bar5.len(), want.len(), "{bar5:?} vs {want:?}");
    for ((at, key), (want_at, want_key)) in bar5.iter().zip(&want) {
        assert_eq!(key, want_key);
        assert!(at.abs_diff(*want_at) <= 1, "hit at {at}, expected {want_at}");
    }

    // Keep: the session holds the performance as made; the .mid file its times.
    {
        let mut st = shared.studio.lock();
        st.apply(Action::Keep(KeepTo::Session), &shared);
        st.apply(Action::Keep(KeepTo::MidiFile), &shared);
        assert_eq!(st.undo_depth(), 2, "{:?}", st.message);
    }
    let kept = shared.controller.lock().session().studio_clips.clone();
    assert_eq!((kept[0].name.as_str(), &kept[0].sequence), ("Drumify 1", &chosen));
    let bytes = std::fs::read(fx.folder.path().join("drumify-1.mid")).expect("the .mid");
    let mut notes = crate::cli::midi_file::decode_notes(&bytes).expect("a MIDI file");
    // By key, then time (hits of different keys may be a tick apart).
    notes.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.total_cmp(&b.0)));
    assert_eq!(notes.len(), chosen.notes.len());
    let mut beats: Vec<(f64, u8)> =
        chosen.notes.iter().map(|n| (n.start_time.unwrap() * 2.0, n.pitch as u8)).collect();
    beats.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.total_cmp(&b.0)));
    for (n, (b, key)) in notes.iter().zip(&beats) {
        assert_eq!(n.2, *key);
        assert!((n.0 - b).abs() < 0.01, "a hit at beat {} in the file, {b} made", n.0);
    }
}
