//! Recursive-descent parser for the grammar in Sema's `grammar.ne`:
//!
//! ```text
//! program    := statement*                      (each ends with ';')
//! statement  := expr ';'
//! expr       := '{' params? '}' (name | \sample | |slice | @stretch | :lambdavar:)
//!             | var expr | var lambda | '>' expr | '>N' expr
//! lambda     := '(' [var {',' var}] '@' expr ')'
//! params     := param {',' param}
//! param      := number | 'string' | var | '[' params ']' | expr | 0tN
//! ```
//!
//! Sema's lexer defines a clock-trigger lexeme `0tN` that no grammar rule uses; here it is
//! accepted as an argument meaning `{N}clt` (a trigger N times per bar).

use super::ast::{Expr, PlayerKind};
use super::lexer::{lex, Pos, Tok, Token};
use super::Diagnostic;

/// Parses a whole program into its statements.
pub fn parse(src: &str) -> Result<Vec<Expr>, Diagnostic> {
    let tokens = lex(src)?;
    let mut p = Parser { toks: tokens, i: 0 };
    let mut stmts = Vec::new();
    while p.peek() != &Tok::Eof {
        let e = p.expr("a statement (like '{440}sin' or '>{440}sin' or ':x:{1}saw')")?;
        p.expect(&Tok::Semicolon, "';' at the end of the statement")?;
        stmts.push(e);
    }
    Ok(stmts)
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn pos(&self) -> Pos {
        self.toks[self.i].pos
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn error(&self, expected: &str) -> Diagnostic {
        let t = &self.toks[self.i];
        let extra = match &t.tok {
            Tok::ClockTrig(s) => format!(" (a clock trigger like '{s}' can only be an argument)"),
            _ => String::new(),
        };
        Diagnostic {
            line: t.pos.line,
            col: t.pos.col,
            message: format!("expected {expected}, found {}{extra}", t.tok.describe()),
        }
    }
    fn expect(&mut self, tok: &Tok, expected: &str) -> Result<Token, Diagnostic> {
        if self.peek() == tok {
            Ok(self.bump())
        } else {
            Err(self.error(expected))
        }
    }

    /// Whether the next token can start an expression.
    fn starts_expr(&self) -> bool {
        matches!(self.peek(), Tok::LBrace | Tok::Var(_) | Tok::Dac | Tok::DacCh(_))
    }

    fn expr(&mut self, expected: &str) -> Result<Expr, Diagnostic> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::LBrace => {
                let args = self.param_list()?;
                let npos = self.pos();
                match self.bump().tok {
                    Tok::Ident(name) => Ok(Expr::Call { name, args, pos: npos }),
                    Tok::Sample(s) => {
                        Ok(Expr::Player { kind: PlayerKind::Sampler, sample: s, args, pos: npos })
                    }
                    Tok::Slice(s) => {
                        Ok(Expr::Player { kind: PlayerKind::Slice, sample: s, args, pos: npos })
                    }
                    Tok::Stretch(s) => {
                        Ok(Expr::Player { kind: PlayerKind::Stretch, sample: s, args, pos: npos })
                    }
                    Tok::Var(name) => Ok(Expr::LambdaCall { name, args, pos: npos }),
                    _ => {
                        self.i -= 1;
                        Err(self.error("a function name after '}' (like 'sin'), a sample ('\\name', '|name', '@name') or a lambda variable"))
                    }
                }
            }
            Tok::Var(name) => {
                self.bump();
                if self.peek() == &Tok::LParen {
                    let lambda = self.lambda()?;
                    return Ok(Expr::SetVar { name, value: Box::new(lambda), pos });
                }
                if !self.starts_expr() {
                    return Err(self.error(&format!("an expression to assign to ':{name}:'")));
                }
                let value = self.expr("an expression")?;
                Ok(Expr::SetVar { name, value: Box::new(value), pos })
            }
            Tok::Dac => {
                self.bump();
                let value = self.expr("an expression to send to the outputs after '>'")?;
                Ok(Expr::Dac { channel: None, value: Box::new(value), pos })
            }
            Tok::DacCh(ch) => {
                self.bump();
                let value = self.expr(&format!("an expression to send to output {ch}"))?;
                Ok(Expr::Dac { channel: Some(ch), value: Box::new(value), pos })
            }
            _ => Err(self.error(expected)),
        }
    }

    fn lambda(&mut self) -> Result<Expr, Diagnostic> {
        let pos = self.expect(&Tok::LParen, "'('")?.pos;
        let mut params = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Var(v) => {
                    self.bump();
                    params.push(v);
                    match self.peek() {
                        Tok::Comma => {
                            self.bump();
                        }
                        Tok::At => break,
                        _ => return Err(self.error("',' or '@' after a lambda variable")),
                    }
                }
                Tok::At => break,
                _ => return Err(self.error("a lambda variable like ':x:' or '@'")),
            }
        }
        self.expect(&Tok::At, "'@'")?;
        let body = self.expr("the lambda's expression after '@'")?;
        self.expect(&Tok::RParen, "')' to close the lambda")?;
        Ok(Expr::Lambda { params, body: Box::new(body), pos })
    }

    fn param_list(&mut self) -> Result<Vec<Expr>, Diagnostic> {
        self.expect(&Tok::LBrace, "'{'")?;
        if self.peek() == &Tok::RBrace {
            self.bump();
            return Ok(Vec::new());
        }
        let args = self.params(&Tok::RBrace)?;
        self.expect(&Tok::RBrace, "',' or '}'")?;
        Ok(args)
    }

    fn params(&mut self, close: &Tok) -> Result<Vec<Expr>, Diagnostic> {
        let mut out = vec![self.param(close)?];
        while self.peek() == &Tok::Comma {
            self.bump();
            out.push(self.param(close)?);
        }
        Ok(out)
    }

    fn param(&mut self, close: &Tok) -> Result<Expr, Diagnostic> {
        let pos = self.pos();
        let what = if close == &Tok::RBrace { "an argument" } else { "a list element" };
        match self.peek().clone() {
            Tok::Number(n) => {
                self.bump();
                Ok(Expr::Num(n, pos))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Str(s, pos))
            }
            Tok::ClockTrig(text) => {
                self.bump();
                match text[2..].parse::<f64>() {
                    Ok(n) => {
                        Ok(Expr::Call { name: "clt".into(), args: vec![Expr::Num(n, pos)], pos })
                    }
                    Err(_) => Err(Diagnostic {
                        line: pos.line,
                        col: pos.col,
                        message: format!("invalid clock trigger '{text}'"),
                    }),
                }
            }
            Tok::LBracket => {
                self.bump();
                if self.peek() == &Tok::RBracket {
                    return Err(self.error("a list element (lists cannot be empty)"));
                }
                let items = self.params(&Tok::RBracket)?;
                self.expect(&Tok::RBracket, "',' or ']'")?;
                Ok(Expr::List(items, pos))
            }
            Tok::Var(name) => {
                // A variable read, unless an expression follows (then it is assignment).
                self.bump();
                if self.starts_expr() || self.peek() == &Tok::LParen {
                    self.i -= 1;
                    self.expr(what)
                } else {
                    Ok(Expr::GetVar(name, pos))
                }
            }
            _ => self.expr(&format!(
                "{what} (a number, 'string', [list], :variable: or {{..}}function)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SEED: &str = "{120, 4}clk;\n{1}quantise;\n:m:{1}fromJS;\n:seq:{{15}clp, [1], :m:}rsq;\n:tune:{:seq:}saw;\n>{{:tune:,0.08}mul}mix;\n";

    #[test]
    fn parses_seed() {
        let s = parse(SEED).unwrap();
        assert_eq!(s.len(), 6);
        match &s[3] {
            Expr::SetVar { name, value, .. } => {
                assert_eq!(name, "seq");
                match &**value {
                    Expr::Call { name, args, pos } => {
                        assert_eq!(name, "rsq");
                        assert_eq!(args.len(), 3);
                        assert!(matches!(args[1], Expr::List(_, _)));
                        assert!(matches!(args[2], Expr::GetVar(_, _)));
                        assert_eq!((pos.line, pos.col), (4, 25));
                    }
                    e => panic!("{e:?}"),
                }
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(&s[5], Expr::Dac { channel: None, .. }));
    }

    #[test]
    fn parses_players_lambdas_and_outputs() {
        let s = parse(">0 {40}sqr; >1{{1}imp,0.5}|kernel; {1,2,3,4}@grain; :f:(:a:,:b:@{:a:,:b:}add); >{1,2}:f:; x: {1}\\kick; {}mouseX;").unwrap();
        assert_eq!(s.len(), 7);
        assert!(matches!(&s[0], Expr::Dac { channel: Some(0), .. }));
        assert!(
            matches!(&s[1], Expr::Dac { channel: Some(1), value, .. } if matches!(**value, Expr::Player { kind: PlayerKind::Slice, .. }))
        );
        assert!(matches!(&s[2], Expr::Player { kind: PlayerKind::Stretch, .. }));
        assert!(
            matches!(&s[3], Expr::SetVar { value, .. } if matches!(&**value, Expr::Lambda { params, .. } if params.len() == 2))
        );
        assert!(
            matches!(&s[4], Expr::Dac { value, .. } if matches!(**value, Expr::LambdaCall { .. }))
        );
        assert!(matches!(&s[6], Expr::Call { args, .. } if args.is_empty()));
    }

    #[test]
    fn located_errors_say_what_was_expected() {
        let e = parse("{1}saw").unwrap_err();
        assert_eq!((e.line, e.col), (1, 7));
        assert!(e.message.contains("expected ';'"), "{}", e.message);
        let e = parse(">{1,}saw;").unwrap_err();
        assert_eq!((e.line, e.col), (1, 5));
        assert!(e.message.contains("expected an argument"), "{}", e.message);
        let e = parse("\n  {1}  ;").unwrap_err();
        assert_eq!((e.line, e.col), (2, 8));
        assert!(e.message.contains("function name"), "{}", e.message);
        let e = parse("{[1,2}at;").unwrap_err();
        assert!(e.message.contains("expected ',' or ']'"), "{}", e.message);
        // The clock-trigger lexeme is an argument meaning {N}clt.
        let s = parse(">{0t4}\\kick;").unwrap();
        assert!(
            matches!(&s[0], Expr::Dac { value, .. } if matches!(&**value, Expr::Player { args, .. } if matches!(&args[0], Expr::Call { name, .. } if name == "clt")))
        );
        let e = parse("0t4;").unwrap_err();
        assert!(e.message.contains("can only be an argument"), "{}", e.message);
        let e = parse(":x:;").unwrap_err();
        assert!(e.message.contains("assign"), "{}", e.message);
    }
}
