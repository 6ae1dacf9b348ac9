//! The melody view: what the JS channels hold and which notes the plugin has sent, as a
//! small piano roll, plus the export of the last bars of sent notes as a `.mid` file.
//!
//! Data flow: the audio thread logs every MIDI event it sends as a [`NoteRecord`] into a
//! lock-free ring; the editor drains the ring every frame into a [`NoteHistory`], which
//! pairs note-ons with their note-offs into [`SentNote`]s on the host's bar timeline.
//! [`melody_view`] draws the history and the channel arrays; [`export_last_bars`] turns a
//! window of the history into a Standard MIDI File through [`crate::cli::midi_file`].

use std::collections::{BTreeMap, VecDeque};

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Ui, Vec2};

use crate::cli::midi_file::{self, TimedEvent};
use crate::control::status::NoteRecord;

/// A new event earlier than the latest one by more than this (in bars) is a transport
/// jump backwards. Smaller differences are rounding noise between blocks and are treated
/// as "same time" so the history stays sorted.
const JUMP_TOLERANCE_BARS: f64 = 1e-6;

/// One note the plugin sent, on the host's bar timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SentNote {
    /// Position (bar index + phase) of the note-on.
    pub start_bars: f64,
    /// Position of the note-off; `None` while the note is still held.
    pub end_bars: Option<f64>,
    /// MIDI channel, 0-based as sent.
    pub channel: u8,
    /// MIDI key.
    pub key: u8,
    /// Note-on velocity, 0..=1.
    pub velocity: f32,
}

impl SentNote {
    /// End of the note for drawing and overlap tests: held notes reach `now`.
    fn end_or(&self, now: f64) -> f64 {
        self.end_bars.unwrap_or(now)
    }
}

/// The notes the plugin sent recently, note-ons paired with their note-offs.
///
/// Rules, chosen so that the view and the export show one coherent timeline:
/// - A note-on for a key already held on the same channel closes the held note at that
///   moment and starts a new one (a retrigger). A note-on with velocity 0 is a note-off,
///   as in MIDI. A note-off with no held note is ignored. Events at non-finite positions
///   are ignored.
/// - Transport jumps backwards (loop, relocate): an event earlier than the latest one
///   restarts the timeline at that event's position. Held notes are closed at the latest
///   known position, notes that started at or after the new position are dropped (the
///   new pass replaces them), and notes still sounding past the new position are cut
///   there. Notes before the new position are kept, so after a relocate the bars before
///   the playhead still show what was played there.
/// - Memory is bounded: only notes that started within the last `keep_bars` bars (before
///   the latest event) are kept, and never more than `max_notes`. A held note dropped
///   this way (its note-off was lost, e.g. when the log overflowed while the editor was
///   closed) is forgotten, and its late note-off is ignored.
///
/// Notes are stored in the order of their start, which lets window queries use a binary
/// search instead of scanning the whole history every frame.
#[derive(Clone, Debug)]
pub struct NoteHistory {
    /// Notes sorted by `start_bars`.
    notes: VecDeque<SentNote>,
    /// Sequence number of `notes[0]`; the note with sequence `s` is at `s - first_seq`.
    /// Sequence numbers let `held` point into the deque while its front is popped.
    first_seq: u64,
    /// Notes still held: (channel, key, sequence number). At most one per channel/key.
    held: Vec<(u8, u8, u64)>,
    /// Position of the latest event accepted (`-inf` before the first).
    latest: f64,
    /// Upper bound of the length of every closed note in `notes` (never decreases until
    /// `clear`); how far before a window a note may start and still overlap it.
    longest_closed: f64,
    /// Tempo of the latest event, for exporting at the tempo that was playing.
    last_bpm: Option<f64>,
    /// How many bars of notes to keep before the latest event.
    keep_bars: f64,
    /// Hard cap on the number of notes kept.
    max_notes: usize,
    /// Number of transport jumps backwards seen.
    restarts: u64,
}

impl Default for NoteHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl NoteHistory {
    /// Bars of notes kept by [`NoteHistory::new`].
    pub const DEFAULT_KEEP_BARS: f64 = 64.0;
    /// Note cap of [`NoteHistory::new`]: 64 bars of 16ths on 8 channels with room to spare.
    pub const DEFAULT_MAX_NOTES: usize = 16_384;

    /// A history keeping [`Self::DEFAULT_KEEP_BARS`] bars, at most
    /// [`Self::DEFAULT_MAX_NOTES`] notes.
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_KEEP_BARS, Self::DEFAULT_MAX_NOTES)
    }

    /// A history keeping the notes that started within `keep_bars` bars of the latest
    /// event, at most `max_notes` of them (both at least 1).
    pub fn with_limits(keep_bars: f64, max_notes: usize) -> Self {
        let keep_bars = if keep_bars.is_finite() { keep_bars.max(1.0) } else { Self::DEFAULT_KEEP_BARS };
        NoteHistory {
            notes: VecDeque::new(),
            first_seq: 0,
            held: Vec::new(),
            latest: f64::NEG_INFINITY,
            longest_closed: 0.0,
            last_bpm: None,
            keep_bars,
            max_notes: max_notes.max(1),
            restarts: 0,
        }
    }

    /// Forgets every note (e.g. when the user clears the view).
    pub fn clear(&mut self) {
        let (keep_bars, max_notes) = (self.keep_bars, self.max_notes);
        *self = Self::with_limits(keep_bars, max_notes);
    }

    /// Adds one logged MIDI event (see the type's documentation for the rules).
    pub fn push(&mut self, record: NoteRecord) {
        if !record.bars.is_finite() {
            return;
        }
        if record.bars < self.latest - JUMP_TOLERANCE_BARS {
            self.restart_at(record.bars);
        }
        // Within the tolerance an event may be a hair earlier than the latest: clamp it so
        // starts stay sorted.
        let t = record.bars.max(self.latest);
        self.latest = t;
        if record.bpm.is_finite() && record.bpm > 0.0 {
            self.last_bpm = Some(record.bpm);
        }

        // Any event for a held channel/key ends the held note: a note-off obviously, and a
        // note-on retriggers.
        if let Some(h) = self.held.iter().position(|&(c, k, _)| c == record.channel && k == record.key) {
            let (_, _, seq) = self.held.swap_remove(h);
            self.close(seq, t);
        }
        if record.on && record.velocity > 0.0 {
            self.notes.push_back(SentNote {
                start_bars: t,
                end_bars: None,
                channel: record.channel,
                key: record.key,
                velocity: record.velocity.min(1.0),
            });
            let seq = self.first_seq + self.notes.len() as u64 - 1;
            self.held.push((record.channel, record.key, seq));
        }
        self.prune();
    }

    /// Ends the note with sequence number `seq` at `t`.
    fn close(&mut self, seq: u64, t: f64) {
        let Some(index) = seq.checked_sub(self.first_seq) else { return };
        if let Some(note) = self.notes.get_mut(index as usize) {
            note.end_bars = Some(t);
            self.longest_closed = self.longest_closed.max(t - note.start_bars);
        }
    }

    /// The transport went back to `t`: see the type's documentation.
    fn restart_at(&mut self, t: f64) {
        let latest = self.latest;
        for (_, _, seq) in std::mem::take(&mut self.held) {
            self.close(seq, latest);
        }
        while self.notes.back().is_some_and(|n| n.start_bars >= t) {
            self.notes.pop_back();
        }
        for note in self.notes.iter_mut() {
            if note.end_bars.is_some_and(|e| e > t) {
                note.end_bars = Some(t);
            }
        }
        self.latest = t;
        self.restarts += 1;
    }

    /// Drops what is older than `keep_bars` or beyond `max_notes`, oldest first.
    fn prune(&mut self) {
        let horizon = self.latest - self.keep_bars;
        while let Some(front) = self.notes.front() {
            if front.start_bars >= horizon && self.notes.len() <= self.max_notes {
                break;
            }
            if front.end_bars.is_none() {
                let seq = self.first_seq;
                self.held.retain(|&(_, _, s)| s != seq);
            }
            self.notes.pop_front();
            self.first_seq += 1;
        }
    }

    /// Number of notes kept.
    pub fn len(&self) -> usize {
        self.notes.len()
    }

    /// Whether no note is kept.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// Number of notes still held.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// All notes kept, in the order they started.
    pub fn notes(&self) -> impl Iterator<Item = &SentNote> + '_ {
        self.notes.iter()
    }

    /// Position of the latest event, if any.
    pub fn latest_bars(&self) -> Option<f64> {
        self.latest.is_finite().then_some(self.latest)
    }

    /// Tempo of the latest event with a valid tempo, if any.
    pub fn last_bpm(&self) -> Option<f64> {
        self.last_bpm
    }

    /// Number of transport jumps backwards seen since the history was created or cleared.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The notes that sound somewhere in `[from, to)`, in the order they started. Held
    /// notes count as sounding up to `to`. Costs a binary search plus the notes returned
    /// (and the few that started early but ended before `from`), not the whole history.
    pub fn overlapping(&self, from: f64, to: f64) -> impl Iterator<Item = &SentNote> + '_ {
        // The earliest start that can still overlap `from`: the longest closed note, or
        // the oldest held note.
        let mut earliest = from - self.longest_closed;
        for &(_, _, seq) in &self.held {
            if let Some(n) = seq.checked_sub(self.first_seq).and_then(|i| self.notes.get(i as usize)) {
                earliest = earliest.min(n.start_bars);
            }
        }
        let lo = self.notes.partition_point(|n| n.start_bars < earliest);
        let hi = self.notes.partition_point(|n| n.start_bars < to);
        self.notes.range(lo..hi.max(lo)).filter(move |n| n.end_or(f64::INFINITY) > from)
    }
}

/// Builds a Standard MIDI File of the notes sounding in the last `n_bars` bars before
/// `now_bars`: the window `[now - n, now)` is shifted to start at beat 0, notes are cut
/// at the window's edges, notes still held end at the window's end, and a note too short
/// to survive the file's resolution lasts one tick. Beats are quarter notes
/// (`beats_per_bar` as in the host clock); the file carries `bpm` and a
/// `round(beats_per_bar)`/4 time signature. Invalid `bpm`/`beats_per_bar` fall back to
/// 120 and 4. An empty window gives a valid file without notes.
pub fn export_last_bars(history: &NoteHistory, now_bars: f64, n_bars: u32, beats_per_bar: f64, bpm: f64) -> Vec<u8> {
    let bpb = if beats_per_bar.is_finite() && beats_per_bar > 0.0 { beats_per_bar } else { 4.0 };
    let bpm = if bpm.is_finite() && bpm > 0.0 { bpm } else { 120.0 };
    let numerator = bpb.round().clamp(1.0, 255.0) as u8;
    let mut events = Vec::new();
    if now_bars.is_finite() && n_bars > 0 {
        let from = now_bars - n_bars as f64;
        let tick = 1.0 / midi_file::PPQ as f64;
        for note in history.overlapping(from, now_bars) {
            let start = (note.start_bars.max(from) - from) * bpb;
            let end = (note.end_or(now_bars).min(now_bars) - from) * bpb;
            // A zero-length note would be written as off-then-on at one tick and leave
            // the note hanging: give it one tick.
            let end = end.max(start + tick);
            let ev =
                |beats, on| TimedEvent { beats, on, channel: note.channel, key: note.key, velocity: note.velocity };
            events.push(ev(start, true));
            events.push(ev(end, false));
        }
    }
    let end = (n_bars as f64 * bpb).max(0.0);
    midi_file::encode_until(&events, bpm, numerator, Some(end))
}

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
    let (mut all_midi_range, mut all_whole, mut all_hz, mut all_tempered) = (true, true, true, true);
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
fn pitch_name(key: i32) -> String {
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
    let bars_shown = if bars_shown.is_finite() && bars_shown > 0.0 { bars_shown.clamp(1.0 / 64.0, 256.0) } else { 4.0 };
    let bpb = if beats_per_bar.is_finite() && beats_per_bar > 0.0 { beats_per_bar } else { 4.0 };
    let now = if now_bars.is_finite() { now_bars } else { history.latest_bars().unwrap_or(0.0) };

    let width = ui.available_width().max(160.0);
    // Fills the space given, within reason (a scroll area offers infinite height).
    let height = ui.available_height().clamp(100.0, 260.0);
    let (response, painter) = ui.allocate_painter(Vec2::new(width, height), Sense::hover());
    let visuals = ui.visuals();
    let dark = visuals.dark_mode;
    let text_color = visuals.text_color();
    let weak = visuals.weak_text_color();
    let small = FontId::proportional(11.0);
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

    // Fit the pitch axis to everything shown; note the MIDI channels for the legend.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut midi_channels = 0u16; // bit per MIDI channel seen
    for note in history.overlapping(from, now) {
        lo = lo.min(note.key as f64);
        hi = hi.max(note.key as f64);
        midi_channels |= 1 << (note.channel & 15);
    }
    let kinds: Vec<(u32, ArrayKind)> = channels.iter().map(|(&id, v)| (id, classify(sampled(v)))).collect();
    for (id, kind) in &kinds {
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

    // Legend: JS channels, then the MIDI channels seen in the window, wrapped into as many
    // rows as the width needs (at most three).
    let mut legend: Vec<(Color32, bool, String)> = Vec::with_capacity(kinds.len() + 4);
    for (id, kind) in &kinds {
        let mut label = match kind {
            ArrayKind::Values { min, max } => format!("JS {id} ({min:.3}…{max:.3})"),
            ArrayKind::Hz => format!("JS {id} (Hz)"),
            _ => format!("JS {id}"),
        };
        let len = channels[id].len();
        if len > MAX_CELLS {
            label.push_str(&format!(" first {MAX_CELLS} of {len}"));
        }
        legend.push((js_channel_color(*id, dark), true, label));
    }
    for ch in 0..16u8 {
        if midi_channels & (1 << ch) != 0 {
            legend.push((midi_channel_color(ch, dark), false, format!("MIDI {}", ch + 1)));
        }
    }
    const LEGEND_ROW: f32 = 15.0;
    let (mut x, mut row) = (rect.left() + 4.0, 0);
    for (color, hollow, label) in legend {
        let galley = painter.layout_no_wrap(label, small.clone(), text_color);
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
        painter.galley(Pos2::new(x + 11.0, y - galley.size().y / 2.0), galley.clone(), text_color);
        x += item_w + 8.0;
    }
    let legend_h = if kinds.is_empty() && midi_channels == 0 { 4.0 } else { (row + 1) as f32 * LEGEND_ROW + 2.0 };

    // Layout: legend on top, pitch labels at the left, channels panel, then the roll with
    // bar numbers under it.
    let gutter_w = 30.0;
    let footer_h = 13.0;
    let body = Rect::from_min_max(
        Pos2::new(rect.left() + gutter_w, rect.top() + legend_h + 2.0),
        Pos2::new(rect.right() - 4.0, rect.bottom() - footer_h),
    );
    let channels_w = if channels.is_empty() { 0.0 } else { (body.width() * 0.28).clamp(90.0, 320.0) };
    let channels_rect = Rect::from_min_max(body.min, Pos2::new(body.left() + channels_w, body.bottom()));
    let roll_rect = Rect::from_min_max(
        Pos2::new(if channels_w > 0.0 { channels_rect.right() + 6.0 } else { body.left() }, body.top()),
        body.max,
    );

    let x_of = |bars: f64| roll_rect.left() + ((bars - from) / (to - from)) as f32 * roll_rect.width();

    let (lo, hi) = (lo.max(0.0) - 1.0, hi.min(140.0) + 1.0);
    let pad = ((MIN_PITCH_SPAN - (hi - lo)) / 2.0).max(0.0).ceil();
    let axis = PitchAxis { lo: lo - pad, hi: hi + pad, rect: body };
    let row_h = axis.row_height();

    // Rows: black keys darker, C rows labelled.
    let shade = if visuals.dark_mode { Color32::from_black_alpha(60) } else { Color32::from_black_alpha(18) };
    let label_every = if row_h * 12.0 >= 11.0 { 12 } else { 24 };
    for key in axis.lo as i32..=axis.hi as i32 {
        let (top, bottom) = axis.row(key as f64);
        if is_black_key(key) && row_h >= 2.5 {
            painter.rect_filled(Rect::from_x_y_ranges(body.x_range(), top..=bottom), 0.0, shade);
        }
        if key.rem_euclid(label_every) == 0 {
            painter.hline(body.x_range(), bottom, Stroke::new(1.0, weak.gamma_multiply(0.35)));
            painter.text(
                Pos2::new(rect.left() + 3.0, (top + bottom) / 2.0),
                Align2::LEFT_CENTER,
                pitch_name(key),
                small.clone(),
                weak,
            );
        }
    }

    // Channel arrays.
    if channels_w > 0.0 {
        painter.rect_stroke(channels_rect, 0.0, Stroke::new(1.0, weak.gamma_multiply(0.5)), StrokeKind::Outside);
        let longest = channels.values().map(|v| v.len().min(MAX_CELLS)).max().unwrap_or(0).max(1);
        let cell_w = channels_rect.width() / longest as f32;
        let gap = if cell_w > 4.0 { 1.0 } else { 0.0 };
        for (id, kind) in &kinds {
            let values = sampled(&channels[id]);
            let color = js_channel_color(*id, dark);
            match *kind {
                ArrayKind::Midi | ArrayKind::Hz => {
                    for (i, &v) in values.iter().enumerate() {
                        let Some(p) = pitch_of(*kind, v) else { continue };
                        let x = channels_rect.left() + i as f32 * cell_w;
                        let (top, bottom) = axis.row(p);
                        let cell = Rect::from_min_max(Pos2::new(x, top), Pos2::new(x + cell_w - gap, bottom));
                        // Channel data is drawn hollow, sent notes solid: the two
                        // palettes can come close, the styles cannot.
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
                            let y = channels_rect.bottom() - ((v - min) / span) as f32 * channels_rect.height();
                            Pos2::new(channels_rect.left() + (i as f32 + 0.5) * cell_w, y)
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

    // Roll: bar and beat lines, notes, playhead.
    let px_per_bar = roll_rect.width() / (to - from) as f32;
    // Label every bar, or every 2nd, 4th, 8th... so that labels are 24 px apart at least
    // and read 1, 5, 9... as in a DAW.
    let bar_step = ((24.0 / px_per_bar).max(1.0) as u32).next_power_of_two().min(1 << 16) as i64;
    let first_bar = from.floor() as i64;
    for bar in first_bar..=to.ceil() as i64 {
        if px_per_bar / bpb as f32 >= 6.0 {
            for beat in 1..bpb.ceil() as i64 {
                let t = bar as f64 + beat as f64 / bpb;
                if t > from && t < to {
                    let x = x_of(t);
                    painter.vline(x, roll_rect.y_range(), Stroke::new(1.0, weak.gamma_multiply(0.15)));
                }
            }
        }
        let t = bar as f64;
        if t < from || t > to {
            continue;
        }
        let x = x_of(t);
        let labelled = bar.rem_euclid(bar_step) == 0;
        if labelled || px_per_bar >= 8.0 {
            painter.vline(x, roll_rect.y_range(), Stroke::new(1.0, weak.gamma_multiply(0.45)));
        }
        if labelled {
            // Bars are counted from 1 on screen, as in a DAW.
            painter.text(Pos2::new(x + 2.0, rect.bottom() - 1.0), Align2::LEFT_BOTTOM, bar + 1, small.clone(), weak);
        }
    }

    let pointer = response.hover_pos();
    let mut hovered: Option<SentNote> = None;
    for note in history.overlapping(from, now) {
        let start = x_of(note.start_bars.max(from));
        let end = x_of(note.end_or(now).min(now)).max(start + 2.0);
        let (top, bottom) = axis.row(note.key as f64);
        let cell =
            Rect::from_min_max(Pos2::new(start, top), Pos2::new(end, bottom.max(top + 1.0))).intersect(roll_rect);
        let color = midi_channel_color(note.channel, dark);
        painter.rect_filled(cell, 1.0, color.gamma_multiply(0.35 + 0.65 * note.velocity.clamp(0.0, 1.0)));
        if note.end_bars.is_none() {
            painter.rect_stroke(cell, 1.0, Stroke::new(1.0, text_color), StrokeKind::Inside);
        }
        if pointer.is_some_and(|p| cell.expand(1.0).contains(p)) {
            hovered = Some(*note);
        }
    }
    let playhead = x_of(now);
    painter.vline(playhead, roll_rect.y_range(), Stroke::new(2.0, visuals.selection.stroke.color));

    if history.is_empty() && channels.is_empty() {
        painter.text(
            roll_rect.center(),
            Align2::CENTER_CENTER,
            "No notes yet: send an array from JS and press play",
            small,
            weak,
        );
    }

    match hovered {
        Some(n) => response.on_hover_text(format!(
            "{} (key {}), MIDI channel {}, velocity {:.2}, from {} {}",
            pitch_name(n.key as i32),
            n.key,
            n.channel + 1,
            n.velocity,
            bar_beat(n.start_bars, bpb),
            n.end_bars.map_or("(held)".to_string(), |e| format!("to {}", bar_beat(e, bpb))),
        )),
        None => response,
    }
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

    fn ev(bars: f64, on: bool, channel: u8, key: u8) -> NoteRecord {
        NoteRecord { bars, bpm: 120.0, on, channel, key, velocity: 0.8 }
    }
    fn on(bars: f64, channel: u8, key: u8) -> NoteRecord {
        ev(bars, true, channel, key)
    }
    fn off(bars: f64, channel: u8, key: u8) -> NoteRecord {
        ev(bars, false, channel, key)
    }
    fn history(events: &[NoteRecord]) -> NoteHistory {
        let mut h = NoteHistory::new();
        for &e in events {
            h.push(e);
        }
        h
    }
    /// (start, end, channel, key) of every note kept.
    fn summary(h: &NoteHistory) -> Vec<(f64, Option<f64>, u8, u8)> {
        h.notes().map(|n| (n.start_bars, n.end_bars, n.channel, n.key)).collect()
    }

    #[test]
    fn note_ons_pair_with_their_offs() {
        let h = history(&[on(0.0, 0, 60), off(0.25, 0, 60), on(0.5, 0, 62)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.25), 0, 60), (0.5, None, 0, 62)]);
        assert_eq!(h.held_count(), 1);
        assert_eq!(h.latest_bars(), Some(0.5));
        assert_eq!(h.last_bpm(), Some(120.0));
        assert!((h.notes().next().map(|n| n.velocity).unwrap_or(0.0) - 0.8).abs() < 1e-6);
    }

    #[test]
    fn repeated_key_makes_separate_notes_and_retriggers() {
        // on/off/on/off on one key: two notes.
        let h = history(&[on(0.0, 0, 60), off(0.1, 0, 60), on(0.2, 0, 60), off(0.3, 0, 60)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.1), 0, 60), (0.2, Some(0.3), 0, 60)]);
        // A second on while held closes the first note there.
        let h = history(&[on(0.0, 0, 60), on(0.5, 0, 60), off(1.0, 0, 60)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.5), 0, 60), (0.5, Some(1.0), 0, 60)]);
        assert_eq!(h.held_count(), 0);
    }

    #[test]
    fn same_key_on_different_channels_overlaps() {
        let h = history(&[on(0.0, 0, 60), on(0.25, 1, 60), off(0.5, 0, 60), off(0.75, 1, 60)]);
        assert_eq!(summary(&h), vec![(0.0, Some(0.5), 0, 60), (0.25, Some(0.75), 1, 60)]);
    }

    #[test]
    fn stray_offs_velocity_zero_and_bad_positions() {
        let mut h = history(&[off(0.1, 0, 60)]);
        assert!(h.is_empty());
        // Velocity 0 note-on is a note-off.
        h.push(on(0.2, 0, 61));
        h.push(NoteRecord { velocity: 0.0, ..on(0.3, 0, 61) });
        assert_eq!(summary(&h), vec![(0.2, Some(0.3), 0, 61)]);
        // Off for another channel does not close it; NaN/inf positions are ignored.
        h.push(on(0.4, 2, 50));
        h.push(off(0.5, 3, 50));
        h.push(on(f64::NAN, 0, 70));
        h.push(off(f64::INFINITY, 2, 50));
        assert_eq!(summary(&h)[1], (0.4, None, 2, 50));
        assert_eq!(h.len(), 2);
        assert_eq!(h.latest_bars(), Some(0.5));
    }

    #[test]
    fn history_is_bounded_by_age_and_count() {
        let mut h = NoteHistory::with_limits(4.0, 1000);
        // A note whose off is lost, then a note per bar for 20 bars.
        h.push(on(0.0, 0, 40));
        for bar in 0..20 {
            h.push(on(bar as f64 + 0.5, 0, 60));
            h.push(off(bar as f64 + 0.75, 0, 60));
        }
        let starts: Vec<f64> = h.notes().map(|n| n.start_bars).collect();
        // The latest event is at 19.75: notes starting before 15.75 are gone.
        assert_eq!(starts, vec![16.5, 17.5, 18.5, 19.5]);
        // The stuck note was dropped with its held entry; its late off is ignored.
        assert_eq!(h.held_count(), 0);
        h.push(off(20.0, 0, 40));
        assert_eq!(h.len(), 4);

        let mut h = NoteHistory::with_limits(64.0, 10);
        for i in 0..100 {
            h.push(on(i as f64 * 0.01, (i % 3) as u8, 60 + (i % 5) as u8));
        }
        assert_eq!(h.len(), 10);
        assert!((h.notes().next().map_or(0.0, |n| n.start_bars) - 0.90).abs() < 1e-9);
        // Held notes dropped by the cap are forgotten too: at most one per channel/key
        // remains held, and all of them are still in the history.
        assert!(h.held_count() <= 10);
        assert!(h.notes().filter(|n| n.end_bars.is_none()).count() == h.held_count());
    }

    #[test]
    fn jump_backwards_restarts_the_timeline() {
        let mut h = history(&[
            on(0.0, 0, 60),
            off(1.5, 0, 60), // sounds across the jump target: cut at 1.0
            on(2.0, 0, 61),
            off(2.5, 0, 61), // after the target: dropped
            on(3.0, 1, 62),  // held at the jump: closed, then dropped
            on(3.75, 0, 63),
            off(3.8, 0, 63),
        ]);
        assert_eq!(h.restarts(), 0);
        h.push(on(1.0, 0, 64)); // loop back to bar 1
        assert_eq!(h.restarts(), 1);
        assert_eq!(summary(&h), vec![(0.0, Some(1.0), 0, 60), (1.0, None, 0, 64)]);
        assert_eq!(h.held_count(), 1);
        assert_eq!(h.latest_bars(), Some(1.0));
        // The off of the note held before the jump arrives after it: ignored.
        h.push(off(1.1, 1, 62));
        assert_eq!(h.len(), 2);
        // Timeline continues normally.
        h.push(off(1.25, 0, 64));
        assert_eq!(summary(&h)[1], (1.0, Some(1.25), 0, 64));

        // A loop: the second pass replaces the first, including the note exactly at the
        // loop start.
        let mut h = history(&[on(0.0, 0, 60), off(0.5, 0, 60), on(1.0, 0, 62), off(1.5, 0, 62)]);
        h.push(on(0.0, 0, 64));
        h.push(off(0.5, 0, 64));
        assert_eq!(summary(&h), vec![(0.0, Some(0.5), 0, 64)]);

        // A hair earlier than the latest (rounding between blocks) is no jump, and is
        // clamped so the history stays sorted.
        let mut h = history(&[on(2.0, 0, 60)]);
        h.push(on(2.0 - 1e-9, 0, 62));
        assert_eq!(h.restarts(), 0);
        assert_eq!(summary(&h), vec![(2.0, None, 0, 60), (2.0, None, 0, 62)]);
    }

    #[test]
    fn overlapping_finds_long_and_held_notes() {
        let h = history(&[
            on(0.0, 0, 40), // long note, ends at 9.0
            on(1.0, 0, 41), // held forever
            on(2.0, 0, 60),
            off(2.5, 0, 60),
            on(8.0, 0, 62),
            off(8.25, 0, 62),
            off(9.0, 0, 40),
            on(9.5, 0, 64),
        ]);
        let keys = |from, to| h.overlapping(from, to).map(|n| n.key).collect::<Vec<_>>();
        assert_eq!(keys(8.5, 9.25), vec![40, 41]);
        assert_eq!(keys(8.0, 10.0), vec![40, 41, 62, 64]);
        assert_eq!(keys(2.5, 3.0), vec![40, 41]); // the note ending at 2.5 is out
        assert_eq!(keys(-2.0, 0.0), Vec::<u8>::new());
    }

    /// Tempo (µs per quarter) and time signature numerator of a file.
    fn meta(bytes: &[u8]) -> (u32, u8) {
        let smf = midly::Smf::parse(bytes).expect("valid MIDI file");
        let (mut tempo, mut num) = (0, 0);
        for e in &smf.tracks[0] {
            match e.kind {
                midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(t)) => tempo = t.as_int(),
                midly::TrackEventKind::Meta(midly::MetaMessage::TimeSignature(n, ..)) => num = n,
                _ => {}
            }
        }
        (tempo, num)
    }

    #[test]
    fn export_window_shifts_clips_and_closes_notes() {
        let h = history(&[
            on(6.0, 0, 65),
            off(7.0, 0, 65), // before the window
            on(7.5, 0, 60),
            on(8.25, 1, 62),
            off(8.5, 0, 60), // clipped at the window start
            off(8.5, 1, 62),
            on(9.5, 0, 67),
            on(9.75, 2, 64),   // still held: closed at the window end
            off(10.25, 0, 67), // after the window end: clipped there
        ]);
        // Window [8, 10) at 4 beats per bar: beats 0..8.
        let bytes = export_last_bars(&h, 10.0, 2, 4.0, 120.0);
        let notes = midi_file::decode_notes(&bytes).expect("decode");
        assert_eq!(notes, vec![(0.0, 2.0, 60), (1.0, 2.0, 62), (6.0, 8.0, 67), (7.0, 8.0, 64)]);
        // decode_notes gives beats; the file's tempo turns them into seconds (0.5 s/beat).
        assert_eq!(meta(&bytes), (500_000, 4));
        let seconds: Vec<f64> = notes.iter().map(|n| n.0 * 60.0 / 120.0).collect();
        assert_eq!(seconds, vec![0.0, 0.5, 3.0, 3.5]);

        // 3 beats per bar and another tempo: the window [9, 10) is beats 0..3.
        let bytes = export_last_bars(&h, 10.0, 1, 3.0, 90.0);
        let notes = midi_file::decode_notes(&bytes).expect("decode");
        assert_eq!(notes, vec![(1.5, 3.0, 67), (2.25, 3.0, 64)]);
        assert_eq!(meta(&bytes), (666_667, 3));
    }

    #[test]
    fn empty_window_and_bad_arguments_give_valid_files() {
        let h = history(&[on(0.0, 0, 60), off(1.0, 0, 60)]);
        for bytes in [
            export_last_bars(&h, 50.0, 4, 4.0, 120.0),
            export_last_bars(&NoteHistory::new(), 0.0, 4, 4.0, 120.0),
            export_last_bars(&h, 1.0, 0, 4.0, 120.0),
            export_last_bars(&h, f64::NAN, 4, f64::NAN, -1.0),
        ] {
            assert_eq!(midi_file::decode_notes(&bytes).expect("valid file"), vec![]);
            assert!(bytes.starts_with(b"MThd"));
        }
        assert_eq!(meta(&export_last_bars(&h, 1.0, 1, 0.0, f64::INFINITY)), (500_000, 4));
    }

    #[test]
    fn zero_length_notes_last_one_tick() {
        let h = history(&[on(1.0, 0, 60), off(1.0, 0, 60), on(1.5, 0, 62), off(1.75, 0, 62)]);
        let notes = midi_file::decode_notes(&export_last_bars(&h, 2.0, 1, 4.0, 120.0)).expect("decode");
        let ppq = midi_file::PPQ as f64;
        // The note at exactly the window start with zero length does not overlap it;
        // within the window it gets one tick.
        assert_eq!(notes, vec![(2.0, 3.0, 62)]);
        let notes = midi_file::decode_notes(&export_last_bars(&h, 2.0, 2, 4.0, 120.0)).expect("decode");
        assert_eq!(notes, vec![(4.0, (4.0 * ppq + 1.0) / ppq, 60), (6.0, 7.0, 62)]);
    }

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
    fn frame(channels: &BTreeMap<u32, Vec<f64>>, h: &NoteHistory, now: f64, shown: f64) -> Vec<egui::Shape> {
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
            let input = egui::RawInput { screen_rect: Some(screen), events, time: Some(time), ..Default::default() };
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
                egui::Shape::Rect(r) if r.fill == midi_channel_color(2, true) && r.rect.top() > 20.0 => Some(r.rect),
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
            tooltip.iter().any(|t| t.starts_with("D4 (key 62), MIDI channel 3") && t.contains("from 6|1.00 to 6|3.00")),
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
        for (now, shown) in [(f64::NAN, 4.0), (1.0, -1.0), (1.0, f64::INFINITY), (1e9, 1e-9), (-5.0, 1000.0)] {
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
