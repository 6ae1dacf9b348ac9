//! Sema's JS API: `console`, `createOutputChannel(id, blockSize).send(...)`,
//! `input`/`output`, `importScripts`, `sema.sendBuffer`, and the timers
//! (`setTimeout`/`setInterval`/`clear*`). The JS side is `sema.js`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use boa_engine::{js_string, Context, JsNativeError, JsResult, JsString, JsValue, Script, Source};

use super::{arg, numbers, Native};
use crate::audio::patch::NUM_CHANNELS;
use crate::control::console::Level;
use crate::js::error::ScriptError;
use crate::js::runtime::{api_state, Timer, MAX_TIMERS};
use crate::js::script_cache;

/// The JS layer of this API.
pub(crate) const PRELUDE: &str = include_str!("sema.js");

/// Largest block size of an output channel.
pub const MAX_BLOCK_SIZE: usize = 65_536;
/// Longest sample `sema.sendBuffer` accepts (10 minutes at 48 kHz).
pub const MAX_BUFFER_SAMPLES: usize = 48_000 * 600;

/// Natives used by `sema.js`.
pub(crate) const NATIVES: &[Native] = &[
    ("log", log, 2),
    ("checkChannel", check_channel, 2),
    ("channelSend", channel_send, 3),
    ("output", output, 2),
    ("sendBuffer", send_buffer, 2),
    ("importScript", import_script, 1),
    ("setTimer", set_timer, 4),
    ("clearTimer", clear_timer, 1),
];

/// `log(level, text)`: 0 log, 1 info, 2 warn, 3 error.
fn log(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let level = match arg(args, 0).to_i32(ctx)? {
        1 => Level::Info,
        2 => Level::Warn,
        3 => Level::Error,
        _ => Level::Log,
    };
    let text = arg(args, 1).to_string(ctx)?.to_std_string_escaped();
    api_state(ctx).borrow_mut().log(level, text);
    Ok(JsValue::undefined())
}

/// Validates a channel id and block size, as `createOutputChannel` needs.
fn channel_params(args: &[JsValue], ctx: &mut Context) -> JsResult<(u32, usize)> {
    let id = arg(args, 0).to_number(ctx)?;
    let size = arg(args, 1).to_number(ctx)?;
    if !(id >= 0.0 && id < NUM_CHANNELS as f64 && id.fract() == 0.0) {
        return Err(JsNativeError::range()
            .with_message(format!(
                "createOutputChannel: channel id must be an integer 0..{}, got {id}",
                NUM_CHANNELS - 1
            ))
            .into());
    }
    if !(size >= 1.0 && size <= MAX_BLOCK_SIZE as f64 && size.fract() == 0.0) {
        return Err(JsNativeError::range()
            .with_message(format!("createOutputChannel: block size must be an integer 1..{MAX_BLOCK_SIZE}, got {size}"))
            .into());
    }
    Ok((id as u32, size as usize))
}

/// `checkChannel(id, blockSize)`: throws a RangeError for invalid arguments.
fn check_channel(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    channel_params(args, ctx)?;
    Ok(JsValue::undefined())
}

/// `channelSend(id, blockSize, valueOrArray)`: pads with zeros or truncates to the block
/// size (Sema's semantics); non-finite values become 0 so the audio engine never sees
/// NaN.
fn channel_send(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let (id, size) = channel_params(args, ctx)?;
    let values = numbers(&arg(args, 2), size, ctx)?;
    let mut data = vec![0.0; size].into_boxed_slice();
    for (d, v) in data.iter_mut().zip(values) {
        *d = if v.is_finite() { v } else { 0.0 };
    }
    (api_state(ctx).borrow_mut().channel_sink)(id, data);
    Ok(JsValue::undefined())
}

/// `output(value, channel)`: one value to the engine on `channel`, as a 1-value block.
fn output(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let value = arg(args, 0).to_number(ctx)?;
    let ch = arg(args, 1).to_number(ctx)?;
    if !(ch >= 0.0 && ch < NUM_CHANNELS as f64 && ch.fract() == 0.0) {
        return Err(JsNativeError::range()
            .with_message(format!(
                "output: channel must be an integer 0..{}, got {ch}",
                NUM_CHANNELS - 1
            ))
            .into());
    }
    let v = if value.is_finite() { value } else { 0.0 };
    (api_state(ctx).borrow_mut().channel_sink)(ch as u32, vec![v].into_boxed_slice());
    Ok(JsValue::undefined())
}

/// `sendBuffer(name, data)`: a sample for the DSL's `\name`.
fn send_buffer(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(JsNativeError::typ()
            .with_message(format!(
                "sema.sendBuffer: invalid buffer name '{name}' (letters, digits, _ and - only)"
            ))
            .into());
    }
    let data = arg(args, 1);
    if !data.is_object() {
        return Err(JsNativeError::typ()
            .with_message("sema.sendBuffer: data must be a Float32Array or an array")
            .into());
    }
    let values = numbers(&data, MAX_BUFFER_SAMPLES, ctx)?;
    let samples: Vec<f32> =
        values.into_iter().map(|v| if v.is_finite() { v as f32 } else { 0.0 }).collect();
    let len = samples.len();
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    (sh.samples_sink)(name.clone(), samples);
    sh.log(Level::Info, format!("buffer '{name}' sent ({len} samples)"));
    Ok(JsValue::undefined())
}

/// What an `importScripts` URL stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptSource {
    /// A built-in library module, installed as the global of this name.
    Builtin(&'static str),
    /// A local file to evaluate.
    File(PathBuf),
    /// Another library's URL: fetched once and cached (see [`crate::js::script_cache`]).
    Remote(String),
}

/// Classifies an `importScripts` argument: tfjs and @magenta/music URLs (any CDN, any
/// version) are built in; other remote URLs are fetched once and cached; anything else is
/// a local path, relative to `base`.
pub fn classify_script(url: &str, base: &Path) -> Result<ScriptSource, ScriptError> {
    let u = url.trim();
    let lower = u.to_ascii_lowercase();
    let remote =
        lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//");
    if lower.contains("@tensorflow/tfjs") || (remote && lower.contains("/tfjs")) {
        return Ok(ScriptSource::Builtin("tf"));
    }
    if lower.contains("@magenta/music") {
        let file = lower.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
        let module = match file {
            "core.js" => "core",
            "music_rnn.js" => "music_rnn",
            "music_vae.js" => "music_vae",
            "midi_me.js" => "midi_me",
            _ => "mm",
        };
        return Ok(ScriptSource::Builtin(module));
    }
    if remote {
        return Ok(ScriptSource::Remote(u.to_string()));
    }
    let p = PathBuf::from(u.strip_prefix("file://").unwrap_or(u));
    Ok(ScriptSource::File(if p.is_absolute() { p } else { base.join(p) }))
}

/// `importScript(url)`: returns the name of a built-in module for `sema.js` to install,
/// or evaluates a local file in the global scope and returns "".
fn import_script(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let url = arg(args, 0).to_string(ctx)?.to_std_string_escaped();
    let base = api_state(ctx).borrow().base_dir.clone();
    match classify_script(&url, &base)
        .map_err(|e| JsNativeError::error().with_message(e.to_string()))?
    {
        ScriptSource::Builtin(name) => Ok(JsString::from(name).into()),
        ScriptSource::File(path) => {
            let code = std::fs::read_to_string(&path).map_err(|e| {
                JsNativeError::error()
                    .with_message(format!("importScripts: cannot read {}: {e}", path.display()))
            })?;
            let code = crate::js::runtime::with_ticks(code, ctx);
            let script = Script::parse(Source::from_bytes(&code).with_path(&path), None, ctx)?;
            script.evaluate(ctx)?;
            Ok(js_string!("").into())
        }
        ScriptSource::Remote(url) => {
            let (dir, network) = {
                let sh = api_state(ctx);
                let sh = sh.borrow();
                (sh.script_cache.clone(), sh.allow_network)
            };
            let mut notes = Vec::new();
            let fetched = script_cache::fetch_script(&dir, &url, network, &mut |n| notes.push(n));
            {
                let sh = api_state(ctx);
                let mut sh = sh.borrow_mut();
                for n in notes {
                    sh.log(Level::Info, n);
                }
            }
            let (code, from) = fetched.map_err(|e| JsNativeError::error().with_message(e))?;
            if from == script_cache::Fetched::Network {
                // The download does not count against the block's run-time limit.
                crate::js::runtime::rearm();
            }
            let path = PathBuf::from(url.as_str());
            let script = Script::parse(Source::from_bytes(&code).with_path(&path), None, ctx)?;
            script.evaluate(ctx)?;
            Ok(js_string!("").into())
        }
    }
}

/// `setTimer(fn, ms, repeat, args)`: schedules a callback, returns its id.
fn set_timer(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let func = arg(args, 0).as_callable().ok_or_else(|| {
        JsNativeError::typ()
            .with_message("setTimeout/setInterval: the first argument must be a function")
    })?;
    let ms = arg(args, 1).to_number(ctx)?;
    let ms = if ms.is_finite() && ms > 0.0 { ms.min(1e9) } else { 0.0 };
    let repeat = arg(args, 2).to_boolean();
    let extra = match arg(args, 3).as_object() {
        Some(obj) => {
            let n = obj.get(js_string!("length"), ctx)?.to_length(ctx)?.min(64);
            let mut v = Vec::with_capacity(n as usize);
            for i in 0..n {
                v.push(obj.get(i, ctx)?);
            }
            v
        }
        None => Vec::new(),
    };
    let sh = api_state(ctx);
    let mut sh = sh.borrow_mut();
    if sh.timers.len() >= MAX_TIMERS {
        return Err(JsNativeError::range()
            .with_message(format!(
                "too many timers ({MAX_TIMERS} live): clear some with clearTimeout/clearInterval"
            ))
            .into());
    }
    // Intervals run at most once per millisecond so a 0 ms interval cannot spin.
    let period = Duration::from_secs_f64(ms / 1000.0);
    let interval = repeat.then(|| period.max(Duration::from_millis(1)));
    sh.next_timer_id = sh.next_timer_id.wrapping_add(1).max(1);
    let id = sh.next_timer_id;
    let block = sh.current_block;
    let due = sh.clock.now() + interval.unwrap_or(period);
    sh.timers.push(Timer { id, due, interval, func, args: extra, block });
    Ok(JsValue::from(id))
}

/// `clearTimer(id)`: cancels a timeout or interval (unknown ids are ignored, as in
/// browsers).
fn clear_timer(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let id = arg(args, 0).to_number(ctx)?;
    if id.is_finite() && id >= 0.0 {
        let id = id as u32;
        api_state(ctx).borrow_mut().timers.retain(|t| t.id != id);
    }
    Ok(JsValue::undefined())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_seed_urls() {
        let b = Path::new("/tmp");
        assert_eq!(
            classify_script(
                "https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@1.4.0/dist/tf.min.js",
                b
            ),
            Ok(ScriptSource::Builtin("tf"))
        );
        assert_eq!(
            classify_script("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js", b),
            Ok(ScriptSource::Builtin("core"))
        );
        assert_eq!(
            classify_script(
                "https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_rnn.js",
                b
            ),
            Ok(ScriptSource::Builtin("music_rnn"))
        );
        assert_eq!(
            classify_script(
                "https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_vae.js",
                b
            ),
            Ok(ScriptSource::Builtin("music_vae"))
        );
        assert_eq!(
            classify_script(
                "https://cdn.jsdelivr.net/npm/@magenta/music@1.12.0/dist/magentamusic.min.js",
                b
            ),
            Ok(ScriptSource::Builtin("mm"))
        );
        assert_eq!(
            classify_script("lib/util.js", b),
            Ok(ScriptSource::File(PathBuf::from("/tmp/lib/util.js")))
        );
        assert_eq!(
            classify_script("https://example.com/lib.js", b),
            Ok(ScriptSource::Remote("https://example.com/lib.js".into()))
        );
    }
}
