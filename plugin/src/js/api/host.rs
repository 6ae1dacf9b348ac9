//! `host`: the plugin's parameters and the host transport, read live from
//! [`HostView`](crate::js::HostView) atomics; `host.onBar(callback)`, called on the JS
//! thread shortly after each new bar starts while the host plays; and what the musician
//! plays into the plugin: `host.onNote`/`host.onCC` callbacks, `host.phrase(bars)` (the
//! [phrase recorder](crate::js::phrase)), `host.play(seq, options)`/`host.stopClip()`
//! (clips the engine plays from a bar) and `host.callAndResponse(options)`
//! ([timing](crate::js::call_response), driven by the runtime's pump).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use boa_engine::object::builtins::JsArray;
use boa_engine::{js_string, Context, JsNativeError, JsObject, JsResult, JsValue};
use serde_json::Value;

use super::{arg, Native};
use crate::audio::midi_in::Clip;
use crate::js::call_response::{CallResponse, Settings};
use crate::js::phrase::{sequence_to_clip, ClipOptions, MAX_BARS};
use crate::js::runtime::{api_state, ApiState, BarCallback, CallResponseSlot};
use crate::ml::core::note_seq::NoteSequence;

/// The JS layer: `host` with live getters.
pub(crate) const PRELUDE: &str = r#"
(function (g, N, M) {
  'use strict';
  function callAndResponse(opts) {
    if (opts === undefined || opts === null || opts === false) return N.crStop();
    if (typeof opts !== 'object') throw new TypeError('host.callAndResponse: expected an options object ({model: rnn, ...}) or null to stop');
    const model = opts.model;
    if (!model || typeof model.continueSequence !== 'function') {
      throw new TypeError('host.callAndResponse: options.model must be a MusicRNN (new music_rnn.MusicRNN(url))');
    }
    if (opts.onAnswer !== undefined && typeof opts.onAnswer !== 'function') {
      throw new TypeError('host.callAndResponse: options.onAnswer must be a function');
    }
    const temperature = opts.temperature;
    const generate = (seq, steps, id) => model.continueSequence(seq, steps, temperature).then(
      s => N.crResult(id, s),
      e => N.crFailed(id, String(e && e.message ? e.message : e)));
    const range = Array.isArray(opts.range) ? opts.range : [48, 83];
    N.callAndResponse({
      bars: opts.bars, silence: opts.silence, answerBars: opts.answerBars,
      lookahead: opts.lookahead, channel: opts.channel, velocity: opts.velocity,
      min: range[0], max: range[1],
    }, generate, opts.onAnswer);
  }
  g.host = Object.freeze({
    get temperature() { return N.hostGet('temperature'); },
    get macros() { return N.hostMacros(); },
    get bpm() { return N.hostGet('bpm'); },
    get playing() { return N.hostGet('playing'); },
    get bar() { return N.hostGet('bar'); },
    get beatsPerBar() { return N.hostGet('beatsPerBar'); },
    onBar: cb => N.onBar(cb),
    offBar: id => N.offBar(id),
    onNote: cb => N.onListen(cb, 'note'),
    offNote: id => N.offListen(id, 'note'),
    onCC: cb => N.onListen(cb, 'cc'),
    offCC: id => N.offListen(id, 'cc'),
    phrase: bars => N.phrase(bars),
    play: (seq, options) => N.play(seq, options),
    stopClip: () => N.stopClip(),
    callAndResponse,
    get key() { return N.hostGet('key'); },
    get studio() { return M.studio; },
  });
})
"#;

/// Natives used by the layer above.
pub(crate) const NATIVES: &[Native] = &[
    ("hostGet", host_get, 1),
    ("hostMacros", host_macros, 0),
    ("onBar", on_bar, 1),
    ("offBar", off_bar, 1),
    ("onListen", on_listen, 2),
    ("offListen", off_listen, 2),
    ("phrase", phrase, 1),
    ("play", play, 2),
    ("stopClip", stop_clip, 0),
    ("callAndResponse", call_and_response, 3),
    ("crStop", cr_stop, 0),
    ("crResult", cr_result, 2),
    ("crFailed", cr_failed, 2),
];

/// `hostGet(name)`: one host value.
fn host_get(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let host = api_state(ctx).borrow().host.clone();
    Ok(match name.as_str() {
        "temperature" => JsValue::from(host.temperature.load(Ordering::Relaxed) as f64),
        "bpm" => JsValue::from(host.bpm.load(Ordering::Relaxed)),
        "playing" => JsValue::from(host.playing.load(Ordering::Relaxed)),
        "bar" => JsValue::from(host.bar.load(Ordering::Relaxed) as f64),
        "beatsPerBar" => JsValue::from(host.beats_per_bar.load(Ordering::Relaxed)),
        "key" => match host.scale() {
            Some(s) => JsValue::from(js_string!(s.label())),
            None => JsValue::null(),
        },
        other => {
            return Err(JsNativeError::typ()
                .with_message(format!("host has no value '{other}'"))
                .into())
        }
    })
}

/// `hostMacros()`: a fresh array of the macro values.
fn host_macros(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let host = api_state(ctx).borrow().host.clone();
    let values = host.macros.iter().map(|m| JsValue::from(m.load(Ordering::Relaxed) as f64));
    Ok(JsArray::from_iter(values, ctx).into())
}

/// `onBar(callback)`: registers a bar callback and returns its id. Evaluating the same
/// block again replaces the callbacks it registered, so live edits do not stack up.
fn on_bar(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let func = arg(args, 0).as_callable().ok_or_else(|| {
        JsNativeError::typ().with_message("host.onBar: the argument must be a function")
    })?;
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    let id = next_id(&mut sh);
    let block = sh.current_block;
    sh.bar_callbacks.push(BarCallback { id, block, func });
    Ok(JsValue::from(id))
}

/// `offBar(id)`: removes a bar callback; `offBar()` removes all of them.
fn off_bar(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let id = arg(args, 0);
    let sh = api_state(ctx);
    if id.is_undefined() {
        sh.borrow_mut().bar_callbacks.clear();
    } else {
        let id = id.to_number(ctx)?;
        sh.borrow_mut().bar_callbacks.retain(|c| c.id as f64 != id);
    }
    Ok(JsValue::undefined())
}

/// A new callback id (shared by bar, note and CC callbacks).
fn next_id(sh: &mut ApiState) -> u32 {
    sh.next_bar_id = sh.next_bar_id.wrapping_add(1).max(1);
    sh.next_bar_id
}

/// The callback list of `kind` ('note' or 'cc').
fn listeners<'a>(sh: &'a mut ApiState, kind: &str) -> &'a mut Vec<BarCallback> {
    if kind == "cc" {
        &mut sh.cc_callbacks
    } else {
        &mut sh.note_callbacks
    }
}

/// `onListen(callback, kind)`: `host.onNote` / `host.onCC`; replaced like `onBar` when
/// their block is evaluated again.
fn on_listen(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let kind = arg(args, 1).to_string(ctx)?.to_std_string_escaped();
    let func = arg(args, 0).as_callable().ok_or_else(|| {
        let name = if kind == "cc" { "onCC" } else { "onNote" };
        JsNativeError::typ().with_message(format!("host.{name}: the argument must be a function"))
    })?;
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    let id = next_id(&mut sh);
    let block = sh.current_block;
    listeners(&mut sh, &kind).push(BarCallback { id, block, func });
    Ok(JsValue::from(id))
}

/// `offListen(id, kind)`: `host.offNote(id)` / `host.offCC(id)`; without an id, all.
fn off_listen(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let id = arg(args, 0);
    let kind = arg(args, 1).to_string(ctx)?.to_std_string_escaped();
    let id = if id.is_undefined() { None } else { Some(id.to_number(ctx)?) };
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    let list = listeners(&mut sh, &kind);
    match id {
        None => list.clear(),
        Some(id) => list.retain(|c| c.id as f64 != id),
    }
    Ok(JsValue::undefined())
}

/// An integer argument in `lo..=hi`, or a RangeError naming it.
fn int_in(v: &JsValue, lo: f64, hi: f64, what: &str, ctx: &mut Context) -> JsResult<i64> {
    let n = v.to_number(ctx)?;
    if n.fract() == 0.0 && n >= lo && n <= hi {
        Ok(n as i64)
    } else {
        Err(JsNativeError::range()
            .with_message(format!("{what} must be an integer {lo}..{hi}, got {}", v.display()))
            .into())
    }
}

/// `phrase(bars)`: the last `bars` complete bars (before the current one), quantised.
fn phrase(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let bars = match arg(args, 0) {
        v if v.is_undefined() => 2,
        v => int_in(&v, 1.0, MAX_BARS, "host.phrase: bars", ctx)?,
    };
    let seq = {
        let sh = api_state(ctx);
        let sh = sh.borrow();
        let host = &sh.host;
        let bar = host.bar.load(Ordering::Relaxed);
        let bpm = host.bpm.load(Ordering::Relaxed);
        let bpb = host.beats_per_bar.load(Ordering::Relaxed);
        let phrase = host.phrases.lock().phrase(bar - bars, bar as f64, bpm, bpb);
        phrase
    };
    sequence_to_js(&seq, ctx)
}

/// A NoteSequence as a JS object with magenta.js's field names.
pub(crate) fn sequence_to_js(seq: &NoteSequence, ctx: &mut Context) -> JsResult<JsValue> {
    let v = serde_json::to_value(seq)
        .map_err(|e| JsNativeError::error().with_message(format!("NoteSequence: {e}")))?;
    JsValue::from_json(&v, ctx)
}

/// A NoteSequence from a JS value, or a TypeError starting with `what`.
fn sequence_from_js(v: &JsValue, what: &str, ctx: &mut Context) -> JsResult<NoteSequence> {
    let json = v.to_json(ctx)?.unwrap_or(Value::Null);
    if !json.get("notes").is_some_and(Value::is_array) {
        return Err(JsNativeError::typ()
            .with_message(format!("{what}: expected a NoteSequence ({{notes: [...]}})"))
            .into());
    }
    serde_json::from_value(whole_numbers(json)).map_err(|e| {
        JsNativeError::typ().with_message(format!("{what}: invalid NoteSequence: {e}")).into()
    })
}

/// `json` with whole floating-point numbers as integers: JS has only doubles, and Boa
/// writes a computed `32` as `32.0`, which the integer fields of a NoteSequence refuse.
fn whole_numbers(json: Value) -> Value {
    match json {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(list) => Value::Array(list.into_iter().map(whole_numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, whole_numbers(v))).collect())
        }
        other => other,
    }
}

/// Sends a clip to the engine; a refusal is a JS error starting with `what`.
fn send_clip(clip: Clip, what: &str, ctx: &mut Context) -> JsResult<()> {
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    (sh.clip_sink)(clip)
        .map_err(|e| JsNativeError::error().with_message(format!("{what}: {e}")).into())
}

/// A property of an options object (undefined when `opts` is not an object).
fn opt(opts: &JsValue, key: &'static str, ctx: &mut Context) -> JsResult<JsValue> {
    match opts.as_object() {
        Some(o) => o.get(js_string!(key), ctx),
        None => Ok(JsValue::undefined()),
    }
}

/// `play(seq, {bar, channel, velocity, loop})`: the sequence as a clip from bar `bar`
/// (default: the next bar).
fn play(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    const WHAT: &str = "host.play";
    let seq = sequence_from_js(&arg(args, 0), WHAT, ctx)?;
    let opts = arg(args, 1);
    if !(opts.is_undefined() || opts.is_null() || opts.is_object()) {
        return Err(JsNativeError::typ()
            .with_message(format!(
                "{WHAT}: the options must be an object ({{bar, channel, velocity, loop}})"
            ))
            .into());
    }
    let host = api_state(ctx).borrow().host.clone();
    let bar = match opt(&opts, "bar", ctx)? {
        v if v.is_undefined() => host.bar.load(Ordering::Relaxed) + 1,
        v => int_in(&v, -1e9, 1e9, "host.play: bar", ctx)?,
    };
    let channel = match opt(&opts, "channel", ctx)? {
        v if v.is_undefined() => 0,
        v => int_in(&v, 0.0, 15.0, "host.play: channel", ctx)? as u8,
    };
    let velocity = match opt(&opts, "velocity", ctx)? {
        v if v.is_undefined() => None,
        v => Some(v.to_number(ctx)? as f32),
    };
    let looping = opt(&opts, "loop", ctx)?.to_boolean();
    let options = ClipOptions {
        start_bar: bar,
        channel,
        velocity,
        looping,
        bpm: host.bpm.load(Ordering::Relaxed),
        beats_per_bar: host.beats_per_bar.load(Ordering::Relaxed),
    };
    let clip = sequence_to_clip(&seq, &options)
        .map_err(|e| JsNativeError::typ().with_message(format!("{WHAT}: {e}")))?;
    send_clip(clip, WHAT, ctx)?;
    Ok(JsValue::undefined())
}

/// `stopClip()`: an empty clip from the current bar, which ends the one playing.
fn stop_clip(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let host = api_state(ctx).borrow().host.clone();
    let clip = Clip {
        start_bar: host.bar.load(Ordering::Relaxed),
        notes: Vec::new(),
        length_beats: host.beats_per_bar.load(Ordering::Relaxed).max(1.0),
        channel: 0,
        looping: false,
    };
    send_clip(clip, "host.stopClip", ctx)?;
    Ok(JsValue::undefined())
}

/// A number option: its default when undefined, else a finite number in `lo..=hi`.
fn number_opt(
    opts: &JsValue,
    key: &'static str,
    default: f64,
    (lo, hi): (f64, f64),
    ctx: &mut Context,
) -> JsResult<f64> {
    let v = opt(opts, key, ctx)?;
    if v.is_undefined() || v.is_null() {
        return Ok(default);
    }
    let n = v.to_number(ctx)?;
    if n.is_finite() && n >= lo && n <= hi {
        Ok(n)
    } else {
        Err(JsNativeError::range()
            .with_message(format!(
                "host.callAndResponse: {key} must be a number {lo}..{hi}, got {}",
                v.display()
            ))
            .into())
    }
}

/// `callAndResponse(settings, generate, onAnswer)`: (re)starts call-and-response (the JS
/// layer has checked the model and built `generate(seq, steps, id)`).
fn call_and_response(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let o = arg(args, 0);
    let generate = arg(args, 1).as_callable().ok_or_else(|| {
        JsNativeError::typ().with_message("host.callAndResponse: internal: no generate function")
    })?;
    let on_answer: Option<JsObject> = arg(args, 2).as_callable();
    let whole = |n: f64| n.fract() == 0.0;
    let bars = number_opt(&o, "bars", 2.0, (0.0, 16.0), ctx)?;
    let silence = number_opt(&o, "silence", 2.0, (0.25, 64.0), ctx)?;
    let answer = opt(&o, "answerBars", ctx)?;
    let answer_bars = if answer.is_undefined() || answer.is_null() {
        None
    } else {
        Some(number_opt(&o, "answerBars", 0.0, (1.0, 16.0), ctx)?)
    };
    let lookahead = number_opt(&o, "lookahead", 1.0, (0.25, 64.0), ctx)?;
    let channel = number_opt(&o, "channel", 0.0, (0.0, 15.0), ctx)?;
    let velocity = number_opt(&o, "velocity", 0.8, (0.0, 1.0), ctx)?;
    let min = number_opt(&o, "min", 48.0, (0.0, 127.0), ctx)?;
    let max = number_opt(&o, "max", 83.0, (0.0, 127.0), ctx)?;
    if !whole(bars) || !whole(channel) || answer_bars.is_some_and(|a| !whole(a)) {
        return Err(JsNativeError::range()
            .with_message("host.callAndResponse: bars, answerBars and channel must be integers")
            .into());
    }
    if !(whole(min) && whole(max) && max - min >= 11.0) {
        return Err(JsNativeError::range()
            .with_message(format!(
                "host.callAndResponse: range must be [min, max] MIDI notes at least an octave apart, got [{min}, {max}]"
            ))
            .into());
    }
    let settings = Settings {
        bars: bars as u32,
        silence_beats: silence,
        answer_bars: answer_bars.map(|a| a as u32),
        initial_lookahead_beats: lookahead,
    };
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    let block = sh.current_block;
    sh.call_response = Some(CallResponseSlot {
        machine: CallResponse::new(settings),
        generate,
        on_answer,
        channel: channel as u8,
        velocity: velocity as f32,
        range: (min as i32, max as i32),
        block,
        asked: HashMap::new(),
    });
    Ok(JsValue::undefined())
}

/// `crStop()`: `host.callAndResponse(null)` turns it off.
fn cr_stop(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    api_state(ctx).borrow_mut().call_response = None;
    Ok(JsValue::undefined())
}

/// `crResult(id, seq)`: an answer came back (handled on the next pump step).
fn cr_result(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let id = arg(args, 0).to_number(ctx)? as u64;
    let result = sequence_from_js(&arg(args, 1), "callAndResponse", ctx).map_err(|e| e.to_string());
    api_state(ctx).borrow_mut().cr_results.push((id, result));
    Ok(JsValue::undefined())
}

/// `crFailed(id, message)`: generating an answer failed.
fn cr_failed(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let id = arg(args, 0).to_number(ctx)? as u64;
    let message = arg(args, 1).to_string(ctx)?.to_std_string_escaped();
    api_state(ctx).borrow_mut().cr_results.push((id, Err(message)));
    Ok(JsValue::undefined())
}
