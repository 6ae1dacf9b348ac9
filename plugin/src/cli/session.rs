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
use std::path::Path;

use crate::control::state::SessionState;

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
    pub fn parse(text: &str) -> Result<Self, String> {
        let s: Session = toml::from_str(text).map_err(|e| e.to_string())?;
        if !(s.settings.bpm.is_finite() && s.settings.bpm > 0.0 && s.settings.bpm <= 1000.0) {
            return Err(format!("settings.bpm must be between 0 and 1000, not {}", s.settings.bpm));
        }
        if s.settings.beats_per_bar == 0 {
            return Err("settings.beats_per_bar must be at least 1".into());
        }
        for c in &s.channels {
            if c.id as usize >= crate::audio::patch::NUM_CHANNELS {
                return Err(format!("channel id {} is out of range (0..{})", c.id, crate::audio::patch::NUM_CHANNELS - 1));
            }
        }
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn to_toml(&self) -> String {
        // Serialising plain strings, numbers and tables cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.to_toml()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The plugin state this session starts from.
    pub fn to_state(&self) -> SessionState {
        SessionState {
            dsl: self.dsl.clone(),
            js: self.js.clone(),
            channels: self.channels.iter().map(|c| (c.id, c.data.clone())).collect(),
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
            channels: state.channels.iter().map(|(id, data)| ChannelData { id: *id, data: data.clone() }).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(err.contains("line 3"), "{err}");
        let err = Session::parse("[settings]\nbpm = -5\n").unwrap_err();
        assert!(err.contains("bpm"), "{err}");
        // Code placed under [settings] by mistake is reported, not silently ignored.
        let err = Session::parse("[settings]\nbpm = 120\ndsl = \">{440}sin;\"\n").unwrap_err();
        assert!(err.contains("dsl"), "{err}");
    }
}
