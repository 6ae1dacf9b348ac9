//! `cargo xtask bundle sema_live --release` builds the CLAP and VST3 bundles (via
//! nice-plug-xtask); `cargo xtask install` copies them to the per-user plugin folders.

use std::path::{Path, PathBuf};

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("install") {
        return install();
    }
    nice_plug_xtask::main_with_args("cargo xtask", args)
}

/// The folder with the bundles: `$CARGO_TARGET_DIR/bundled` (or `target/bundled`).
fn bundled_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bundled")
}

/// Per-user plugin folders for CLAP and VST3 on this platform.
fn plugin_dirs() -> nice_plug_xtask::Result<(PathBuf, PathBuf)> {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .ok_or_else(|| anyhow_msg("cannot find the home folder (HOME is not set)"))?;
    Ok(if cfg!(target_os = "macos") {
        let base = home.join("Library/Audio/Plug-Ins");
        (base.join("CLAP"), base.join("VST3"))
    } else if cfg!(target_os = "windows") {
        let local = std::env::var_os("LOCALAPPDATA").map(PathBuf::from).unwrap_or(home.clone());
        (local.join("Programs/Common/CLAP"), local.join("Programs/Common/VST3"))
    } else {
        (home.join(".clap"), home.join(".vst3"))
    })
}

fn anyhow_msg(msg: &str) -> anyhow::Error {
    anyhow::anyhow!("{msg}")
}

fn copy_recursive(src: &Path, dst: &Path) -> std::io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

fn install() -> nice_plug_xtask::Result<()> {
    let bundled = bundled_dir();
    let (clap_dir, vst3_dir) = plugin_dirs()?;
    let mut installed = 0;
    for entry in std::fs::read_dir(&bundled).map_err(|e| {
        anyhow_msg(&format!(
            "no bundles in {} ({e}); run `cargo xtask bundle sema_live --release` first",
            bundled.display()
        ))
    })? {
        let path = entry?.path();
        let dest_dir = match path.extension().and_then(|e| e.to_str()) {
            Some("clap") => &clap_dir,
            Some("vst3") => &vst3_dir,
            _ => continue,
        };
        let Some(name) = path.file_name() else { continue };
        let dest = dest_dir.join(name);
        if dest.exists() {
            if dest.is_dir() {
                std::fs::remove_dir_all(&dest)?;
            } else {
                std::fs::remove_file(&dest)?;
            }
        }
        std::fs::create_dir_all(dest_dir)?;
        copy_recursive(&path, &dest)?;
        println!("installed {}", dest.display());
        installed += 1;
    }
    if installed == 0 {
        return Err(anyhow_msg(&format!(
            "no .clap or .vst3 bundles in {}; run `cargo xtask bundle sema_live --release` first",
            bundled.display()
        )));
    }
    Ok(())
}
