//! The globals a JS block sees.
//!
//! Each API is a thin layer of JavaScript (readable, and close to the names users know
//! from Sema and magenta.js) over a few native functions that reach Rust. The natives
//! live on one hidden object, `__semaNative`; the JS layers (`*.js` beside this file)
//! receive it as `N`, plus `M`, the registry of built-in library modules that
//! `importScripts` installs as globals.
//!
//! - [`sema`]: `console`, `createOutputChannel`, `input`/`output`, `importScripts`,
//!   `sema.sendBuffer`, timers.
//! - [`host`]: `host.temperature`, `host.macros`, `host.bpm`, `host.playing`, `host.bar`,
//!   `host.onBar`.
//! - [`tf`]: the TensorFlow.js tensors and ops Sema's programs use, and the Layers API
//!   (`tf.sequential`, `tf.layers.dense/dropout`, `compile`, `fit`, `predict`, ...).
//! - [`layers`]: the natives behind the Layers API (models in Rust, `fit` on the
//!   training thread).
//! - [`magenta`]: `core`, `music_rnn`, `music_vae`, `mm` on the model worker.

pub mod host;
pub mod layers;
pub mod magenta;
pub mod sema;
pub mod tf;

use boa_engine::native_function::NativeFunctionPointer;
use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{
    js_string, Context, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction,
    Source,
};

/// One native function: JS name, implementation, declared argument count.
pub(crate) type Native = (&'static str, NativeFunctionPointer, usize);

/// Installs every API into a fresh context.
pub fn install(ctx: &mut Context) -> JsResult<()> {
    let mut init = ObjectInitializer::new(ctx);
    for (name, f, n) in
        sema::NATIVES.iter().chain(host::NATIVES).chain(magenta::NATIVES).chain(layers::NATIVES)
    {
        init.function(NativeFunction::from_fn_ptr(*f), JsString::from(*name), *n);
    }
    let native = init.build();
    ctx.register_global_builtin_callable(
        JsString::from("__semaTick"),
        0,
        NativeFunction::from_fn_ptr(crate::js::runtime::tick),
    )?;
    // The test hook of crash isolation: a panic on the JS thread, on request.
    if cfg!(test) || std::env::var_os("SEMA_LIVE_TEST_HOOKS").is_some() {
        ctx.register_global_builtin_callable(
            JsString::from("__semaTestPanic"),
            1,
            NativeFunction::from_fn_ptr(|_, args, ctx| {
                let what = args.first().map(|v| v.display().to_string()).unwrap_or_default();
                let _ = ctx;
                panic!("__semaTestPanic({what})");
            }),
        )?;
    }
    let modules = JsObject::with_object_proto(ctx.intrinsics());
    ctx.register_global_property(
        js_string!("__semaNative"),
        native.clone(),
        Attribute::CONFIGURABLE,
    )?;
    for (name, code) in [
        ("sema.js", sema::PRELUDE),
        ("host.js", host::PRELUDE),
        ("tf.js", tf::PRELUDE),
        ("magenta.js", magenta::PRELUDE),
    ] {
        run_prelude(ctx, name, code, &native, &modules)?;
    }
    Ok(())
}

/// Evaluates a JS layer (a function expression) and calls it with
/// `(globalThis, natives, modules)`.
fn run_prelude(
    ctx: &mut Context,
    name: &str,
    code: &str,
    native: &JsObject,
    modules: &JsObject,
) -> JsResult<()> {
    let path = std::path::PathBuf::from(format!("<sema-live:{name}>"));
    let f = ctx.eval(Source::from_bytes(code).with_path(&path))?;
    let f = f.as_callable().ok_or_else(|| {
        JsNativeError::typ().with_message(format!("{name} must evaluate to a function"))
    })?;
    let global: JsValue = ctx.global_object().into();
    f.call(&JsValue::undefined(), &[global, native.clone().into(), modules.clone().into()], ctx)?;
    Ok(())
}

/// Reads a number or an array-like of numbers (Array, typed array, anything with a
/// `length`) into `f64`s, at most `limit` of them. Non-numbers become NaN.
pub(crate) fn numbers(value: &JsValue, limit: usize, ctx: &mut Context) -> JsResult<Vec<f64>> {
    if let Some(obj) = value.as_object() {
        let len = obj.get(js_string!("length"), ctx)?.to_length(ctx)?;
        let n = (len as usize).min(limit);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(obj.get(i, ctx)?.to_number(ctx)?);
        }
        Ok(out)
    } else if value.is_undefined() || value.is_null() {
        Ok(Vec::new())
    } else {
        Ok(vec![value.to_number(ctx)?])
    }
}

/// Argument `i`, or undefined.
pub(crate) fn arg(args: &[JsValue], i: usize) -> JsValue {
    args.get(i).cloned().unwrap_or_default()
}
