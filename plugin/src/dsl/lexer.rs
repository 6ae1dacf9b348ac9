//! Tokens of Sema's default language (after the moo lexer in Sema's `grammar.ne`).

use super::Diagnostic;

/// A 1-based source position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Kinds of tokens.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Comma,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    LParen,
    RParen,
    /// `@` ending a lambda's variable list.
    At,
    /// `>` (all outputs).
    Dac,
    /// `>N` (output N).
    DacCh(u32),
    /// `:name:` or `name:`.
    Var(String),
    /// `\name`: one-shot sample player.
    Sample(String),
    /// `|name`: slicing sample player.
    Slice(String),
    /// `@name`: time-stretching sample player.
    Stretch(String),
    /// `0tN`: the clock-trigger lexeme (no grammar rule uses it in Sema).
    ClockTrig(String),
    Number(f64),
    Semicolon,
    /// A function name.
    Ident(String),
    /// `'name'`.
    Str(String),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Comma => "','".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::At => "'@'".into(),
            Tok::Dac => "'>'".into(),
            Tok::DacCh(n) => format!("'>{n}'"),
            Tok::Var(v) => format!("variable ':{v}:'"),
            Tok::Sample(s) => format!("sample '\\{s}'"),
            Tok::Slice(s) => format!("slice '|{s}'"),
            Tok::Stretch(s) => format!("stretch '@{s}'"),
            Tok::ClockTrig(s) => format!("clock trigger '{s}'"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Semicolon => "';'".into(),
            Tok::Ident(s) => format!("function name '{s}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Eof => "end of program".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Splits `src` into tokens; whitespace and `//` comments are skipped (Sema allows
/// comments only between statements; accepting them anywhere is a harmless superset).
pub fn lex(src: &str) -> Result<Vec<Token>, Diagnostic> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let err = |pos: Pos, msg: String| Diagnostic { line: pos.line, col: pos.col, message: msg };
    // Reads a run of [a-zA-Z0-9] from `j`.
    let alnum_run = |j: usize| -> usize {
        let mut k = j;
        while k < chars.len() && is_alnum(chars[k]) {
            k += 1;
        }
        k
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        let start = i;
        let tok = match c {
            '\n' => {
                i += 1;
                line += 1;
                col = 1;
                continue;
            }
            c if c.is_whitespace() => {
                i += 1;
                col += 1;
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '{' => {
                i += 1;
                Tok::LBrace
            }
            '}' => {
                i += 1;
                Tok::RBrace
            }
            '[' => {
                i += 1;
                Tok::LBracket
            }
            ']' => {
                i += 1;
                Tok::RBracket
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ';' => {
                i += 1;
                Tok::Semicolon
            }
            '>' => {
                let mut k = i + 1;
                while k < chars.len() && chars[k].is_ascii_digit() {
                    k += 1;
                }
                if k > i + 1 {
                    let digits: String = chars[i + 1..k].iter().collect();
                    i = k;
                    match digits.parse::<u32>() {
                        Ok(n) => Tok::DacCh(n),
                        Err(_) => {
                            return Err(err(
                                pos,
                                format!("output channel '>{digits}' is too large"),
                            ))
                        }
                    }
                } else {
                    i += 1;
                    Tok::Dac
                }
            }
            ':' => {
                let k = alnum_run(i + 1);
                if k > i + 1 && chars.get(k) == Some(&':') {
                    let name: String = chars[i + 1..k].iter().collect();
                    i = k + 1;
                    Tok::Var(name)
                } else {
                    return Err(err(
                        pos,
                        "expected a variable name like ':name:' after ':'".into(),
                    ));
                }
            }
            '\\' | '|' | '@' => {
                let k = alnum_run(i + 1);
                if k == i + 1 {
                    if c == '@' {
                        i += 1;
                        Tok::At
                    } else {
                        return Err(err(pos, format!("expected a sample name after '{c}'")));
                    }
                } else {
                    let name: String = chars[i + 1..k].iter().collect();
                    i = k;
                    match c {
                        '\\' => Tok::Sample(name),
                        '|' => Tok::Slice(name),
                        _ => Tok::Stretch(name),
                    }
                }
            }
            '\'' => {
                let k = alnum_run(i + 1);
                if k > i + 1 && chars.get(k) == Some(&'\'') {
                    let name: String = chars[i + 1..k].iter().collect();
                    i = k + 1;
                    Tok::Str(name)
                } else {
                    return Err(err(
                        pos,
                        "expected a string of letters and digits like 'name'".into(),
                    ));
                }
            }
            c if c == '-' || c.is_ascii_digit() => {
                // Clock trigger `0t<number>`.
                if c == '0' && chars.get(i + 1) == Some(&'t') {
                    let mut k = i + 2;
                    if chars.get(k) == Some(&'-') {
                        k += 1;
                    }
                    let d0 = k;
                    while k < chars.len() && (chars[k].is_ascii_digit() || chars[k] == '.') {
                        k += 1;
                    }
                    if k > d0 {
                        let text: String = chars[i..k].iter().collect();
                        i = k;
                        out.push(Token { tok: Tok::ClockTrig(text), pos });
                        col += i - start;
                        continue;
                    }
                }
                let mut k = i + 1;
                if c == '-' && !chars.get(k).is_some_and(|d| d.is_ascii_digit()) {
                    return Err(err(pos, "expected a digit after '-'".into()));
                }
                while k < chars.len() && chars[k].is_ascii_digit() {
                    k += 1;
                }
                if chars.get(k) == Some(&'.') {
                    k += 1;
                    if !chars.get(k).is_some_and(|d| d.is_ascii_digit()) {
                        return Err(err(
                            Pos { line, col: col + (k - i) },
                            "expected a digit after '.'".into(),
                        ));
                    }
                    while k < chars.len() && chars[k].is_ascii_digit() {
                        k += 1;
                    }
                }
                // `name:` variables may start with a digit in Sema's lexer.
                let kk = alnum_run(k);
                if chars.get(kk) == Some(&':') && c != '-' && !chars[i..k].contains(&'.') {
                    let name: String = chars[i..kk].iter().collect();
                    i = kk + 1;
                    Tok::Var(name)
                } else {
                    if kk > k {
                        return Err(err(
                            Pos { line, col: col + (k - i) },
                            "expected a separator after the number".into(),
                        ));
                    }
                    let text: String = chars[i..k].iter().collect();
                    i = k;
                    match text.parse::<f64>() {
                        Ok(v) => Tok::Number(v),
                        Err(_) => return Err(err(pos, format!("invalid number '{text}'"))),
                    }
                }
            }
            c if c.is_ascii_alphabetic() => {
                let k = alnum_run(i);
                let name: String = chars[i..k].iter().collect();
                if chars.get(k) == Some(&':') {
                    i = k + 1;
                    Tok::Var(name)
                } else {
                    i = k;
                    Tok::Ident(name)
                }
            }
            other => return Err(err(pos, format!("unexpected character '{other}'"))),
        };
        col += i - start;
        out.push(Token { tok, pos });
    }
    out.push(Token { tok: Tok::Eof, pos: Pos { line, col } });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_everything() {
        assert_eq!(
            toks(":a:{1.5,-2}saw; >1 x: \\kick |brk @str 'nm' 0t4 [ ] ( @ ) //c\n>"),
            vec![
                Tok::Var("a".into()),
                Tok::LBrace,
                Tok::Number(1.5),
                Tok::Comma,
                Tok::Number(-2.0),
                Tok::RBrace,
                Tok::Ident("saw".into()),
                Tok::Semicolon,
                Tok::DacCh(1),
                Tok::Var("x".into()),
                Tok::Sample("kick".into()),
                Tok::Slice("brk".into()),
                Tok::Stretch("str".into()),
                Tok::Str("nm".into()),
                Tok::ClockTrig("0t4".into()),
                Tok::LBracket,
                Tok::RBracket,
                Tok::LParen,
                Tok::At,
                Tok::RParen,
                Tok::Dac,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_and_errors() {
        let t = lex("a\n  {1}saw;").unwrap();
        assert_eq!(t[1].pos, Pos { line: 2, col: 3 });
        assert_eq!(t[4].pos, Pos { line: 2, col: 6 });
        let e = lex("{1}saw;\n {2.}sin;").unwrap_err();
        assert_eq!((e.line, e.col), (2, 5));
        let e = lex("{1}saw $").unwrap_err();
        assert_eq!((e.line, e.col), (1, 8));
        assert!(e.message.contains("unexpected character"));
    }
}
