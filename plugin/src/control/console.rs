//! The console: messages for the editor's console panel (DSL errors, JS output and
//! exceptions, model progress). Written from the editor, JS and worker threads; never
//! touched by the audio thread.
//!
//! [`Line`] is the one console line type: the JS runtime produces the same lines (with a
//! [`Source::Js`] location) for the plugin console, headless runs and tests.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines kept; older ones are dropped.
const MAX_LINES: usize = 2000;

/// Severity of a console line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// JS `console.log` / `console.debug` (shown like `Info`).
    Log,
    /// Notices: JS `console.info`, model loaded, code evaluated.
    Info,
    /// JS `console.warn`, recoverable problems.
    Warn,
    /// Errors: DSL diagnostics, JS `console.error` and uncaught exceptions.
    Error,
}

impl Level {
    /// Short lowercase name, as printed by headless runs.
    pub fn name(self) -> &'static str {
        match self {
            Level::Log => "log",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where a message comes from, and where to jump when it is clicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The DSL editor, with a 1-based line and column.
    Dsl { line: usize, col: usize },
    /// The JS editor, with the block index and the 1-based line in the whole JS text.
    Js { block: Option<usize>, line: Option<usize> },
    /// Models (loading, downloads, fallbacks).
    Model,
    /// The plugin itself (state loading, audio engine).
    System,
}

/// One console line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub level: Level,
    pub source: Source,
    /// The text (may contain newlines, e.g. a JS backtrace).
    pub text: String,
}

impl Line {
    /// A line from the JS runtime: `block` is the index of the block it comes from and
    /// `line` the 1-based file line of an error, when known.
    pub fn js(
        level: Level,
        text: impl Into<String>,
        block: Option<usize>,
        line: Option<usize>,
    ) -> Self {
        Line { level, source: Source::Js { block, line }, text: text.into() }
    }

    /// The JS block the line comes from, when known.
    pub fn js_block(&self) -> Option<usize> {
        match self.source {
            Source::Js { block, .. } => block,
            _ => None,
        }
    }

    /// The JS file line (1-based) of an error, when known.
    pub fn js_line(&self) -> Option<usize> {
        match self.source {
            Source::Js { line, .. } => line,
            _ => None,
        }
    }
}

/// As headless JS runs print it: `[level] ` (except for `log`), the text, and the JS
/// location when known (`(block b, line l)`, with 1-based block numbers).
impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.level {
            Level::Log => {}
            level => write!(f, "[{}] ", level.name())?,
        }
        f.write_str(&self.text)?;
        match (self.js_block(), self.js_line()) {
            (Some(b), Some(l)) => write!(f, " (block {}, line {l})", b + 1),
            (None, Some(l)) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

/// A bounded, thread-safe list of console lines with a change counter.
#[derive(Default)]
pub struct Console {
    lines: Mutex<VecDeque<Line>>,
    /// Incremented on every push, so the editor repaints only on change.
    generation: AtomicU64,
    /// Also print to stdout (headless runs).
    echo: std::sync::atomic::AtomicBool,
}

impl Console {
    pub fn new() -> Self {
        Self::default()
    }

    /// Print every new line to stdout/stderr too (command-line use).
    pub fn set_echo(&self, echo: bool) {
        self.echo.store(echo, Ordering::Relaxed);
    }

    pub fn push(&self, level: Level, source: Source, text: impl Into<String>) {
        self.push_line(Line { level, source, text: text.into() })
    }

    pub fn push_line(&self, line: Line) {
        if self.echo.load(Ordering::Relaxed) {
            match line.level {
                Level::Error => eprintln!("error: {}", line.text),
                Level::Warn => eprintln!("warning: {}", line.text),
                Level::Info | Level::Log => println!("{}", line.text),
            }
        }
        let mut lines = self.lines.lock();
        if lines.len() >= MAX_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn info(&self, source: Source, text: impl Into<String>) {
        self.push(Level::Info, source, text)
    }

    pub fn error(&self, source: Source, text: impl Into<String>) {
        self.push(Level::Error, source, text)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A copy of the current lines.
    pub fn snapshot(&self) -> Vec<Line> {
        self.lines.lock().iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.lines.lock().clear();
        self.generation.fetch_add(1, Ordering::Release);
    }
}
