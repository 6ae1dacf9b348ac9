//! The control side: the non-realtime code around the audio thread. It runs on the host's
//! main thread (activate, state load), the editor's thread and the per-instance JS thread,
//! and talks to the audio thread only through lock-free queues and atomics.
//!
//! - [`controller`]: compiles code, sends patches and channel data to the audio thread,
//!   drops what comes back, keeps the session saved with the project.
//! - [`js_bridge`]: the instance's JS thread, wired to the controller and the host view.
//! - [`params`]: the host-automatable parameters and the persisted session field.
//! - [`samples`]: where the DSL's samples come from (built-in kit, Sema's pack, the
//!   sample folder) and the thread that downloads and rescans them.
//! - [`state`]: the saved plugin state (code, channel data, layout), versioned.
//! - [`console`]: messages for the editor's console (DSL errors, JS output, model news).
//! - [`studio`]: the Studio panels' state (Magenta Studio jobs, variations, keeps).
//! - [`status`]: what the audio thread publishes for the editor and JS (clock, load,
//!   sent notes, `toJS` values, scope).

pub(crate) mod console;
pub(crate) mod controller;
pub(crate) mod js_bridge;
pub(crate) mod params;
pub(crate) mod samples;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod studio;
