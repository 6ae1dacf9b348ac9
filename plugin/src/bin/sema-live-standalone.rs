//! Sema Live as a standalone application (JACK, ALSA or no audio at all), built with
//! `--features standalone`. Used to run the editor without a DAW, e.g. for the screenshot
//! in `docs/editor.png` (`scripts/screenshot.sh`).

fn main() {
    if !nice_plug::prelude::nice_export_standalone::<sema_live::SemaLive>() {
        std::process::exit(1);
    }
}
