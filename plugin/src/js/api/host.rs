//! `host`: the plugin's parameters and the host transport, read live from
//! [`HostView`](crate::js::HostView) atomics, and `host.onBar(callback)`, called on the
//! JS thread shortly after each new bar starts while the host plays.

use std::sync::atomic::Ordering;

use boa_engine::object::builtins::JsArray;
use boa_engine::{Context, JsNativeError, JsResult, JsValue};

use super::{arg, Native};
use crate::js::runtime::{api_state, BarCallback};

/// The JS layer: `host` with live getters.
pub(crate) const PRELUDE: &str = r#"
(function (g, N, M) {
  'use strict';
  g.host = Object.freeze({
    get temperature() { return N.hostGet('temperature'); },
    get macros() { return N.hostMacros(); },
    get bpm() { return N.hostGet('bpm'); },
    get playing() { return N.hostGet('playing'); },
    get bar() { return N.hostGet('bar'); },
    onBar: cb => N.onBar(cb),
    offBar: id => N.offBar(id),
  });
})
"#;

/// Natives used by the layer above.
pub(crate) const NATIVES: &[Native] = &[
    ("hostGet", host_get, 1),
    ("hostMacros", host_macros, 0),
    ("onBar", on_bar, 1),
    ("offBar", off_bar, 1),
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
    sh.next_bar_id = sh.next_bar_id.wrapping_add(1).max(1);
    let id = sh.next_bar_id;
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
