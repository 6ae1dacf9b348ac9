//! magenta.js equivalents: `core.sequences`, `music_rnn.MusicRNN`, `music_vae.MusicVAE`,
//! `mm.MidiMe` and `mm` (all of them). The classes (`magenta.js`) keep magenta.js's names
//! and Promise-returning methods; each model call becomes a [`Request`] to the model
//! worker, and the Promise is settled by the runtime's event loop when the worker
//! answers. NoteSequences cross the boundary as JSON with magenta.js's field names.

use boa_engine::object::builtins::JsPromise;
use boa_engine::{Context, JsNativeError, JsResult, JsValue};
use serde_json::{json, Value};

use super::{arg, Native};
use crate::js::runtime::{api_state, PendingModel};
use crate::ml::core::chords::MAX_CHORDS;
use crate::ml::core::note_seq::{quantize_note_sequence, NoteSequence};
use crate::ml::core::scale::Scale;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::studio::{ScaleChoice, StudioJob, MAX_VARIATIONS};
use crate::ml::worker::{Request, Response};

/// The JS layer.
pub(crate) const PRELUDE: &str = include_str!("magenta.js");

/// Most steps one `continueSequence` may ask for.
pub const MAX_STEPS: usize = 4096;
/// Most sequences one call may ask for.
pub const MAX_COUNT: usize = 256;
/// Most MidiMe training epochs.
pub const MAX_EPOCHS: usize = 10_000;

/// Natives used by `magenta.js`.
pub(crate) const NATIVES: &[Native] =
    &[("ml", ml, 2), ("quantize", quantize, 2), ("studioKeep", studio_keep, 2)];

/// `ml(kind, args)`: submits a model request and returns a Promise of its result.
fn ml(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let kind = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let json = arg(args, 1).to_json(ctx)?.unwrap_or(Value::Null);
    let request = build_request(&kind, &json)
        .map_err(|e| JsNativeError::typ().with_message(e.to_string()))?;
    let (promise, resolvers) = JsPromise::new_pending(ctx);
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    let id = sh.worker().submit(request);
    let block = sh.current_block;
    sh.pending_models.insert(
        id,
        PendingModel {
            resolve: resolvers.resolve,
            reject: resolvers.reject,
            what: what(&kind).to_string(),
            block,
        },
    );
    Ok(promise.into())
}

/// The magenta.js name of a request kind, for error messages.
fn what(kind: &str) -> &'static str {
    match kind {
        "LoadRnn" => "MusicRNN.initialize",
        "LoadVae" => "MusicVAE.initialize",
        "RnnContinue" | "RnnContinueChords" => "MusicRNN.continueSequence",
        "VaeEncode" => "MusicVAE.encode",
        "VaeDecode" => "MusicVAE.decode",
        "VaeSample" => "MusicVAE.sample",
        "VaeInterpolate" => "MusicVAE.interpolate",
        "MidiMeTrain" => "MidiMe.train",
        "MidiMeSample" => "MidiMe.sample",
        "Unload" => "dispose",
        "Studio" => "host.studio",
        _ => "model call",
    }
}

/// Builds a worker request from the JS layer's arguments.
pub fn build_request(kind: &str, a: &Value) -> Result<Request, ModelError> {
    let name = what(kind);
    Ok(match kind {
        "LoadRnn" => Request::LoadRnn { url_or_path: string(a, "url", name)? },
        "LoadVae" => Request::LoadVae { url_or_path: string(a, "url", name)? },
        "RnnContinue" => Request::RnnContinue {
            model: id(a, "model", name)?,
            seq: sequence(a.get("seq").unwrap_or(&Value::Null), name)?,
            steps: count(a, "steps", name, MAX_STEPS)?,
            temperature: temperature(a, name)?,
            count: count(a, "count", name, MAX_COUNT)?,
        },
        "RnnContinueChords" => Request::RnnContinueChords {
            model: id(a, "model", name)?,
            seq: sequence(a.get("seq").unwrap_or(&Value::Null), name)?,
            steps: count(a, "steps", name, MAX_STEPS)?,
            temperature: temperature(a, name)?,
            count: count(a, "count", name, MAX_COUNT)?,
            chords: chord_list(a, name)?,
        },
        "VaeEncode" => {
            Request::VaeEncode { model: id(a, "model", name)?, seqs: sequences(a, name)? }
        }
        "VaeDecode" => Request::VaeDecode {
            model: id(a, "model", name)?,
            z: latents(a, name)?,
            temperature: temperature(a, name)?,
        },
        "VaeSample" => Request::VaeSample {
            model: id(a, "model", name)?,
            n: count(a, "n", name, MAX_COUNT)?,
            temperature: temperature(a, name)?,
        },
        "VaeInterpolate" => Request::VaeInterpolate {
            model: id(a, "model", name)?,
            seqs: sequences(a, name)?,
            n: count(a, "n", name, MAX_COUNT)?,
            temperature: temperature(a, name)?,
        },
        "MidiMeTrain" => Request::MidiMeTrain {
            vae: id(a, "vae", name)?,
            seqs: sequences(a, name)?,
            epochs: count(a, "epochs", name, MAX_EPOCHS)?,
            latent: count(a, "latent", name, 256)?,
        },
        "MidiMeSample" => Request::MidiMeSample {
            midime: id(a, "midime", name)?,
            vae: id(a, "vae", name)?,
            n: count(a, "n", name, MAX_COUNT)?,
            temperature: temperature(a, name)?,
        },
        "Unload" => Request::Unload { model: id(a, "model", name)? },
        "Studio" => studio_request(a)?,
        other => return Err(ModelError::bad_input(format!("unknown model request '{other}'"))),
    })
}

/// `host.studio.continue/drums/generate/interpolate/drumify/groove`: the `job`, `model`,
/// `variations` (1..=8),
/// `temperature`, `key` ("host", "off" or a key such as "D minor") and `seed` fields.
fn studio_request(a: &Value) -> Result<Request, ModelError> {
    let job = a.get("job").and_then(Value::as_str).unwrap_or("");
    let name = match job {
        "continue" => "host.studio.continue",
        "generate" => "host.studio.generate",
        "interpolate" => "host.studio.interpolate",
        "drums" => "host.studio.drums",
        "drumify" => "host.studio.drumify",
        "groove" => "host.studio.groove",
        _ => return Err(ModelError::bad_input(format!("host.studio: unknown job {job:?}"))),
    };
    let job = match job {
        "continue" => StudioJob::Continue {
            primer: sequence(a.get("seq").unwrap_or(&Value::Null), name)?,
            steps: count(a, "steps", name, MAX_STEPS)?,
        },
        "drums" => StudioJob::Drums {
            primer: sequence(a.get("seq").unwrap_or(&Value::Null), name)?,
            steps: count(a, "steps", name, MAX_STEPS)?,
        },
        "drumify" | "groove" => {
            let input = sequence(a.get("seq").unwrap_or(&Value::Null), name)?;
            let qpm = match a.get("qpm").and_then(Value::as_f64) {
                Some(q) if q.is_finite() && q > 0.0 => q,
                _ => {
                    return Err(ModelError::bad_input(format!(
                        "{name}: qpm must be a positive number"
                    )))
                }
            };
            if job == "drumify" {
                StudioJob::Drumify { input, qpm }
            } else {
                StudioJob::Groove { input, qpm }
            }
        }
        "generate" => StudioJob::Generate,
        _ => match sequences(a, name)?.as_slice() {
            [from, to] => StudioJob::Interpolate { a: from.clone(), b: to.clone() },
            _ => return Err(ModelError::bad_input(format!("{name}: needs two NoteSequences"))),
        },
    };
    let scale = match a.get("key") {
        None | Some(Value::Null) => ScaleChoice::Host,
        Some(Value::String(k)) if k == "host" => ScaleChoice::Host,
        Some(Value::String(k)) if k == "off" => ScaleChoice::Off,
        Some(Value::String(k)) => {
            ScaleChoice::Key(Scale::parse(k).map_err(|e| e.context(format_args!("{name}")))?)
        }
        Some(v) => {
            return Err(ModelError::bad_input(format!("{name}: key must be a string, got {v}")))
        }
    };
    let seed = match a.get("seed") {
        None | Some(Value::Null) => None,
        Some(_) => Some(integer(a, "seed").ok_or_else(|| {
            ModelError::bad_input(format!("{name}: seed must be a non-negative integer"))
        })?),
    };
    Ok(Request::Studio {
        model: id(a, "model", name)?,
        job,
        variations: count(a, "variations", name, MAX_VARIATIONS)?,
        temperature: temperature(a, name)?,
        scale,
        seed,
    })
}

/// A string field.
fn string(a: &Value, key: &str, name: &str) -> Result<String, ModelError> {
    match a.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(ModelError::bad_input(format!("{name}: needs a checkpoint URL or folder path"))),
    }
}

/// A non-negative integer field (JS numbers may arrive as floats).
fn integer(a: &Value, key: &str) -> Option<u64> {
    let v = a.get(key)?;
    v.as_u64().or_else(|| {
        v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9e15).map(|f| f as u64)
    })
}

/// A model id field.
fn id(a: &Value, key: &str, name: &str) -> Result<u64, ModelError> {
    integer(a, key).ok_or_else(|| {
        ModelError::new(
            ModelErrorKind::NoSuchModel,
            format!("{name}: the model is not initialized"),
        )
    })
}

/// A count in 1..=max.
fn count(a: &Value, key: &str, name: &str, max: usize) -> Result<usize, ModelError> {
    match integer(a, key) {
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        _ => Err(ModelError::bad_input(format!(
            "{name}: {key} must be an integer 1..{max}, got {}",
            a.get(key).unwrap_or(&Value::Null)
        ))),
    }
}

/// The optional temperature: null/absent means "use the host's temperature".
fn temperature(a: &Value, name: &str) -> Result<Option<f32>, ModelError> {
    match a.get("temperature") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(t as f32)),
            _ => Err(ModelError::bad_input(format!(
                "{name}: temperature must be a number >= 0, got {v}"
            ))),
        },
    }
}

/// One NoteSequence.
fn sequence(v: &Value, name: &str) -> Result<NoteSequence, ModelError> {
    if !v.get("notes").is_some_and(Value::is_array) {
        return Err(ModelError::bad_input(format!(
            "{name}: expected a NoteSequence ({{notes: [...]}})"
        )));
    }
    serde_json::from_value(v.clone())
        .map_err(|e| ModelError::bad_input(format!("{name}: invalid NoteSequence: {e}")))
}

/// The `chords` field: a non-empty list of chord symbols.
fn chord_list(a: &Value, name: &str) -> Result<Vec<String>, ModelError> {
    let bad = || {
        ModelError::bad_input(format!(
            "{name}: chordProgression must be a non-empty array of chord symbols such as [\"C\", \"G7\"]"
        ))
    };
    match a.get("chords") {
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_CHORDS => {
            list.iter().map(|c| c.as_str().map(str::to_string).ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

/// The `seqs` field: a list of NoteSequences.
fn sequences(a: &Value, name: &str) -> Result<Vec<NoteSequence>, ModelError> {
    match a.get("seqs") {
        Some(Value::Array(list)) if !list.is_empty() => {
            list.iter().map(|s| sequence(s, name)).collect()
        }
        _ => Err(ModelError::bad_input(format!(
            "{name}: expected a non-empty array of NoteSequences"
        ))),
    }
}

/// The `z` field: rows of latent values.
fn latents(a: &Value, name: &str) -> Result<Vec<Vec<f32>>, ModelError> {
    let rows = match a.get("z") {
        Some(Value::Array(rows)) if !rows.is_empty() => rows,
        _ => {
            return Err(ModelError::bad_input(format!(
                "{name}: z must be a tensor or array of latent vectors"
            )))
        }
    };
    rows.iter()
        .map(|r| match r {
            Value::Array(vals) => vals
                .iter()
                .map(|v| v.as_f64().filter(|f| f.is_finite()).map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| {
                    ModelError::bad_input(format!(
                        "{name}: z holds a value that is not a finite number"
                    ))
                }),
            _ => {
                Err(ModelError::bad_input(format!("{name}: z must be 2-D (one row per sequence)")))
            }
        })
        .collect()
}

/// Converts a worker response to the JS value the layer expects.
pub(crate) fn response_to_js(resp: Response, ctx: &mut Context) -> JsResult<JsValue> {
    let value = match resp {
        Response::Loaded { model, kind, z_dims, description } => {
            json!({ "model": model, "kind": format!("{kind:?}"), "zDims": z_dims, "description": description })
        }
        Response::Sequences(seqs) => serde_json::to_value(seqs)
            .map_err(|e| JsNativeError::error().with_message(format!("model output: {e}")))?,
        Response::Z(z) => {
            let rows: Vec<Value> =
                z.into_iter().map(|r| r.into_iter().map(|v| json!(v)).collect()).collect();
            Value::Array(rows)
        }
        Response::MidiMe { model } => json!({ "model": model }),
        Response::Unloaded => Value::Null,
    };
    JsValue::from_json(&value, ctx)
}

/// `quantize(ns, stepsPerQuarter)`: `core.sequences.quantizeNoteSequence`.
fn quantize(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = "quantizeNoteSequence";
    let json = arg(args, 0).to_json(ctx)?.unwrap_or(Value::Null);
    let ns = sequence(&json, name).map_err(|e| JsNativeError::typ().with_message(e.to_string()))?;
    let spq = arg(args, 1).to_number(ctx)?;
    if !((1.0..=1024.0).contains(&spq) && spq.fract() == 0.0) {
        return Err(JsNativeError::range()
            .with_message(format!("{name}: stepsPerQuarter must be an integer 1..1024, got {spq}"))
            .into());
    }
    let q = quantize_note_sequence(&ns, spq as u32)
        .map_err(|e| JsNativeError::error().with_message(e.to_string()))?;
    let v = serde_json::to_value(q)
        .map_err(|e| JsNativeError::error().with_message(format!("{name}: {e}")))?;
    JsValue::from_json(&v, ctx)
}

/// `studioKeep(seq, name)`: `host.studio.keep` (see
/// [`crate::control::studio::keep_in_session`]); returns the name kept under.
fn studio_keep(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let what = "host.studio.keep";
    let json = arg(args, 0).to_json(ctx)?.unwrap_or(Value::Null);
    let seq =
        sequence(&json, what).map_err(|e| JsNativeError::typ().with_message(e.to_string()))?;
    let name = match arg(args, 1) {
        v if v.is_null_or_undefined() => None,
        v if v.is_string() => Some(v.to_string(ctx)?.to_std_string_escaped()),
        _ => {
            return Err(JsNativeError::typ()
                .with_message(format!("{what}: the name must be a string"))
                .into())
        }
    };
    let sh = api_state(ctx);
    let kept = (sh.borrow_mut().keep_sink)(name, seq);
    match kept {
        Ok(name) => Ok(boa_engine::JsString::from(name.as_str()).into()),
        Err(e) => Err(JsNativeError::error().with_message(format!("{what}: {e}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_requests_from_js_arguments() {
        let seq = json!({"notes": [{"pitch": 60, "quantizedStartStep": 0, "quantizedEndStep": 2}],
                         "quantizationInfo": {"stepsPerQuarter": 4}, "totalQuantizedSteps": 4});
        match build_request(
            "RnnContinue",
            &json!({"model": 3.0, "seq": seq, "steps": 12, "temperature": null, "count": 1}),
        ) {
            Ok(Request::RnnContinue { model: 3, steps: 12, temperature: None, count: 1, seq }) => {
                assert_eq!(seq.notes[0].pitch, 60)
            }
            other => panic!("unexpected {other:?}"),
        }
        match build_request(
            "VaeDecode",
            &json!({"model": 1, "z": [[0.5, -1.0]], "temperature": 0.5}),
        ) {
            Ok(Request::VaeDecode { z, temperature: Some(t), .. }) => {
                assert_eq!(z, vec![vec![0.5, -1.0]]);
                assert!((t - 0.5).abs() < 1e-6);
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = build_request("RnnContinue", &json!({"seq": seq, "steps": 12, "count": 1}))
            .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NoSuchModel, "{e}");
        let e = build_request(
            "RnnContinue",
            &json!({"model": 1, "seq": {"x": 1}, "steps": 12, "count": 1}),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("NoteSequence"), "{e}");
        match build_request(
            "RnnContinueChords",
            &json!({"model": 2, "seq": seq, "steps": 8, "count": 1, "chords": ["C", "G7"]}),
        ) {
            Ok(Request::RnnContinueChords { model: 2, chords, .. }) => {
                assert_eq!(chords, vec!["C".to_string(), "G7".to_string()])
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = build_request(
            "RnnContinueChords",
            &json!({"model": 2, "seq": seq, "steps": 8, "count": 1, "chords": ["C", 7]}),
        )
        .unwrap_err();
        assert!(e.message().contains("chordProgression"), "{e}");
        let e = build_request("VaeSample", &json!({"model": 1, "n": 0})).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("n must be"), "{e}");
        let e = build_request("VaeDecode", &json!({"model": 1, "z": [[1.0]], "temperature": -1}))
            .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("temperature"), "{e}");
    }
}
