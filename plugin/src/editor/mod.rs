//! The editor window (egui): the live-code (DSL) and JS editors with line numbers and
//! syntax highlighting, the console (click a located message to jump to its line), the
//! status strip, the parameter controls and the melody view with `.mid` export.
//!
//! The editor only ever talks to the audio thread through the controller (which hands
//! patches over lock-free) and reads the audio thread's atomics and note log. Its text,
//! panel sizes, scroll offsets and window size are written into the session, which the
//! host saves with the project.

pub mod highlight;
pub mod melody;
mod routing;
mod samples;
#[cfg(test)]
mod snapshot;
mod studio;
mod widgets;

use routing::{jump_target, route_evaluation, Evaluation, Jump, Pane};
use widgets::{code_text_id, code_view, scope_view, CodeView};

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp,
};
use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::console::{Level, Source};
use crate::control::controller::{self, EvalError};
use crate::control::state::EditorLayout;
use crate::ControlSide;

pub use highlight::Language;
pub use melody::NoteHistory;

/// How long evaluated code flashes.
const FLASH: Duration = Duration::from_millis(450);
/// Bars of history the melody view shows.
const BARS_SHOWN: f64 = 8.0;
/// Values of the DSL's `scop` the scope shows.
const SCOPE_LEN: usize = 1024;
/// The scope hides this long after the last `scop` value.
const SCOPE_HOLD: Duration = Duration::from_secs(3);
/// How long the MIDI-in light stays lit after an event.
const MIDI_IN_HOLD: Duration = Duration::from_millis(250);
/// Smallest window the resize corner allows, in logical points.
const MIN_WINDOW: egui::Vec2 = egui::vec2(720.0, 480.0);
/// Width the Studio panels open with, in logical points.
const STUDIO_WIDTH: f32 = 380.0;

/// The editor's initial size in logical pixels.
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(1180.0_f64, 760.0), 1.0)
}

pub fn create(
    shared: Arc<ControlSide>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<SemaEditor>> {
    let app = SemaEditor::new(shared);
    create_egui_editor(
        state,
        nice_plug_egui::RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Sema Live"),
        app,
    )
}

/// The editor app. Text buffers live here while the window is open and are written back
/// to the session (saved with the project) on every change.
pub struct SemaEditor {
    shared: Arc<ControlSide>,
    gui: Option<GuiContext>,
    dsl: String,
    js: String,
    /// The code editor that had keyboard focus last (where Ctrl+Enter goes).
    focus: Option<Pane>,
    /// Cursor line (1-based) in each editor, from the last frame.
    dsl_line: usize,
    js_line: usize,
    /// Path typed into the session field (Open / Save).
    session_path: String,
    /// Panel sizes, scroll offsets, window size and unevaluated DSL text, as last written
    /// to the session.
    layout: EditorLayout,
    /// `Controller::loads` when the text was taken from the session: a newer load (host
    /// state restore, Open) replaces the editor's text.
    loads: u64,
    /// Set until the first frame restored scroll offsets and the window size.
    restore: bool,
    /// A line to move the cursor to (a clicked console message).
    jump: Option<Jump>,
    /// The code that was just evaluated, flashing.
    flash: Option<Flash>,
    /// Line of the first error of the last failed DSL evaluation.
    dsl_error_line: Option<usize>,
    /// Notes the plugin sent, paired, for the melody view and the export.
    history: NoteHistory,
    /// Bars the `.mid` export covers.
    export_bars: u32,
    /// Where the export writes.
    export_path: String,
    /// The latest `scop` values, oldest first, and when the last one arrived.
    scope: std::collections::VecDeque<f32>,
    scope_seen: Option<Instant>,
    /// When the last MIDI input event arrived, and the last note played into the plugin
    /// (or by its clip), for the status strip's MIDI-in indicator.
    midi_in_seen: Option<Instant>,
    midi_in_note: Option<u8>,
    /// Panics caught in `draw` (kept across the resets they cause).
    crashes: Arc<crate::js::Crashes>,
    /// Test hook: the next frame panics.
    #[cfg(test)]
    panic_next: bool,
}

/// Evaluated lines of one editor and when the evaluation happened.
struct Flash {
    pane: Pane,
    lines: RangeInclusive<usize>,
    started: Instant,
}

impl SemaEditor {
    fn new(shared: Arc<ControlSide>) -> Self {
        let (dsl, js, layout, loads) = {
            let c = shared.controller.lock();
            let s = c.session();
            (
                s.editor.dsl_text.clone().unwrap_or_else(|| s.dsl.clone()),
                s.js.clone(),
                s.editor.clone(),
                c.loads(),
            )
        };
        let home = dirs::home_dir().unwrap_or_default();
        Self {
            shared,
            gui: None,
            dsl,
            js,
            focus: None,
            dsl_line: 1,
            js_line: 1,
            session_path: home.join("session.sema.toml").to_string_lossy().into_owned(),
            layout,
            loads,
            restore: true,
            jump: None,
            flash: None,
            dsl_error_line: None,
            history: NoteHistory::default(),
            export_bars: 8,
            export_path: home.join("sema-live-notes.mid").to_string_lossy().into_owned(),
            scope: std::collections::VecDeque::with_capacity(SCOPE_LEN),
            scope_seen: None,
            midi_in_seen: None,
            midi_in_note: None,
            crashes: Arc::default(),
            #[cfg(test)]
            panic_next: false,
        }
    }

    /// One frame, with a panic in it caught: reported on the console and the status
    /// strip, the editor's own state (text buffers, scroll, flashes) is rebuilt from the
    /// session, and the next frame draws normally. The host never sees the panic.
    fn draw_guarded(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.draw(ui, setter)));
        if let Err(payload) = run {
            let message = crate::js::panic_message(&*payload);
            self.crashes.record(&message);
            self.shared.console.error(
                Source::System,
                format!(
                    "the editor crashed ({message}) and was reset from the session; \
                     the audio and the scripts were not affected"
                ),
            );
            let crashes = self.crashes.clone();
            let gui = self.gui.take();
            *self = SemaEditor::new(self.shared.clone());
            self.crashes = crashes;
            self.gui = gui;
        }
    }

    /// Takes the text and layout from the session again when it was replaced (host state
    /// restore, Open) since the editor last looked.
    fn follow_session(&mut self) {
        let c = self.shared.controller.lock();
        if c.loads() == self.loads {
            return;
        }
        let s = c.session();
        self.loads = c.loads();
        self.dsl = s.editor.dsl_text.clone().unwrap_or_else(|| s.dsl.clone());
        self.js = s.js.clone();
        self.layout = s.editor.clone();
        self.restore = true;
        self.dsl_error_line = None;
    }

    /// Carries out an evaluation: DSL errors go to the console and the old patch plays on;
    /// JS runs on the instance's JS thread.
    fn evaluate(&mut self, eval: Evaluation) {
        if let Some((pane, lines)) = eval.lines(&self.dsl) {
            self.flash = Some(Flash { pane, lines, started: Instant::now() });
        }
        match eval {
            Evaluation::Dsl => {
                // Compiles without holding the controller's lock; errors (including a full
                // engine queue) are on the console.
                match controller::eval_dsl(&self.shared.controller, &self.dsl) {
                    Ok(()) => {
                        self.dsl_error_line = None;
                        self.shared.console.info(Source::System, "live code evaluated");
                    }
                    Err(EvalError::Compile(errors)) => {
                        self.dsl_error_line = errors.first().map(|e| e.line)
                    }
                    Err(EvalError::QueueFull) => {}
                }
            }
            Evaluation::Js { code, block, first_line } => {
                self.shared.controller.lock().session_mut().js = self.js.clone();
                self.shared.js.eval_block(code, block, first_line, &self.shared.controller);
            }
            Evaluation::Nothing => {}
        }
    }

    /// The "Resume JS on load" box: whether reopening the project runs the JS evaluated in
    /// it again (saved with the project).
    fn resume_js_box(&mut self, ui: &mut egui::Ui) {
        let (mut on, count) = {
            let c = self.shared.controller.lock();
            (c.session().resume_js, c.session().js_evaluated.len())
        };
        let hover = format!(
            "When the project is reopened, run the JS evaluated in it again, in order \
             ({count} evaluation(s) recorded), so bar callbacks and model calls resume"
        );
        if ui.checkbox(&mut on, "Resume JS on load").on_hover_text(hover).changed() {
            self.shared.controller.lock().session_mut().resume_js = on;
        }
    }

    /// Opens a session file: its code and channel data replace the current ones.
    fn open_session(&mut self) {
        let path = std::path::PathBuf::from(self.session_path.trim());
        match crate::cli::session::Session::load(&path) {
            Ok(session) => {
                let mut c = self.shared.controller.lock();
                c.load_state(session.to_state());
                c.console().info(Source::System, format!("opened {}", path.display()));
            }
            Err(e) => self.shared.console.error(Source::System, e.to_string()),
        }
        self.follow_session();
    }

    /// Saves the current code and channel data as a session file.
    fn save_session(&mut self) {
        let path = std::path::PathBuf::from(self.session_path.trim());
        let c = self.shared.controller.lock();
        let clock = self.shared.status.clock();
        let settings = crate::cli::session::Settings {
            bpm: clock.bpm,
            beats_per_bar: clock.beats_per_bar.round().clamp(1.0, 64.0) as u8,
            ..Default::default()
        };
        let mut state = c.session().clone();
        state.dsl = self.dsl.clone();
        state.js = self.js.clone();
        let session = crate::cli::session::Session::from_state(&state, settings);
        match session.save(&path) {
            Ok(()) => c.console().info(Source::System, format!("saved {}", path.display())),
            Err(e) => c.console().error(Source::System, e.to_string()),
        }
    }

    /// Writes the notes of the last `export_bars` bars as a standard MIDI file.
    fn export_midi(&mut self) {
        let clock = self.shared.status.clock();
        let now = clock.bar as f64 + clock.bar_phase;
        let bytes = melody::export_last_bars(
            &self.history,
            now,
            self.export_bars,
            clock.beats_per_bar.max(1.0),
            // The tempo the notes were played at; the export falls back to 120 if unknown.
            self.history.last_bpm().unwrap_or(clock.bpm),
        );
        let path = std::path::PathBuf::from(self.export_path.trim());
        let console = &self.shared.console;
        match std::fs::write(&path, &bytes) {
            Ok(()) => console.info(
                Source::System,
                format!(
                    "exported the last {} bars of notes to {}",
                    self.export_bars,
                    path.display()
                ),
            ),
            Err(e) => {
                console.error(Source::System, format!("cannot write {}: {e}", path.display()))
            }
        }
    }

    fn status_strip(&self, ui: &mut egui::Ui) {
        let s = &self.shared.status;
        let clock = s.clock();
        let beat = (clock.bar_phase * clock.beats_per_bar).floor() as i64 + 1;
        let sync = self.shared.params.sync.value();
        ui.horizontal(|ui| {
            ui.monospace(format!("{:6.1} bpm", clock.bpm));
            ui.separator();
            ui.monospace(format!("{:>4}:{}", clock.bar + 1, beat));
            ui.separator();
            ui.monospace(if clock.playing { "playing" } else { "stopped" });
            ui.separator();
            ui.monospace(if sync { "sync: host" } else { "sync: free" });
            ui.separator();
            ui.monospace(format!("DSP {:4.1}%", s.dsp_load.load(Ordering::Relaxed) * 100.0));
            ui.separator();
            self.midi_in_indicator(ui);
            ui.separator();
            let crashes = [
                ("JS", self.shared.js.crashes.count(), self.shared.js.crashes.last.lock().clone()),
                ("editor", self.crashes.count(), self.crashes.last.lock().clone()),
            ];
            for (what, n, last) in crashes {
                if n > 0 {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        egui::RichText::new(format!("{what} restarted ×{n}")).monospace(),
                    )
                    .on_hover_text(format!("last crash: {}", last.unwrap_or_default()));
                    ui.separator();
                }
            }
            let models = &self.shared.js.models;
            let summary = models.summary();
            let error = models.last_error.lock().clone();
            match error {
                Some(e) => {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        egui::RichText::new(summary).monospace(),
                    )
                    .on_hover_text(e);
                }
                None => {
                    ui.monospace(summary);
                }
            }
        });
    }

    /// "MIDI in": a light that is lit for a moment after each event, the last note played,
    /// and how many events were dropped (only when some were).
    fn midi_in_indicator(&self, ui: &mut egui::Ui) {
        let lit = self.midi_in_seen.is_some_and(|t| t.elapsed() < MIDI_IN_HOLD);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(9.0, 9.0), egui::Sense::hover());
        let color = if lit {
            egui::Color32::from_rgb(90, 210, 120)
        } else {
            ui.visuals().widgets.inactive.bg_fill
        };
        ui.painter().circle_filled(rect.center(), 4.0, color);
        let note = self.midi_in_note.map(|k| melody::pitch_name(k as i32));
        ui.monospace(format!("MIDI in {}", note.as_deref().unwrap_or("–")));
        let dropped = self.shared.status.midi_in_dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            ui.colored_label(
                egui::Color32::from_rgb(230, 190, 90),
                egui::RichText::new(format!("{dropped} dropped")).monospace(),
            )
            .on_hover_text(
                "MIDI input events dropped: too many in one block, or the script fell behind",
            );
        }
    }

    /// The Studio panels (see [`studio`]); returns what the user asked for.
    fn studio_panel(&mut self, ui: &mut egui::Ui) -> Vec<crate::control::studio::Action> {
        let (kept, mut models): (Vec<String>, _) = {
            let c = self.shared.controller.lock();
            let kept = c.session().studio_clips.iter().map(|k| k.name.clone()).collect();
            (kept, c.session().studio_models.clone())
        };
        let key = self.shared.js.view.scale().map(|s| s.label());
        let before = models.clone();
        let actions = {
            let mut st = self.shared.studio.lock();
            if st.busy() || st.fetch_status().is_some() {
                ui.ctx().request_repaint();
            }
            studio::studio_panel(ui, &mut st, &kept, key, &mut models)
        };
        // The picks are saved with the session.
        if models != before {
            self.shared.controller.lock().session_mut().studio_models = models;
        }
        actions
    }

    fn controls(&self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let p = &self.shared.params;
        ui.horizontal_wrapped(|ui| {
            ui.label("Temperature");
            ui.add(ParamSlider::for_param(&p.temperature, setter).with_width(90.0));
            ui.label("Gain");
            ui.add(ParamSlider::for_param(&p.gain, setter).with_width(90.0));
            ui.label("Sync");
            ui.add(ParamSlider::for_param(&p.sync, setter).with_width(50.0));
            for (i, m) in p.macros().iter().enumerate() {
                ui.label(format!("M{}", i + 1));
                ui.add(ParamSlider::for_param(*m, setter).with_width(60.0));
            }
            ui.label("MIDI thru");
            ui.add(ParamSlider::for_param(&p.midi_thru, setter).with_width(50.0));
            ui.label("Key");
            ui.add(ParamSlider::for_param(&p.key, setter).with_width(50.0));
            ui.add(ParamSlider::for_param(&p.scale, setter).with_width(110.0));
        });
    }

    fn console(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .id_salt("console")
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for line in self.shared.console.snapshot() {
                    let color = match line.level {
                        Level::Error => egui::Color32::from_rgb(240, 110, 110),
                        Level::Warn => egui::Color32::from_rgb(230, 190, 90),
                        Level::Info | Level::Log => ui.visuals().text_color(),
                    };
                    let prefix = match line.source {
                        Source::Dsl { .. } => "dsl",
                        Source::Js { .. } => "js",
                        Source::Model => "model",
                        Source::System => "sema",
                    };
                    let target = jump_target(line.source);
                    let text = egui::RichText::new(format!("[{prefix}] {}", line.text))
                        .monospace()
                        .color(color);
                    let label = egui::Label::new(text).sense(if target.is_some() {
                        egui::Sense::click()
                    } else {
                        egui::Sense::hover()
                    });
                    let response = ui.add(label);
                    if let Some(target) = target {
                        if response.on_hover_text("Click to go to this line").clicked() {
                            self.jump = Some(target);
                        }
                    }
                }
            });
    }

    fn melody_panel(&mut self, ui: &mut egui::Ui) {
        let clock = self.shared.status.clock();
        let now = clock.bar as f64 + clock.bar_phase;
        // A copy, so the controller is not locked while drawing (the arrays are short).
        let channels = self.shared.controller.lock().session().channels.clone();
        let mut export = false;
        ui.horizontal(|ui| {
            ui.strong("Melody");
            ui.separator();
            export =
                ui.button("Export .mid").on_hover_text("The notes sent in the last bars").clicked();
            ui.add(egui::DragValue::new(&mut self.export_bars).range(1..=64).suffix(" bars"));
            ui.add(
                egui::TextEdit::singleline(&mut self.export_path)
                    .desired_width(ui.available_width()),
            );
        });
        if self.scope_seen.is_some_and(|t| t.elapsed() < SCOPE_HOLD) {
            egui::Panel::bottom("scope")
                .exact_size(72.0)
                .show(ui, |ui| scope_view(ui, &self.scope));
        }
        melody::melody_view(
            ui,
            &channels,
            &self.history,
            now,
            BARS_SHOWN,
            clock.beats_per_bar.max(1.0),
        );
        if export {
            self.export_midi();
        }
    }

    /// Moves the notes and `scop` values the audio thread logged since the last frame
    /// into the history and the scope.
    fn drain_audio_logs(&mut self) {
        if let Some(mut rx) = self.shared.inlets.notes.try_lock() {
            while let Ok(n) = rx.pop() {
                self.history.push(n);
            }
        }
        if let Some(mut rx) = self.shared.inlets.scope.try_lock() {
            while let Ok(v) = rx.pop() {
                if self.scope.len() == SCOPE_LEN {
                    self.scope.pop_front();
                }
                self.scope.push_back(v);
                self.scope_seen = Some(Instant::now());
            }
        }
        if let Some(mut rx) = self.shared.inlets.midi_in.try_lock() {
            while let Ok(e) = rx.pop() {
                self.midi_in_seen = Some(Instant::now());
                if e.event.kind == crate::audio::midi_in::MidiInKind::NoteOn {
                    self.midi_in_note = Some(e.event.key);
                }
            }
        }
    }

    /// Marks (flash, error line) for one editor.
    fn marks(&self, pane: Pane) -> highlight::Marks {
        let flash = self.flash.as_ref().filter(|f| f.pane == pane).and_then(|f| {
            let t = f.started.elapsed().as_secs_f32() / FLASH.as_secs_f32();
            (t < 1.0).then(|| (f.lines.clone(), 1.0 - t))
        });
        let error_line = if pane == Pane::Dsl { self.dsl_error_line } else { None };
        highlight::Marks { flash, error_line }
    }

    /// Writes the layout (and unevaluated DSL text) to the session when it changed.
    fn store_layout(&mut self, layout: EditorLayout) {
        if layout != self.layout {
            self.shared.controller.lock().session_mut().editor = layout.clone();
            self.layout = layout;
        }
    }
}

impl NiceEguiApp for SemaEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let Some(gui) = self.gui.clone() else { return };
        self.draw_guarded(ui, &gui.param_setter());
    }
}

impl SemaEditor {
    /// One frame of the whole window.
    fn draw(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        #[cfg(test)]
        if std::mem::take(&mut self.panic_next) {
            panic!("test panic in the editor");
        }
        self.shared.js.drain_console(&self.shared.console);
        self.follow_session();
        self.drain_audio_logs();
        self.shared.studio.lock().poll(&self.shared);
        let restore = std::mem::take(&mut self.restore);
        if restore {
            if let Some([w, h]) = self.layout.window {
                let size = egui::vec2(w, h).max(MIN_WINDOW);
                if (ui.ctx().content_rect().size() - size).length() > 1.0 {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
                }
            }
        }
        // Take the evaluation keys before the text editors see them (no stray newline).
        // COMMAND is Cmd on macOS and Ctrl elsewhere.
        let (block_key, line_key) = ui.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter),
                i.consume_key(egui::Modifiers::SHIFT, egui::Key::Enter),
            )
        });
        let mut layout = self.layout.clone();
        let window = ui.ctx().content_rect().size();
        layout.window = Some([window.x, window.y]);
        let font = egui::FontId::monospace(layout.font_size.clamp(8.0, 32.0));
        let theme = highlight::Theme::for_visuals(ui.visuals());
        let (dsl_marks, js_marks) = (self.marks(Pane::Dsl), self.marks(Pane::Js));
        if dsl_marks.flash.is_some() || js_marks.flash.is_some() {
            ui.ctx().request_repaint();
        }
        let jump = self.jump.take();
        let mut clicked = None;
        let (mut open, mut save) = (false, false);
        let mut studio_actions = Vec::new();

        ResizableWindow::new("sema-live-window").min_size(MIN_WINDOW).show(ui, |ui| {
            egui::Panel::top("status").show(ui, |ui| {
                self.status_strip(ui);
                self.controls(ui, setter);
                ui.horizontal(|ui| {
                    ui.label("Session");
                    ui.add(egui::TextEdit::singleline(&mut self.session_path).desired_width(360.0));
                    open = ui.button("Open").clicked();
                    save = ui.button("Save").clicked();
                    ui.separator();
                    ui.label("Font");
                    ui.add(
                        egui::DragValue::new(&mut layout.font_size).range(8.0..=32.0).speed(0.2),
                    );
                    ui.separator();
                    let mut studio_open = layout.studio_width.is_some();
                    if ui
                        .toggle_value(&mut studio_open, "Studio")
                        .on_hover_text(
                            "Continue, Generate, Interpolate, Drums: variations to audition",
                        )
                        .changed()
                    {
                        layout.studio_width = studio_open.then_some(STUDIO_WIDTH);
                    }
                });
            });
            let bottom = egui::Panel::bottom("console")
                .resizable(true)
                .default_size(layout.console_height)
                .size_range(60.0..=600.0)
                .show(ui, |ui| {
                    let melody = egui::Panel::right("melody")
                        .resizable(true)
                        .default_size(layout.melody_width)
                        .size_range(200.0..=900.0)
                        .show(ui, |ui| self.melody_panel(ui));
                    layout.melody_width = melody.response.rect.width();
                    egui::CentralPanel::default().show(ui, |ui| self.console(ui));
                });
            layout.console_height = bottom.response.rect.height();
            if let Some(width) = layout.studio_width {
                let panel = egui::Panel::right("studio")
                    .resizable(true)
                    .default_size(width)
                    .size_range(300.0..=720.0)
                    .show(ui, |ui| {
                        egui::ScrollArea::vertical()
                            .id_salt("studio")
                            .show(ui, |ui| self.studio_panel(ui))
                    });
                studio_actions = panel.inner.inner;
                layout.studio_width = Some(panel.response.rect.width());
            }
            let total = ui.available_width().max(1.0);
            let dsl_panel = egui::Panel::left("dsl")
                .resizable(true)
                .default_size(total * layout.split.clamp(0.15, 0.85))
                .size_range(160.0..=(total - 160.0).max(160.0))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.strong("Live code");
                        if ui
                            .button("Evaluate")
                            .on_hover_text("Ctrl+Enter (Cmd+Enter on macOS)")
                            .clicked()
                        {
                            clicked = Some(Pane::Dsl);
                        }
                        samples::menu(ui, &self.shared, &mut self.dsl, code_text_id("dsl"));
                    });
                    code_view(
                        ui,
                        &mut self.dsl,
                        CodeView {
                            id: "dsl",
                            lang: Language::Dsl,
                            font: font.clone(),
                            marks: &dsl_marks,
                            theme: &theme,
                            restore_scroll: restore.then_some(layout.dsl_scroll),
                            jump: jump.filter(|j| j.pane == Pane::Dsl).map(|j| (j.line, j.col)),
                        },
                    )
                });
            layout.split = dsl_panel.response.rect.width() / total;
            let js = egui::CentralPanel::default().show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.strong("JavaScript");
                    if ui
                        .button("Evaluate block")
                        .on_hover_text("Ctrl+Enter; Shift+Enter: line")
                        .clicked()
                    {
                        clicked = Some(Pane::Js);
                    }
                    self.resume_js_box(ui);
                });
                code_view(
                    ui,
                    &mut self.js,
                    CodeView {
                        id: "js",
                        lang: Language::Js,
                        font: font.clone(),
                        marks: &js_marks,
                        theme: &theme,
                        restore_scroll: restore.then_some(layout.js_scroll),
                        jump: jump.filter(|j| j.pane == Pane::Js).map(|j| (j.line, j.col)),
                    },
                )
            });
            let (dsl, js) = (dsl_panel.inner, js.inner);
            layout.dsl_scroll = dsl.scroll;
            layout.js_scroll = js.scroll;
            if let Some(l) = dsl.cursor_line {
                self.dsl_line = l;
            }
            if let Some(l) = js.cursor_line {
                self.js_line = l;
            }
            if dsl.focused {
                self.focus = Some(Pane::Dsl);
            } else if js.focused {
                self.focus = Some(Pane::Js);
            }
            if js.changed {
                self.shared.controller.lock().session_mut().js = self.js.clone();
            }
            if dsl.changed {
                self.dsl_error_line = None;
            }
        });
        if let Some(j) = jump {
            self.focus = Some(j.pane);
        }
        if !studio_actions.is_empty() || layout.studio_width.is_some() {
            // The Studio's Continue reads what the JS thread recorded: make sure it runs.
            self.shared.js.ensure_started(&self.shared.controller);
        }
        for action in studio_actions {
            self.shared.studio.lock().apply(action, &self.shared);
        }
        if open {
            self.open_session();
        }
        if save {
            self.save_session();
        }
        let pane = clicked.or(if block_key || line_key { self.focus } else { None });
        if let Some(pane) = pane {
            let eval =
                route_evaluation(pane, &self.js, self.js_line, line_key && clicked.is_none());
            self.evaluate(eval);
        }
        // Unevaluated DSL edits are kept with the project too.
        let evaluated = self.shared.controller.lock().session().dsl == self.dsl;
        layout.dsl_text = (!evaluated).then(|| self.dsl.clone());
        self.store_layout(layout);
        // The transport and the melody view move with the host.
        ui.ctx().request_repaint_after(Duration::from_millis(33));
    }
}

#[cfg(test)]
mod tests;
