//! The Studio panels (Magenta Studio's workflow, no code needed): tabs for Continue,
//! Generate, Interpolate and Drums, the settings of the selected one, its run button, and
//! the variations of the last run as clips to step through, audition on the host's loop,
//! keep and undo. The state lives in [`crate::control::studio::Studio`]; this file only
//! draws it and returns the [`Action`]s the user asked for, which the editor applies after
//! the frame (so tests apply the same actions without clicking).

use egui::{Color32, Rect, Sense, Stroke, Vec2};

use crate::control::studio::{Action, Input, KeepTo, Studio, Tool, MAX_BARS};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::studio::MAX_VARIATIONS;

/// Draws the panel; returns what was asked for. `kept` names the session's kept clips and
/// `key` the host's key ("D minor", or None while the `scale` parameter is off).
pub fn studio_panel(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    kept: &[String],
    key: Option<String>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.horizontal(|ui| {
        ui.strong("Studio");
        ui.separator();
        for tool in Tool::ALL {
            if ui.selectable_label(studio.settings.tool == tool, tool.name()).clicked() {
                studio.settings.tool = tool;
            }
        }
    });
    ui.separator();
    let busy = studio.busy();
    // Drums' model is download-only: say what is missing before a run is tried.
    let drums_missing =
        if studio.settings.tool == Tool::Drums { studio.drum_model_missing() } else { None };
    let fetching = studio.fetch_status();
    let drum_url = studio.drum_url.clone();
    let s = &mut studio.settings;
    match s.tool {
        Tool::Continue => {
            input_row(ui, "Input", "continue-input", &mut s.input, kept);
            ui.horizontal(|ui| {
                ui.label("Input bars");
                ui.add(egui::DragValue::new(&mut s.input_bars).range(1..=MAX_BARS));
                ui.label("Length");
                ui.add(egui::DragValue::new(&mut s.bars).range(1..=MAX_BARS).suffix(" bars"));
            });
            common_row(ui, &mut s.temperature, &mut s.variations, 1, "Variations");
        }
        Tool::Generate => {
            ui.label("New 2-bar melodies sampled from MusicVAE mel_2bar_small.");
            common_row(ui, &mut s.temperature, &mut s.variations, 1, "Variations");
        }
        Tool::Interpolate => {
            input_row(ui, "From", "interp-from", &mut s.from, kept);
            input_row(ui, "To", "interp-to", &mut s.to, kept);
            ui.horizontal(|ui| {
                ui.label("Input bars");
                ui.add(egui::DragValue::new(&mut s.input_bars).range(1..=MAX_BARS));
            });
            common_row(ui, &mut s.temperature, &mut s.variations, 2, "Steps");
        }
        Tool::Drums => {
            ui.label("Continues a drum pattern with MusicRNN drum_kit_rnn (download-only).");
            input_row(ui, "Input", "drums-input", &mut s.drum_input, kept);
            ui.horizontal(|ui| {
                ui.label("Input bars");
                ui.add(egui::DragValue::new(&mut s.input_bars).range(1..=MAX_BARS));
                ui.label("Length");
                ui.add(egui::DragValue::new(&mut s.bars).range(1..=MAX_BARS).suffix(" bars"));
            });
            common_row(ui, &mut s.temperature, &mut s.variations, 1, "Variations");
            if let Some(missing) = &drums_missing {
                ui.label(
                    egui::RichText::new(format!("Model missing: {missing}"))
                        .color(Color32::from_rgb(240, 170, 90)),
                );
                // The download runs on a thread of its own; the panel shows its progress.
                ui.horizontal_wrapped(|ui| match &fetching {
                    Some(status) => {
                        ui.spinner();
                        ui.label(format!("Fetching: {status}"));
                    }
                    None => {
                        if ui
                            .button("Fetch drum_kit_rnn (11.9 MB)")
                            .on_hover_text(format!("Downloads {drum_url} into the model cache"))
                            .clicked()
                        {
                            actions.push(Action::FetchDrums);
                        }
                    }
                });
            }
        }
    }
    if s.tool != Tool::Drums {
        ui.horizontal(|ui| {
            let text = match &key {
                Some(k) => format!("Key: {k} (host parameters)"),
                None => "Key: off (set the key and scale parameters)".into(),
            };
            ui.checkbox(&mut s.use_key, text);
        });
    }
    let label = format!("{} ×{}", s.tool.name(), s.variations);
    let activity = studio.activity();
    ui.horizontal(|ui| {
        if ui.add_enabled(!busy, egui::Button::new(label)).clicked() {
            actions.push(Action::Run);
        }
        if let Some(a) = activity {
            ui.spinner();
            ui.label(a);
        }
    });
    if let Some((error, text)) = &studio.message {
        let color =
            if *error { Color32::from_rgb(240, 110, 110) } else { ui.visuals().text_color() };
        ui.label(egui::RichText::new(text).color(color));
    }
    results(ui, studio, &mut actions);
    actions
}

/// Temperature and the number of variations (at least `min`).
fn common_row(ui: &mut egui::Ui, t: &mut f32, n: &mut usize, min: usize, what: &str) {
    ui.horizontal(|ui| {
        ui.label("Temperature");
        ui.add(egui::DragValue::new(t).range(0.0..=2.0).speed(0.01));
        ui.label(what);
        ui.add(egui::DragValue::new(n).range(min..=MAX_VARIATIONS));
    });
}

/// A choice of input: the phrase played in, a kept clip or a .mid file.
fn input_row(ui: &mut egui::Ui, label: &str, id: &str, input: &mut Input, kept: &[String]) {
    ui.horizontal(|ui| {
        ui.label(label);
        let shown = match input {
            Input::Played => "played in".to_string(),
            Input::Kept(i) => kept.get(*i).cloned().unwrap_or_else(|| format!("kept #{}", *i + 1)),
            Input::File(_) => ".mid file".to_string(),
        };
        egui::ComboBox::from_id_salt(id).selected_text(shown).show_ui(ui, |ui| {
            if ui.selectable_label(*input == Input::Played, "played in").clicked() {
                *input = Input::Played;
            }
            for (i, name) in kept.iter().enumerate() {
                if ui.selectable_label(*input == Input::Kept(i), name).clicked() {
                    *input = Input::Kept(i);
                }
            }
            if ui.selectable_label(matches!(input, Input::File(_)), ".mid file").clicked()
                && !matches!(input, Input::File(_))
            {
                *input = Input::File(String::new());
            }
        });
        if let Input::File(path) = input {
            ui.add(
                egui::TextEdit::singleline(path)
                    .hint_text("/path/to/phrase.mid")
                    .desired_width(ui.available_width()),
            );
        }
    });
}

/// The variations: one button each, a piano roll of the selected one, audition, keep
/// and undo.
fn results(ui: &mut egui::Ui, studio: &mut Studio, actions: &mut Vec<Action>) {
    let Some(r) = &studio.results else { return };
    ui.separator();
    let n = r.variations.len();
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("{} variations", r.tool.name()));
        for i in 0..n {
            if ui.selectable_label(studio.selected == i, format!("{}", i + 1)).clicked() {
                actions.push(Action::Select(i));
            }
        }
        if ui.small_button("<").on_hover_text("previous variation").clicked() && n > 0 {
            actions.push(Action::Select((studio.selected + n - 1) % n));
        }
        if ui.small_button(">").on_hover_text("next variation").clicked() && n > 0 {
            actions.push(Action::Select((studio.selected + 1) % n));
        }
    });
    if let Some(seq) = r.variations.get(studio.selected) {
        piano_roll(ui, seq);
    }
    let playing = studio.auditioning.is_some();
    let undo = studio.undo_depth() > 0;
    let drums = r.tool == Tool::Drums;
    let s = &mut studio.settings;
    ui.horizontal_wrapped(|ui| {
        // Plain text: the default fonts have no ▶ / ■ glyphs (they drew as boxes).
        let label = if playing { "Stop" } else { "Audition" };
        if ui
            .button(label)
            .on_hover_text(
                "Plays from the next bar line on the host's loop, as MIDI and into the live code",
            )
            .clicked()
        {
            actions.push(Action::Audition(!playing));
        }
        ui.label("MIDI ch");
        let channel = if drums { &mut s.drum_channel } else { &mut s.midi_channel };
        let mut ch = *channel + 1;
        if ui.add(egui::DragValue::new(&mut ch).range(1..=16)).changed() {
            *channel = ch - 1;
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Keep:");
        if ui.button("Session").clicked() {
            actions.push(Action::Keep(KeepTo::Session));
        }
        if ui.button(".mid").on_hover_text(&s.folder).clicked() {
            actions.push(Action::Keep(KeepTo::MidiFile));
        }
        if ui.button("JS channel").clicked() {
            actions.push(Action::Keep(KeepTo::JsChannel));
        }
        ui.add(egui::DragValue::new(&mut s.js_channel).range(0..=63));
        if ui.add_enabled(undo, egui::Button::new("Undo")).clicked() {
            actions.push(Action::Undo);
        }
    });
    ui.horizontal(|ui| {
        ui.label("Folder");
        ui.add(egui::TextEdit::singleline(&mut s.folder).desired_width(ui.available_width()));
    });
}

/// The notes of a quantized sequence as bars on a pitch/step grid.
fn piano_roll(ui: &mut egui::Ui, seq: &NoteSequence) {
    let size = Vec2::new(ui.available_width().max(120.0), 90.0);
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let steps = seq.total_quantized_steps.unwrap_or(32).max(1) as f32;
    let (lo, hi) = seq
        .notes
        .iter()
        .fold((i32::MAX, i32::MIN), |(lo, hi), n| (lo.min(n.pitch), hi.max(n.pitch)));
    if lo > hi {
        return;
    }
    let (lo, hi) = (lo - 2, hi + 2);
    let row = rect.height() / (hi - lo + 1) as f32;
    // Bar lines every 16 steps.
    let grid = Stroke::new(1.0, ui.visuals().widgets.noninteractive.bg_stroke.color);
    let mut s = 0.0;
    while s <= steps {
        let x = rect.left() + rect.width() * s / steps;
        painter.line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], grid);
        s += 16.0;
    }
    let fill = Color32::from_rgb(110, 170, 240);
    for n in &seq.notes {
        let (Some(a), Some(b)) = (n.quantized_start_step, n.quantized_end_step) else { continue };
        let x0 = rect.left() + rect.width() * a as f32 / steps;
        let x1 = rect.left() + rect.width() * b as f32 / steps;
        let y = rect.bottom() - (n.pitch - lo + 1) as f32 * row;
        let r =
            Rect::from_min_max(egui::pos2(x0, y), egui::pos2(x1.max(x0 + 2.0), y + row.max(2.0)));
        painter.rect_filled(r, 1.0, fill);
    }
}
