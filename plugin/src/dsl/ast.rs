//! The syntax tree of a Sema default-language program.

use super::lexer::Pos;

/// Which sample player a `\`, `|` or `@` prefix selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayerKind {
    /// `\name`: one-shot player (Sema's `sampler`).
    Sampler,
    /// `|name`: slicing player (Sema's `slice`).
    Slice,
    /// `@name`: time-stretching player (Sema's `stretch`).
    Stretch,
}

/// An expression (a statement is an expression evaluated for its effects).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number literal.
    Num(f64, Pos),
    /// A `'string'` literal (sample/buffer name).
    Str(String, Pos),
    /// A list literal `[a, b, ...]`.
    List(Vec<Expr>, Pos),
    /// `{args}name`.
    Call { name: String, args: Vec<Expr>, pos: Pos },
    /// `{args}\name`, `{args}|name`, `{args}@name`.
    Player { kind: PlayerKind, sample: String, args: Vec<Expr>, pos: Pos },
    /// `:name:` as a value.
    GetVar(String, Pos),
    /// `:name: expr`.
    SetVar { name: String, value: Box<Expr>, pos: Pos },
    /// `>expr` (channel `None`) or `>N expr`.
    Dac { channel: Option<u32>, value: Box<Expr>, pos: Pos },
    /// `(:a:, :b: @ expr)`: a function of its variables.
    Lambda { params: Vec<String>, body: Box<Expr>, pos: Pos },
    /// `{args}:name:`: calls the lambda stored in a variable.
    LambdaCall { name: String, args: Vec<Expr>, pos: Pos },
}

impl Expr {
    /// Where the expression starts (or its name, for calls).
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Num(_, p) | Expr::Str(_, p) | Expr::List(_, p) | Expr::GetVar(_, p) => *p,
            Expr::Call { pos, .. }
            | Expr::Player { pos, .. }
            | Expr::SetVar { pos, .. }
            | Expr::Dac { pos, .. }
            | Expr::Lambda { pos, .. }
            | Expr::LambdaCall { pos, .. } => *pos,
        }
    }
}
