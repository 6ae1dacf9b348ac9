//! The error type of the models: what went wrong (a [`ModelErrorKind`] callers and tests
//! can match) and a message for the user (shown on the console, in the status strip or
//! by `sema-live model`, and thrown into JS as the rejection of a model call).

use std::fmt;
use std::path::Path;

/// What kind of problem a [`ModelError`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelErrorKind {
    /// A file or folder could not be read, written or created.
    Io,
    /// No checkpoint where one was asked for (a folder without one, or the bundled
    /// fallback model is missing).
    NotFound,
    /// Downloading a checkpoint failed.
    Download,
    /// A download was cancelled ([`crate::ml::core::resolve::CancelDownload`]).
    Cancelled,
    /// A corrupt or inconsistent checkpoint: invalid `config.json` or manifest, truncated
    /// or mismatched shards, missing variables, shapes that do not fit together.
    BadCheckpoint,
    /// A well-formed checkpoint of a model (or storage type) that is not supported:
    /// hierarchical or chord-conditioned models, NADE decoders, non-melody converters.
    Unsupported,
    /// A NoteSequence that must be quantized is not.
    NotQuantized,
    /// Invalid data or arguments: NoteSequences that do not fit the model, latent vectors
    /// of the wrong size, counts out of range, bad quantisation input.
    BadInput,
    /// No model with that id (never loaded, or disposed).
    NoSuchModel,
    /// A model of another kind than asked for: an id naming a MusicRNN given to a VAE
    /// call, or a checkpoint whose `config.json` names another model type.
    WrongModel,
    /// Training (MidiMe) diverged.
    Training,
    /// The inference engine (tract) could not build or run a network, or broke an
    /// internal invariant.
    Engine,
    /// The model worker thread is not running.
    WorkerStopped,
    /// Waiting for the model worker timed out.
    Timeout,
    /// The model worker panicked while running the request (it was restarted).
    Crashed,
}

/// An error of the models (checkpoints, downloads, inference, the worker).
///
/// Its `Display` is the message users read; [`ModelError::kind`] says what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    kind: ModelErrorKind,
    message: String,
}

impl ModelError {
    /// An error of `kind` with the message users see.
    pub fn new(kind: ModelErrorKind, message: impl Into<String>) -> Self {
        ModelError { kind, message: message.into() }
    }

    /// What went wrong.
    pub fn kind(&self) -> ModelErrorKind {
        self.kind
    }

    /// The message (what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context: ` in front of its message (the kind is kept).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// [`ModelErrorKind::BadCheckpoint`].
    pub fn bad_checkpoint(message: impl Into<String>) -> Self {
        Self::new(ModelErrorKind::BadCheckpoint, message)
    }

    /// [`ModelErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ModelErrorKind::Unsupported, message)
    }

    /// [`ModelErrorKind::BadInput`].
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ModelErrorKind::BadInput, message)
    }

    /// [`ModelErrorKind::Engine`].
    pub fn engine(message: impl Into<String>) -> Self {
        Self::new(ModelErrorKind::Engine, message)
    }

    /// [`ModelErrorKind::Io`]: "cannot `action` `path`: `error`".
    pub fn io(action: &str, path: &Path, error: impl fmt::Display) -> Self {
        Self::new(ModelErrorKind::Io, format!("cannot {action} {}: {error}", path.display()))
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}
