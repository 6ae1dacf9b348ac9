//! The melody view's widget: the legend, the JS channel arrays and the piano roll of the
//! notes sent (see [`melody_view`]), drawn from a [`NoteHistory`]. Runs on the editor's
//! thread.

use std::collections::BTreeMap;

use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Sense, Stroke, StrokeKind, Ui, Vec2};

use super::history::{NoteHistory, SentNote};

/// What a channel's numbers look like, which decides how they are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ArrayKind {
    /// MIDI pitches (0 = rest).
    Midi,
    /// Frequencies in Hz, as the seed sends them (`mtof(pitch)`; 0 = rest).
    Hz,
    /// Anything else: drawn as a line normalised to `[min, max]`.
    Values { min: f64, max: f64 },
    /// Nothing finite to draw.
    Empty,
}

/// Classifies a channel array (0 is a rest in every pitch reading), first match wins:
/// whole numbers in 0..=127 are MIDI pitches; numbers in 8..=20000 that are all within
/// 0.1 semitone of a tempered pitch are frequencies (the seed's `mtof(pitch)`, also a
/// bass line below 127 Hz); other numbers in 0..=127 are microtonal MIDI pitches; other
/// numbers in 8..=20000 are detuned frequencies; anything else is plain values.
fn classify(values: &[f64]) -> ArrayKind {
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut all_midi_range, mut all_whole, mut all_hz, mut all_tempered) =
        (true, true, true, true);
    let mut finite = 0usize;
    for &v in values {
        if !v.is_finite() {
            continue;
        }
        finite += 1;
        min = min.min(v);
        max = max.max(v);
        if v == 0.0 {
            continue;
        }
        all_midi_range &= (0.0..=127.0).contains(&v);
        all_whole &= v.fract() == 0.0;
        all_hz &= (8.0..=20_000.0).contains(&v);
        if all_hz {
            let p = 69.0 + 12.0 * (v / 440.0).log2();
            all_tempered &= (p - p.round()).abs() < 0.1;
        }
    }
    if finite == 0 {
        ArrayKind::Empty
    } else if max <= 0.0 && min >= 0.0 {
        // All rests.
        ArrayKind::Midi
    } else if all_midi_range && all_whole {
        ArrayKind::Midi
    } else if all_hz && all_tempered {
        ArrayKind::Hz
    } else if all_midi_range {
        ArrayKind::Midi
    } else if all_hz {
        ArrayKind::Hz
    } else {
        ArrayKind::Values { min, max }
    }
}

/// The pitch a channel value stands for, or `None` for a rest / a non-pitch value.
fn pitch_of(kind: ArrayKind, v: f64) -> Option<f64> {
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    match kind {
        ArrayKind::Midi => Some(v),
        ArrayKind::Hz => Some(69.0 + 12.0 * (v / 440.0).log2()),
        ArrayKind::Values { .. } | ArrayKind::Empty => None,
    }
}

/// A distinct colour for index `i` (golden-ratio hue steps); `offset` separates the JS
/// channel palette from the MIDI channel palette. Light themes get darker, more
/// saturated tones so the notes stand out on white.
fn palette(i: u32, offset: f32, dark_mode: bool) -> Color32 {
    let hue = (offset + i as f32 * 0.618_034).fract();
    let (saturation, value) = if dark_mode { (0.62, 0.95) } else { (0.8, 0.7) };
    egui::ecolor::Hsva::new(hue, saturation, value, 1.0).into()
}

/// Colour of JS channel `id` in the melody view (for a dark or a light theme).
pub fn js_channel_color(id: u32, dark_mode: bool) -> Color32 {
    palette(id, 0.55, dark_mode)
}

/// Fill of a JS channel's cells (and legend swatch): a faint tint under a solid outline.
fn js_cell_fill(color: Color32) -> Color32 {
    color.gamma_multiply(0.3)
}

/// Colour of MIDI channel `channel` (0-based) in the melody view (for a dark or a light
/// theme).
pub fn midi_channel_color(channel: u8, dark_mode: bool) -> Color32 {
    palette(channel as u32, 0.0, dark_mode)
}

/// Scientific pitch name of a MIDI key (60 = C4).
pub fn pitch_name(key: i32) -> String {
    const NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
    format!("{}{}", NAMES[key.rem_euclid(12) as usize], key.div_euclid(12) - 1)
}

/// Keys of the black piano keys within an octave.
fn is_black_key(key: i32) -> bool {
    matches!(key.rem_euclid(12), 1 | 3 | 6 | 8 | 10)
}

/// Vertical pitch axis of the view: rows `lo..=hi` over `rect`.
struct PitchAxis {
    lo: f64,
    hi: f64,
    rect: Rect,
}

impl PitchAxis {
    fn row_height(&self) -> f32 {
        self.rect.height() / (self.hi - self.lo + 1.0) as f32
    }

    /// Vertical span of the row of (possibly fractional) `pitch`.
    fn row(&self, pitch: f64) -> (f32, f32) {
        let h = self.row_height();
        let bottom = self.rect.bottom() - (pitch - self.lo) as f32 * h;
        (bottom - h, bottom)
    }
}

/// Pitch range of the view when there is nothing to fit it to.
const DEFAULT_PITCHES: (f64, f64) = (48.0, 72.0);
/// Smallest pitch span shown, so a one-note melody does not fill the view with one row.
const MIN_PITCH_SPAN: f64 = 12.0;
/// Largest number of elements drawn for one channel array: longer arrays (a buffer of
/// samples, say) show their beginning, and the legend says so.
const MAX_CELLS: usize = 512;

/// Draws the melody view: a legend (wrapping onto up to three rows), then the JS
/// channel arrays (left, one hollow cell per array element; MIDI pitches and frequencies
/// in Hz, as the seed sends, are drawn on the shared pitch axis, other numbers as a
/// normalised line) and the notes sent in the last `bars_shown` bars before `now_bars`
/// (right, solid, coloured by MIDI channel, brighter for higher velocity, outlined while
/// held; bar and beat lines, bar numbers from 1, the playhead near the right edge). The
/// pitch axis fits the notes and pitches shown. Hovering a sent note shows its pitch,
/// channel, velocity and position. The view takes the available width and up to 260
/// points of height.
///
/// Per frame it costs a pass over the channel arrays (at most 512 elements
/// each) and two passes over the notes in the window; it allocates only the legend
/// labels and a line for non-pitch arrays.
pub fn melody_view(
    ui: &mut Ui,
    channels: &BTreeMap<u32, Vec<f64>>,
    history: &NoteHistory,
    now_bars: f64,
    bars_shown: f64,
    beats_per_bar: f64,
) -> egui::Response {
    let bars_shown = if bars_shown.is_finite() && bars_shown > 0.0 {
        bars_shown.clamp(1.0 / 64.0, 256.0)
    } else {
        4.0
    };
    let bpb = if beats_per_bar.is_finite() && beats_per_bar > 0.0 { beats_per_bar } else { 4.0 };
    let now = if now_bars.is_finite() { now_bars } else { history.latest_bars().unwrap_or(0.0) };

    let width = ui.available_width().max(160.0);
    // Fills the space given, within reason (a scroll area offers infinite height).
    let height = ui.available_height().clamp(100.0, 260.0);
    let (response, painter) = ui.allocate_painter(Vec2::new(width, height), Sense::hover());
    let visuals = ui.visuals();
    let style = Style {
        dark: visuals.dark_mode,
        text: visuals.text_color(),
        weak: visuals.weak_text_color(),
        small: FontId::proportional(11.0),
    };
    let rect = response.rect;
    painter.rect_filled(rect, 3.0, visuals.extreme_bg_color);

    // Time window of the roll: the playhead sits a little left of the right edge so it
    // stays visible.
    let margin = bars_shown * 0.04;
    let (from, to) = (now - bars_shown, now + margin);
    if (to - from).is_nan() || to - from <= 0.0 {
        // Positions so large that a window of bars is below f64 resolution: nothing
        // sensible to draw.
        return response;
    }

    let kinds: Vec<(u32, ArrayKind)> =
        channels.iter().map(|(&id, v)| (id, classify(sampled(v)))).collect();
    let (lo, hi, midi_channels) = fit_pitches(history, channels, &kinds, from, now);
    let legend_h = draw_legend(&painter, rect, channels, &kinds, midi_channels, &style);

    // Layout: legend on top, pitch labels at the left, channels panel, then the roll with
    // bar numbers under it.
    let gutter_w = 30.0;
    let footer_h = 13.0;
    let body = Rect::from_min_max(
        Pos2::new(rect.left() + gutter_w, rect.top() + legend_h + 2.0),
        Pos2::new(rect.right() - 4.0, rect.bottom() - footer_h),
    );
    let channels_w =
        if channels.is_empty() { 0.0 } else { (body.width() * 0.28).clamp(90.0, 320.0) };
    let channels_rect =
        Rect::from_min_max(body.min, Pos2::new(body.left() + channels_w, body.bottom()));
    let roll = Roll {
        rect: Rect::from_min_max(
            Pos2::new(
                if channels_w > 0.0 { channels_rect.right() + 6.0 } else { body.left() },
                body.top(),
            ),
            body.max,
        ),
        from,
        to,
    };

    let (lo, hi) = (lo.max(0.0) - 1.0, hi.min(140.0) + 1.0);
    let pad = ((MIN_PITCH_SPAN - (hi - lo)) / 2.0).max(0.0).ceil();
    let axis = PitchAxis { lo: lo - pad, hi: hi + pad, rect: body };

    draw_pitch_rows(&painter, &axis, rect.left() + 3.0, &style);
    if channels_w > 0.0 {
        draw_channel_arrays(&painter, channels_rect, channels, &kinds, &axis, &style);
    }
    draw_bar_grid(&painter, &roll, rect.bottom() - 1.0, bpb, &style);
    let hovered = draw_notes(&painter, history, &roll, now, &axis, response.hover_pos(), &style);
    painter.vline(
        roll.x_of(now),
        roll.rect.y_range(),
        Stroke::new(2.0, visuals.selection.stroke.color),
    );

    if history.is_empty() && channels.is_empty() {
        painter.text(
            roll.rect.center(),
            Align2::CENTER_CENTER,
            "No notes yet: send an array from JS and press play",
            style.small,
            style.weak,
        );
    }

    match hovered {
        Some(n) => response.on_hover_text(describe_note(&n, bpb)),
        None => response,
    }
}

/// Colours and font shared by the parts of the view.
struct Style {
    /// Whether the visuals are dark.
    dark: bool,
    /// Text (and the outline of held notes).
    text: Color32,
    /// Grid lines and labels.
    weak: Color32,
    /// Font of the legend and the labels.
    small: FontId,
}

/// The roll: the time window `[from, to]` in bars over `rect`.
struct Roll {
    rect: Rect,
    from: f64,
    to: f64,
}

impl Roll {
    /// Horizontal position of `bars`.
    fn x_of(&self, bars: f64) -> f32 {
        self.rect.left() + ((bars - self.from) / (self.to - self.from)) as f32 * self.rect.width()
    }
}

/// The pitch range that fits everything shown (the notes sounding in `[from, now)` and
/// the pitches of the channel arrays; [`DEFAULT_PITCHES`] when there is nothing), and a
/// bit per MIDI channel of those notes, for the legend.
fn fit_pitches(
    history: &NoteHistory,
    channels: &BTreeMap<u32, Vec<f64>>,
    kinds: &[(u32, ArrayKind)],
    from: f64,
    now: f64,
) -> (f64, f64, u16) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut midi_channels = 0u16; // bit per MIDI channel seen
    for note in history.overlapping(from, now) {
        lo = lo.min(note.key as f64);
        hi = hi.max(note.key as f64);
        midi_channels |= 1 << (note.channel & 15);
    }
    for (id, kind) in kinds {
        if matches!(kind, ArrayKind::Midi | ArrayKind::Hz) {
            for &v in sampled(&channels[id]) {
                if let Some(p) = pitch_of(*kind, v) {
                    lo = lo.min(p.floor());
                    hi = hi.max(p.ceil());
                }
            }
        }
    }
    if !lo.is_finite() {
        (lo, hi) = DEFAULT_PITCHES;
    }
    (lo, hi, midi_channels)
}

/// Draws the legend at the top of `rect`: JS channels, then the MIDI channels seen in the
/// window (bits of `midi_channels`), wrapped into as many rows as the width needs (at
/// most three). Returns its height.
fn draw_legend(
    painter: &Painter,
    rect: Rect,
    channels: &BTreeMap<u32, Vec<f64>>,
    kinds: &[(u32, ArrayKind)],
    midi_channels: u16,
    style: &Style,
) -> f32 {
    let mut legend: Vec<(Color32, bool, String)> = Vec::with_capacity(kinds.len() + 4);
    for (id, kind) in kinds {
        let mut label = match kind {
            ArrayKind::Values { min, max } => format!("JS {id} ({min:.3}…{max:.3})"),
            ArrayKind::Hz => format!("JS {id} (Hz)"),
            _ => format!("JS {id}"),
        };
        let len = channels[id].len();
        if len > MAX_CELLS {
            label.push_str(&format!(" first {MAX_CELLS} of {len}"));
        }
        legend.push((js_channel_color(*id, style.dark), true, label));
    }
    for ch in 0..16u8 {
        if midi_channels & (1 << ch) != 0 {
            legend.push((midi_channel_color(ch, style.dark), false, format!("MIDI {}", ch + 1)));
        }
    }
    const LEGEND_ROW: f32 = 15.0;
    let (mut x, mut row) = (rect.left() + 4.0, 0);
    for (color, hollow, label) in legend {
        let galley = painter.layout_no_wrap(label, style.small.clone(), style.text);
        let item_w = 11.0 + galley.size().x;
        if x + item_w > rect.right() - 4.0 && x > rect.left() + 4.0 && row < 2 {
            (x, row) = (rect.left() + 4.0, row + 1);
        }
        let y = rect.top() + 2.0 + (row as f32 + 0.5) * LEGEND_ROW;
        let swatch = Rect::from_center_size(Pos2::new(x + 4.0, y), Vec2::splat(8.0));
        if hollow {
            painter.rect_filled(swatch, 1.0, js_cell_fill(color));
            painter.rect_stroke(swatch, 1.0, Stroke::new(1.0, color), StrokeKind::Inside);
        } else {
            painter.rect_filled(swatch, 1.0, color);
        }
        painter.galley(Pos2::new(x + 11.0, y - galley.size().y / 2.0), galley.clone(), style.text);
        x += item_w + 8.0;
    }
    if kinds.is_empty() && midi_channels == 0 {
        4.0
    } else {
        (row + 1) as f32 * LEGEND_ROW + 2.0
    }
}

/// Draws the pitch rows across `axis.rect`: black keys darker, C rows lined and labelled
/// at `label_x`.
fn draw_pitch_rows(painter: &Painter, axis: &PitchAxis, label_x: f32, style: &Style) {
    let row_h = axis.row_height();
    let shade =
        if style.dark { Color32::from_black_alpha(60) } else { Color32::from_black_alpha(18) };
    let label_every = if row_h * 12.0 >= 11.0 { 12 } else { 24 };
    for key in axis.lo as i32..=axis.hi as i32 {
        let (top, bottom) = axis.row(key as f64);
        if is_black_key(key) && row_h >= 2.5 {
            painter.rect_filled(
                Rect::from_x_y_ranges(axis.rect.x_range(), top..=bottom),
                0.0,
                shade,
            );
        }
        if key.rem_euclid(label_every) == 0 {
            painter.hline(
                axis.rect.x_range(),
                bottom,
                Stroke::new(1.0, style.weak.gamma_multiply(0.35)),
            );
            painter.text(
                Pos2::new(label_x, (top + bottom) / 2.0),
                Align2::LEFT_CENTER,
                pitch_name(key),
                style.small.clone(),
                style.weak,
            );
        }
    }
}

/// Draws the JS channel arrays in `rect`, one cell per element: pitches (MIDI or Hz) as
/// hollow cells on the pitch axis, other numbers as a normalised line.
fn draw_channel_arrays(
    painter: &Painter,
    rect: Rect,
    channels: &BTreeMap<u32, Vec<f64>>,
    kinds: &[(u32, ArrayKind)],
    axis: &PitchAxis,
    style: &Style,
) {
    painter.rect_stroke(
        rect,
        0.0,
        Stroke::new(1.0, style.weak.gamma_multiply(0.5)),
        StrokeKind::Outside,
    );
    let longest = channels.values().map(|v| v.len().min(MAX_CELLS)).max().unwrap_or(0).max(1);
    let cell_w = rect.width() / longest as f32;
    let gap = if cell_w > 4.0 { 1.0 } else { 0.0 };
    for (id, kind) in kinds {
        let values = sampled(&channels[id]);
        let color = js_channel_color(*id, style.dark);
        match *kind {
            ArrayKind::Midi | ArrayKind::Hz => {
                for (i, &v) in values.iter().enumerate() {
                    let Some(p) = pitch_of(*kind, v) else { continue };
                    let x = rect.left() + i as f32 * cell_w;
                    let (top, bottom) = axis.row(p);
                    let cell =
                        Rect::from_min_max(Pos2::new(x, top), Pos2::new(x + cell_w - gap, bottom));
                    // Channel data is drawn hollow, sent notes solid: the two palettes can
                    // come close, the styles cannot.
                    painter.rect_filled(cell, 1.0, js_cell_fill(color));
                    painter.rect_stroke(cell, 1.0, Stroke::new(1.0, color), StrokeKind::Inside);
                }
            }
            ArrayKind::Values { min, max } => {
                let span = if max > min { max - min } else { 1.0 };
                let points: Vec<Pos2> = values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| {
                        let y = rect.bottom() - ((v - min) / span) as f32 * rect.height();
                        Pos2::new(rect.left() + (i as f32 + 0.5) * cell_w, y)
                    })
                    .collect();
                if points.len() == 1 {
                    painter.circle_filled(points[0], 2.5, color);
                } else {
                    painter.line(points, Stroke::new(1.5, color));
                }
            }
            ArrayKind::Empty => {}
        }
    }
}

/// Draws the roll's bar and beat lines, and the bar numbers at `label_y` (bottom).
fn draw_bar_grid(painter: &Painter, roll: &Roll, label_y: f32, bpb: f64, style: &Style) {
    let (from, to) = (roll.from, roll.to);
    let px_per_bar = roll.rect.width() / (to - from) as f32;
    // Label every bar, or every 2nd, 4th, 8th... so that labels are 24 px apart at least
    // and read 1, 5, 9... as in a DAW.
    let bar_step = ((24.0 / px_per_bar).max(1.0) as u32).next_power_of_two().min(1 << 16) as i64;
    let first_bar = from.floor() as i64;
    for bar in first_bar..=to.ceil() as i64 {
        if px_per_bar / bpb as f32 >= 6.0 {
            for beat in 1..bpb.ceil() as i64 {
                let t = bar as f64 + beat as f64 / bpb;
                if t > from && t < to {
                    let x = roll.x_of(t);
                    painter.vline(
                        x,
                        roll.rect.y_range(),
                        Stroke::new(1.0, style.weak.gamma_multiply(0.15)),
                    );
                }
            }
        }
        let t = bar as f64;
        if t < from || t > to {
            continue;
        }
        let x = roll.x_of(t);
        let labelled = bar.rem_euclid(bar_step) == 0;
        if labelled || px_per_bar >= 8.0 {
            painter.vline(
                x,
                roll.rect.y_range(),
                Stroke::new(1.0, style.weak.gamma_multiply(0.45)),
            );
        }
        if labelled {
            // Bars are counted from 1 on screen, as in a DAW.
            painter.text(
                Pos2::new(x + 2.0, label_y),
                Align2::LEFT_BOTTOM,
                bar + 1,
                style.small.clone(),
                style.weak,
            );
        }
    }
}

/// Draws the notes sounding in `[roll.from, now)` (solid, brighter for higher velocity,
/// outlined while held) and returns the one under `pointer`, if any.
fn draw_notes(
    painter: &Painter,
    history: &NoteHistory,
    roll: &Roll,
    now: f64,
    axis: &PitchAxis,
    pointer: Option<Pos2>,
    style: &Style,
) -> Option<SentNote> {
    let mut hovered: Option<SentNote> = None;
    for note in history.overlapping(roll.from, now) {
        let start = roll.x_of(note.start_bars.max(roll.from));
        let end = roll.x_of(note.end_or(now).min(now)).max(start + 2.0);
        let (top, bottom) = axis.row(note.key as f64);
        let cell = Rect::from_min_max(Pos2::new(start, top), Pos2::new(end, bottom.max(top + 1.0)))
            .intersect(roll.rect);
        let color = midi_channel_color(note.channel, style.dark);
        painter.rect_filled(
            cell,
            1.0,
            color.gamma_multiply(0.35 + 0.65 * note.velocity.clamp(0.0, 1.0)),
        );
        if note.end_bars.is_none() {
            painter.rect_stroke(cell, 1.0, Stroke::new(1.0, style.text), StrokeKind::Inside);
        }
        if pointer.is_some_and(|p| cell.expand(1.0).contains(p)) {
            hovered = Some(*note);
        }
    }
    hovered
}

/// The hover text of a sent note.
fn describe_note(n: &SentNote, bpb: f64) -> String {
    format!(
        "{} (key {}), MIDI channel {}, velocity {:.2}, from {} {}",
        pitch_name(n.key as i32),
        n.key,
        n.channel + 1,
        n.velocity,
        bar_beat(n.start_bars, bpb),
        n.end_bars.map_or("(held)".to_string(), |e| format!("to {}", bar_beat(e, bpb))),
    )
}

/// A position as a DAW shows it, bars and beats counted from 1: bar 4.5 at 4 beats per
/// bar is "5|3.00".
fn bar_beat(bars: f64, beats_per_bar: f64) -> String {
    let bar = bars.floor();
    format!("{}|{:.2}", bar + 1.0, 1.0 + (bars - bar) * beats_per_bar)
}

/// The part of a channel array that is drawn: at most [`MAX_CELLS`] elements.
fn sampled(values: &[f64]) -> &[f64] {
    &values[..values.len().min(MAX_CELLS)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::midi_file;
    use crate::control::status::NoteRecord;
    use crate::editor::melody::export_last_bars;
    use crate::editor::melody::testutil::{history, off, on};

    #[test]
    fn channel_arrays_are_classified() {
        // The seed sends mtof(pitch).
        let seed: Vec<f64> = [73.0, 75.0, 80.0, 0.0]
            .iter()
            .map(|&m: &f64| if m == 0.0 { 0.0 } else { 440.0 * ((m - 69.0) / 12.0).exp2() })
            .collect();
        assert_eq!(classify(&seed), ArrayKind::Hz);
        let p = pitch_of(ArrayKind::Hz, seed[1]).expect("pitch");
        assert!((p - 75.0).abs() < 1e-9);
        assert_eq!(classify(&[60.0, 0.0, 62.0, 64.0]), ArrayKind::Midi);
        assert_eq!(classify(&[60.5, 0.0, 62.25]), ArrayKind::Midi);
        assert_eq!(classify(&[55.0, 110.0, 220.5]), ArrayKind::Hz);
        // A bass line in Hz, all below 127 (mtof of 33, 35, 38).
        assert_eq!(classify(&[55.0, 61.735, 0.0, 73.416]), ArrayKind::Hz);
        // Detuned frequencies above the MIDI range are still frequencies.
        assert_eq!(classify(&[300.0, 310.0]), ArrayKind::Hz);
        assert_eq!(classify(&[0.0, 0.0]), ArrayKind::Midi);
        assert_eq!(classify(&[0.5, -3.0, 2.0]), ArrayKind::Values { min: -3.0, max: 2.0 });
        assert_eq!(classify(&[1e6, 5.0]), ArrayKind::Values { min: 5.0, max: 1e6 });
        assert_eq!(classify(&[]), ArrayKind::Empty);
        assert_eq!(classify(&[f64::NAN]), ArrayKind::Empty);
        assert_eq!(pitch_of(ArrayKind::Midi, 0.0), None);
        assert_eq!(pitch_name(60), "C4");
        assert_eq!(pitch_name(61), "C#4");
        assert_eq!(pitch_name(0), "C-1");
        assert_eq!(bar_beat(4.5, 4.0), "5|3.00");
        assert_eq!(bar_beat(-0.25, 3.0), "0|3.25");
    }

    /// Runs one frame of the view headless and returns its shapes.
    fn frame(
        channels: &BTreeMap<u32, Vec<f64>>,
        h: &NoteHistory,
        now: f64,
        shown: f64,
    ) -> Vec<egui::Shape> {
        let ctx = egui::Context::default();
        ctx.set_theme(egui::Theme::Dark);
        let input = egui::RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, Vec2::new(900.0, 300.0))),
            ..Default::default()
        };
        let mut out = ctx.run_ui(input, |ui| {
            egui::CentralPanel::default().show(ui, |ui| {
                melody_view(ui, channels, h, now, shown, 4.0);
            });
        });
        // No renderer takes the font texture.
        out.textures_delta.clear();
        out.shapes.into_iter().map(|c| c.shape).collect()
    }

    fn fills(shapes: &[egui::Shape]) -> Vec<Color32> {
        shapes
            .iter()
            .filter_map(|s| match s {
                egui::Shape::Rect(r) => Some(r.fill),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_view_draws_notes_and_channels_headless() {
        let mut h = NoteHistory::new();
        for i in 0..16 {
            let t = 4.0 + i as f64 / 16.0;
            h.push(NoteRecord { velocity: 1.0, ..on(t, 0, 60 + (i % 8) as u8) });
            h.push(off(t + 1.0 / 32.0, 0, 60 + (i % 8) as u8));
        }
        h.push(NoteRecord { velocity: 1.0, ..on(5.5, 3, 72) }); // held
        let mut channels = BTreeMap::new();
        channels.insert(1, vec![60.0, 0.0, 62.0, 64.0]);
        channels.insert(2, vec![0.25, -1.0, 3.0]);
        let shapes = frame(&channels, &h, 6.0, 4.0);
        let fills = fills(&shapes);
        let notes_ch0 = fills.iter().filter(|&&c| c == midi_channel_color(0, true)).count();
        // 16 notes + the legend swatch.
        assert_eq!(notes_ch0, 17, "{fills:?}");
        assert!(fills.contains(&midi_channel_color(3, true)));
        // 3 pitch cells of JS channel 1 (the rest is not drawn), plus its swatch.
        let cells = fills.iter().filter(|&&c| c == js_cell_fill(js_channel_color(1, true))).count();
        assert_eq!(cells, 4);
        // JS channel 2 is plain values: a line in its colour.
        assert!(shapes.iter().any(|s| matches!(s, egui::Shape::Path(p) if p.stroke.color == egui::epaint::ColorMode::Solid(js_channel_color(2, true)))));
        assert!(shapes.iter().any(|s| matches!(s, egui::Shape::Text(_))));

        // Notes scrolled out of the window are not drawn.
        let fills_later = super::tests::fills(&frame(&channels, &h, 20.0, 4.0));
        assert_eq!(fills_later.iter().filter(|&&c| c == midi_channel_color(0, true)).count(), 0);
        // ...but the held note still is (it sounds until now).
        assert!(fills_later.contains(&midi_channel_color(3, true)));
    }

    #[test]
    fn hovering_a_note_describes_it() {
        let h = history(&[NoteRecord { velocity: 1.0, ..on(5.0, 2, 62) }, off(5.5, 2, 62)]);
        let channels = BTreeMap::new();
        let ctx = egui::Context::default();
        ctx.set_theme(egui::Theme::Dark);
        ctx.global_style_mut(|s| s.interaction.tooltip_delay = 0.0);
        let screen = Rect::from_min_size(Pos2::ZERO, Vec2::new(900.0, 300.0));
        let run = |events: Vec<egui::Event>, time: f64| {
            let input = egui::RawInput {
                screen_rect: Some(screen),
                events,
                time: Some(time),
                ..Default::default()
            };
            let mut out = ctx.run_ui(input, |ui| {
                melody_view(ui, &channels, &h, 6.0, 4.0, 4.0);
            });
            out.textures_delta.clear();
            out.shapes.into_iter().map(|c| c.shape).collect::<Vec<_>>()
        };
        let shapes = run(vec![], 0.0);
        // The note is the rect in its channel's colour below the legend row.
        let note = shapes
            .iter()
            .find_map(|s| match s {
                egui::Shape::Rect(r)
                    if r.fill == midi_channel_color(2, true) && r.rect.top() > 20.0 =>
                {
                    Some(r.rect)
                }
                _ => None,
            })
            .expect("note drawn");
        let texts = |shapes: &[egui::Shape]| {
            shapes
                .iter()
                .filter_map(|s| match s {
                    egui::Shape::Text(t) => Some(t.galley.text().to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let mut tooltip = vec![];
        for i in 1..4 {
            let shapes = run(vec![egui::Event::PointerMoved(note.center())], i as f64 * 0.1);
            tooltip.extend(texts(&shapes).into_iter().filter(|t| t.contains("key 62")));
        }
        assert!(
            tooltip.iter().any(|t| t.starts_with("D4 (key 62), MIDI channel 3")
                && t.contains("from 6|1.00 to 6|3.00")),
            "{tooltip:?}"
        );
    }

    #[test]
    fn the_view_survives_odd_inputs() {
        let mut channels = BTreeMap::new();
        channels.insert(0, vec![]);
        channels.insert(1, vec![f64::NAN, f64::INFINITY]);
        channels.insert(2, (0..100_000).map(|i| i as f64).collect());
        channels.insert(3, vec![7.0]);
        let h = history(&[on(0.0, 15, 127), on(0.1, 0, 0)]);
        for (now, shown) in
            [(f64::NAN, 4.0), (1.0, -1.0), (1.0, f64::INFINITY), (1e9, 1e-9), (-5.0, 1000.0)]
        {
            assert!(!frame(&channels, &h, now, shown).is_empty());
        }
        assert!(!frame(&BTreeMap::new(), &NoteHistory::new(), 0.0, 4.0).is_empty());
    }

    #[test]
    fn frame_cost_with_a_full_history() {
        let mut h = NoteHistory::new();
        for i in 0..(64 * 16) {
            let t = i as f64 / 16.0;
            let key = |ch: u8| 48 + ((i * 7 + ch as usize * 5) % 36) as u8;
            for ch in 0..8u8 {
                h.push(on(t, ch, key(ch)));
            }
            for ch in 0..8u8 {
                h.push(off(t + 1.0 / 20.0, ch, key(ch)));
            }
        }
        assert_eq!(h.len(), NoteHistory::DEFAULT_MAX_NOTES.min(64 * 16 * 8));
        let mut channels = BTreeMap::new();
        for id in 0..4 {
            channels.insert(id, (0..16).map(|i| 60.0 + i as f64).collect());
        }
        let ctx = egui::Context::default();
        ctx.set_theme(egui::Theme::Dark);
        let run = || {
            let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
                melody_view(ui, &channels, &h, 64.0, 8.0, 4.0);
            });
            out.textures_delta.clear();
            out.shapes.len()
        };
        run(); // fonts
        let frames = 50;
        let start = std::time::Instant::now();
        let mut shapes = 0;
        for _ in 0..frames {
            shapes = run();
        }
        let per_frame = start.elapsed() / frames;
        let export = std::time::Instant::now();
        let bytes = export_last_bars(&h, 64.0, 64, 4.0, 120.0);
        let export = export.elapsed();
        println!(
            "melody_view: {per_frame:?} per frame, {shapes} shapes; export of 64 bars ({} notes, {} bytes): {export:?}",
            h.len(),
            bytes.len()
        );
        // 8 bars of 8 channels of 16ths = 1024 notes drawn, plus grid and labels.
        assert!(shapes > 1024);
        assert_eq!(midi_file::decode_notes(&bytes).expect("decode").len(), h.len());
    }
}
