//! Session files: one human-editable TOML file holding the DSL program, the JS program,
//! settings (tempo, time signature, length, seed) and optional initial channel data.
//! The plugin state is a session plus the data the JS channels hold.
//!
//! ```toml
//! title = "RNN continuation"
//! description = "What you should hear"
//! dsl = '''
//! >{440}sin;
//! '''
//! js = '''
//! console.log("hi");
//! '''
//! [settings]          # tables come after the top-level keys, as TOML requires
//! bpm = 120
//! beats_per_bar = 4
//! bars = 8
//! [[channel]]
//! id = 1
//! data = [440.0, 660.0]
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

use crate::control::state::SessionState;

/// What kind of problem a [`SessionError`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionErrorKind {
    /// The file could not be read or written.
    Io,
    /// The text is not a session file: TOML syntax, a value of the wrong type, an
    /// unknown key (the message names the line).
    Parse,
    /// A value out of range: tempo, beats per bar, a channel id.
    Invalid,
}

/// An error loading, parsing or saving a session file. Its `Display` is the message
/// users read (prefixed with the file's path by [`Session::load`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionError {
    kind: SessionErrorKind,
    message: String,
}

impl SessionError {
    /// An error of `kind` with the message users see.
    pub fn new(kind: SessionErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// What went wrong.
    pub fn kind(&self) -> SessionErrorKind {
        self.kind
    }

    /// The message (what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(SessionErrorKind::Invalid, message)
    }

    /// "cannot `action` `path`: `error`".
    fn io(action: &str, path: &Path, error: std::io::Error) -> Self {
        Self::new(SessionErrorKind::Io, format!("cannot {action} {}: {error}", path.display()))
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SessionError {}

/// Playback settings of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Tempo in quarter notes per minute (used when rendering, and by `clk`-less code).
    pub bpm: f64,
    /// Beats (quarter notes) per bar.
    pub beats_per_bar: u8,
    /// Length in bars for rendering.
    pub bars: u32,
    /// Seed for model sampling and `tf.randomNormal`, for reproducible renders.
    pub seed: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { bpm: 120.0, beats_per_bar: 4, bars: 8, seed: Some(1) }
    }
}

/// Initial data of a JS channel (what `fromJS` reads before any JS runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelData {
    pub id: u32,
    pub data: Vec<f64>,
}

/// A session file. See the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Session {
    pub title: String,
    /// What the session does and what you should hear.
    pub description: String,
    pub settings: Settings,
    /// The live-code (DSL) program.
    pub dsl: String,
    /// The JS program (blocks separated by lines of `___`).
    pub js: String,
    /// Initial channel data.
    #[serde(rename = "channel")]
    pub channels: Vec<ChannelData>,
}

impl Default for Session {
    /// An empty session (fields missing from a file stay empty).
    fn default() -> Self {
        Self {
            title: String::new(),
            description: String::new(),
            settings: Settings::default(),
            dsl: String::new(),
            js: String::new(),
            channels: Vec::new(),
        }
    }
}

impl Session {
    /// Parses a session file's text; errors name the line and what was wrong.
    pub fn parse(text: &str) -> Result<Self, SessionError> {
        let s: Session = toml::from_str(text)
            .map_err(|e| SessionError::new(SessionErrorKind::Parse, e.to_string()))?;
        if !(s.settings.bpm.is_finite() && s.settings.bpm > 0.0 && s.settings.bpm <= 1000.0) {
            return Err(SessionError::invalid(format!(
                "settings.bpm must be between 0 and 1000, not {}",
                s.settings.bpm
            )));
        }
        if s.settings.beats_per_bar == 0 {
            return Err(SessionError::invalid("settings.beats_per_bar must be at least 1"));
        }
        for c in &s.channels {
            if c.id as usize >= crate::audio::patch::NUM_CHANNELS {
                return Err(SessionError::invalid(format!(
                    "channel id {} is out of range (0..{})",
                    c.id,
                    crate::audio::patch::NUM_CHANNELS - 1
                )));
            }
        }
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let text = std::fs::read_to_string(path).map_err(|e| SessionError::io("read", path, e))?;
        Self::parse(&text)
            .map_err(|e| SessionError::new(e.kind, format!("{}: {}", path.display(), e.message)))
    }

    /// Loads `path` as a session file, or, when its extension is `.sem` or `.sema` (a
    /// bare live-code file, as `sema-live check` reads), as a session holding that code
    /// with the default settings and no JS.
    pub fn load_any(path: &Path) -> Result<Self, SessionError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !(ext.eq_ignore_ascii_case("sem") || ext.eq_ignore_ascii_case("sema")) {
            return Self::load(path);
        }
        let dsl = std::fs::read_to_string(path).map_err(|e| SessionError::io("read", path, e))?;
        Ok(Self { dsl, ..Self::default() })
    }

    pub fn to_toml(&self) -> String {
        // Serialising plain strings, numbers and tables cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        std::fs::write(path, self.to_toml()).map_err(|e| SessionError::io("write", path, e))
    }

    /// The plugin state this session starts from.
    pub fn to_state(&self) -> SessionState {
        SessionState {
            dsl: self.dsl.clone(),
            js: self.js.clone(),
            channels: self.channels.iter().map(|c| (c.id, c.data.clone())).collect(),
            seed: self.settings.seed,
            ..SessionState::default()
        }
    }

    /// A session holding the code and channel data of a plugin state.
    pub fn from_state(state: &SessionState, settings: Settings) -> Self {
        Self {
            title: String::new(),
            description: String::new(),
            settings,
            dsl: state.dsl.clone(),
            js: state.js.clone(),
            channels: state
                .channels
                .iter()
                .map(|(id, data)| ChannelData { id: *id, data: data.clone() })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_live_code_file_loads_with_the_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["saw.sem", "saw.SEMA"] {
            let path = dir.path().join(name);
            std::fs::write(&path, ">{440}saw;\n").expect("write");
            let s = Session::load_any(&path).expect("loads");
            assert_eq!(s.dsl, ">{440}saw;\n");
            assert!(s.js.is_empty() && s.channels.is_empty());
            assert_eq!(s.settings, Settings::default());
        }
        // A session file still loads as TOML, and a missing file names itself.
        let toml = dir.path().join("a.sema.toml");
        std::fs::write(&toml, "dsl = '>{1}sin;'\n[settings]\nbars = 2\n").expect("write");
        assert_eq!(Session::load_any(&toml).expect("toml").settings.bars, 2);
        let e = Session::load_any(&dir.path().join("gone.sem")).expect_err("missing");
        assert_eq!(e.kind(), SessionErrorKind::Io);
        assert!(e.message().contains("gone.sem"), "{e}");
    }

    #[test]
    fn a_session_round_trips_through_toml() {
        let mut s = Session::from_state(&SessionState::default(), Settings::default());
        s.title = "t".into();
        s.js.push_str("\nvar s = '''quoted''';\n");
        let back = Session::parse(&s.to_toml()).expect("parse");
        assert_eq!(back, s);
    }

    #[test]
    fn errors_are_located() {
        let err = Session::parse("title = \"x\"\n[settings]\nbpm = \"fast\"\n").unwrap_err();
        assert_eq!(err.kind(), SessionErrorKind::Parse, "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
        let err = Session::parse("[settings]\nbpm = -5\n").unwrap_err();
        assert_eq!(err.kind(), SessionErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("bpm"), "{err}");
        // Code placed under [settings] by mistake is reported, not silently ignored.
        let err = Session::parse("[settings]\nbpm = 120\ndsl = \">{440}sin;\"\n").unwrap_err();
        assert_eq!(err.kind(), SessionErrorKind::Parse, "{err}");
        assert!(err.to_string().contains("dsl"), "{err}");
    }

    #[test]
    fn load_and_save_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.sema.toml");
        let err = Session::load(&missing).unwrap_err();
        assert_eq!(err.kind(), SessionErrorKind::Io, "{err}");
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        let bad = dir.path().join("bad.sema.toml");
        std::fs::write(&bad, "[settings]\nbeats_per_bar = 0\n").expect("write");
        let err = Session::load(&bad).unwrap_err();
        assert_eq!(err.kind(), SessionErrorKind::Invalid, "{err}");
        assert_eq!(
            err.to_string(),
            format!("{}: settings.beats_per_bar must be at least 1", bad.display())
        );
        let err = Session::default().save(&dir.path().join("no/such/dir/s.toml")).unwrap_err();
        assert_eq!(err.kind(), SessionErrorKind::Io, "{err}");
        assert_eq!(
            Session::parse("[[channel]]\nid = 9999\ndata = []\n").err().map(|e| e.kind()),
            Some(SessionErrorKind::Invalid)
        );
    }
}
