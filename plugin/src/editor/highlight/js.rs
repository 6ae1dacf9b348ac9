//! Syntax highlighting of the JS editor: the tokens of the shared JS lexer
//! ([`crate::js::tokenizer`], in its file mode: separator lines split the blocks)
//! coloured as keywords, API and standard-library globals, called or declared names and
//! the rest. Runs on the editor's thread.

use super::{push_tok, Token, TokenKind};
use crate::js::tokenizer::{Kind, Lexer, Mode};

/// JS keywords, and the literals coloured like them.
#[rustfmt::skip]
fn is_js_keyword(s: &str) -> bool {
    matches!(
        s,
        "break" | "case" | "catch" | "class" | "const" | "continue" | "debugger" | "default" | "delete" | "do"
            | "else" | "export" | "extends" | "finally" | "for" | "function" | "if" | "import" | "in"
            | "instanceof" | "let" | "new" | "return" | "super" | "switch" | "this" | "throw" | "try"
            | "typeof" | "var" | "void" | "while" | "with" | "yield" | "async" | "await" | "of" | "true"
            | "false" | "null" | "undefined" | "NaN" | "Infinity"
    )
}

/// Keywords after which a `/` starts a regular expression rather than a division.
fn keyword_allows_regex(s: &str) -> bool {
    !matches!(s, "this" | "super" | "true" | "false" | "null" | "undefined" | "NaN" | "Infinity")
}

/// Globals of Sema Live's JS API (js/API.md) and the JS standard library.
#[rustfmt::skip]
fn is_js_builtin(s: &str) -> bool {
    matches!(
        s,
        "createOutputChannel" | "importScripts" | "console" | "mm" | "music_rnn" | "music_vae" | "midi_me"
            | "core" | "tf" | "host" | "sema" | "input" | "output" | "onBar" | "offBar" | "sendBuffer"
            | "setTimeout" | "setInterval" | "clearTimeout" | "clearInterval" | "Math" | "JSON" | "Promise"
            | "Array" | "Object" | "Number" | "String" | "Boolean" | "Symbol" | "Map" | "Set" | "Date"
            | "Error" | "Float32Array" | "Float64Array" | "Int32Array" | "Uint8Array" | "parseInt"
            | "parseFloat" | "isNaN" | "globalThis"
    )
}

/// Tokenises JS. A separator line is always a separator (Sema splits the blocks before
/// JS sees them), so it also ends any comment or template left open above it.
pub(super) fn tokens(text: &str, out: &mut Vec<Token>) {
    let b = text.as_bytes();
    let mut lexer = Lexer::new(text, Mode::File);
    while let Some(tok) = lexer.next() {
        let kind = match tok.kind {
            Kind::Whitespace => TokenKind::Whitespace,
            Kind::LineComment | Kind::BlockComment => TokenKind::Comment,
            Kind::Str { .. }
            | Kind::TemplateStart
            | Kind::Template
            | Kind::Regex { closed: true } => TokenKind::String,
            // An unclosed regular expression is a `/` alone: division.
            Kind::InterpStart | Kind::InterpEnd | Kind::Punct | Kind::Regex { closed: false } => {
                TokenKind::Punctuation
            }
            Kind::Number => TokenKind::Number,
            Kind::Separator => TokenKind::Separator,
            Kind::Other => TokenKind::Invalid,
            Kind::Word => {
                let word = &text[tok.range.clone()];
                // After `.` a name is a property: `x.default`, `p.catch(...)`.
                let after_dot = out
                    .iter()
                    .rev()
                    .find(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Comment))
                    .is_some_and(|t| &text[t.range.clone()] == ".");
                let kind = if is_js_keyword(word) && !after_dot {
                    TokenKind::Keyword
                } else if is_js_builtin(word) {
                    TokenKind::Builtin
                } else {
                    let mut k = tok.range.end;
                    while k < b.len() && (b[k] == b' ' || b[k] == b'\t') {
                        k += 1;
                    }
                    if b.get(k) == Some(&b'(') {
                        TokenKind::Function
                    } else {
                        TokenKind::Identifier
                    }
                };
                lexer.set_regex_ok(kind == TokenKind::Keyword && keyword_allows_regex(word));
                kind
            }
        };
        push_tok(out, tok.range, kind);
    }
}

#[cfg(test)]
mod tests {
    use crate::editor::highlight::tests::{assert_covers, kind_at, kind_of, kinds_of};
    use crate::editor::highlight::{tokens, Language, TokenKind};

    const JS: &str = "// comment\nvar channel0 = createOutputChannel(1, 12);\n___\n/* block\n   comment */ const s = 'it\\'s' + \"q\";\n  _____  \nlet t = `a ${host.bar + `in ${1}`} b`;\nfunction f(x) { return x / 2 / 1; }\nconst r = /[/]x/g; host.onBar(b => f(b));\nx.default = 0x1Fn + .5e3;";

    #[test]
    fn js_classification() {
        let j = Language::Js;
        assert_eq!(kind_of(JS, j, "// comment"), TokenKind::Comment);
        for k in ["var", "const", "let", "function", "return"] {
            assert_eq!(kind_of(JS, j, k), TokenKind::Keyword, "{k}");
        }
        for b in ["createOutputChannel", "host", "onBar"] {
            assert_eq!(kind_of(JS, j, b), TokenKind::Builtin, "{b}");
        }
        assert_eq!(kind_of(JS, j, "channel0"), TokenKind::Identifier);
        assert_eq!(kinds_of(JS, j, "f"), vec![TokenKind::Function, TokenKind::Function]);
        assert_eq!(kind_of(JS, j, "'it\\'s'"), TokenKind::String);
        assert_eq!(kind_of(JS, j, "\"q\""), TokenKind::String);
        assert_eq!(kind_of(JS, j, "12"), TokenKind::Number);
        assert_eq!(kind_of(JS, j, "0x1Fn"), TokenKind::Number);
        assert_eq!(kind_of(JS, j, ".5e3"), TokenKind::Number);
        // Separator lines, with surrounding whitespace too, are one token.
        assert_eq!(kind_of(JS, j, "___"), TokenKind::Separator);
        assert_eq!(kind_of(JS, j, "  _____  "), TokenKind::Separator);
        // `_` names are not separators.
        assert_eq!(kind_of("___x = 1;", j, "___x"), TokenKind::Identifier);
        // Division after a value, a regular expression after `=`.
        assert_eq!(kinds_of(JS, j, "/"), vec![TokenKind::Punctuation, TokenKind::Punctuation]);
        assert_eq!(kind_of(JS, j, "/[/]x/g"), TokenKind::String);
        // A keyword used as a property name is not a keyword.
        assert_eq!(kind_of(JS, j, "default"), TokenKind::Identifier);
        // Templates: text is string, the interpolated code is code, nesting works.
        assert_eq!(kind_of(JS, j, "`a "), TokenKind::String);
        assert_eq!(kinds_of(JS, j, "${"), vec![TokenKind::Punctuation, TokenKind::Punctuation]);
        assert_eq!(kind_of(JS, j, "bar"), TokenKind::Identifier);
        assert_eq!(kind_of(JS, j, "`in "), TokenKind::String);
        assert_eq!(kind_of(JS, j, " b`"), TokenKind::String);
        assert_eq!(kind_of(JS, j, "1"), TokenKind::Number);
    }

    #[test]
    fn js_block_comment_spans_lines_but_not_separators() {
        let j = Language::Js;
        let toks = tokens(JS, j);
        let start = JS.find("/* block").unwrap();
        let end = JS.find("comment */").unwrap() + "comment */".len();
        // Every byte of the comment, across the line break, is comment.
        for t in &toks {
            if t.range.start < end && t.range.end > start {
                assert_eq!(t.kind, TokenKind::Comment, "{:?}", &JS[t.range.clone()]);
            }
        }
        assert_eq!(kind_of(JS, j, "s"), TokenKind::Identifier);
        // An unterminated comment ends at the next separator: the next block is code.
        let src = "/* open\nstill comment\n___\nvar x = 1;";
        assert_eq!(kind_at(src, j, "still"), TokenKind::Comment);
        assert_eq!(kind_at(src, j, "___"), TokenKind::Separator);
        assert_eq!(kind_of(src, j, "var"), TokenKind::Keyword);
        // The same for an open template literal.
        let src = "let a = `open\n___\nvar y;";
        assert_eq!(kind_of(src, j, "var"), TokenKind::Keyword);
    }

    #[test]
    fn js_unterminated_strings_do_not_panic_and_stop_at_the_line_end() {
        let j = Language::Js;
        for src in ["'abc", "\"abc\\", "'é\\", "`abc ${ x", "`\\", "/* x", "x = /abc", "'\\\n'"] {
            assert_covers(src, &tokens(src, j));
        }
        let src = "var s = 'open\nvar t = 1;";
        assert_eq!(kind_of(src, j, "'open"), TokenKind::String);
        assert_eq!(kinds_of(src, j, "var"), vec![TokenKind::Keyword, TokenKind::Keyword]);
        // A `/` with no closing `/` on its line is division, not a regex.
        assert_eq!(kind_of("x = /abc\ny", j, "/"), TokenKind::Punctuation);
    }

    #[test]
    fn seed_files_tokenise() {
        for (path, lang) in [
            ("/work/main/assets/default/script.js", Language::Js),
            ("/work/main/plugin/src/js/seed/part2_vae.js", Language::Js),
        ] {
            let Ok(src) = std::fs::read_to_string(path) else { continue };
            let toks = tokens(&src, lang);
            assert_covers(&src, &toks);
            assert!(toks.iter().any(|t| t.kind == TokenKind::Separator), "{path}");
            assert!(toks.iter().all(|t| t.kind != TokenKind::Invalid), "{path}");
            assert_eq!(kind_of(&src, lang, "importScripts"), TokenKind::Builtin);
        }
    }
}
