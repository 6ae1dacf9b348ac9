//! Where key presses and console clicks lead: which code an evaluation runs, which
//! lines flash, and where a located message puts the cursor.

use std::ops::RangeInclusive;

use super::highlight::line_count;
use crate::control::console::Source;

/// Where a clicked console message points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jump {
    pub pane: Pane,
    /// 1-based line and column.
    pub line: usize,
    pub col: usize,
}

/// 1-based line of the character at `char_index` in `text`.
pub fn line_of_char(text: &str, char_index: usize) -> usize {
    1 + text.chars().take(char_index).filter(|&c| c == '\n').count()
}

/// Character index of 1-based `line` and `col` in `text`, clamped to the end of that line
/// (and to the end of the text for lines past the last).
pub fn char_index(text: &str, line: usize, col: usize) -> usize {
    let mut index = 0;
    for (i, l) in text.split('\n').enumerate() {
        let len = l.chars().count();
        if i + 1 == line.max(1) {
            return index + col.max(1).min(len + 1) - 1;
        }
        index += len + 1;
    }
    text.chars().count()
}

/// Where a console message with `source` should take the cursor, if anywhere.
pub fn jump_target(source: Source) -> Option<Jump> {
    match source {
        Source::Dsl { line, col } if line > 0 => {
            Some(Jump { pane: Pane::Dsl, line, col: col.max(1) })
        }
        Source::Js { line: Some(line), .. } if line > 0 => {
            Some(Jump { pane: Pane::Js, line, col: 1 })
        }
        _ => None,
    }
}

/// What an evaluation key press asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Compile the whole DSL program.
    Dsl,
    /// Run one JS block or line: code, block index, first line of the code in the file.
    Js { code: String, block: usize, first_line: usize },
    /// Nothing to evaluate (cursor on a separator, empty block).
    Nothing,
}

impl Evaluation {
    /// The lines that flash when this evaluation runs (`dsl` is the DSL editor's text).
    pub fn lines(&self, dsl: &str) -> Option<(Pane, RangeInclusive<usize>)> {
        match self {
            Evaluation::Dsl => Some((Pane::Dsl, 1..=line_count(dsl))),
            Evaluation::Js { code, first_line, .. } => {
                let n = code.trim_end_matches('\n').split('\n').count().max(1);
                Some((Pane::Js, *first_line..=first_line + n - 1))
            }
            Evaluation::Nothing => None,
        }
    }
}

/// Routes Ctrl+Enter (`line_only` false) or Shift+Enter (`line_only` true) in `pane`,
/// with the cursor on `line`: the DSL is always evaluated whole, as in Sema; JS evaluates
/// the block under the cursor or the cursor's line.
pub fn route_evaluation(pane: Pane, js: &str, line: usize, line_only: bool) -> Evaluation {
    match pane {
        Pane::Dsl => Evaluation::Dsl,
        Pane::Js => {
            let Some(block) = crate::js::blocks::block_at_line(js, line) else {
                return Evaluation::Nothing;
            };
            if line_only {
                let code = js.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
                if code.trim().is_empty() {
                    return Evaluation::Nothing;
                }
                Evaluation::Js { code, block: block.index, first_line: line }
            } else if block.code.trim().is_empty() {
                Evaluation::Nothing
            } else {
                Evaluation::Js {
                    code: block.code,
                    block: block.index,
                    first_line: block.first_line,
                }
            }
        }
    }
}

/// Which code editor an evaluation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Dsl,
    Js,
}
