//! What Sema Live saves in the DAW project: the code, the JS channel data and the editor
//! layout. Versioned so older projects keep loading as the format grows.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current version of [`SessionState`].
pub const STATE_VERSION: u32 = 1;

/// The DSL program of a freshly inserted plugin: the seed tutorial's patch.
pub const DEFAULT_DSL: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/default/patch.sema"));
/// The JS program of a freshly inserted plugin: the seed tutorial's part 1 (RNN).
pub const DEFAULT_JS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/default/script.js"));
/// The seed's Piano Phase primer (MIDI pitches) that a fresh plugin plays on channel 1.
pub const DEFAULT_PRIMER: [u8; 12] = crate::ml::core::note_seq::PIANO_PHASE;

/// Editor layout saved with the project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EditorLayout {
    /// Fraction of the width given to the DSL editor (the JS editor gets the rest).
    pub split: f32,
    /// Vertical scroll offsets of the DSL and JS editors, in points.
    pub dsl_scroll: f32,
    pub js_scroll: f32,
    /// Height of the console panel in points.
    pub console_height: f32,
    /// Code font size in points.
    pub font_size: f32,
    /// Width of the melody view in points (it shares the bottom area with the console).
    pub melody_width: f32,
    /// Window size in logical points, restored when the editor opens.
    pub window: Option<[f32; 2]>,
    /// The live-code editor's text when it differs from the program that plays (edits
    /// not evaluated yet), so they are not lost with the project.
    pub dsl_text: Option<String>,
}

impl Default for EditorLayout {
    fn default() -> Self {
        Self {
            split: 0.45,
            dsl_scroll: 0.0,
            js_scroll: 0.0,
            console_height: 170.0,
            font_size: 13.0,
            melody_width: 560.0,
            window: None,
            dsl_text: None,
        }
    }
}

/// The plugin state: the session (code) plus the data the JS channels hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionState {
    /// Format version, [`STATE_VERSION`] when written by this build.
    pub version: u32,
    /// The live-code (DSL) program.
    pub dsl: String,
    /// The JS program (blocks separated by `___` lines).
    pub js: String,
    /// Latest data each JS output channel sent (`fromJS` reads it), by channel id.
    pub channels: BTreeMap<u32, Vec<f64>>,
    /// Editor layout.
    pub editor: EditorLayout,
}

impl Default for SessionState {
    /// A freshly inserted plugin: the seed's RNN example with its primer on channel 1, so
    /// pressing play in the host makes sound at once.
    fn default() -> Self {
        let primer = DEFAULT_PRIMER.iter().map(|&m| crate::dsp::maps::mtof(m as f64)).collect();
        Self {
            version: STATE_VERSION,
            dsl: DEFAULT_DSL.to_string(),
            js: DEFAULT_JS.to_string(),
            channels: BTreeMap::from([(1, primer)]),
            editor: EditorLayout::default(),
        }
    }
}

impl SessionState {
    /// Brings a state written by any version up to [`STATE_VERSION`].
    pub fn migrate(mut self) -> Self {
        // Version 0 never existed outside development; nothing to convert yet.
        self.version = STATE_VERSION;
        self.channels.retain(|id, _| (*id as usize) < crate::audio::patch::NUM_CHANNELS);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let mut s = SessionState::default();
        s.channels.insert(7, vec![1.5, -2.0]);
        s.editor.split = 0.3;
        let json = serde_json::to_string(&s).expect("serialise");
        let back: SessionState = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, s);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let back: SessionState =
            serde_json::from_str(r#"{"version":1,"dsl":">{440}sin;"}"#).expect("parse");
        assert_eq!(back.dsl, ">{440}sin;");
        assert_eq!(back.editor, EditorLayout::default());
    }

    #[test]
    fn default_session_records_its_melody_as_midi() {
        let s = SessionState::default();
        assert!(s.dsl.contains("// Sema Live addition"));
        let env = crate::dsl::CompileEnv {
            sample_rate: 48_000.0,
            max_block: 512,
            samples: std::sync::Arc::new(crate::dsl::SampleLibrary::new()),
        };
        let program = crate::dsl::compile(&s.dsl, &env).expect("the default patch compiles");
        assert!(program.uses_midi(), "a fresh plugin sends its melody as MIDI");
    }

    #[test]
    fn default_session_has_the_primer_on_channel_one() {
        let s = SessionState::default();
        let ch = &s.channels[&1];
        assert_eq!(ch.len(), 12);
        assert!((ch[0] - 554.365).abs() < 0.01, "C#5 = {}", ch[0]);
        assert!(s.dsl.contains("fromJS") && s.js.contains("createOutputChannel(1, 12)"));
    }
}
