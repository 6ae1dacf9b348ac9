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
        Self { shared, gui: None, dsl, js }
    }

    /// Evaluates the whole DSL program; errors go to the console and the old patch plays on.
    fn eval_dsl(&mut self) {
        let mut c = self.shared.controller.lock();
        if c.eval_dsl(&self.dsl).is_ok() {
            c.console().info(Source::System, "DSL program evaluated");
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
        let ctrl_enter = ui.input(|i| i.key_pressed(egui::Key::Enter) && i.modifiers.command);
        egui::Panel::top("status").show(ui, |ui| {
            self.status_strip(ui);
            self.controls(ui, &setter);
        });
        egui::Panel::bottom("console").resizable(true).default_size(140.0).show(ui, |ui| {
            self.console(ui);
        });
        let mut focused = None;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.columns(2, |cols| {
                cols[0].horizontal(|ui| {
                    ui.strong("Live code");
                    if ui.button("Evaluate (Ctrl+Enter)").clicked() {
                        focused = Some(Pane::Dsl);
                    }
                });
                let dsl = egui::ScrollArea::vertical().id_salt("dsl").show(&mut cols[0], |ui| {
                    ui.add(egui::TextEdit::multiline(&mut self.dsl).code_editor().desired_width(f32::INFINITY))
                });
                cols[1].strong("JavaScript");
                let js = egui::ScrollArea::vertical().id_salt("js").show(&mut cols[1], |ui| {
                    ui.add(egui::TextEdit::multiline(&mut self.js).code_editor().desired_width(f32::INFINITY))
                });
                if js.inner.changed() {
                    self.shared.controller.lock().session_mut().js = self.js.clone();
                }
                if ctrl_enter && dsl.inner.has_focus() {
                    focused = Some(Pane::Dsl);
                }
            });
        });
        if focused == Some(Pane::Dsl) {
            self.eval_dsl();
        }
    }
}
