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
mod samples;

use egui::text::{CCursor, CCursorRange};
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

pub use highlight::line_count;
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

/// Where a clicked console message points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jump {
    pub pane: Pane,
    /// 1-based line and column.
    pub line: usize,
    pub col: usize,
}

/// Evaluated lines of one editor and when the evaluation happened.
struct Flash {
    pane: Pane,
    lines: RangeInclusive<usize>,
    started: Instant,
}

/// 1-based line of the character at `char_index` in `text`.
pub fn line_of_char(text: &str, char_index: usize) -> usize {
    1 + text.chars().take(char_index).filter(|&c| c == '\n').count()
}

/// Character index of 1-based `line` and `col` in `text`, clamped to the end of that line
/// (and to the end of the text for lines past the last).
pub fn char_index(text: &str, line: usize, col: usize) -> usize {
    let mut index = 0;
    for (i, l) in text.split('\n').enumerate() {
        let len = l.chars().count();
        if i + 1 == line.max(1) {
            return index + col.max(1).min(len + 1) - 1;
        }
        index += len + 1;
    }
    text.chars().count()
}

/// Where a console message with `source` should take the cursor, if anywhere.
pub fn jump_target(source: Source) -> Option<Jump> {
    match source {
        Source::Dsl { line, col } if line > 0 => {
            Some(Jump { pane: Pane::Dsl, line, col: col.max(1) })
        }
        Source::Js { line: Some(line), .. } if line > 0 => {
            Some(Jump { pane: Pane::Js, line, col: 1 })
        }
        _ => None,
    }
}

/// What an evaluation key press asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Compile the whole DSL program.
    Dsl,
    /// Run one JS block or line: code, block index, first line of the code in the file.
    Js { code: String, block: usize, first_line: usize },
    /// Nothing to evaluate (cursor on a separator, empty block).
    Nothing,
}

impl Evaluation {
    /// The lines that flash when this evaluation runs (`dsl` is the DSL editor's text).
    pub fn lines(&self, dsl: &str) -> Option<(Pane, RangeInclusive<usize>)> {
        match self {
            Evaluation::Dsl => Some((Pane::Dsl, 1..=line_count(dsl))),
            Evaluation::Js { code, first_line, .. } => {
                let n = code.trim_end_matches('\n').split('\n').count().max(1);
                Some((Pane::Js, *first_line..=first_line + n - 1))
            }
            Evaluation::Nothing => None,
        }
    }
}

/// Routes Ctrl+Enter (`line_only` false) or Shift+Enter (`line_only` true) in `pane`,
/// with the cursor on `line`: the DSL is always evaluated whole, as in Sema; JS evaluates
/// the block under the cursor or the cursor's line.
pub fn route_evaluation(pane: Pane, js: &str, line: usize, line_only: bool) -> Evaluation {
    match pane {
        Pane::Dsl => Evaluation::Dsl,
        Pane::Js => {
            let Some(block) = crate::js::blocks::block_at_line(js, line) else {
                return Evaluation::Nothing;
            };
            if line_only {
                let code = js.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
                if code.trim().is_empty() {
                    return Evaluation::Nothing;
                }
                Evaluation::Js { code, block: block.index, first_line: line }
            } else if block.code.trim().is_empty() {
                Evaluation::Nothing
            } else {
                Evaluation::Js {
                    code: block.code,
                    block: block.index,
                    first_line: block.first_line,
                }
            }
        }
    }
}

/// Which code editor an evaluation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Dsl,
    Js,
}

/// The vertical range the scope shows for `values`: their min..max, widened to include 0
/// and to a small span when the signal is flat.
pub fn scope_range(values: impl IntoIterator<Item = f32>) -> (f32, f32) {
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-6 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// The DSL's `scop` values as a line, oldest at the left, auto-ranged, with the range.
fn scope_view(ui: &mut egui::Ui, values: &std::collections::VecDeque<f32>) {
    let (rect, _) = ui.allocate_exact_size(ui.available_size(), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let (lo, hi) = scope_range(values.iter().copied());
    let y = |v: f32| rect.bottom() - (v - lo) / (hi - lo) * rect.height();
    let zero = y(0.0);
    painter.hline(rect.x_range(), zero, ui.visuals().widgets.noninteractive.bg_stroke);
    let n = values.len().max(2) as f32 - 1.0;
    let points: Vec<egui::Pos2> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| egui::pos2(rect.left() + i as f32 / n * rect.width(), y(v)))
        .collect();
    painter.add(egui::Shape::line(
        points,
        egui::Stroke::new(1.2, egui::Color32::from_rgb(120, 200, 140)),
    ));
    let label = format!("scop  {lo:.3} … {hi:.3}");
    let font = egui::FontId::monospace(10.0);
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        label,
        font,
        ui.visuals().weak_text_color(),
    );
}

/// One code editor: what the frame did.
struct CodeOutput {
    /// Cursor line when the editor has a cursor.
    cursor_line: Option<usize>,
    focused: bool,
    changed: bool,
    /// Vertical scroll offset in points.
    scroll: f32,
}

/// Everything [`code_view`] needs besides the text.
struct CodeView<'a> {
    id: &'static str,
    lang: Language,
    font: egui::FontId,
    marks: &'a highlight::Marks,
    theme: &'a highlight::Theme,
    /// Scroll offset to restore (first frame only).
    restore_scroll: Option<f32>,
    /// Put the cursor here, focus the editor and scroll to it.
    jump: Option<(usize, usize)>,
}

/// The id of the text editor of [`code_view`] `id`.
fn code_text_id(id: &str) -> egui::Id {
    egui::Id::unique(("sema-live-code", id))
}

/// A code editor with a line-number gutter and syntax highlighting, in its own scroll
/// area (no line wrapping, so gutter numbers stay on their lines).
fn code_view(ui: &mut egui::Ui, text: &mut String, view: CodeView<'_>) -> CodeOutput {
    let text_id = code_text_id(view.id);
    if let Some((line, col)) = view.jump {
        let idx = char_index(text, line, col);
        let mut state = egui::TextEdit::load_state(ui.ctx(), text_id).unwrap_or_default();
        state.cursor.set_char_range(Some(CCursorRange::one(CCursor::new(idx))));
        egui::TextEdit::store_state(ui.ctx(), text_id, state);
        ui.memory_mut(|m| m.request_focus(text_id));
    }
    let mut area = egui::ScrollArea::both().id_salt(view.id).auto_shrink([false, false]);
    if let Some(y) = view.restore_scroll {
        area = area.vertical_scroll_offset(y);
    }
    let weak = ui.visuals().weak_text_color();
    let min_height = ui.available_height();
    let out = area.show(ui, |ui| {
        ui.horizontal_top(|ui| {
            let digits = line_count(text).to_string().len().max(2);
            let char_w = ui.fonts_mut(|f| f.glyph_width(&view.font, '0'));
            let gutter_w = digits as f32 * char_w + 8.0;
            let (gutter, _) =
                ui.allocate_exact_size(egui::vec2(gutter_w, 1.0), egui::Sense::hover());
            // The code font (size from the layout) for the text edit and the highlighter.
            ui.style_mut().text_styles.insert(egui::TextStyle::Monospace, view.font.clone());
            let mut layouter = |ui: &egui::Ui, buf: &dyn egui::TextBuffer, _wrap: f32| {
                // No wrapping: each text line is one row, beside its number.
                highlight::galley(
                    ui,
                    buf.as_str(),
                    f32::INFINITY,
                    view.lang,
                    view.theme,
                    view.marks,
                )
            };
            let output = egui::TextEdit::multiline(text)
                .id(text_id)
                .code_editor()
                .desired_width(ui.available_width())
                .min_size(egui::vec2(0.0, min_height - 4.0))
                .layouter(&mut layouter)
                .show(ui);
            let painter = ui.painter();
            for (i, top) in highlight::line_tops(&output.galley).into_iter().enumerate() {
                painter.text(
                    egui::pos2(gutter.right() - 4.0, output.galley_pos.y + top),
                    egui::Align2::RIGHT_TOP,
                    (i + 1).to_string(),
                    view.font.clone(),
                    weak,
                );
            }
            if let Some((line, col)) = view.jump {
                let idx = char_index(text, line, col);
                let rect = output
                    .galley
                    .pos_from_cursor(CCursor::new(idx))
                    .translate(output.galley_pos.to_vec2());
                ui.scroll_to_rect(rect.expand(8.0), Some(egui::Align::Center));
            }
            output
        })
        .inner
    });
    let output = out.inner;
    CodeOutput {
        cursor_line: output.cursor_range.map(|r| line_of_char(text, r.primary.index.0)),
        focused: output.response.has_focus(),
        changed: output.response.changed(),
        scroll: out.state.clamped_offset().y,
    }
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
mod tests {
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
            Evaluation::Js {
                code: "console.log(a);\nvar b = 2;\n".into(),
                block: 1,
                first_line: 3
            }
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
    fn frame(
        ctx: &egui::Context,
        ed: &mut SemaEditor,
        events: Vec<egui::Event>,
    ) -> egui::FullOutput {
        let gui = GuiContext::new(Arc::new(TestHost));
        let setter = gui.param_setter();
        let raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1180.0, 760.0),
            )),
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
                let record =
                    NoteRecord { bars: at, bpm: 120.0, on, channel: 0, key, velocity: 0.8 };
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
        plugin.outlets.publish(&[], &[], &[], &wave, &[]);
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
}
