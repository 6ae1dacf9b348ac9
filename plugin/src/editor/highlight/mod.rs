//! Syntax highlighting for the two code editors: Sema's default language (the DSL) and
//! the JS editor, plus the line-number gutter and the background marks (the flash of an
//! evaluated block, the line of the last error).
//!
//! ```text
//! text ──tokens()──▶ [Token{range, kind}] ──layout_job()──▶ egui LayoutJob ──fonts──▶ Galley
//! ```
//!
//! - `dsl.rs`: the DSL tokeniser (standalone: it follows `dsl/lexer.rs` but does not use
//!   it).
//! - `js.rs`: JS colouring on top of the shared JS lexer ([`crate::js::tokenizer`], also
//!   used by the JS runtime's loop instrumentation).
//! - here: the shared types, the theme, the layout job and the line helpers.
//!
//! The tokenisers run every frame on whatever the user is typing, so they never fail,
//! never panic and accept every input, classifying what they do not understand as
//! [`TokenKind::Invalid`] or plain text. Token ranges are byte offsets that cover the
//! whole text without gaps or overlaps and always fall on `char` boundaries.
//!
//! Runs on the editor's thread.
//!
//! Use in a `TextEdit` (egui 0.37):
//!
//! ```ignore
//! let mut layouter = |ui: &egui::Ui, buf: &dyn egui::TextBuffer, wrap_width: f32| {
//!     highlight::galley(ui, buf.as_str(), wrap_width, Language::Dsl, &theme, &marks)
//! };
//! egui::TextEdit::multiline(&mut text).code_editor().layouter(&mut layouter)
//! ```
//!
//! egui caches galleys by the layout job (per paragraph), so a frame whose text and marks
//! did not change only pays for tokenising, building the job and egui hashing it (in
//! release, for a 500-line file: 35–50 µs tokens, 0.1–0.2 ms with the job, 0.2–0.5 ms in
//! all; a 20-line program costs a few tens of µs). An edit lays out only the changed
//! paragraph again.

use std::ops::{Range, RangeInclusive};
use std::sync::Arc;

use egui::text::{ByteIndex, LayoutJob, LayoutSection, TextFormat};
use egui::{Color32, FontId, Galley};

mod dsl;
mod js;

/// Which language a text is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// Sema's default live-coding language.
    Dsl,
    /// The JS editor (blocks separated by `___` lines).
    Js,
}

/// What a piece of text is, for colouring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Spaces, tabs and line breaks.
    Whitespace,
    /// `//` line comments; JS `/* */` block comments.
    Comment,
    /// Number literals (DSL: also negative numbers and the `0tN` clock trigger).
    Number,
    /// DSL `'name'`; JS string, template and regular-expression literals.
    String,
    /// DSL function name after `}`; JS name that is called or declared (`name(`).
    Function,
    /// DSL variable `:name:` or `name:`.
    Variable,
    /// DSL output `>` or `>N`.
    Output,
    /// DSL sample player `\name`, `|name` or `@name`.
    Sample,
    /// Braces, brackets, parentheses, commas, semicolons, the DSL lambda `@`, JS
    /// operators.
    Punctuation,
    /// JS keyword, or one of the literals `true`, `false`, `null`, `undefined`, `NaN`,
    /// `Infinity`.
    Keyword,
    /// A global of Sema Live's JS API (`createOutputChannel`, `host`, `mm`, `tf` ...) or
    /// of the JS standard library (`Math`, `Promise` ...).
    Builtin,
    /// Any other name (in the DSL: a name where no function name can stand).
    Identifier,
    /// A JS block separator line (three or more underscores).
    Separator,
    /// A character the language does not allow there (`$` in the DSL, a lone `-` ...).
    Invalid,
}

/// A classified piece of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Byte range in the text (never empty, on `char` boundaries).
    pub range: Range<usize>,
    /// What the piece is.
    pub kind: TokenKind,
}

/// Colours of the token kinds and of the line backgrounds.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    /// Identifiers and anything else without a colour of its own.
    pub text: Color32,
    /// Comments.
    pub comment: Color32,
    /// Numbers.
    pub number: Color32,
    /// Strings (and JS regular expressions).
    pub string: Color32,
    /// Function names.
    pub function: Color32,
    /// DSL variables.
    pub variable: Color32,
    /// DSL outputs `>`.
    pub output: Color32,
    /// DSL sample players.
    pub sample: Color32,
    /// Punctuation and operators.
    pub punctuation: Color32,
    /// JS keywords.
    pub keyword: Color32,
    /// JS API and standard-library globals.
    pub builtin: Color32,
    /// JS block separator lines (text).
    pub separator: Color32,
    /// Background behind separator lines, so the blocks stand apart.
    pub separator_bg: Color32,
    /// Characters the language does not allow.
    pub invalid: Color32,
    /// Background of a flashed (just evaluated) line at full strength; [`Marks::flash`]
    /// scales it by its alpha so the flash can fade out.
    pub flash_bg: Color32,
    /// Background of the line of the last error.
    pub error_bg: Color32,
}

impl Theme {
    /// Colours for egui's dark visuals (text edit background `from_gray(10)`).
    pub fn dark() -> Self {
        Self {
            text: Color32::from_gray(210),
            comment: Color32::from_rgb(110, 150, 95),
            number: Color32::from_rgb(181, 206, 168),
            string: Color32::from_rgb(214, 157, 133),
            function: Color32::from_rgb(220, 220, 150),
            variable: Color32::from_rgb(140, 200, 250),
            output: Color32::from_rgb(255, 120, 90),
            sample: Color32::from_rgb(240, 175, 90),
            punctuation: Color32::from_gray(150),
            keyword: Color32::from_rgb(200, 140, 220),
            builtin: Color32::from_rgb(90, 205, 180),
            separator: Color32::from_rgb(140, 140, 190),
            separator_bg: Color32::from_rgb(32, 32, 48),
            invalid: Color32::from_rgb(255, 85, 85),
            flash_bg: Color32::from_rgb(110, 95, 30),
            error_bg: Color32::from_rgb(80, 24, 24),
        }
    }

    /// Colours for egui's light visuals (text edit background white).
    pub fn light() -> Self {
        Self {
            text: Color32::from_gray(30),
            comment: Color32::from_rgb(70, 120, 60),
            number: Color32::from_rgb(20, 120, 90),
            string: Color32::from_rgb(160, 60, 30),
            function: Color32::from_rgb(120, 90, 0),
            variable: Color32::from_rgb(0, 90, 170),
            output: Color32::from_rgb(200, 40, 20),
            sample: Color32::from_rgb(170, 90, 0),
            punctuation: Color32::from_gray(100),
            keyword: Color32::from_rgb(140, 40, 160),
            builtin: Color32::from_rgb(0, 125, 125),
            separator: Color32::from_rgb(80, 80, 140),
            separator_bg: Color32::from_rgb(225, 225, 240),
            invalid: Color32::from_rgb(220, 0, 0),
            flash_bg: Color32::from_rgb(255, 230, 130),
            error_bg: Color32::from_rgb(255, 205, 205),
        }
    }

    /// [`Theme::dark`] or [`Theme::light`], whichever fits `visuals`.
    pub fn for_visuals(visuals: &egui::Visuals) -> Self {
        if visuals.dark_mode {
            Self::dark()
        } else {
            Self::light()
        }
    }

    /// Text colour of a token kind.
    pub fn color(&self, kind: TokenKind) -> Color32 {
        match kind {
            TokenKind::Whitespace | TokenKind::Identifier => self.text,
            TokenKind::Comment => self.comment,
            TokenKind::Number => self.number,
            TokenKind::String => self.string,
            TokenKind::Function => self.function,
            TokenKind::Variable => self.variable,
            TokenKind::Output => self.output,
            TokenKind::Sample => self.sample,
            TokenKind::Punctuation => self.punctuation,
            TokenKind::Keyword => self.keyword,
            TokenKind::Builtin => self.builtin,
            TokenKind::Separator => self.separator,
            TokenKind::Invalid => self.invalid,
        }
    }
}

/// Line backgrounds to draw under the text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marks {
    /// Lines (1-based, inclusive) that flash after an evaluation, and the strength of the
    /// flash from 0 (gone) to 1 (full [`Theme::flash_bg`]), applied in steps of 1/16.
    pub flash: Option<(RangeInclusive<usize>, f32)>,
    /// Line (1-based) of the last error.
    pub error_line: Option<usize>,
}

impl Marks {
    /// Background of line `line` (1-based) given the background its token would have
    /// without marks: the error colour replaces it, the flash blends over it.
    fn background(&self, theme: &Theme, line: usize, base: Color32) -> Color32 {
        let mut bg = if self.error_line == Some(line) { theme.error_bg } else { base };
        if let Some((lines, alpha)) = &self.flash {
            // Quantised to 1/16 steps: while a flash fades, egui's galley cache then hits
            // on most frames instead of laying out the flashed lines again every frame.
            let alpha =
                if alpha.is_finite() { (alpha.clamp(0.0, 1.0) * 16.0).round() / 16.0 } else { 0.0 };
            if alpha > 0.0 && lines.contains(&line) {
                bg = bg.lerp_to_gamma(theme.flash_bg, alpha);
            }
        }
        bg
    }

    /// Whether no line gets a mark background.
    fn is_empty(&self) -> bool {
        self.error_line.is_none()
            && self.flash.as_ref().is_none_or(|(_, a)| a.is_nan() || *a <= 0.0)
    }
}

/// Splits `text` into classified tokens covering it exactly (see [`Token`]).
pub fn tokens(text: &str, lang: Language) -> Vec<Token> {
    let mut out = Vec::with_capacity(text.len() / 3 + 1);
    match lang {
        Language::Dsl => dsl::tokens(text, &mut out),
        Language::Js => js::tokens(text, &mut out),
    }
    out
}

/// A layout job for `text` coloured by `theme`, with mark backgrounds on lines. The job
/// keeps trailing whitespace (as egui's own text edit layouter does); set
/// `job.wrap.max_width` to the wrap width before laying it out.
#[cfg(test)]
pub fn layout_job(
    text: &str,
    lang: Language,
    theme: &Theme,
    font: FontId,
    marks: &Marks,
) -> LayoutJob {
    layout_job_with_tokens(text, &tokens(text, lang), theme, font, None, marks)
}

/// [`layout_job`] from tokens computed earlier (for callers that cache them), with an
/// explicit line height (`None`: the font's row height).
pub fn layout_job_with_tokens(
    text: &str,
    tokens: &[Token],
    theme: &Theme,
    font: FontId,
    line_height: Option<f32>,
    marks: &Marks,
) -> LayoutJob {
    let mut job =
        LayoutJob { text: text.to_owned(), keep_trailing_whitespace: true, ..Default::default() };
    let format = |color: Color32, background: Color32| TextFormat {
        font_id: font.clone(),
        line_height,
        color,
        background,
        ..Default::default()
    };
    // Key of the last section, to merge neighbours that look the same (fewer sections
    // make layout and egui's cache hashing cheaper).
    let mut last: Option<(TokenKind, Color32)> = None;
    let mut push = |job: &mut LayoutJob, range: Range<usize>, kind: TokenKind, bg: Color32| {
        if range.is_empty() {
            return;
        }
        if let (Some((last_kind, last_bg)), Some(sec)) = (last, job.sections.last_mut()) {
            // Whitespace has no visible colour, so it can join any section with the same
            // background.
            if last_bg == bg
                && (last_kind == kind || kind == TokenKind::Whitespace)
                && sec.byte_range.end.0 == range.start
            {
                sec.byte_range.end = ByteIndex(range.end);
                return;
            }
        }
        job.sections.push(LayoutSection {
            leading_space: 0.0,
            byte_range: ByteIndex(range.start)..ByteIndex(range.end),
            format: format(theme.color(kind), bg),
        });
        last = Some((kind, bg));
    };

    // Only tokens inside the text are used, in order, so a stale token list (from an
    // older text) can never make an invalid job: the rest is laid out as plain text.
    let mut pos = 0usize;
    let mut line = 1usize;
    let plain_marks = marks.is_empty();
    let bytes = text.as_bytes();
    for t in tokens {
        if t.range.start != pos
            || t.range.end <= t.range.start
            || t.range.end > text.len()
            || !text.is_char_boundary(t.range.end)
        {
            break;
        }
        let base =
            if t.kind == TokenKind::Separator { theme.separator_bg } else { Color32::TRANSPARENT };
        if plain_marks {
            push(&mut job, t.range.clone(), t.kind, base);
        } else {
            // Split the token at line ends, since each line can have its own background.
            let mut start = t.range.start;
            while start < t.range.end {
                let end = bytes[start..t.range.end]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(t.range.end, |p| start + p + 1);
                push(&mut job, start..end, t.kind, marks.background(theme, line, base));
                if bytes[end - 1] == b'\n' {
                    line += 1;
                }
                start = end;
            }
        }
        pos = t.range.end;
    }
    if pos < text.len() {
        push(&mut job, pos..text.len(), TokenKind::Identifier, Color32::TRANSPARENT);
    }
    if job.sections.is_empty() {
        // An empty text still needs a section: it gives the empty row (and the cursor)
        // its font height.
        job.sections.push(LayoutSection {
            leading_space: 0.0,
            byte_range: ByteIndex(0)..ByteIndex(0),
            format: format(theme.text, Color32::TRANSPARENT),
        });
    }
    job
}

/// Lays out `text` the way `TextEdit::code_editor()` does (the style's monospace font and
/// line height), highlighted: the body of a `TextEdit::layouter` closure.
pub fn galley(
    ui: &egui::Ui,
    text: &str,
    wrap_width: f32,
    lang: Language,
    theme: &Theme,
    marks: &Marks,
) -> Arc<Galley> {
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let line_height = ui.fonts_mut(|f| f.row_height(&font)) + ui.spacing().extra_text_line_spacing;
    let mut job =
        layout_job_with_tokens(text, &tokens(text, lang), theme, font, Some(line_height), marks);
    job.wrap.max_width = wrap_width;
    ui.fonts_mut(|f| f.layout_job(job))
}

/// Number of lines a text edit shows for `text` (a final newline starts one more, empty,
/// line).
pub fn line_count(text: &str) -> usize {
    1 + text.bytes().filter(|&b| b == b'\n').count()
}

/// The gutter text: `"1\n2\n…\nN"` with one number per line of `text` (see
/// [`line_count`]). Lay it out with the editor's font and without wrapping; when the
/// editor wraps long lines, place the numbers at [`line_tops`] instead.
#[cfg(test)]
pub fn line_numbers(text: &str) -> String {
    let n = line_count(text);
    let mut s = String::with_capacity(n * 4);
    for i in 1..=n {
        if i > 1 {
            s.push('\n');
        }
        s.push_str(&i.to_string());
    }
    s
}

/// The top (y, relative to the galley) of each text line's first row, one per line of the
/// laid-out text: where a wrap-aware gutter draws its numbers.
pub fn line_tops(galley: &Galley) -> Vec<f32> {
    let mut tops = Vec::new();
    let mut new_line = true;
    for row in &galley.rows {
        if new_line {
            tops.push(row.pos.y);
        }
        new_line = row.ends_with_newline;
    }
    tops
}

/// Vertical extent (relative to the galley) of the text lines `lines` (1-based,
/// inclusive) over all their wrapped rows, or `None` when none of them exist. For painting
/// full-width line backgrounds behind a text edit, an alternative to the glyph
/// backgrounds of [`Marks`] that needs no new layout while a flash fades.
#[cfg(test)]
pub fn lines_y_range(galley: &Galley, lines: RangeInclusive<usize>) -> Option<egui::Rangef> {
    let mut line = 1;
    let mut range: Option<egui::Rangef> = None;
    for row in &galley.rows {
        if lines.contains(&line) {
            let r = row.rect();
            range = Some(match range {
                Some(y) => egui::Rangef::new(y.min.min(r.min.y), y.max.max(r.max.y)),
                None => egui::Rangef::new(r.min.y, r.max.y),
            });
        }
        if row.ends_with_newline {
            line += 1;
        }
    }
    range
}

/// Pushes a token, merging it into the previous one when both are whitespace, comment,
/// string or invalid (the scanners emit these in pieces, e.g. one per line of a block
/// comment).
fn push_tok(out: &mut Vec<Token>, range: Range<usize>, kind: TokenKind) {
    if range.is_empty() {
        return;
    }
    if matches!(
        kind,
        TokenKind::Whitespace | TokenKind::Comment | TokenKind::String | TokenKind::Invalid
    ) {
        if let Some(last) = out.last_mut() {
            if last.kind == kind && last.range.end == range.start {
                last.range.end = range.end;
                return;
            }
        }
    }
    out.push(Token { range, kind });
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const SEED_DSL: &str = "{120,4}clk; :m:{1}fromJS; >{{:m:}saw,0.1}mul;";

    /// Checks that `toks` cover `text` exactly, in order, without empty tokens, on char
    /// boundaries.
    pub(super) fn assert_covers(text: &str, toks: &[Token]) {
        let mut pos = 0;
        for t in toks {
            assert_eq!(t.range.start, pos, "gap or overlap at {pos} in {text:?}: {toks:?}");
            assert!(t.range.end > t.range.start, "empty token {t:?} in {text:?}");
            assert!(
                text.is_char_boundary(t.range.start) && text.is_char_boundary(t.range.end),
                "{t:?} in {text:?}"
            );
            pos = t.range.end;
        }
        assert_eq!(pos, text.len(), "tokens end early in {text:?}: {toks:?}");
    }

    /// Checks the egui invariant of a layout job: sections cover the text in order.
    fn assert_job_covers(job: &LayoutJob) {
        assert!(!job.sections.is_empty());
        let mut pos = 0;
        for s in &job.sections {
            assert_eq!(s.byte_range.start.0, pos, "{:?}", job.text);
            assert!(s.byte_range.end >= s.byte_range.start);
            pos = s.byte_range.end.0;
        }
        assert_eq!(pos, job.text.len());
    }

    /// The kinds of the tokens whose text is `piece` (in order).
    pub(super) fn kinds_of(text: &str, lang: Language, piece: &str) -> Vec<TokenKind> {
        tokens(text, lang)
            .into_iter()
            .filter(|t| &text[t.range.clone()] == piece)
            .map(|t| t.kind)
            .collect()
    }

    pub(super) fn kind_of(text: &str, lang: Language, piece: &str) -> TokenKind {
        let k = kinds_of(text, lang, piece);
        assert!(!k.is_empty(), "no token {piece:?} in {text:?}: {:?}", tokens(text, lang));
        k[0]
    }

    /// The kind of the token holding the first byte of the first `piece` in `text`.
    pub(super) fn kind_at(text: &str, lang: Language, piece: &str) -> TokenKind {
        let at = text.find(piece).expect("piece in text");
        tokens(text, lang)
            .into_iter()
            .find(|t| t.range.contains(&at))
            .map(|t| t.kind)
            .expect("covered")
    }

    /// Deterministic pseudo-random numbers (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn tokens_cover_any_input() {
        // Pieces that open or close the scanners' states, mixed with random bytes (made
        // valid UTF-8 by lossy conversion, which also brings in U+FFFD).
        const PIECES: &[&str] = &[
            "{", "}", "[", "]", "(", ")", ",", ";", ":", ":a:", "x:", "1x:", ">", ">12", "\\",
            "\\kick", "|", "@", "'", "'s'", "\"", "`", "${", "\\`", "//", "/*", "*/", "/",
            "/[/]/g", "\n", "\r\n", " ", "\t", "___", "\n___\n", "  ____  ", "-", "-1.5", "0t",
            "0t4", "0t-1.", "2.", ".5", "1e", "1e-3", "0x", "0xfFn", "é", "𝄞", "\u{a0}",
            "\u{2028}", "var", "function", "host", "foo", "saw", "$", "_", "0", "9",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            let mut bytes = Vec::new();
            let len = rng.below(60);
            for _ in 0..len {
                if round % 3 == 0 || rng.below(4) == 0 {
                    bytes.push(rng.next() as u8);
                } else {
                    bytes.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
                }
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            for lang in [Language::Dsl, Language::Js] {
                let toks = tokens(&text, lang);
                assert_covers(&text, &toks);
                let marks = Marks { flash: Some((2..=4, 0.5)), error_line: Some(3) };
                for m in [&Marks::default(), &marks] {
                    let job = layout_job(&text, lang, &Theme::dark(), FontId::monospace(14.0), m);
                    assert_job_covers(&job);
                    assert_eq!(job.text, text);
                }
            }
        }
        for text in ["", "\n", "___", "/*", "`${", "'", "\"abc\\", "`\\", "'\\é", "\"\\𝄞"] {
            for lang in [Language::Dsl, Language::Js] {
                assert_covers(text, &tokens(text, lang));
            }
        }
    }

    /// The background colour over byte `at` in `job`.
    fn bg_at(job: &LayoutJob, at: usize) -> Color32 {
        job.sections
            .iter()
            .find(|s| s.byte_range.contains(&ByteIndex(at)))
            .map(|s| s.format.background)
            .unwrap()
    }

    #[test]
    fn layout_job_colours_and_marks_lines() {
        let theme = Theme::dark();
        let text = "{1}saw;\n:a:{2}sin;\n>:a:;\n// end";
        let line_start =
            |l: usize| text.split_inclusive('\n').take(l - 1).map(str::len).sum::<usize>();
        let job =
            layout_job(text, Language::Dsl, &theme, FontId::monospace(13.0), &Marks::default());
        assert_job_covers(&job);
        assert!(job.sections.iter().all(|s| s.format.background == Color32::TRANSPARENT));
        assert_eq!(
            job.sections
                .iter()
                .find(|s| s.byte_range.contains(&ByteIndex(3)))
                .unwrap()
                .format
                .color,
            theme.function
        );
        assert_eq!(
            job.sections
                .iter()
                .find(|s| s.byte_range.contains(&ByteIndex(line_start(4))))
                .unwrap()
                .format
                .color,
            theme.comment
        );

        // Lines 2..=3 flash at full strength, line 4 is the error line.
        let marks = Marks { flash: Some((2..=3, 1.0)), error_line: Some(4) };
        let job = layout_job(text, Language::Dsl, &theme, FontId::monospace(13.0), &marks);
        assert_job_covers(&job);
        assert_eq!(bg_at(&job, 0), Color32::TRANSPARENT);
        for at in line_start(2)..line_start(4) - 1 {
            assert_eq!(bg_at(&job, at), theme.flash_bg, "byte {at}");
        }
        assert_eq!(bg_at(&job, line_start(4) + 2), theme.error_bg);
        // A fading flash is between nothing and the full colour.
        let half = layout_job(
            text,
            Language::Dsl,
            &theme,
            FontId::monospace(13.0),
            &Marks { flash: Some((1..=1, 0.5)), error_line: None },
        );
        let c = bg_at(&half, 0);
        assert!(c.a() > 0 && c.a() < theme.flash_bg.a() && c.r() < theme.flash_bg.r(), "{c:?}");
        // Alpha 0 (or NaN) means no flash.
        let none = layout_job(
            text,
            Language::Dsl,
            &theme,
            FontId::monospace(13.0),
            &Marks { flash: Some((1..=4, f32::NAN)), error_line: None },
        );
        assert!(none.sections.iter().all(|s| s.format.background == Color32::TRANSPARENT));

        // JS separator lines get their own background, a flash blends over it.
        let js = "a();\n___\nb();";
        let job = layout_job(js, Language::Js, &theme, FontId::monospace(13.0), &Marks::default());
        assert_eq!(bg_at(&job, 6), theme.separator_bg);
        assert_eq!(bg_at(&job, 0), Color32::TRANSPARENT);
        let job = layout_job(
            js,
            Language::Js,
            &theme,
            FontId::monospace(13.0),
            &Marks { flash: Some((1..=3, 1.0)), error_line: None },
        );
        assert_eq!(bg_at(&job, 6), theme.flash_bg);
        assert_eq!(bg_at(&job, 10), theme.flash_bg);
        // Empty text still has a section (the empty row's height).
        let empty =
            layout_job("", Language::Js, &theme, FontId::monospace(13.0), &Marks::default());
        assert_eq!(empty.sections.len(), 1);
        assert_job_covers(&empty);
    }

    #[test]
    fn stale_tokens_never_make_an_invalid_job() {
        let old = tokens("{1}saw; {2}sin;", Language::Dsl);
        for text in ["{1}s", "{1}saw; {2}sin; more", "é"] {
            let job = layout_job_with_tokens(
                text,
                &old,
                &Theme::light(),
                FontId::monospace(12.0),
                None,
                &Marks::default(),
            );
            assert_job_covers(&job);
        }
    }

    #[test]
    fn line_numbers_match_the_lines_shown() {
        assert_eq!(line_numbers(""), "1");
        assert_eq!(line_numbers("a"), "1");
        assert_eq!(line_numbers("a\nb"), "1\n2");
        assert_eq!(line_numbers("a\nb\n"), "1\n2\n3");
        assert_eq!(line_count("\n\n"), 3);
    }

    /// Lays out with real egui fonts: the job is accepted, and `line_tops` gives one top
    /// per text line even when a long line wraps.
    #[test]
    fn galley_and_line_tops() {
        let ctx = egui::Context::default();
        let mut tops = Vec::new();
        let mut rows = 0;
        let mut spans = Vec::new();
        let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
            let text = format!("short\n{}\n\nlast\n", "x".repeat(400));
            let marks = Marks { flash: Some((1..=2, 1.0)), error_line: Some(4) };
            let g = galley(ui, &text, 200.0, Language::Js, &Theme::dark(), &marks);
            rows = g.rows.len();
            tops = line_tops(&g);
            spans = vec![
                lines_y_range(&g, 1..=1),
                lines_y_range(&g, 2..=2),
                lines_y_range(&g, 2..=3),
                lines_y_range(&g, 6..=9),
            ];
        });
        out.textures_delta.clear();
        assert_eq!(tops.len(), 5, "{tops:?}");
        assert!(rows > 5, "the long line should wrap: {rows} rows");
        assert!(tops.windows(2).all(|w| w[1] > w[0]), "{tops:?}");
        // The long line takes several rows: the gap after it is larger than one row.
        assert!(tops[2] - tops[1] > 2.0 * (tops[1] - tops[0]), "{tops:?}");
        // Line spans start at the line tops and cover the wrapped rows.
        let (l1, l2, l23) = (spans[0].unwrap(), spans[1].unwrap(), spans[2].unwrap());
        assert_eq!((l1.min, l1.max), (tops[0], tops[1]));
        assert_eq!((l2.min, l2.max), (tops[1], tops[2]));
        assert_eq!((l23.min, l23.max), (tops[1], tops[3]));
        assert!(spans[3].is_none());
    }

    /// The API fits egui's `TextEdit` the way the editor uses it: the edit's galley comes
    /// from our layouter, with the theme's colours and the marks.
    #[test]
    fn works_as_a_text_edit_layouter() {
        let ctx = egui::Context::default();
        let theme = Theme::for_visuals(&egui::Visuals::dark());
        let marks = Marks { flash: None, error_line: Some(2) };
        let mut text = SEED_DSL.replace("; ", ";\n");
        let mut job = None;
        let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
            let mut layouter = |ui: &egui::Ui, buf: &dyn egui::TextBuffer, wrap_width: f32| {
                galley(ui, buf.as_str(), wrap_width, Language::Dsl, &theme, &marks)
            };
            let output =
                egui::TextEdit::multiline(&mut text).code_editor().layouter(&mut layouter).show(ui);
            job = Some(output.galley.job.clone());
        });
        out.textures_delta.clear();
        let job = job.unwrap();
        assert_eq!(job.text, text);
        let colors: Vec<Color32> = job.sections.iter().map(|s| s.format.color).collect();
        assert!(
            colors.contains(&theme.function)
                && colors.contains(&theme.variable)
                && colors.contains(&theme.output)
        );
        let line2 = text.find('\n').unwrap() + 1;
        assert_eq!(bg_at(&job, line2), theme.error_bg);
        assert_eq!(bg_at(&job, 0), Color32::TRANSPARENT);
    }

    /// Prints how long tokenising and building the job take for a 500-line file (run with
    /// `--release --nocapture`); asserts nothing about time.
    #[test]
    fn timing() {
        let dsl_line = ":m:{1}fromJS; >{{:m:}saw,0.1}mul; // a comment\n";
        let js_line = "var x = host.bar + `t ${y}` / 2; console.log('x', 1.5); /* c */\n";
        for (name, line, lang) in [("dsl", dsl_line, Language::Dsl), ("js", js_line, Language::Js)]
        {
            let text = line.repeat(500);
            let theme = Theme::dark();
            let marks = Marks { flash: Some((10..=40, 0.5)), error_line: Some(100) };
            let reps = 50;
            let t0 = std::time::Instant::now();
            let mut n = 0;
            for _ in 0..reps {
                n += tokens(&text, lang).len();
            }
            let tok = t0.elapsed() / reps;
            let t0 = std::time::Instant::now();
            let mut s = 0;
            for _ in 0..reps {
                s +=
                    layout_job(&text, lang, &theme, FontId::monospace(13.0), &marks).sections.len();
            }
            let job = t0.elapsed() / reps;
            println!(
                "{name}: {} bytes, {} tokens, {} sections: tokens {tok:?}, tokens+layout_job {job:?}",
                text.len(),
                n / reps as usize,
                s / reps as usize
            );
        }
    }
}
