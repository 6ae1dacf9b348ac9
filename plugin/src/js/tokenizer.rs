//! The JS tokenizer: a small lexer that splits JS source into token kinds and byte
//! ranges, shared by the loop instrumentation of block code
//! ([`super::blocks::instrument_loops`], on the JS thread) and the JS syntax highlighting
//! (`editor::highlight`, on the editor's thread).
//!
//! It knows what decides where code is: strings, template literals (with `${ }` nested to
//! any depth), comments, regular-expression literals (after an operator or a keyword, not
//! after a value), numbers and names. It never fails and never panics: it accepts every
//! input, tokens cover the text without gaps or overlaps, are never empty and fall on
//! `char` boundaries. Whatever is left open (a string at its line end, a regular
//! expression without its closing `/`) is reported in the token's kind, and
//! [`Lexer::is_open`] says whether the text ended inside a comment or a template.
//!
//! In [`Mode::File`] no token reaches past a line break (a token ends before it or just
//! after it), so every line start comes between two tokens: that is where separator
//! lines are recognised.

use std::ops::Range;

use super::blocks::is_separator;

/// What the text is, which decides the two rules that differ between the editor's view
/// of a file and the engine's view of code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A whole JS file as the editor shows it: a separator line (see [`is_separator`]) is
    /// always a separator (Sema splits the blocks before JS sees them), so it also ends
    /// any comment or template left open above it; and a line break always ends a
    /// string, even after `\`.
    File,
    /// JS code as the engine runs it (one block, or a file loaded by `importScripts`): no
    /// separators, and `\` before a line break continues a string on the next line (a
    /// JS line continuation).
    Code,
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A run of spaces, tabs and `\r` up to and with a line break, a line break alone, or
    /// one other Unicode whitespace character.
    Whitespace,
    /// `//` up to the line break (not included).
    LineComment,
    /// A piece of a `/* */` comment: the opening `/*`, then one piece per line (with its
    /// line break), the last one up to and with the closing `*/`.
    BlockComment,
    /// A `'…'` or `"…"` string; `closed` is false when its line (or the text) ends before
    /// the closing quote.
    Str { closed: bool },
    /// The opening backtick of a template literal.
    TemplateStart,
    /// A piece of a template literal's text: up to and with a line break, up to `${`, or
    /// up to and with the closing backtick.
    Template,
    /// `${` opening code inside a template literal.
    InterpStart,
    /// The `}` that closes the code inside a template literal (its text follows).
    InterpEnd,
    /// A regular-expression literal with its flags, where a `/` can start one. When its
    /// line ends before the closing `/` (`closed` false), the token is the `/` alone: an
    /// operator.
    Regex { closed: bool },
    /// A number: decimal with fraction and exponent, `0x`/`0o`/`0b` forms, `_`
    /// separators, a BigInt `n`.
    Number,
    /// A name (identifier or keyword): a letter, `_` or `$`, then letters, digits, `_`,
    /// `$`.
    Word,
    /// One other ASCII character: punctuation or (part of) an operator.
    Punct,
    /// A separator line ([`Mode::File`] only), without its line break.
    Separator,
    /// A non-ASCII character that is neither part of a name nor whitespace.
    Other,
}

/// A token: its kind and its byte range in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: Kind,
    /// Byte range in the text (never empty, on `char` boundaries).
    pub range: Range<usize>,
}

/// Where the lexer is between tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Frame {
    /// Code inside `${ }` of a template literal, with the depth of `{` opened in it.
    Interp(u32),
    /// Inside a template literal's text.
    Template,
}

/// The lexer: an iterator over the tokens of a text.
///
/// Whether a `/` starts a regular expression or is a division depends on the token
/// before it: the lexer sets that after every token by the rules for values and
/// operators (after a name it assumes a value); a caller that knows a name is a keyword
/// after which an expression starts (`return /x/`) says so with
/// [`Lexer::set_regex_ok`].
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    text: &'a str,
    mode: Mode,
    pos: usize,
    frames: Vec<Frame>,
    in_block_comment: bool,
    regex_ok: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub fn new(text: &'a str, mode: Mode) -> Self {
        Lexer { text, mode, pos: 0, frames: Vec::new(), in_block_comment: false, regex_ok: true }
    }

    /// Sets whether a `/` at the next code token starts a regular expression (call it
    /// after a [`Kind::Word`] or a [`Kind::Punct`] to override the lexer's own rule).
    pub fn set_regex_ok(&mut self, ok: bool) {
        self.regex_ok = ok;
    }

    /// Whether the text read so far ends inside a block comment, or inside a template
    /// literal (or the code of one of its `${ }`).
    pub fn is_open(&self) -> bool {
        self.in_block_comment || !self.frames.is_empty()
    }

    /// Scans the token at `self.pos` (not at the end), moves past it and returns its kind.
    fn scan(&mut self) -> Kind {
        let text = self.text;
        let b = text.as_bytes();
        let n = b.len();
        let mut i = self.pos;
        let start = i;
        // In `Mode::File` every scanner below stops at or just after a line break, so each
        // line start passes through here.
        if self.mode == Mode::File && (i == 0 || b[i - 1] == b'\n') {
            let rest = text[i..].trim_start_matches(|c: char| c != '\n' && c.is_whitespace());
            if rest.starts_with('_') {
                let eol = line_end(b, i);
                if is_separator(&text[i..eol]) {
                    self.frames.clear();
                    self.in_block_comment = false;
                    self.regex_ok = true;
                    self.pos = eol;
                    return Kind::Separator;
                }
            }
        }
        if self.in_block_comment {
            while i < n {
                if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    i += 2;
                    self.in_block_comment = false;
                    break;
                }
                i += 1;
                if b[i - 1] == b'\n' {
                    break;
                }
            }
            self.pos = i;
            return Kind::BlockComment;
        }
        if self.frames.last() == Some(&Frame::Template) {
            while i < n {
                match b[i] {
                    b'`' => {
                        i += 1;
                        self.frames.pop();
                        self.regex_ok = false;
                        break;
                    }
                    b'$' if b.get(i + 1) == Some(&b'{') => break,
                    // An escape, but never across a line end (see the start).
                    b'\\' if b.get(i + 1).is_some_and(|&c| c != b'\n') => i += 2,
                    b'\n' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
            // `i` may be inside a multi-byte character after an escape: move on to its end.
            while !text.is_char_boundary(i) {
                i += 1;
            }
            if i > start {
                self.pos = i;
                return Kind::Template;
            }
            // At `${`.
            self.frames.push(Frame::Interp(0));
            self.regex_ok = true;
            self.pos = i + 2;
            return Kind::InterpStart;
        }
        let c = b[i];
        let kind = match c {
            b' ' | b'\t' | b'\r' => {
                while i < n && matches!(b[i], b' ' | b'\t' | b'\r') {
                    i += 1;
                }
                if i < n && b[i] == b'\n' {
                    i += 1;
                }
                self.pos = i;
                return Kind::Whitespace;
            }
            b'\n' => {
                self.pos = i + 1;
                return Kind::Whitespace;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                self.pos = line_end(b, i);
                return Kind::LineComment;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                self.in_block_comment = true;
                self.pos = i + 2;
                return Kind::BlockComment;
            }
            b'/' if self.regex_ok => match regex_end(b, i) {
                Some(end) => {
                    i = end;
                    Kind::Regex { closed: true }
                }
                None => {
                    i += 1;
                    Kind::Regex { closed: false }
                }
            },
            b'\'' | b'"' => {
                i += 1;
                let mut closed = false;
                while i < n && b[i] != b'\n' {
                    if b[i] == c {
                        i += 1;
                        closed = true;
                        break;
                    }
                    let escapes_next = b[i] == b'\\'
                        && b.get(i + 1).is_some_and(|&x| x != b'\n' || self.mode == Mode::Code);
                    i += if escapes_next { 2 } else { 1 };
                }
                while !text.is_char_boundary(i) {
                    i += 1;
                }
                Kind::Str { closed }
            }
            b'`' => {
                i += 1;
                self.frames.push(Frame::Template);
                Kind::TemplateStart
            }
            b'{' => {
                if let Some(Frame::Interp(depth)) = self.frames.last_mut() {
                    *depth += 1;
                }
                i += 1;
                Kind::Punct
            }
            b'}' => {
                i += 1;
                match self.frames.last_mut() {
                    Some(Frame::Interp(0)) => {
                        self.frames.pop();
                        Kind::InterpEnd
                    }
                    Some(Frame::Interp(depth)) => {
                        *depth -= 1;
                        Kind::Punct
                    }
                    _ => Kind::Punct,
                }
            }
            b'0'..=b'9' => {
                i = number_end(b, i);
                Kind::Number
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = number_end(b, i);
                Kind::Number
            }
            _ => {
                let (ch, len) = char_at(text, i);
                i += len;
                if is_ident_start(ch) {
                    while i < n {
                        let (ch, len) = char_at(text, i);
                        if !is_ident_char(ch) {
                            break;
                        }
                        i += len;
                    }
                    Kind::Word
                } else if ch.is_whitespace() {
                    self.pos = i;
                    return Kind::Whitespace;
                } else if ch.is_ascii() {
                    Kind::Punct
                } else {
                    Kind::Other
                }
            }
        };
        // After a value a `/` divides; after an operator it starts a regular expression.
        self.regex_ok = match kind {
            Kind::Punct | Kind::Regex { closed: false } => !matches!(c, b')' | b']' | b'}'),
            _ => false,
        };
        self.pos = i;
        kind
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start = self.pos;
        let kind = self.scan();
        Some(Token { kind, range: start..self.pos })
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c == '$' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c == '$' || c.is_alphanumeric()
}

/// The character starting at byte `i` (a char boundary) and its length.
fn char_at(text: &str, i: usize) -> (char, usize) {
    text[i..].chars().next().map_or(('\0', 1), |c| (c, c.len_utf8()))
}

/// Index of the next `\n` at or after `i` (or the end): where a `//` comment stops.
fn line_end(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p)
}

/// End of the run of ASCII digits starting at `i`.
fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// End of a regular-expression literal starting with `/` at `i`, with its flags; `None`
/// when the line ends first (then the `/` is an operator).
fn regex_end(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i + 1;
    let mut in_class = false;
    while k < b.len() {
        match b[k] {
            b'\n' => return None,
            b'\\' if b.get(k + 1).is_some_and(|&c| c != b'\n') => k += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'/' if !in_class => {
                k += 1;
                while k < b.len() && b[k].is_ascii_alphanumeric() {
                    k += 1;
                }
                return Some(k);
            }
            _ => {}
        }
        k += 1;
    }
    None
}

/// End of a number starting at `i` (a digit, or `.` before a digit).
fn number_end(b: &[u8], i: usize) -> usize {
    let mut k = i;
    if b[k] == b'0'
        && b.get(k + 1).is_some_and(|c| matches!(c, b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
    {
        k += 2;
        while k < b.len() && (b[k].is_ascii_hexdigit() || b[k] == b'_') {
            k += 1;
        }
    } else {
        while k < b.len() && (b[k].is_ascii_digit() || b[k] == b'_') {
            k += 1;
        }
        if b.get(k) == Some(&b'.') {
            k += 1;
            while k < b.len() && (b[k].is_ascii_digit() || b[k] == b'_') {
                k += 1;
            }
        }
        if b.get(k).is_some_and(|c| matches!(c, b'e' | b'E')) {
            let mut e = k + 1;
            if b.get(e).is_some_and(|c| matches!(c, b'+' | b'-')) {
                e += 1;
            }
            if b.get(e).is_some_and(u8::is_ascii_digit) {
                k = digits_end(b, e);
            }
        }
    }
    if b.get(k) == Some(&b'n') {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, text) of every token of `text`.
    fn lex(text: &str, mode: Mode) -> Vec<(Kind, &str)> {
        Lexer::new(text, mode).map(|t| (t.kind, &text[t.range])).collect()
    }

    #[test]
    fn regex_after_operators_division_after_values() {
        let toks = lex("a = /x\\/[/]/g; b = a / 2 / c;", Mode::Code);
        assert!(toks.contains(&(Kind::Regex { closed: true }, "/x\\/[/]/g")));
        assert_eq!(toks.iter().filter(|t| *t == &(Kind::Punct, "/")).count(), 2);
        // After a name the caller decides.
        let mut lexer = Lexer::new("return /x/", Mode::Code);
        assert_eq!(lexer.next().map(|t| t.kind), Some(Kind::Word));
        lexer.set_regex_ok(true);
        let kinds: Vec<Kind> = lexer.map(|t| t.kind).collect();
        assert_eq!(kinds, vec![Kind::Whitespace, Kind::Regex { closed: true }]);
        // A regular expression cut by its line end is a `/` alone.
        assert_eq!(lex("= /ab\n", Mode::Code)[2], (Kind::Regex { closed: false }, "/"));
    }

    #[test]
    fn templates_nest_and_report_what_is_left_open() {
        let src = "`a ${ {b: `c ${d}`}.b } e`";
        let toks = lex(src, Mode::Code);
        assert_eq!(toks[0], (Kind::TemplateStart, "`"));
        assert_eq!(toks.iter().filter(|t| t.0 == Kind::InterpStart).count(), 2);
        assert_eq!(toks.iter().filter(|t| t.0 == Kind::InterpEnd).count(), 2);
        assert_eq!(toks.last(), Some(&(Kind::Template, " e`")));
        let mut lexer = Lexer::new(src, Mode::Code);
        lexer.by_ref().for_each(drop);
        assert!(!lexer.is_open());
        for open in ["`a ${ b", "`a", "/* c"] {
            let mut lexer = Lexer::new(open, Mode::Code);
            lexer.by_ref().for_each(drop);
            assert!(lexer.is_open(), "{open}");
        }
    }

    #[test]
    fn modes_differ_on_separators_and_line_continuations() {
        let src = "/* open\n___\nx";
        assert!(lex(src, Mode::File).contains(&(Kind::Separator, "___")));
        assert!(lex(src, Mode::Code).iter().all(|t| t.0 == Kind::BlockComment));
        let src = "'a\\\nb'";
        assert_eq!(lex(src, Mode::Code), vec![(Kind::Str { closed: true }, src)]);
        assert_eq!(lex(src, Mode::File)[0], (Kind::Str { closed: false }, "'a\\"));
    }
}
