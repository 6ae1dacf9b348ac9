//! The editor opens inside a host's window, as in Bitwig or Reaper on Linux: a CLAP host
//! (clack-host) creates an X11 window on a private virtual X server (Xvfb, Mesa software
//! OpenGL), embeds the plugin's GUI into it through the CLAP gui extension, and checks
//! that the editor window appears at the size the plugin asked for, draws something, and
//! goes away when the host destroys the GUI.
//!
//! Needs `Xvfb` (package xvfb, installed by scripts/install-deps.sh): without it the test
//! fails and says so. Runs as its own test binary because it sets `DISPLAY`.

mod common;

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt, CreateWindowAux, ImageFormat, Window as XWindow, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// A private X server. It is started with `-terminate`, so it exits when its last client
/// disconnects: killing it while the plugin's window thread still holds a connection
/// would make Xlib end the whole test process (its I/O error handler exits).
struct Xvfb {
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        // A display number of our own: other test runs (or a desktop) may use the low ones.
        let n = 200 + std::process::id() % 700;
        let display = format!(":{n}");
        let mut server: Child = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1400x900x24",
                "-nolisten",
                "tcp",
                "-terminate",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start Xvfb ({e}): install it with scripts/install-deps.sh")
            });
        let socket = format!("/tmp/.X11-unix/X{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::path::Path::new(&socket).exists() {
            assert!(Instant::now() < deadline, "Xvfb did not start on {display}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // `-terminate` ends the server when its last client leaves (the editor's and the
        // test's connections, at the latest when the test process exits); reap it then.
        std::thread::spawn(move || server.wait());
        Xvfb { display }
    }
}

/// Polls `f` every 50 ms for up to 15 s.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ids of this process's threads.
fn threads() -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

fn children(conn: &RustConnection, window: XWindow) -> Vec<XWindow> {
    conn.query_tree(window)
        .ok()
        .and_then(|c| c.reply().ok())
        .map(|r| r.children)
        .unwrap_or_default()
}

#[test]
fn the_editor_opens_embedded_in_a_host_window() {
    let xvfb = Xvfb::start();
    // Own process (own test binary): nothing else reads DISPLAY concurrently.
    std::env::set_var("DISPLAY", &xvfb.display);
    std::env::set_var("LIBGL_ALWAYS_SOFTWARE", "1");

    // The host's window.
    let (conn, screen_num) = x11rb::connect(Some(&xvfb.display)).expect("connect to Xvfb");
    let screen = &conn.setup().roots[screen_num];
    let parent = conn.generate_id().expect("window id");
    conn.create_window(
        screen.root_depth,
        parent,
        screen.root,
        0,
        0,
        1300,
        860,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new().background_pixel(screen.black_pixel),
    )
    .expect("create the host window");
    conn.map_window(parent).expect("map");
    conn.flush().expect("flush");

    // Threads before the plugin exists: every thread it starts must be gone at the end.
    let before = threads();
    let mut instance = common::instantiate();
    let handle = instance.plugin_handle();
    let gui: PluginGui = handle.get_extension().expect("the plugin has a GUI");
    let embedded = GuiConfiguration { api_type: GuiApiType::X11, is_floating: false };
    assert!(gui.is_api_supported(&handle, embedded), "X11 embedding supported");
    gui.create(&handle, embedded).expect("create the GUI");
    let size = gui.get_size(&handle).expect("a size");
    assert_eq!((size.width, size.height), (1180, 760), "the default editor size");
    // SAFETY: the parent window lives until the end of the test, after `destroy`.
    unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent.into())) }.expect("embed");
    gui.show(&handle).expect("show");

    // The editor's window appears inside ours at the size it announced...
    let editor = wait_for("the editor window", || children(&conn, parent).first().copied());
    let geometry = conn.get_geometry(editor).expect("geometry").reply().expect("geometry reply");
    assert_eq!((geometry.width, geometry.height), (1180, 760));
    // ...and draws the editor (not one flat colour: text, panels, the piano roll).
    let distinct = wait_for("the editor to draw", || {
        let image = conn
            .get_image(ImageFormat::Z_PIXMAP, editor, 0, 0, 1180, 760, !0)
            .ok()?
            .reply()
            .ok()?;
        let mut colours: Vec<&[u8]> = image.data.chunks(4).collect();
        colours.sort_unstable();
        colours.dedup();
        (colours.len() > 20).then_some(colours.len())
    });
    assert!(distinct > 20);

    gui.hide(&handle).expect("hide");
    gui.destroy(&handle);
    wait_for("the editor window to close", || children(&conn, parent).is_empty().then_some(()));

    // The editor's window thread ends too. baseview 0.4.2 joins it on close, except when its
    // close request races the thread's own shutdown (it then logs "X11 thread
    // disconnected" and returns without joining): that thread then still tears down its
    // OpenGL context, and a process exiting under it dies with SIGSEGV. A host unloading
    // the plugin right after closing its GUI would meet the same, so the test waits for it.
    drop(instance);
    wait_for("the plugin's threads to end", || {
        threads().iter().all(|t| before.contains(t)).then_some(())
    });
}
