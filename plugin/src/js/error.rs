//! The error type of the JS runtime: what went wrong (a [`ScriptErrorKind`] callers and
//! tests can match), the message users read, and where (block and file line) when known.

use std::fmt;

use boa_engine::error::{EngineError, RuntimeLimitError};

/// What kind of problem a [`ScriptError`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptErrorKind {
    /// The JS context or its API could not be set up.
    Setup,
    /// A script file could not be read.
    Io,
    /// `importScripts` refused a script (a remote URL that is not a built-in library).
    Import,
    /// An exception nobody caught: a thrown value, a syntax error, a rejected Promise
    /// without a handler.
    Exception,
    /// Boa's loop iteration limit stopped a call frame: the backstop for loops without a
    /// time check ([`loop_backstop`](crate::js::runtime::loop_backstop)).
    LoopLimit,
    /// Boa's recursion (or VM stack) limit stopped the script
    /// ([`RECURSION_LIMIT`](crate::js::runtime::RECURSION_LIMIT)).
    RecursionLimit,
    /// The script ran longer than its time budget
    /// ([`JsLimits::time`](crate::js::runtime::JsLimits)) and was stopped.
    TimeLimit,
    /// The script's heap grew past its limit
    /// ([`JsLimits::heap_bytes`](crate::js::runtime::JsLimits)) and it was stopped.
    HeapLimit,
    /// A headless run gave up waiting for model requests or other pending work.
    Pending,
    /// A headless run ended with errors (uncaught ones, or giving up on pending work);
    /// [`ScriptError::first`] is the first of them.
    Uncaught,
    /// Invalid options of a run (e.g. a timeout that is not a positive number).
    BadOptions,
}

impl ScriptErrorKind {
    /// The kind of an error Boa reports: its runtime limits are engine errors (which JS
    /// cannot catch), everything else is an exception.
    pub fn of(err: &boa_engine::JsError) -> Self {
        match err.as_engine() {
            Some(EngineError::RuntimeLimit(RuntimeLimitError::LoopIteration)) => Self::LoopLimit,
            Some(EngineError::RuntimeLimit(
                RuntimeLimitError::Recursion | RuntimeLimitError::StackSize,
            )) => Self::RecursionLimit,
            _ => Self::Exception,
        }
    }
}

/// An error of the JS runtime.
///
/// Its `Display` is what users read: the message, then `(block B, line L)` when the
/// location is known (as the console shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    kind: ScriptErrorKind,
    message: String,
    block: Option<usize>,
    line: Option<usize>,
    first: Option<Box<ScriptError>>,
}

impl ScriptError {
    /// An error of `kind` with the message users see, without a location.
    pub fn new(kind: ScriptErrorKind, message: impl Into<String>) -> Self {
        ScriptError { kind, message: message.into(), block: None, line: None, first: None }
    }

    /// The same error located in block `block` (0-based) at file line `line` (1-based).
    pub fn at(mut self, block: Option<usize>, line: Option<usize>) -> Self {
        self.block = block;
        self.line = line;
        self
    }

    /// A headless run's summary: `message` about `first`, the first uncaught error.
    pub fn uncaught(message: impl Into<String>, first: ScriptError) -> Self {
        ScriptError {
            first: Some(Box::new(first)),
            ..Self::new(ScriptErrorKind::Uncaught, message)
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ScriptErrorKind {
        self.kind
    }

    /// The message without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Index of the block the error comes from, when known.
    pub fn block(&self) -> Option<usize> {
        self.block
    }

    /// File line (1-based) of the error, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// For [`ScriptErrorKind::Uncaught`]: the first uncaught error of the run.
    pub fn first(&self) -> Option<&ScriptError> {
        self.first.as_deref()
    }

    /// The console line showing this error.
    pub fn to_console_line(&self) -> crate::control::console::Line {
        crate::control::console::Line::js(
            crate::control::console::Level::Error,
            self.message.clone(),
            self.block,
            self.line,
        )
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.block, self.line) {
            (Some(b), Some(l)) => write!(f, " (block {}, line {l})", b + 1),
            (None, Some(l)) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

/// No `source()`: an [`ScriptErrorKind::Uncaught`] summary already quotes its first error
/// (see [`ScriptError::first`]).
impl std::error::Error for ScriptError {}
