//! The live-code editor's sample menu: every sample a program can play now (the
//! built-in kit, Sema's pack cache, the sample folder, buffers from JS) and the names of
//! Sema's pack that download on first use, each with where it comes from. Clicking a name
//! inserts its player (`\name`) at the cursor of the live-code editor. An import row
//! copies a folder of WAV files (e.g. a Sema checkout's `assets/samples`) into the sample
//! folder.

use egui::text::{CCursor, CCursorRange};

use crate::control::console::Source;
use crate::control::samples as sources;
use crate::dsl::samples::{sample_name, Origin};
use crate::ControlSide;

/// The "Samples" menu button; `dsl` is the live-code text, `text_id` its editor's id.
pub fn menu(ui: &mut egui::Ui, shared: &ControlSide, dsl: &mut String, text_id: egui::Id) {
    ui.menu_button("Samples", |ui| {
        let (lib, src) = {
            let mut c = shared.controller.lock();
            (c.samples().clone(), c.sample_sources())
        };
        ui.label(format!(
            "Click a name to insert its player. Sample folder: {}",
            src.folder.display()
        ));
        let import_id = egui::Id::unique("sema-live-sample-import");
        let mut path: String = ui.data_mut(|d| d.get_temp(import_id).unwrap_or_default());
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut path)
                    .hint_text("folder to import")
                    .desired_width(260.0),
            );
            if ui
                .button("Import")
                .on_hover_text("Copy its WAV files into the sample folder")
                .clicked()
            {
                import(shared, &path, &src.folder);
            }
        });
        ui.data_mut(|d| d.insert_temp(import_id, path));
        ui.separator();
        let mut chosen = None;
        egui::ScrollArea::vertical().max_height(320.0).show(ui, |ui| {
            egui::Grid::new("sema-live-samples").striped(true).show(ui, |ui| {
                for (name, entry) in lib.entries() {
                    if ui.button(format!("\\{name}")).clicked() {
                        chosen = Some(name.clone());
                    }
                    let secs = entry.buffer.data.len() as f64 / entry.buffer.rate;
                    let from = match &entry.origin {
                        Origin::Kit => "built-in kit (stand-in)".to_string(),
                        Origin::SemaPack(_) => "Sema's pack".to_string(),
                        Origin::Folder(p) => p
                            .file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        Origin::Js => "sema.sendBuffer".to_string(),
                    };
                    ui.label(format!("{secs:.2} s")).on_hover_text(entry.origin.to_string());
                    ui.label(from);
                    ui.end_row();
                }
                if src.pack_url.is_some() {
                    for file in sources::SEMA_PACK {
                        let name = sample_name(file);
                        if lib.contains(&name) {
                            continue;
                        }
                        if ui.button(format!("\\{name}")).clicked() {
                            chosen = Some(name);
                        }
                        ui.label("");
                        ui.label("Sema's pack: downloads on first use");
                        ui.end_row();
                    }
                }
            });
        });
        if let Some(name) = chosen {
            insert_at_cursor(ui.ctx(), dsl, text_id, &format!("\\{name}"));
            ui.close();
        }
    });
}

/// Imports `path` into `folder`; the result goes to the console.
fn import(shared: &ControlSide, path: &str, folder: &std::path::Path) {
    let console = &shared.console;
    let path = path.trim();
    if path.is_empty() {
        console.error(Source::System, "sample import: type the folder to import first");
        return;
    }
    match sources::import_dir(std::path::Path::new(path), folder) {
        Ok((names, warnings)) => {
            for w in warnings {
                console.push(crate::control::console::Level::Warn, Source::System, w);
            }
            console.info(
                Source::System,
                format!("imported {} sample(s) from {path} into {}", names.len(), folder.display()),
            );
            shared.controller.lock().rescan_samples();
        }
        Err(e) => console.error(Source::System, format!("sample import: {e}")),
    }
}

/// Inserts `text` at the cursor of the editor `text_id` (at the end without one) and
/// puts the cursor after it.
fn insert_at_cursor(ctx: &egui::Context, code: &mut String, text_id: egui::Id, text: &str) {
    let mut state = egui::TextEdit::load_state(ctx, text_id).unwrap_or_default();
    let chars = code.chars().count();
    let at = state.cursor.char_range().map(|r| r.primary.index.0.min(chars)).unwrap_or(chars);
    let byte = code.char_indices().nth(at).map(|(b, _)| b).unwrap_or(code.len());
    code.insert_str(byte, text);
    let after = at + text.chars().count();
    state.cursor.set_char_range(Some(CCursorRange::one(CCursor::new(after))));
    egui::TextEdit::store_state(ctx, text_id, state);
    ctx.memory_mut(|m| m.request_focus(text_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_goes_in_at_the_cursor() {
        let ctx = egui::Context::default();
        let id = egui::Id::unique("code");
        let mut code = String::from(">{{4}clt};");
        // No cursor yet: at the end.
        insert_at_cursor(&ctx, &mut code, id, "\\909b");
        assert_eq!(code, ">{{4}clt};\\909b");
        let mut state = egui::TextEdit::load_state(&ctx, id).unwrap();
        assert_eq!(state.cursor.char_range().unwrap().primary.index.0, 15);
        state.cursor.set_char_range(Some(CCursorRange::one(CCursor::new(9))));
        egui::TextEdit::store_state(&ctx, id, state);
        let mut code = String::from(">{{4}clt};");
        insert_at_cursor(&ctx, &mut code, id, "\\909b");
        assert_eq!(code, ">{{4}clt}\\909b;");
    }
}
