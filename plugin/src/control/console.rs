//! The console: messages for the editor's console panel (DSL errors, JS output and
//! exceptions, model progress). Written from the editor, JS and worker threads; never
//! touched by the audio thread.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines kept; older ones are dropped.
const MAX_LINES: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
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

#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub level: Level,
    pub source: Source,
    pub text: String,
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
        let line = Line { level, source, text: text.into() };
        if self.echo.load(Ordering::Relaxed) {
            match level {
                Level::Error => eprintln!("error: {}", line.text),
                Level::Warn => eprintln!("warning: {}", line.text),
                Level::Info => println!("{}", line.text),
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
