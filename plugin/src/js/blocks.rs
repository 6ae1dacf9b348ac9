//! JS source split into blocks, and error positions mapped back into the whole file.
//!
//! As in Sema's JS editor, a line made of three or more underscores (surrounding
//! whitespace allowed) separates blocks; each block is evaluated on its own. Every block
//! is evaluated with its first line padded to its line in the file (see [`padded_code`]),
//! so the line numbers Boa reports are already lines of the whole file, whichever block
//! defined the function that failed.
//!
//! [`instrument_loops`] adds the loop ticks to block code, on top of the shared JS
//! [`tokenizer`](super::tokenizer).
//!
//! Runs on the JS thread; the editor's thread also uses [`block_at_line`] and, through the
//! tokenizer, [`is_separator`].

use super::tokenizer::{Kind, Lexer, Mode, Token};

/// One block of a JS file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Position among all blocks of the file, from 0 (empty blocks count too, so indices
    /// match what the editor shows).
    pub index: usize,
    /// Line (1-based) of the block's first line in the file.
    pub first_line: usize,
    /// Number of lines of the block.
    pub line_count: usize,
    /// The block's text, without the separator lines.
    pub code: String,
}

impl Block {
    /// Whether the block holds nothing but whitespace.
    pub fn is_blank(&self) -> bool {
        self.code.trim().is_empty()
    }

    /// Whether file line `line` (1-based) lies inside this block.
    pub fn contains_line(&self, line: usize) -> bool {
        line >= self.first_line && line < self.first_line + self.line_count
    }
}

/// Whether `line` separates blocks: three or more underscores, optionally followed by a
/// `//` comment (Sema's tutorials label blocks so: `____//:::2:::`), and nothing else but
/// whitespace.
pub fn is_separator(line: &str) -> bool {
    let t = line.trim();
    let rule = t.split_once("//").map_or(t, |(rule, _)| rule.trim_end());
    rule.len() >= 3 && rule.bytes().all(|b| b == b'_')
}

/// Splits a file into blocks at separator lines.
pub fn split_blocks(source: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut code = String::new();
    let mut first_line = 1;
    let mut line_count = 0;
    let mut line_no = 0;
    for line in source.lines() {
        line_no += 1;
        if is_separator(line) {
            blocks.push(Block {
                index: blocks.len(),
                first_line,
                line_count,
                code: std::mem::take(&mut code),
            });
            first_line = line_no + 1;
            line_count = 0;
        } else {
            code.push_str(line);
            code.push('\n');
            line_count += 1;
        }
    }
    blocks.push(Block { index: blocks.len(), first_line, line_count, code });
    blocks
}

/// The block that holds file line `line` (1-based), as the editor's "evaluate the block
/// under the cursor" needs. A separator line belongs to no block.
pub fn block_at_line(source: &str, line: usize) -> Option<Block> {
    split_blocks(source).into_iter().find(|b| b.contains_line(line))
}

/// The code to hand to the engine for a block starting at `first_line`: padded with
/// newlines so that line `k` of the block is line `first_line + k - 1` of the evaluation.
pub fn padded_code(code: &str, first_line: usize) -> String {
    let pad = first_line.saturating_sub(1);
    let mut s = String::with_capacity(pad + code.len());
    s.extend(std::iter::repeat_n('\n', pad));
    s.push_str(code);
    s
}

/// Finds the innermost position (line, column) of block code in a Boa error text.
///
/// Boa prints positions in the error and in each backtrace entry (innermost first) as
/// `(<source> at :LINE:COL)`, where the source of block code is `eval` and that of
/// functions declared in it `unknown`; files and the runtime's own JS layers carry their
/// path instead and are skipped. Parse errors end with `at line L, col C`.
pub fn error_position(text: &str) -> Option<(usize, usize)> {
    let mut rest = text;
    while let Some(i) = rest.find(" at :") {
        let before = &rest[..i];
        let after = &rest[i + 5..];
        if before.ends_with("eval") || before.ends_with("unknown") {
            if let Some(p) = parse_pair(after, ':') {
                return Some(p);
            }
        }
        rest = after;
    }
    find_parse_position(text)
}

/// `N<sep>M` at the start of `s`.
fn parse_pair(s: &str, sep: char) -> Option<(usize, usize)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let a: usize = s[..digits].parse().ok()?;
    let rest = s[digits..].strip_prefix(sep)?;
    let digits2 = rest.bytes().take_while(u8::is_ascii_digit).count();
    let b: usize = rest[..digits2].parse().ok()?;
    Some((a, b))
}

/// Boa's parser errors end with `at line L, col C`.
fn find_parse_position(text: &str) -> Option<(usize, usize)> {
    let i = text.rfind("line ")?;
    let after = &text[i + 5..];
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let line: usize = after[..digits].parse().ok()?;
    let rest = after[digits..].strip_prefix(", col ")?;
    let digits2 = rest.bytes().take_while(u8::is_ascii_digit).count();
    let col: usize = rest[..digits2].parse().ok()?;
    Some((line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_three_or_more_underscores() {
        let src = "a\nb\n___\nc\n  _____  \n\n__\nd";
        let blocks = split_blocks(src);
        assert_eq!(blocks.len(), 3);
        assert_eq!(
            blocks[0],
            Block { index: 0, first_line: 1, line_count: 2, code: "a\nb\n".into() }
        );
        assert_eq!(blocks[1].first_line, 4);
        assert_eq!(blocks[1].code, "c\n");
        // Two underscores are code, not a separator.
        assert_eq!(blocks[2].first_line, 6);
        assert_eq!(blocks[2].code, "\n__\nd\n");
        assert!(blocks[2].contains_line(8));
        assert!(!blocks[2].contains_line(5));
    }

    #[test]
    fn a_separator_may_carry_a_comment_label() {
        assert!(is_separator("____//:::2:::"));
        assert!(is_separator("  ___ // the model  "));
        assert!(!is_separator("__//x"), "two underscores are code");
        assert!(!is_separator("___x // y"));
        assert!(!is_separator("// ___"));
        let blocks = split_blocks("a\n____//:::2:::\nb\n");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].code, "b\n");
    }

    #[test]
    fn block_under_cursor() {
        let src = "x\n___\ny\nz\n___\n";
        assert_eq!(block_at_line(src, 1).unwrap().index, 0);
        assert_eq!(block_at_line(src, 4).unwrap().index, 1);
        assert!(block_at_line(src, 2).is_none());
        assert!(split_blocks(src)[2].is_blank());
    }

    #[test]
    fn padding_keeps_file_lines() {
        let p = padded_code("foo();\n", 4);
        assert_eq!(p.lines().count(), 4);
        assert_eq!(p.lines().nth(3), Some("foo();"));
    }

    #[test]
    fn finds_positions_in_boa_messages() {
        assert_eq!(
            error_position(
                "ReferenceError: x is not defined (eval at :12:5)\n    at <main> (eval at :12:5)"
            ),
            Some((12, 5))
        );
        assert_eq!(
            error_position(
                "SyntaxError: expected token ';', got 'x' in expression statement at line 7, col 3"
            ),
            Some((7, 3))
        );
        assert_eq!(
            error_position("ReferenceError: nope is not defined (native)\n    at boom (unknown at :4:15)\n    at <eval> (eval at :8:5)"),
            Some((4, 15))
        );
        assert_eq!(
            error_position("TypeError: x (<sema-live:magenta.js>:12:3)\n    at f (eval at :2:1)"),
            Some((2, 1))
        );
        assert_eq!(error_position("Error: boom"), None);
    }
}

/// Inserts `tick` (a call expression such as `__semaTick()`) into every loop, on the same
/// line so line numbers do not change: as the first operand of a comma expression in the
/// head of `while (…)` (also the `while` of `do … while`) and in the test of
/// `for (init; test; update)` (an empty test becomes `(tick, true)`), and as a statement
/// at the start of `for (… of/in …) {` bodies. Loops with a single-statement body or none
/// are covered too. Functions declared in the code carry the ticks, which is what lets the
/// runtime stop a loop that calls a looping function (Boa's own loop limit counts per
/// call frame).
///
/// The JS [`tokenizer`](super::tokenizer) skips strings, templates, comments and regular
/// expressions; this returns None when the code leaves one of them open (it cannot follow
/// the code then), and the caller then runs the code unchanged.
pub fn instrument_loops(code: &str, tick: &str) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Head {
        While,
        For,
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Loop {
        None,
        /// Saw `for`/`while`: waiting for its `(`.
        AwaitParen(Head),
        /// Inside the loop head; the paren and brace depths at which it closes, the `;`
        /// seen at that level, and whether the tick goes before the next token (the test
        /// of a `for (;;)`).
        InHead {
            head: Head,
            paren: usize,
            brace: usize,
            semis: u8,
            tick_next: bool,
        },
        /// Head of a `for … of/in` closed: a `{` next starts the body, which gets the tick.
        AwaitBody,
    }
    // Keywords after which a `/` starts a regular expression.
    const REGEX_KEYWORDS: [&str; 14] = [
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    ];
    let mut out = String::with_capacity(code.len() + 64);
    let mut copied = 0;
    let mut paren = 0usize;
    let mut brace = 0usize;
    let mut state = Loop::None;
    let mut lexer = Lexer::new(code, Mode::Code);
    // Whether the last token that is not whitespace or a comment was a `.` (or `?.`).
    let mut after_dot = false;
    while let Some(Token { kind, range }) = lexer.next() {
        let was_after_dot = after_dot;
        let significant =
            !matches!(kind, Kind::Whitespace | Kind::LineComment | Kind::BlockComment);
        if significant {
            after_dot = kind == Kind::Punct && code[range.clone()].ends_with('.');
        }
        // The test of a `for (init; test; update)` starts at this token.
        if let Loop::InHead { tick_next: true, head, paren: p, brace: b, semis } = state {
            if significant {
                out.push_str(&code[copied..range.start]);
                if &code[range.clone()] == ";" {
                    out.push_str(&format!("({tick}, true)"));
                } else {
                    out.push_str(tick);
                    out.push_str(", ");
                }
                copied = range.start;
                state = Loop::InHead { head, paren: p, brace: b, semis, tick_next: false };
            }
        }
        match kind {
            Kind::Whitespace
            | Kind::LineComment
            | Kind::BlockComment
            | Kind::Template
            | Kind::InterpStart
            | Kind::InterpEnd
            | Kind::Separator => {}
            Kind::Str { closed: false } | Kind::Regex { closed: false } => return None,
            Kind::Str { .. } | Kind::Regex { .. } | Kind::TemplateStart | Kind::Number => {
                if state == Loop::AwaitBody {
                    state = Loop::None;
                }
            }
            Kind::Word | Kind::Other => {
                let word = &code[range.clone()];
                // `.for`/`.while` are property names, not keywords (a comment ending in
                // a full stop before a loop is not a `.`).
                let after_dot = was_after_dot;
                lexer.set_regex_ok(REGEX_KEYWORDS.contains(&word) && !after_dot);
                state = match (word, state) {
                    (_, s @ Loop::InHead { .. }) => s,
                    ("for", _) if !after_dot => Loop::AwaitParen(Head::For),
                    ("while", _) if !after_dot => Loop::AwaitParen(Head::While),
                    ("await", s @ Loop::AwaitParen(Head::For)) => s,
                    _ => Loop::None,
                };
            }
            Kind::Punct => match code.as_bytes()[range.start] {
                b'(' => {
                    paren += 1;
                    if let Loop::AwaitParen(head) = state {
                        if head == Head::While {
                            out.push_str(&code[copied..range.end]);
                            out.push_str(tick);
                            out.push_str(", ");
                            copied = range.end;
                        }
                        state = Loop::InHead { head, paren, brace, semis: 0, tick_next: false };
                    }
                }
                b')' => {
                    if let Loop::InHead { head, paren: p, semis, .. } = state {
                        if p == paren {
                            state = if head == Head::For && semis == 0 {
                                Loop::AwaitBody
                            } else {
                                Loop::None
                            };
                        }
                    } else if state == Loop::AwaitBody {
                        state = Loop::None;
                    }
                    paren = paren.saturating_sub(1);
                }
                b';' => {
                    if let Loop::InHead { head: Head::For, paren: p, brace: b, semis, .. } = state {
                        if p == paren && b == brace {
                            state = Loop::InHead {
                                head: Head::For,
                                paren: p,
                                brace: b,
                                semis: semis.saturating_add(1),
                                tick_next: semis == 0,
                            };
                        }
                    } else if state == Loop::AwaitBody {
                        state = Loop::None;
                    }
                }
                b'{' => {
                    brace += 1;
                    if state == Loop::AwaitBody {
                        out.push_str(&code[copied..range.end]);
                        out.push_str(tick);
                        out.push(';');
                        copied = range.end;
                        state = Loop::None;
                    }
                }
                b'}' => {
                    brace = brace.saturating_sub(1);
                    // After a block a `/` starts a regular expression.
                    lexer.set_regex_ok(true);
                }
                _ => {
                    if state == Loop::AwaitBody || matches!(state, Loop::AwaitParen(_)) {
                        state = Loop::None;
                    }
                }
            },
        }
    }
    if lexer.is_open() {
        return None;
    }
    out.push_str(&code[copied..]);
    Some(out)
}

#[cfg(test)]
mod instrument_tests {
    use super::instrument_loops;

    const T: &str = "T()";

    #[test]
    fn a_comment_ending_in_a_full_stop_does_not_hide_the_next_loop() {
        let code = "// Loop over the notes.\nfor (let i = 0; i < 3; i++) { x(); }\n/* done. */ while (y) { z(); }";
        let out = instrument_loops(code, T).expect("instrumented");
        assert_eq!(out.matches(T).count(), 2, "{out}");
        // A property named `for` after a real `.` is still not a loop.
        let out = instrument_loops("a.for(1); b?.while(2);", T).expect("instrumented");
        assert_eq!(out.matches(T).count(), 0, "{out}");
    }

    #[test]
    fn ticks_every_loop_once_per_iteration() {
        let src = "for (let i = 0; i < 3; i++) { f(i); }\nwhile (x) {\n}\ndo { y() } while (z);\nif (a) { b }\nvar o = {for: 1};";
        let out = instrument_loops(src, T).unwrap();
        assert_eq!(
            out,
            "for (let i = 0; T(), i < 3; i++) { f(i); }\nwhile (T(), x) {\n}\ndo { y() } while (T(), z);\nif (a) { b }\nvar o = {for: 1};"
        );
        assert_eq!(out.lines().count(), src.lines().count());
        // Single-statement bodies and empty ones.
        assert_eq!(instrument_loops("while (x) y();", T).unwrap(), "while (T(), x) y();");
        assert_eq!(instrument_loops("for (;;);", T).unwrap(), "for (;(T(), true););");
        assert_eq!(
            instrument_loops("for (var i = 0; ; i++) s += i;", T).unwrap(),
            "for (var i = 0; (T(), true); i++) s += i;"
        );
        assert_eq!(
            instrument_loops("do x++; while (x < 9)", T).unwrap(),
            "do x++; while (T(), x < 9)"
        );
        // `for … of/in` loops: the body, when it is a block.
        assert_eq!(
            instrument_loops("for (const k in o) { g(k) }", T).unwrap(),
            "for (const k in o) {T(); g(k) }"
        );
        assert_eq!(
            instrument_loops("for await (const v of it) { g(v) }", T).unwrap(),
            "for await (const v of it) {T(); g(v) }"
        );
        // A `;` inside a function in the head is not the head's.
        assert_eq!(
            instrument_loops("for (let i = (function () { return 0; })(); i < n; i++) {}", T)
                .unwrap(),
            "for (let i = (function () { return 0; })(); T(), i < n; i++) {}"
        );
    }

    #[test]
    fn skips_strings_comments_templates_and_regexes() {
        let src = "var s = 'for (;;) {'; // while (1) {\n/* do { */ var r = /for \\(x\\) {/g;\nvar t = `while (1) { ${ {a: 1}.a } }`;\nfor (const k of o) { a.for(1); }\nx = a / b; while (q) { }";
        let out = instrument_loops(src, T).unwrap();
        assert_eq!(
            out,
            "var s = 'for (;;) {'; // while (1) {\n/* do { */ var r = /for \\(x\\) {/g;\nvar t = `while (1) { ${ {a: 1}.a } }`;\nfor (const k of o) {T(); a.for(1); }\nx = a / b; while (T(), q) { }"
        );
        // Nested parentheses in the head, unfollowable code.
        assert_eq!(
            instrument_loops("for (f(g(1)); h(); ) { }", T).unwrap(),
            "for (f(g(1)); T(), h(); ) { }"
        );
        assert_eq!(instrument_loops("var s = 'unterminated", T), None);
        assert_eq!(instrument_loops("var t = `open ${ x", T), None);
    }
}
