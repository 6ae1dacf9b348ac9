//! The natives behind `tf.sequential`, `tf.layers.*`, `model.compile/fit/predict/...`
//! (the JS side is the Layers part of `tf.js`). Models live in Rust
//! ([`crate::ml::layers`]), by id; `fit` runs on the training thread
//! ([`crate::ml::layers::trainer`]) and its events come back through the runtime's pump,
//! which calls the JS layer's handler between batches and settles the Promise.

use std::sync::Arc;

use boa_engine::object::builtins::{
    AlignedVec, JsArray, JsArrayBuffer, JsFloat32Array, JsFunction,
};
use boa_engine::{js_string, Context, JsNativeError, JsResult, JsString, JsValue};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{arg, numbers, Native};
use crate::js::runtime::{api_state, PendingFit, Runtime};
use crate::ml::layers::fit::{evaluate, FitOptions, Logs};
use crate::ml::layers::model::{Compiled, DenseConfig, Sequential};
use crate::ml::layers::trainer::{Job, ModelRef, Report};
use crate::ml::layers::FitEvent;
use crate::ml::layers::{Activation, Initializer, LayersError, Loss, Matrix, Metric, Optimizer};
use crate::ml::layers::{Layer, EPSILON};

/// Natives used by the Layers part of `tf.js`.
pub(crate) const NATIVES: &[Native] = &[
    ("layersNew", layers_new, 1),
    ("layersAdd", layers_add, 2),
    ("layersCompile", layers_compile, 2),
    ("layersPredict", layers_predict, 4),
    ("layersEvaluate", layers_evaluate, 3),
    ("layersFit", layers_fit, 6),
    ("layersInfo", layers_info, 1),
    ("layersSummary", layers_summary, 1),
    ("layersGetWeights", layers_get_weights, 1),
    ("layersSetWeights", layers_set_weights, 2),
    ("layersStop", layers_stop, 1),
    ("layersDispose", layers_dispose, 1),
    ("layersToJSON", layers_to_json, 1),
    ("layersFromJSON", layers_from_json, 1),
    ("layersStore", layers_store, 2),
    ("layersLoad", layers_load, 1),
];

/// Most models a script may hold at once.
pub const MAX_MODELS: usize = 1024;
/// Most epochs one `fit` may ask for.
pub const MAX_EPOCHS: usize = 1_000_000;

fn err(e: impl std::fmt::Display) -> boa_engine::JsError {
    JsNativeError::error().with_message(e.to_string()).into()
}

fn typ(e: impl std::fmt::Display) -> boa_engine::JsError {
    JsNativeError::typ().with_message(e.to_string()).into()
}

/// The model of id `args[0]`.
fn model(args: &[JsValue], ctx: &mut Context) -> JsResult<ModelRef> {
    let id = arg(args, 0).to_number(ctx)?;
    let sh = api_state(ctx);
    let sh = sh.borrow();
    sh.layers
        .get(&(id as u64))
        .cloned()
        .ok_or_else(|| err("the model was disposed (or never built)"))
}

/// Reads a tensor's values: a Float32Array directly from its buffer, anything
/// array-like element by element.
pub(crate) fn f32s(value: &JsValue, ctx: &mut Context) -> JsResult<Vec<f32>> {
    if let Some(obj) = value.as_object() {
        if let Ok(ta) = JsFloat32Array::from_object(obj.clone()) {
            let len = ta.length(ctx)?;
            let offset = ta.byte_offset(ctx)?;
            if let Some(buf) = ta.buffer(ctx)?.as_object() {
                if let Ok(buf) = JsArrayBuffer::from_object(buf.clone()) {
                    if let Some(bytes) = buf.data() {
                        let end = offset + len * 4;
                        if end <= bytes.len() {
                            return Ok(bytes[offset..end]
                                .chunks_exact(4)
                                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                                .collect());
                        }
                    }
                }
            }
        }
    }
    Ok(numbers(value, usize::MAX, ctx)?.into_iter().map(|v| v as f32).collect())
}

/// A new Float32Array of `values`.
pub(crate) fn float32_array(values: Vec<f32>, ctx: &mut Context) -> JsResult<JsValue> {
    let bytes = AlignedVec::from_iter(0, values.iter().flat_map(|v| v.to_le_bytes()));
    let buf = JsArrayBuffer::from_byte_block(bytes, ctx)?;
    Ok(JsFloat32Array::from_array_buffer(buf, ctx)?.into())
}

/// A matrix from `(values, rows, cols)` at `args[i..i + 3]`.
fn matrix(args: &[JsValue], i: usize, what: &str, ctx: &mut Context) -> JsResult<Matrix> {
    let data = f32s(&arg(args, i), ctx)?;
    let rows = arg(args, i + 1).to_number(ctx)?;
    let cols = arg(args, i + 2).to_number(ctx)?;
    if !(rows >= 0.0 && cols >= 0.0 && rows.fract() == 0.0 && cols.fract() == 0.0) {
        return Err(typ(format!("{what}: expected a 2-D tensor")));
    }
    Matrix::new(rows as usize, cols as usize, data).map_err(|e| err(format!("{what}: {e}")))
}

fn json_arg(args: &[JsValue], i: usize, ctx: &mut Context) -> JsResult<Value> {
    Ok(arg(args, i).to_json(ctx)?.unwrap_or(Value::Null))
}

/// `layersNew(seed?)` → model id.
fn layers_new(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let seed = arg(args, 0);
    let seed = if seed.is_number() { Some(seed.to_number(ctx)? as u64) } else { None };
    insert_model(Sequential::new(seed), ctx)
}

fn insert_model(m: Sequential, ctx: &mut Context) -> JsResult<JsValue> {
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    if sh.layers.len() >= MAX_MODELS {
        return Err(err(format!(
            "tf.sequential: more than {MAX_MODELS} models alive (dispose the ones you no longer use)"
        )));
    }
    sh.next_layers_id += 1;
    let id = sh.next_layers_id;
    sh.layers.insert(id, Arc::new(Mutex::new(m)));
    Ok(JsValue::from(id as f64))
}

/// A positive integer field.
fn positive(v: &Value, key: &str, layer: &str) -> Result<Option<usize>, LayersError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => match x.as_f64() {
            Some(f) if f >= 1.0 && f.fract() == 0.0 && f < 1e12 => Ok(Some(f as usize)),
            _ => Err(LayersError::new(format!(
                "layer {layer}: {key} must be a positive integer, got {x}"
            ))),
        },
    }
}

/// An initializer: a name, or `{className, config}` / an object from `tf.initializers.*`.
fn initializer(v: Option<&Value>, default: &str, layer: &str) -> Result<Initializer, LayersError> {
    let named = |name: &str| {
        Initializer::parse(name).map_err(|e| LayersError::new(format!("layer {layer}: {e}")))
    };
    let Some(v) = v.filter(|v| !v.is_null()) else { return named(default) };
    if let Some(s) = v.as_str() {
        return named(s);
    }
    let name = v.get("className").and_then(Value::as_str).unwrap_or("");
    let c = v.get("config").cloned().unwrap_or(Value::Null);
    let f = |k: &str, d: f64| c.get(k).and_then(Value::as_f64).unwrap_or(d) as f32;
    Ok(match named(name)? {
        Initializer::Constant(_) => Initializer::Constant(f("value", 0.0)),
        Initializer::RandomNormal { .. } => {
            Initializer::RandomNormal { mean: f("mean", 0.0), stddev: f("stddev", 0.05) }
        }
        Initializer::TruncatedNormal { .. } => {
            Initializer::TruncatedNormal { mean: f("mean", 0.0), stddev: f("stddev", 0.05) }
        }
        Initializer::RandomUniform { .. } => {
            Initializer::RandomUniform { min: f("minval", -0.05), max: f("maxval", 0.05) }
        }
        other => other,
    })
}

/// `layersAdd(id, config)`: config from `tf.layers.dense/dropout` (with `kind`, `name`).
fn layers_add(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let c = json_arg(args, 1, ctx)?;
    add_layer(&mut m.lock(), &c).map_err(err)?;
    Ok(JsValue::undefined())
}

fn add_layer(m: &mut Sequential, c: &Value) -> Result<(), LayersError> {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("layer").to_string();
    let input_dim = match c.get("inputShape").or_else(|| c.get("batchInputShape")) {
        Some(Value::Array(dims)) => {
            let dims: Vec<&Value> = if c.get("inputShape").is_some() {
                dims.iter().collect()
            } else {
                dims.iter().skip(1).collect()
            };
            match dims.as_slice() {
                [d] => match d.as_f64() {
                    Some(f) if f >= 1.0 && f.fract() == 0.0 => Some(f as usize),
                    _ => {
                        return Err(LayersError::new(format!(
                            "layer {name}: inputShape must hold a positive integer, got {d}"
                        )))
                    }
                },
                _ => {
                    return Err(LayersError::new(format!(
                        "layer {name}: only 1-D inputShape ([n]) is supported, got {}",
                        Value::Array(dims.into_iter().cloned().collect())
                    )))
                }
            }
        }
        Some(Value::Null) | None => positive(c, "inputDim", &name)?,
        Some(other) => {
            return Err(LayersError::new(format!(
                "layer {name}: inputShape must be an array like [2], got {other}"
            )))
        }
    };
    match c.get("kind").and_then(Value::as_str) {
        Some("dense") => {
            let units = positive(c, "units", &name)?.ok_or_else(|| {
                LayersError::new(format!("layer {name}: dense needs `units` (a positive integer)"))
            })?;
            let activation = match c.get("activation") {
                None | Some(Value::Null) => Activation::Linear,
                Some(Value::String(s)) => Activation::parse(s)
                    .map_err(|e| LayersError::new(format!("layer {name}: {e}")))?,
                Some(other) => {
                    return Err(LayersError::new(format!(
                        "layer {name}: activation must be a name like 'relu', got {other}"
                    )))
                }
            };
            m.add_dense(DenseConfig {
                units,
                input_dim,
                activation,
                use_bias: c.get("useBias").and_then(Value::as_bool).unwrap_or(true),
                kernel_initializer: initializer(
                    c.get("kernelInitializer"),
                    "glorotUniform",
                    &name,
                )?,
                bias_initializer: initializer(c.get("biasInitializer"), "zeros", &name)?,
                seed: c.get("seed").and_then(Value::as_f64).map(|s| s as u64),
                name,
            })
        }
        Some("dropout") => {
            let rate = c.get("rate").and_then(Value::as_f64).ok_or_else(|| {
                LayersError::new(format!("layer {name}: dropout needs `rate` (a number in [0, 1))"))
            })?;
            m.add_dropout(name, rate, input_dim)
        }
        other => Err(LayersError::new(format!("model.add: unsupported layer kind {other:?}"))),
    }
}

/// An optimizer from the JS layer: a name, or `{name, learningRate, ...}` made by
/// `tf.train.*`.
fn optimizer(v: &Value) -> Result<Optimizer, LayersError> {
    if let Some(s) = v.as_str() {
        return Optimizer::by_name(s);
    }
    let name = v.get("name").and_then(Value::as_str).ok_or_else(|| {
        LayersError::new(format!(
            "compile: optimizer must be a name ('adam', 'sgd', ...) or tf.train.*(), got {v}"
        ))
    })?;
    let num = |k: &str| v.get(k).and_then(Value::as_f64).map(|f| f as f32);
    let lr = |d: f32| -> Result<f32, LayersError> {
        match num("learningRate") {
            None => Ok(d),
            Some(l) if l.is_finite() && l >= 0.0 => Ok(l),
            Some(l) => Err(LayersError::new(format!(
                "tf.train.{name}: learningRate must be a number >= 0, got {l}"
            ))),
        }
    };
    Ok(match name {
        "sgd" => {
            num("learningRate").ok_or_else(|| {
                LayersError::new("tf.train.sgd: needs a learningRate (e.g. tf.train.sgd(0.1))")
            })?;
            Optimizer::sgd(lr(0.0)?)
        }
        "adam" => Optimizer::adam(
            lr(0.001)?,
            num("beta1").unwrap_or(0.9),
            num("beta2").unwrap_or(0.999),
            num("epsilon").unwrap_or(EPSILON),
        ),
        "rmsprop" => Optimizer::rmsprop(
            num("learningRate").ok_or_else(|| {
                LayersError::new("tf.train.rmsprop: needs a learningRate (e.g. 0.001)")
            })?,
            num("decay").unwrap_or(0.9),
            num("momentum").unwrap_or(0.0),
            num("epsilon").unwrap_or(EPSILON),
            v.get("centered").and_then(Value::as_bool).unwrap_or(false),
        ),
        "adagrad" => Optimizer::adagrad(
            num("learningRate").ok_or_else(|| {
                LayersError::new("tf.train.adagrad: needs a learningRate (e.g. 0.01)")
            })?,
            num("initialAccumulatorValue").unwrap_or(0.1),
        ),
        other => return Optimizer::by_name(other),
    })
}

/// `layersCompile(id, {loss, optimizer, metrics})`.
fn layers_compile(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let c = json_arg(args, 1, ctx)?;
    let mut m = m.lock();
    let loss = match c.get("loss") {
        Some(Value::String(s)) => Loss::parse(s).map_err(|e| err(format!("compile: {e}")))?,
        Some(Value::Array(list)) if list.len() == 1 && list[0].is_string() => {
            Loss::parse(list[0].as_str().unwrap_or("")).map_err(|e| err(format!("compile: {e}")))?
        }
        _ => return Err(err("compile: needs a loss, e.g. {loss: 'meanSquaredError'}")),
    };
    let optimizer = optimizer(c.get("optimizer").unwrap_or(&Value::Null))
        .map_err(|e| err(format!("compile: {e}")))?;
    let out = m.output_dim().unwrap_or(0);
    let metrics = match c.get("metrics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![Metric::parse(s, loss, out).map_err(err)?],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| Metric::parse(v.as_str().unwrap_or("?"), loss, out))
            .collect::<Result<_, _>>()
            .map_err(err)?,
        Some(other) => {
            return Err(err(format!("compile: metrics must be ['accuracy'], got {other}")))
        }
    };
    m.compile(Compiled { loss, optimizer, metrics }).map_err(err)?;
    Ok(JsValue::undefined())
}

/// `layersPredict(id, values, rows, cols)` → Float32Array of `rows × outputDim`.
fn layers_predict(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let x = matrix(args, 1, "predict", ctx)?;
    let out = m.lock().predict(&x).map_err(err)?;
    float32_array(out.data, ctx)
}

/// `layersEvaluate(id, [x, rows, cols], [y, rows, cols], batchSize)` → {loss, acc}.
fn layers_evaluate(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let x = matrix(args, 1, "evaluate", ctx)?;
    let y = matrix(args, 4, "evaluate", ctx)?;
    let bs = arg(args, 7).to_number(ctx)?;
    let bs = if bs >= 1.0 { bs as usize } else { 32 };
    let logs = evaluate(&m.lock(), &x, &y, bs).map_err(err)?;
    JsValue::from_json(&logs_json(&logs), ctx)
}

/// Logs as the callbacks receive them (absent values left out).
pub(crate) fn logs_json(l: &Logs) -> Value {
    let mut o = serde_json::Map::new();
    for (k, v) in
        [("loss", l.loss), ("acc", l.acc), ("val_loss", l.val_loss), ("val_acc", l.val_acc)]
    {
        if let Some(v) = v {
            o.insert(k.into(), json!(v as f64));
        }
    }
    Value::Object(o)
}

/// `layersFit(id, [x, rows, cols], [y, rows, cols], options, handler, resolve, reject)`:
/// queues the job on the training thread and returns at once. `handler(kind, index,
/// logs)` is called for each event; `resolve(epochs, logs[])` or `reject(error)` at the
/// end.
fn layers_fit(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let x = matrix(args, 1, "fit", ctx)?;
    let y = matrix(args, 4, "fit", ctx)?;
    let o = json_arg(args, 7, ctx)?;
    let func = |i: usize| -> JsResult<JsFunction> {
        arg(args, i)
            .as_object()
            .and_then(|o| JsFunction::from_object(o.clone()))
            .ok_or_else(|| typ("fit: internal error (missing handler)"))
    };
    let (handler, resolve, reject) = (func(8)?, func(9)?, func(10)?);
    let int = |k: &str, d: usize, max: usize| -> JsResult<usize> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => match v.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= max as f64 => Ok(f as usize),
                _ => Err(err(format!("fit: {k} must be an integer 0..{max}, got {v}"))),
            },
        }
    };
    let epochs = int("epochs", 1, MAX_EPOCHS)?;
    let batch_size = int("batchSize", 32, 1 << 30)?;
    if batch_size == 0 {
        return Err(err("fit: batchSize must be a positive integer, got 0"));
    }
    let validation_split = match o.get("validationSplit") {
        None | Some(Value::Null) => 0.0,
        Some(v) => match v.as_f64() {
            Some(f) if (0.0..1.0).contains(&f) => f,
            _ => {
                return Err(err(format!(
                    "fit: validationSplit must be a number in [0, 1), got {v}"
                )))
            }
        },
    };
    let validation_data = match o.get("validationData") {
        Some(Value::Array(v)) if v.len() == 2 => {
            let part = |v: &Value| -> JsResult<Matrix> {
                let rows = v.get("rows").and_then(Value::as_u64).unwrap_or(0) as usize;
                let cols = v.get("cols").and_then(Value::as_u64).unwrap_or(0) as usize;
                let data: Vec<f32> = v
                    .get("data")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect())
                    .unwrap_or_default();
                Matrix::new(rows, cols, data).map_err(|e| err(format!("fit: validationData: {e}")))
            };
            Some((part(&v[0])?, part(&v[1])?))
        }
        _ => None,
    };
    let opts = FitOptions {
        epochs,
        batch_size,
        shuffle: o.get("shuffle").and_then(Value::as_bool).unwrap_or(true),
        validation_split,
        validation_data,
        initial_epoch: int("initialEpoch", 0, MAX_EPOCHS)?,
        seed: o.get("seed").and_then(Value::as_f64).map(|s| s as u64),
    };
    let batch_events = o.get("batchEvents").and_then(Value::as_bool).unwrap_or(true);
    crate::ml::layers::fit::begin_fit(&mut m.lock(), &x, &y).map_err(err)?;
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    let block = sh.current_block;
    sh.next_fit_id += 1;
    let id = sh.next_fit_id;
    let trainer = sh.trainer();
    trainer.submit(Job { id, model: m, x, y, opts, batch_events }).map_err(err)?;
    sh.pending_fits.insert(id, PendingFit { handler, resolve, reject, block });
    Ok(JsValue::undefined())
}

/// `layersInfo(id)` → {inputDim, outputDim, params, compiled, training, layers: [...]}.
fn layers_info(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let v = info_json(&m.lock());
    JsValue::from_json(&v, ctx)
}

fn info_json(m: &Sequential) -> Value {
    let layers: Vec<Value> = m
        .layers
        .iter()
        .map(|l| match l {
            Layer::Dense(d) => json!({"name": d.name, "className": "Dense", "units": d.units,
                "inputDim": d.input_dim, "activation": d.activation.name(), "useBias": d.use_bias}),
            Layer::Dropout(d) => json!({"name": d.name, "className": "Dropout", "rate": d.rate,
                "units": d.dim, "inputDim": d.dim}),
        })
        .collect();
    json!({
        "inputDim": m.input_dim(),
        "outputDim": m.output_dim(),
        "params": m.count_params(),
        "compiled": m.compiled.as_ref().map(|c| json!({"loss": c.loss.name()})),
        "training": m.training,
        "layers": layers,
    })
}

/// `layersSummary(id)` → tfjs's summary table.
fn layers_summary(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let s = m.lock().summary();
    Ok(JsString::from(s.as_str()).into())
}

/// `layersGetWeights(id)` → [[Float32Array, shape], ...].
fn layers_get_weights(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let weights: Vec<(Vec<usize>, Vec<f32>)> =
        m.lock().weights().into_iter().map(|(s, w)| (s, w.to_vec())).collect();
    let arr = JsArray::new(ctx)?;
    for (shape, data) in weights {
        let pair = JsArray::new(ctx)?;
        pair.push(float32_array(data, ctx)?, ctx)?;
        pair.push(JsValue::from_json(&json!(shape), ctx)?, ctx)?;
        arr.push(pair, ctx)?;
    }
    Ok(arr.into())
}

/// `layersSetWeights(id, [values...])`.
fn layers_set_weights(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let list = arg(args, 1);
    let Some(obj) = list.as_object() else {
        return Err(typ("setWeights: expected an array of tensors"));
    };
    let n = obj.get(js_string!("length"), ctx)?.to_length(ctx)? as usize;
    let mut values = Vec::with_capacity(n.min(1024));
    for i in 0..n.min(100_000) {
        let v = obj.get(i, ctx)?;
        values.push(f32s(&v, ctx)?);
    }
    m.lock().set_weights(&values).map_err(err)?;
    Ok(JsValue::undefined())
}

/// `layersStop(id)`: `model.stopTraining = true`.
fn layers_stop(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let mut m = m.lock();
    if m.training {
        m.stop_requested = true;
    }
    Ok(JsValue::undefined())
}

/// `layersDispose(id)`.
fn layers_dispose(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let id = arg(args, 0).to_number(ctx)? as u64;
    api_state(ctx).borrow_mut().layers.remove(&id);
    Ok(JsValue::undefined())
}

/// The saved form of a model (`model.save`): its layers and weights, as JSON.
pub fn model_to_json(m: &Sequential) -> Value {
    let info = info_json(m);
    let weights: Vec<Value> = m.weights().into_iter().map(|(_, w)| json!(w)).collect();
    json!({"format": "sema-live-layers", "version": 1, "layers": info["layers"], "weights": weights})
}

/// A model from [`model_to_json`]'s form (not compiled, as `tf.loadLayersModel` gives it).
pub fn model_from_json(v: &Value) -> Result<Sequential, LayersError> {
    let bad = |what: &str| LayersError::new(format!("tf.loadLayersModel: {what}"));
    if v.get("format").and_then(Value::as_str) != Some("sema-live-layers") {
        return Err(bad("not a model saved by model.save"));
    }
    let mut m = Sequential::new(None);
    let layers = v.get("layers").and_then(Value::as_array).ok_or_else(|| bad("no layers"))?;
    for (i, l) in layers.iter().enumerate() {
        let mut c = l.clone();
        let kind = match l.get("className").and_then(Value::as_str) {
            Some("Dense") => "dense",
            Some("Dropout") => "dropout",
            _ => return Err(bad(&format!("layer {i} has an unknown class"))),
        };
        if let Some(o) = c.as_object_mut() {
            o.insert("kind".into(), json!(kind));
            if i > 0 {
                o.remove("inputDim");
            }
            o.insert("kernelInitializer".into(), json!("zeros"));
        }
        add_layer(&mut m, &c)?;
    }
    let weights: Vec<Vec<f32>> = v
        .get("weights")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no weights"))?
        .iter()
        .map(|w| {
            w.as_array()
                .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect())
                .ok_or_else(|| bad("weights must be arrays of numbers"))
        })
        .collect::<Result<_, _>>()?;
    m.set_weights(&weights)?;
    Ok(m)
}

/// `layersToJSON(id)` → the saved form as a JSON string.
fn layers_to_json(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let m = model(args, ctx)?;
    let v = model_to_json(&m.lock());
    Ok(JsString::from(v.to_string().as_str()).into())
}

/// `layersFromJSON(text)` → a new model id.
fn layers_from_json(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let text = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| err(format!("tf.loadLayersModel: the saved model is not valid JSON: {e}")))?;
    let m = model_from_json(&v).map_err(err)?;
    insert_model(m, ctx)
}

/// Largest saved model text (a 50 M parameter model as JSON is about this size).
const MAX_SAVED_BYTES: usize = 1 << 30;

/// `layersStore(name, json)`: `model.save('session://name')`.
fn layers_store(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let text = arg(args, 1).to_string(ctx)?.to_std_string_escaped();
    if text.len() > MAX_SAVED_BYTES {
        return Err(err("model.save: the model is too large to save with the project"));
    }
    api_state(ctx).borrow().saved_models.insert(name, text);
    Ok(JsValue::undefined())
}

/// `layersLoad(name)` → the saved JSON text, or null.
fn layers_load(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let text = api_state(ctx).borrow().saved_models.get(&name);
    Ok(text.map(|t| JsString::from(t.as_str()).into()).unwrap_or(JsValue::null()))
}

/// Delivers one report of the training thread: an event to the `fit`'s handler, or the
/// end (resolve with `{epoch, history}`, or reject with the error).
pub(crate) fn deliver_report(rt: &mut Runtime, id: u64, report: Report) {
    let state = rt.api();
    let (handler, resolve, reject, block) = {
        let sh = state.borrow();
        let Some(p) = sh.pending_fits.get(&id) else { return };
        (p.handler.clone(), p.resolve.clone(), p.reject.clone(), p.block)
    };
    match report {
        Report::Event(e) => {
            let with = |logs: &Logs, extra: Value| {
                let mut v = logs_json(logs);
                if let (Some(o), Value::Object(x)) = (v.as_object_mut(), extra) {
                    o.extend(x);
                }
                v
            };
            let (kind, index, logs) = match e {
                FitEvent::TrainBegin => ("trainBegin", 0, json!({})),
                FitEvent::EpochBegin { epoch } => ("epochBegin", epoch, json!({})),
                FitEvent::BatchBegin { batch, size } => {
                    ("batchBegin", batch, json!({"batch": batch, "size": size}))
                }
                FitEvent::BatchEnd { batch, size, logs } => {
                    ("batchEnd", batch, with(&logs, json!({"batch": batch, "size": size})))
                }
                FitEvent::EpochEnd { epoch, logs } => ("epochEnd", epoch, logs_json(&logs)),
                FitEvent::TrainEnd => ("trainEnd", 0, json!({})),
            };
            let Ok(logs) = JsValue::from_json(&logs, rt.context()) else { return };
            let args = [JsString::from(kind).into(), JsValue::from(index as f64), logs];
            rt.call_back(&handler, &args, block, "Uncaught in a fit callback:");
        }
        Report::Done(result) => {
            state.borrow_mut().pending_fits.remove(&id);
            match result {
                Ok(h) => {
                    let mut hist = serde_json::Map::new();
                    for key in ["loss", "acc", "val_loss", "val_acc"] {
                        let values: Vec<Value> =
                            h.logs.iter().filter_map(|l| logs_json(l).get(key).cloned()).collect();
                        if !values.is_empty() {
                            hist.insert(key.into(), Value::Array(values));
                        }
                    }
                    let v = json!({"epoch": h.epochs, "history": hist});
                    let Ok(v) = JsValue::from_json(&v, rt.context()) else { return };
                    rt.call_back(&resolve, &[v], block, "Uncaught");
                }
                Err(e) => {
                    let e = JsNativeError::error()
                        .with_message(e.to_string())
                        .into_opaque(rt.context());
                    rt.call_back(&reject, &[e.into()], block, "Uncaught");
                }
            }
        }
    }
}
