//! The editor's own widgets: the code view (gutter, highlighting, scroll) and the scope.

use egui::text::{CCursor, CCursorRange};

use super::highlight::{self, line_count, Language};
use super::routing::{char_index, line_of_char};

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
pub(super) fn scope_view(ui: &mut egui::Ui, values: &std::collections::VecDeque<f32>) {
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
pub(super) struct CodeOutput {
    /// Cursor line when the editor has a cursor.
    pub(super) cursor_line: Option<usize>,
    pub(super) focused: bool,
    pub(super) changed: bool,
    /// Vertical scroll offset in points.
    pub(super) scroll: f32,
}

/// Everything [`code_view`] needs besides the text.
pub(super) struct CodeView<'a> {
    pub(super) id: &'static str,
    pub(super) lang: Language,
    pub(super) font: egui::FontId,
    pub(super) marks: &'a highlight::Marks,
    pub(super) theme: &'a highlight::Theme,
    /// Scroll offset to restore (first frame only).
    pub(super) restore_scroll: Option<f32>,
    /// Put the cursor here, focus the editor and scroll to it.
    pub(super) jump: Option<(usize, usize)>,
}

/// The id of the text editor of [`code_view`] `id`.
pub(super) fn code_text_id(id: &str) -> egui::Id {
    egui::Id::unique(("sema-live-code", id))
}

/// A code editor with a line-number gutter and syntax highlighting, in its own scroll
/// area (no line wrapping, so gutter numbers stay on their lines).
pub(super) fn code_view(ui: &mut egui::Ui, text: &mut String, view: CodeView<'_>) -> CodeOutput {
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
