//! Host-automatable parameters and the persisted session. Parameter IDs are part of saved
//! projects and automation: never change them once released.

use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;
use parking_lot::Mutex;
use std::sync::Arc;

use crate::audio::patch::NUM_PARAMS;
use crate::control::controller::Controller;
use crate::control::js_bridge::JsBridge;
use crate::control::state::SessionState;
use crate::ml::core::scale::{ScaleKind, KEY_NAMES};

/// The session (code + channel data + layout) as a persistent field: saving reads the
/// controller's session, loading hands the restored session to the controller, which
/// compiles it and sends it to the audio engine at once, then runs the JS evaluations it
/// recorded again on the instance's JS thread (unless the session turned that off).
pub struct SessionPersist {
    pub controller: Arc<Mutex<Controller>>,
    pub js: Arc<JsBridge>,
}

impl<'a> PersistentField<'a, SessionState> for SessionPersist {
    fn set(&self, new_value: SessionState) {
        self.js.saved_models.replace(new_value.layers_models.clone());
        self.controller.lock().load_state(new_value);
        self.js.resume(&self.controller);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SessionState) -> R,
    {
        let mut c = self.controller.lock();
        // Layers models saved from JS live with the JS runtime until the project is saved.
        c.session_mut().layers_models = self.js.saved_models.snapshot();
        f(c.session())
    }
}

#[derive(Params)]
pub struct SemaParams {
    /// DSL + JS code, channel data and editor layout, saved in the project.
    #[persist = "session"]
    pub session: SessionPersist,

    /// Sampling temperature used by model calls that give none; `{0}param` in the DSL.
    #[id = "temperature"]
    pub temperature: FloatParam,

    /// Output gain in dB (smoothed by the engine).
    #[id = "gain"]
    pub gain: FloatParam,

    /// Follow the host transport (on) or free-run at the tempo set in code (off).
    #[id = "sync"]
    pub sync: BoolParam,

    /// Free macros, `{1}param`..`{8}param` in the DSL, `host.macros[0..7]` in JS.
    #[id = "macro1"]
    pub macro1: FloatParam,
    #[id = "macro2"]
    pub macro2: FloatParam,
    #[id = "macro3"]
    pub macro3: FloatParam,
    #[id = "macro4"]
    pub macro4: FloatParam,
    #[id = "macro5"]
    pub macro5: FloatParam,
    #[id = "macro6"]
    pub macro6: FloatParam,
    #[id = "macro7"]
    pub macro7: FloatParam,
    #[id = "macro8"]
    pub macro8: FloatParam,

    /// Send the notes played into the plugin out again with its own, so the DAW records
    /// the call along with the answer. Appended last: the IDs above keep their order.
    #[id = "midi_thru"]
    pub midi_thru: BoolParam,

    /// Key of the sampling constraint (C..B), used while `scale` is on. Appended after
    /// `midi_thru`: saved projects keep their IDs.
    #[id = "key"]
    pub key: IntParam,
    /// Scale of the sampling constraint: off (default: magenta's unconstrained sampling)
    /// or a scale type; model calls then only start notes of `key`'s scale.
    #[id = "scale"]
    pub scale: IntParam,
}

/// The `scale` parameter's value as text: "off" or the scale type's name.
fn scale_name(v: i32) -> &'static str {
    match v.checked_sub(1).and_then(|i| ScaleKind::ALL.get(i as usize)) {
        Some(kind) => kind.name(),
        None => "off",
    }
}

fn macro_param(n: usize) -> FloatParam {
    FloatParam::new(format!("Macro {n}"), 0.0, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_step_size(0.001)
}

impl SemaParams {
    pub fn new(controller: Arc<Mutex<Controller>>, js: Arc<JsBridge>) -> Self {
        Self {
            session: SessionPersist { controller, js },
            temperature: FloatParam::new(
                "Temperature",
                1.0,
                FloatRange::Linear { min: 0.0, max: 2.0 },
            )
            .with_step_size(0.01),
            gain: FloatParam::new("Gain", 0.0, FloatRange::Linear { min: -60.0, max: 12.0 })
                .with_unit(" dB")
                .with_step_size(0.1),
            sync: BoolParam::new("Sync", true),
            macro1: macro_param(1),
            macro2: macro_param(2),
            macro3: macro_param(3),
            macro4: macro_param(4),
            macro5: macro_param(5),
            macro6: macro_param(6),
            macro7: macro_param(7),
            macro8: macro_param(8),
            midi_thru: BoolParam::new("MIDI thru", false),
            key: IntParam::new("Key", 0, IntRange::Linear { min: 0, max: 11 })
                .with_value_to_string(Arc::new(|v| {
                    KEY_NAMES.get(v as usize).copied().unwrap_or("?").to_string()
                }))
                .with_string_to_value(Arc::new(|s| {
                    KEY_NAMES
                        .iter()
                        .position(|k| k.eq_ignore_ascii_case(s.trim()))
                        .map(|i| i as i32)
                })),
            scale: IntParam::new(
                "Scale",
                0,
                IntRange::Linear { min: 0, max: ScaleKind::ALL.len() as i32 },
            )
            .with_value_to_string(Arc::new(|v| scale_name(v).to_string()))
            .with_string_to_value(Arc::new(|s| {
                (0..=ScaleKind::ALL.len() as i32)
                    .find(|&v| scale_name(v).eq_ignore_ascii_case(s.trim()))
            })),
        }
    }

    /// The eight macros in order.
    pub fn macros(&self) -> [&FloatParam; 8] {
        [
            &self.macro1,
            &self.macro2,
            &self.macro3,
            &self.macro4,
            &self.macro5,
            &self.macro6,
            &self.macro7,
            &self.macro8,
        ]
    }

    /// Values for the DSL's `param`: temperature, then the macros. Lock-free (atomics).
    pub fn values(&self) -> [f32; NUM_PARAMS] {
        let mut v = [0.0; NUM_PARAMS];
        v[0] = self.temperature.value();
        for (i, m) in self.macros().iter().enumerate() {
            v[i + 1] = m.value();
        }
        v
    }
}
