//! The editor window (egui): the live-code (DSL) and JS editors, the console, the status
//! strip and the parameter controls.

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::console::{Level, Source};
use crate::Shared;

/// The editor's initial size in logical pixels.
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(1100.0_f64, 720.0), 1.0)
}

pub fn create(shared: Arc<Shared>, state: Arc<EguiEditorState>) -> Option<EguiEditor<SemaEditor>> {
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
    shared: Arc<Shared>,
    gui: Option<GuiContext>,
    dsl: String,
    js: String,
    /// The code editor that had keyboard focus last frame (where Ctrl+Enter goes).
    focus: Option<Pane>,
    /// Cursor line (1-based) in each editor, from the last frame.
    dsl_line: usize,
    js_line: usize,
    /// Path typed into the session field (Open / Save).
    session_path: String,
}

/// 1-based line of the character at `char_index` in `text`.
pub fn line_of_char(text: &str, char_index: usize) -> usize {
    1 + text.chars().take(char_index).filter(|&c| c == '\n').count()
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
                Evaluation::Js { code: block.code, block: block.index, first_line: block.first_line }
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

impl SemaEditor {
    fn new(shared: Arc<Shared>) -> Self {
        let (dsl, js) = {
            let c = shared.controller.lock();
            (c.session().dsl.clone(), c.session().js.clone())
        };
        let session_path = dirs::home_dir()
            .map(|h| h.join("session.sema.toml").to_string_lossy().into_owned())
            .unwrap_or_default();
        Self { shared, gui: None, dsl, js, focus: None, dsl_line: 1, js_line: 1, session_path }
    }

    /// Carries out an evaluation: DSL errors go to the console and the old patch plays on;
    /// JS runs on the instance's JS thread.
    fn evaluate(&mut self, eval: Evaluation) {
        match eval {
            Evaluation::Dsl => {
                let mut c = self.shared.controller.lock();
                if c.eval_dsl(&self.dsl).is_ok() {
                    c.console().info(Source::System, "live code evaluated");
                }
            }
            Evaluation::Js { code, block, first_line } => {
                self.shared.controller.lock().session_mut().js = self.js.clone();
                self.shared.js.eval_block(code, block, first_line, &self.shared.controller, &self.shared.inlets);
            }
            Evaluation::Nothing => {}
        }
    }

    /// Opens a session file: its code and channel data replace the current ones.
    fn open_session(&mut self) {
        let path = std::path::PathBuf::from(self.session_path.trim());
        match crate::session::Session::load(&path) {
            Ok(session) => {
                let mut c = self.shared.controller.lock();
                c.load_state(session.to_state());
                self.dsl = c.session().dsl.clone();
                self.js = c.session().js.clone();
                c.console().info(Source::System, format!("opened {}", path.display()));
            }
            Err(e) => self.shared.console.error(Source::System, e),
        }
    }

    /// Saves the current code and channel data as a session file.
    fn save_session(&mut self) {
        let path = std::path::PathBuf::from(self.session_path.trim());
        let c = self.shared.controller.lock();
        let clock = self.shared.status.clock();
        let settings = crate::session::Settings {
            bpm: clock.bpm,
            beats_per_bar: clock.beats_per_bar.round().clamp(1.0, 64.0) as u8,
            ..Default::default()
        };
        let session = crate::session::Session::from_state(c.session(), settings);
        match session.save(&path) {
            Ok(()) => c.console().info(Source::System, format!("saved {}", path.display())),
            Err(e) => c.console().error(Source::System, e),
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
        });
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
        });
    }

    fn console(&self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical().stick_to_bottom(true).show(ui, |ui| {
            for line in self.shared.console.snapshot() {
                let color = match line.level {
                    Level::Error => egui::Color32::from_rgb(240, 110, 110),
                    Level::Warn => egui::Color32::from_rgb(230, 190, 90),
                    Level::Info => ui.visuals().text_color(),
                };
                let prefix = match line.source {
                    Source::Dsl { .. } => "dsl",
                    Source::Js { .. } => "js",
                    Source::Model => "model",
                    Source::System => "sema",
                };
                ui.colored_label(color, egui::RichText::new(format!("[{prefix}] {}", line.text)).monospace());
            }
        });
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
        let setter = gui.param_setter();
        self.shared.js.drain_console(&self.shared.console);
        // Take the evaluation keys before the text editors see them (no stray newline).
        let (block_key, line_key) = ui.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter),
                i.consume_key(egui::Modifiers::SHIFT, egui::Key::Enter),
            )
        });
        let (mut open, mut save) = (false, false);
        egui::Panel::top("status").show(ui, |ui| {
            self.status_strip(ui);
            self.controls(ui, &setter);
            ui.horizontal(|ui| {
                ui.label("Session");
                ui.add(egui::TextEdit::singleline(&mut self.session_path).desired_width(360.0));
                open = ui.button("Open").clicked();
                save = ui.button("Save").clicked();
            });
        });
        if open {
            self.open_session();
        }
        if save {
            self.save_session();
        }
        egui::Panel::bottom("console").resizable(true).default_size(140.0).show(ui, |ui| {
            self.console(ui);
        });
        let mut clicked = None;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.columns(2, |cols| {
                cols[0].horizontal(|ui| {
                    ui.strong("Live code");
                    if ui.button("Evaluate").on_hover_text("Ctrl+Enter").clicked() {
                        clicked = Some(Pane::Dsl);
                    }
                });
                let dsl = egui::ScrollArea::vertical().id_salt("dsl").show(&mut cols[0], |ui| {
                    egui::TextEdit::multiline(&mut self.dsl).code_editor().desired_width(f32::INFINITY).show(ui)
                });
                cols[1].horizontal(|ui| {
                    ui.strong("JavaScript");
                    if ui.button("Evaluate block").on_hover_text("Ctrl+Enter; Shift+Enter: line").clicked() {
                        clicked = Some(Pane::Js);
                    }
                });
                let js = egui::ScrollArea::vertical().id_salt("js").show(&mut cols[1], |ui| {
                    egui::TextEdit::multiline(&mut self.js).code_editor().desired_width(f32::INFINITY).show(ui)
                });
                if let Some(r) = dsl.inner.cursor_range {
                    self.dsl_line = line_of_char(&self.dsl, r.primary.index.0);
                }
                if let Some(r) = js.inner.cursor_range {
                    self.js_line = line_of_char(&self.js, r.primary.index.0);
                }
                if dsl.inner.response.has_focus() {
                    self.focus = Some(Pane::Dsl);
                } else if js.inner.response.has_focus() {
                    self.focus = Some(Pane::Js);
                }
                if js.inner.response.changed() {
                    self.shared.controller.lock().session_mut().js = self.js.clone();
                }
            });
        });
        let pane = clicked.or(if block_key || line_key { self.focus } else { None });
        if let Some(pane) = pane {
            let eval = route_evaluation(pane, &self.js, self.js_line, line_key && clicked.is_none());
            self.evaluate(eval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
