//! The Studio panels (Magenta Studio's workflow, no code needed): tabs for Continue,
//! Generate, Interpolate, Drums, Drumify and Groove, the settings of the selected one, its run button, and
//! the variations of the last run as clips to step through, audition on the host's loop,
//! keep and undo. The state lives in [`crate::control::studio::Studio`]; this file only
//! draws it and returns the [`Action`]s the user asked for, which the editor applies after
//! the frame (so tests apply the same actions without clicking).

use egui::{Color32, Rect, Sense, Stroke, Vec2};

use crate::control::studio::{
    Action, Input, KeepTo, Parts, Studio, StudioModel, StudioModels, Tool, MAX_BARS,
};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::studio::MAX_VARIATIONS;

/// Draws the panel; returns what was asked for. `kept` names the session's kept clips,
/// `key` the host's key ("D minor", or None while the `scale` parameter is off) and
/// `models` the session's model of each panel (the picker changes it).
pub fn studio_panel(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    kept: &[String],
    key: Option<String>,
    models: &mut StudioModels,
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
    let tool = studio.settings.tool;
    model_picker(ui, studio, tool, models);
    let model = tool.model(models);
    let missing = studio.missing(tool, model);
    let busy = studio.busy();
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
            ui.label(format!("New {} sampled from MusicVAE {}.", model.what, model.name));
            common_row(ui, &mut s.temperature, &mut s.variations, 1, "Variations");
        }
        Tool::Interpolate => {
            input_row(ui, "From", "interp-from", &mut s.from, kept);
            input_row(ui, "To", "interp-to", &mut s.to, kept);
            ui.label(format!(
                "Inputs: their first {} bar(s) ({}'s length)",
                model.bars, model.name
            ));
            common_row(ui, &mut s.temperature, &mut s.variations, 2, "Steps");
        }
        Tool::Drums => {
            ui.label(format!(
                "Continues a drum pattern with MusicRNN {} (download-only).",
                model.name
            ));
            input_row(ui, "Input", "drums-input", &mut s.drum_input, kept);
            ui.horizontal(|ui| {
                ui.label("Input bars");
                ui.add(egui::DragValue::new(&mut s.input_bars).range(1..=MAX_BARS));
                ui.label("Length");
                ui.add(egui::DragValue::new(&mut s.bars).range(1..=MAX_BARS).suffix(" bars"));
            });
            common_row(ui, &mut s.temperature, &mut s.variations, 1, "Variations");
        }
        Tool::Drumify | Tool::Groove => {
            let (does, input) = if s.tool == Tool::Drumify {
                ("Turns a tapped rhythm into drums", "Rhythm")
            } else {
                ("Plays a drum pattern with feel (velocities and timing)", "Drums")
            };
            ui.label(format!(
                "{does} with GrooVAE {} (download-only): {}.",
                model.name, model.what
            ));
            input_row(ui, input, "groove-input", &mut s.groove_input, kept);
            ui.label(format!("Input: its first {} bar(s) ({}'s length)", model.bars, model.name));
            common_row(ui, &mut s.temperature, &mut s.variations, 1, "Variations");
        }
    }
    if !matches!(model.parts, Parts::Drums | Parts::Groove) {
        ui.horizontal(|ui| {
            let text = match &key {
                Some(k) => format!("Key: {k} (host parameters)"),
                None => "Key: off (set the key and scale parameters)".into(),
            };
            ui.checkbox(&mut s.use_key, text);
        });
    }
    // A download-only model not in the cache: say so before a run is tried, with Fetch.
    if let Some(missing) = &missing {
        ui.label(
            egui::RichText::new(format!("Model missing: {missing}"))
                .color(Color32::from_rgb(240, 170, 90)),
        );
    }
    fetch_row(ui, studio, model, missing.is_some(), &mut actions);
    let s = &studio.settings;
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

/// The panel's model: a choice among the models it offers; one that is neither bundled
/// nor in the model cache is listed with "(fetch)".
fn model_picker(ui: &mut egui::Ui, studio: &Studio, tool: Tool, models: &mut StudioModels) {
    let current = tool.model(models);
    let entry = |m: &StudioModel| {
        if studio.available(m) {
            m.name.to_string()
        } else {
            format!("{} (fetch)", m.name)
        }
    };
    ui.horizontal(|ui| {
        ui.label("Model");
        let mut picked = None;
        egui::ComboBox::from_id_salt(("studio-model", tool.name()))
            .selected_text(entry(current))
            .width(220.0)
            .show_ui(ui, |ui| {
                for m in tool.models().iter().filter_map(|n| StudioModel::named(n)) {
                    let r = ui.selectable_label(std::ptr::eq(m, current), entry(m));
                    let origin = if m.bundled { "bundled" } else { "download-only" };
                    let hover = format!("{} {}: {} ({origin})", m.class(), m.name, m.what);
                    if r.on_hover_text(hover).clicked() {
                        picked = Some(m.name);
                    }
                }
            });
        if let Some(name) = picked {
            tool.pick(models, name);
        }
    });
}

/// The download of a model: progress and Cancel while one runs, else a Fetch button for
/// `model` when it is `missing`.
fn fetch_row(
    ui: &mut egui::Ui,
    studio: &Studio,
    model: &StudioModel,
    missing: bool,
    actions: &mut Vec<Action>,
) {
    let fetching = studio.fetch_status();
    if fetching.is_none() && !missing {
        return;
    }
    // The download runs on a thread of its own; the panel shows its progress.
    ui.horizontal_wrapped(|ui| match &fetching {
        Some((name, status)) => {
            ui.spinner();
            ui.label(format!("Fetching {name}: {status}"));
            if ui.button("Cancel").on_hover_text("Stops the download; nothing is kept").clicked() {
                actions.push(Action::CancelFetch);
            }
        }
        None => {
            let size = model.size.map(|s| format!(" ({s})")).unwrap_or_default();
            if ui
                .button(format!("Fetch {}{size}", model.name))
                .on_hover_text(format!("Downloads {} into the model cache", studio.url(model)))
                .clicked()
            {
                actions.push(Action::Fetch(model.name.to_string()));
            }
        }
    });
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
        ui.label(format!("{} variations", r.tool.name())).on_hover_text(format!(
            "{} {}",
            r.model.class(),
            r.model.name
        ));
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
    let parts = r.model.parts;
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
        // Channels shown 1..=16; a trio's parts each have one.
        let channel = |ui: &mut egui::Ui, label: &str, channel: &mut u8| {
            ui.label(label);
            let mut ch = *channel + 1;
            if ui.add(egui::DragValue::new(&mut ch).range(1..=16)).changed() {
                *channel = ch - 1;
            }
        };
        match parts {
            Parts::Melody => channel(ui, "MIDI ch", &mut s.midi_channel),
            Parts::Drums | Parts::Groove => channel(ui, "MIDI ch", &mut s.drum_channel),
            Parts::Trio => {
                channel(ui, "Melody ch", &mut s.midi_channel);
                channel(ui, "Bass", &mut s.bass_channel);
                channel(ui, "Drums", &mut s.drum_channel);
            }
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
    // Steps of a quantized sequence; a groove's times (off the grid) in 16ths of its tempo.
    let per_second = (seq.qpm() / 60.0 * 4.0) as f32;
    let span = |n: &crate::ml::core::note_seq::Note| -> Option<(f32, f32)> {
        match (n.quantized_start_step, n.quantized_end_step, n.start_time, n.end_time) {
            (Some(a), Some(b), ..) => Some((a as f32, b as f32)),
            (_, _, Some(a), Some(b)) => Some((a as f32 * per_second, b as f32 * per_second)),
            _ => None,
        }
    };
    let steps = match (seq.total_quantized_steps, seq.total_time) {
        (Some(t), _) => t as f32,
        (None, Some(t)) => (t as f32 * per_second).round(),
        _ => 32.0,
    }
    .max(1.0);
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
    // Melody blue, a trio's bass green, drum hits orange; a groove's hits fainter as they
    // are softer.
    let fill = |n: &crate::ml::core::note_seq::Note| {
        let c = if n.is_drum == Some(true) {
            Color32::from_rgb(240, 170, 90)
        } else if n.instrument == Some(1) {
            Color32::from_rgb(120, 200, 130)
        } else {
            Color32::from_rgb(110, 170, 240)
        };
        match n.velocity {
            Some(v) if n.start_time.is_some() && n.quantized_start_step.is_none() => {
                c.gamma_multiply(0.3 + 0.7 * v.clamp(0, 127) as f32 / 127.0)
            }
            _ => c,
        }
    };
    for n in &seq.notes {
        let Some((a, b)) = span(n) else { continue };
        let x0 = rect.left() + rect.width() * a / steps;
        let x1 = rect.left() + rect.width() * b / steps;
        let y = rect.bottom() - (n.pitch - lo + 1) as f32 * row;
        let r =
            Rect::from_min_max(egui::pos2(x0, y), egui::pos2(x1.max(x0 + 2.0), y + row.max(2.0)));
        painter.rect_filled(r, 1.0, fill(n));
    }
}
