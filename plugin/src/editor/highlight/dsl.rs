//! Syntax highlighting of Sema's default language (the DSL): a lenient tokeniser after
//! the lexer in `dsl/lexer.rs`, which it does not use (it must accept every input while
//! the user types). Runs on the editor's thread.

use super::{push_tok, Token, TokenKind};

/// Index of the next `\n` at or after `i` (or the end): where a `//` comment stops.
fn line_end(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p)
}

/// End of the run of ASCII letters and digits starting at `i` (the DSL's names).
fn alnum_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// End of the run of ASCII digits starting at `i`.
fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The character starting at byte `i` (a char boundary) and its length.
fn char_at(text: &str, i: usize) -> (char, usize) {
    text[i..].chars().next().map_or(('\0', 1), |c| (c, c.len_utf8()))
}

/// Tokenises the DSL after the lexer in `dsl/lexer.rs`, but leniently: where the lexer
/// stops with an error this marks the offending characters and goes on.
pub(super) fn tokens(text: &str, out: &mut Vec<Token>) {
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    // Whether the last token that was not whitespace or a comment was `}`: a name there
    // is a function call (the lexer skips whitespace and comments in between too).
    let mut after_rbrace = false;
    while i < n {
        let start = i;
        let c = b[i];
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                while i < n && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                push_tok(out, start..i, TokenKind::Whitespace);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = line_end(b, i);
                push_tok(out, start..i, TokenKind::Comment);
                continue;
            }
            b'{' | b'[' | b']' | b'(' | b')' | b',' | b';' | b'}' => {
                i += 1;
                TokenKind::Punctuation
            }
            b'>' => {
                i = digits_end(b, i + 1);
                TokenKind::Output
            }
            b':' => {
                let k = alnum_end(b, i + 1);
                if k > i + 1 && b.get(k) == Some(&b':') {
                    i = k + 1;
                    TokenKind::Variable
                } else {
                    i += 1;
                    TokenKind::Invalid
                }
            }
            b'\\' | b'|' | b'@' => {
                let k = alnum_end(b, i + 1);
                if k > i + 1 {
                    i = k;
                    TokenKind::Sample
                } else {
                    i += 1;
                    if c == b'@' {
                        TokenKind::Punctuation
                    } else {
                        TokenKind::Invalid
                    }
                }
            }
            b'\'' => {
                // A string while it is being typed is still a string.
                let k = alnum_end(b, i + 1);
                i = if b.get(k) == Some(&b'\'') { k + 1 } else { k };
                if i == start + 1 {
                    TokenKind::Invalid
                } else {
                    TokenKind::String
                }
            }
            b'-' | b'0'..=b'9' => number(b, &mut i),
            c if c.is_ascii_alphabetic() => {
                let k = alnum_end(b, i);
                if b.get(k) == Some(&b':') {
                    i = k + 1;
                    TokenKind::Variable
                } else {
                    i = k;
                    if after_rbrace {
                        TokenKind::Function
                    } else {
                        TokenKind::Identifier
                    }
                }
            }
            c if c.is_ascii() => {
                i += 1;
                TokenKind::Invalid
            }
            _ => {
                let (ch, len) = char_at(text, i);
                i += len;
                if ch.is_whitespace() {
                    push_tok(out, start..i, TokenKind::Whitespace);
                    continue;
                }
                TokenKind::Invalid
            }
        };
        after_rbrace = c == b'}';
        push_tok(out, start..i, kind);
    }
}

/// A DSL token starting with `-` or a digit at `*i`: a clock trigger `0tN`, a number, a
/// variable `1x:` (names may start with a digit) or, for a lone `-`, invalid.
fn number(b: &[u8], i: &mut usize) -> TokenKind {
    let start = *i;
    if b[start] == b'0' && b.get(start + 1) == Some(&b't') {
        let mut k = start + 2;
        if b.get(k) == Some(&b'-') {
            k += 1;
        }
        let d0 = k;
        while k < b.len() && (b[k].is_ascii_digit() || b[k] == b'.') {
            k += 1;
        }
        if k > d0 {
            *i = k;
            return TokenKind::Number;
        }
    }
    let mut k = start + 1;
    if b[start] == b'-' && !b.get(k).is_some_and(u8::is_ascii_digit) {
        *i = k;
        return TokenKind::Invalid;
    }
    k = digits_end(b, k);
    let mut fraction = false;
    if b.get(k) == Some(&b'.') && b.get(k + 1).is_some_and(u8::is_ascii_digit) {
        fraction = true;
        k = digits_end(b, k + 1);
    }
    let kk = alnum_end(b, k);
    if b[start] != b'-' && !fraction && b.get(kk) == Some(&b':') {
        *i = kk + 1;
        return TokenKind::Variable;
    }
    *i = k;
    TokenKind::Number
}

#[cfg(test)]
mod tests {
    use crate::editor::highlight::tests::{kind_of, kinds_of, SEED_DSL};
    use crate::editor::highlight::{Language, TokenKind};

    #[test]
    fn dsl_seed_is_classified() {
        let d = Language::Dsl;
        for f in ["clk", "fromJS", "saw", "mul"] {
            assert_eq!(kind_of(SEED_DSL, d, f), TokenKind::Function, "{f}");
        }
        assert_eq!(kinds_of(SEED_DSL, d, ":m:"), vec![TokenKind::Variable, TokenKind::Variable]);
        for num in ["120", "4", "1", "0.1"] {
            assert_eq!(kind_of(SEED_DSL, d, num), TokenKind::Number, "{num}");
        }
        assert_eq!(kind_of(SEED_DSL, d, ">"), TokenKind::Output);
        for p in ["{", "}", ",", ";"] {
            assert!(kinds_of(SEED_DSL, d, p).iter().all(|&k| k == TokenKind::Punctuation), "{p}");
        }
    }

    #[test]
    fn dsl_lexemes() {
        let d = Language::Dsl;
        let src = "// note\n:a:{-1.5,-2}saw; >1 x: {1}\\kick; {0t4}|brk; {2}@str; :f:(:p:@{:p:}sin); >{1,2}:f:;\n{'nm'}  tri; 2x: {1}sqr; {1}$ - saw";
        assert_eq!(kind_of(src, d, "// note"), TokenKind::Comment);
        assert_eq!(kind_of(src, d, "-1.5"), TokenKind::Number);
        assert_eq!(kind_of(src, d, "-2"), TokenKind::Number);
        assert_eq!(kind_of(src, d, ">1"), TokenKind::Output);
        assert_eq!(kind_of(src, d, "x:"), TokenKind::Variable);
        assert_eq!(kind_of(src, d, "2x:"), TokenKind::Variable);
        assert_eq!(kind_of(src, d, "\\kick"), TokenKind::Sample);
        assert_eq!(kind_of(src, d, "|brk"), TokenKind::Sample);
        assert_eq!(kind_of(src, d, "@str"), TokenKind::Sample);
        assert_eq!(kind_of(src, d, "0t4"), TokenKind::Number);
        assert_eq!(kind_of(src, d, "@"), TokenKind::Punctuation);
        assert_eq!(kind_of(src, d, "'nm'"), TokenKind::String);
        // A name after `}` and whitespace is still a function; elsewhere it is not.
        assert_eq!(kind_of(src, d, "tri"), TokenKind::Function);
        assert_eq!(kinds_of(src, d, "saw"), vec![TokenKind::Function, TokenKind::Identifier]);
        assert_eq!(kind_of(src, d, "$"), TokenKind::Invalid);
        assert_eq!(kind_of(src, d, "-"), TokenKind::Invalid);
        // A comment between `}` and the name does not change the name's role.
        assert_eq!(kind_of("{1}//c\nsaw;", d, "saw"), TokenKind::Function);
        // Non-ASCII: whitespace stays whitespace, anything else is invalid.
        assert_eq!(kind_of("{1}\u{a0}saw;é", d, "\u{a0}"), TokenKind::Whitespace);
        assert_eq!(kind_of("{1}\u{a0}saw;é", d, "saw"), TokenKind::Function);
        assert_eq!(kind_of("{1}\u{a0}saw;é", d, "é"), TokenKind::Invalid);
    }

    #[test]
    fn midi_input_functions_are_highlighted() {
        let d = Language::Dsl;
        let src = ">{{{{}mnote}mtof}saw, {{}mgate, 0.3}mul}mul; {{64}mcc, {}mbend}add;";
        for f in ["mnote", "mgate", "mcc", "mbend"] {
            assert_eq!(kind_of(src, d, f), TokenKind::Function, "{f}");
        }
    }
}
