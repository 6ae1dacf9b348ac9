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
    /// Width of the Studio panels in points while they are open (None: closed).
    pub studio_width: Option<f32>,
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
            studio_width: None,
        }
    }
}

/// Evaluations remembered in [`SessionState::js_evaluated`] (the oldest superseded ones
/// go first when there are more).
pub const MAX_RECORDED_JS: usize = 256;

/// A JS evaluation as the editor made it: the code that ran (a block, or one line with
/// Shift+Enter), its block index and its first line in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluatedJs {
    pub code: String,
    pub block: usize,
    pub first_line: usize,
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
    /// The JS evaluations made in this session, in order, so reopening the project runs
    /// them again (bar callbacks, timers and model calls resume). See
    /// [`SessionState::record_js`].
    pub js_evaluated: Vec<EvaluatedJs>,
    /// Run [`SessionState::js_evaluated`] again when the state loads (the editor's
    /// "Resume JS on load" box). Older states, without the field, resume.
    pub resume_js: bool,
    /// Seed of the model worker's sampling (a session file's `settings.seed`), taken when
    /// the JS thread starts: the same requests then sample the same notes (a bounce of a
    /// reopened project repeats it; `sema-live model continue --seed` gives the same).
    /// None: a new seed each time.
    pub seed: Option<u64>,
    /// Layers models saved with `model.save('session://name')` (JSON text by name), loaded
    /// again with `tf.loadLayersModel('session://name')`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub layers_models: BTreeMap<String, String>,
    /// Clips kept from the Studio panels (inputs of later runs, saved with the project).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub studio_clips: Vec<KeptClip>,
    /// The model each Studio panel runs (older states, without the field, get the
    /// defaults).
    #[serde(skip_serializing_if = "StudioModels::is_default")]
    pub studio_models: StudioModels,
}

/// The model picked in each Studio panel, by magenta.js name (see
/// `control::studio::MODELS`; a name a panel does not offer reads as its default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StudioModels {
    /// Continue's melody MusicRNN.
    #[serde(rename = "continue")]
    pub continuation: String,
    /// Generate's MusicVAE.
    pub generate: String,
    /// Interpolate's MusicVAE.
    pub interpolate: String,
    /// Drums' drum MusicRNN.
    pub drums: String,
    /// Drumify's GrooVAE (tap to drums).
    pub drumify: String,
    /// Groove's GrooVAE.
    pub groove: String,
}

impl Default for StudioModels {
    fn default() -> Self {
        StudioModels {
            continuation: "basic_rnn".into(),
            generate: "mel_2bar_small".into(),
            interpolate: "mel_2bar_small".into(),
            drums: "drum_kit_rnn".into(),
            drumify: "tap2drum_2bar".into(),
            groove: "groovae_2bar_humanize".into(),
        }
    }
}

impl StudioModels {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A variation kept from the Studio panels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeptClip {
    /// "Continue 2": unique within the session.
    pub name: String,
    /// The melody, quantised at 4 steps per quarter.
    pub sequence: crate::ml::core::note_seq::NoteSequence,
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
            js_evaluated: Vec::new(),
            resume_js: true,
            seed: None,
            layers_models: BTreeMap::new(),
            studio_clips: Vec::new(),
            studio_models: StudioModels::default(),
        }
    }
}

impl SessionState {
    /// Remembers an evaluation for [`SessionState::js_evaluated`]. Evaluating the same
    /// block (or line) again right after replaces the previous entry (an edit-and-run
    /// cycle on one block ends in its latest version); anything else is appended in
    /// order. Past [`MAX_RECORDED_JS`] entries, the oldest entry of a block evaluated
    /// again later is dropped, else the oldest.
    pub fn record_js(&mut self, code: &str, block: usize, first_line: usize) {
        let entry = EvaluatedJs { code: code.to_string(), block, first_line };
        if let Some(last) = self.js_evaluated.last_mut() {
            if last.block == block && last.first_line == first_line {
                *last = entry;
                return;
            }
        }
        self.js_evaluated.push(entry);
        if self.js_evaluated.len() > MAX_RECORDED_JS {
            let list = &self.js_evaluated;
            let superseded = (0..list.len()).find(|&i| {
                list[i + 1..]
                    .iter()
                    .any(|e| e.block == list[i].block && e.first_line == list[i].first_line)
            });
            self.js_evaluated.remove(superseded.unwrap_or(0));
        }
    }

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
    fn saved_layers_models_round_trip_and_old_states_have_none() {
        let mut s = SessionState::default();
        let json = serde_json::to_string(&s).expect("serialise");
        assert!(!json.contains("layers_models"), "absent while empty: older builds read it");
        s.layers_models.insert("fm".into(), r#"{"format":"sema-live-layers"}"#.into());
        let json = serde_json::to_string(&s).expect("serialise");
        let back: SessionState = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.layers_models.get("fm"), s.layers_models.get("fm"));
        let old: SessionState =
            serde_json::from_str(r#"{"version":1,"dsl":">{440}sin;"}"#).expect("parse");
        assert!(old.layers_models.is_empty());
    }

    #[test]
    fn studio_models_round_trip_and_old_states_get_the_defaults() {
        let mut s = SessionState::default();
        let json = serde_json::to_string(&s).expect("serialise");
        assert!(!json.contains("studio_models"), "absent while default: older builds read it");
        s.studio_models.generate = "mel_4bar_small_q2".into();
        s.studio_models.continuation = "melody_rnn".into();
        let json = serde_json::to_string(&s).expect("serialise");
        assert!(json.contains(r#""continue":"melody_rnn""#), "{json}");
        let back: SessionState = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.studio_models, s.studio_models);
        assert_eq!(back.studio_models.interpolate, "mel_2bar_small");
        let old: SessionState =
            serde_json::from_str(r#"{"version":1,"dsl":">{440}sin;"}"#).expect("parse");
        assert_eq!(old.studio_models, StudioModels::default());
        // A state naming one panel's model only: the others keep their defaults.
        let part: SessionState = serde_json::from_str(
            r#"{"studio_models":{"drums":"drum_kit_rnn","generate":"trio_4bar"}}"#,
        )
        .expect("parse");
        assert_eq!(part.studio_models.generate, "trio_4bar");
        assert_eq!(part.studio_models.continuation, "basic_rnn");
    }

    #[test]
    fn evaluations_are_recorded_in_order_and_repeats_collapse() {
        let mut s = SessionState::default();
        s.record_js("var a = 1;", 0, 1);
        s.record_js("var b = 2;", 1, 3);
        s.record_js("var b = 3;", 1, 3);
        s.record_js("b += 1;", 1, 4);
        s.record_js("var a = 5;", 0, 1);
        let got: Vec<(&str, usize, usize)> =
            s.js_evaluated.iter().map(|e| (e.code.as_str(), e.block, e.first_line)).collect();
        assert_eq!(
            got,
            vec![
                ("var a = 1;", 0, 1),
                ("var b = 3;", 1, 3),
                ("b += 1;", 1, 4),
                ("var a = 5;", 0, 1)
            ]
        );
        // Past the limit a superseded evaluation goes first: block 0's first one.
        for i in 0..MAX_RECORDED_JS - 3 {
            s.record_js(&format!("x = {i};"), 10 + i % 2, 100 + i);
        }
        assert_eq!(s.js_evaluated.len(), MAX_RECORDED_JS);
        assert_eq!(s.js_evaluated[0].code, "var b = 3;");
        assert!(s.js_evaluated.iter().any(|e| e.code == "var a = 5;"));
    }

    #[test]
    fn missing_fields_take_defaults() {
        let back: SessionState =
            serde_json::from_str(r#"{"version":1,"dsl":">{440}sin;"}"#).expect("parse");
        assert_eq!(back.dsl, ">{440}sin;");
        assert_eq!(back.editor, EditorLayout::default());
        // A state saved before evaluations were recorded: nothing to resume, resuming on.
        assert!(back.js_evaluated.is_empty() && back.resume_js);
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
