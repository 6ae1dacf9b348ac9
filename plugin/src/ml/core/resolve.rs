//! Finds a checkpoint folder for a URL or path: local folders as they are, URLs through a
//! per-user cache (downloaded when missing and the network is allowed), else the bundled
//! default model of the same kind, with a console message saying so.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ml::core::checkpoint::ManifestGroup;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::worker::{ModelKind, Progress};

/// Marker written into a cache folder once every file of the checkpoint is there.
const COMPLETE_MARKER: &str = ".complete";

/// `<user cache dir>/sema-live/models`, or a folder under the temp dir when the platform
/// has no cache dir.
pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("sema-live").join("models")
}

/// The bundled models folder: `$SEMA_LIVE_MODELS` if set, else the first of
/// `<exe dir>/assets/models`, `<exe dir>/../assets/models`, `<exe dir>/../../assets/models`
/// that exists (bundle layouts and `target/<profile>/`), else the source tree's
/// `assets/models`.
pub fn default_bundled_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SEMA_LIVE_MODELS") {
        return PathBuf::from(p);
    }
    if let Some(exe_dir) =
        std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf))
    {
        for up in ["", "..", "../.."] {
            let cand = exe_dir.join(up).join("assets").join("models");
            if cand.is_dir() {
                return cand;
            }
        }
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/models"))
}

/// Name of the bundled default model of a kind.
pub fn bundled_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::MusicVae | ModelKind::MidiMe => "mel_2bar_small",
        ModelKind::MusicRnn => "basic_rnn",
    }
}

/// Where a checkpoint was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Folder holding `config.json` and the weights.
    pub dir: PathBuf,
    /// Human-readable origin (for `Response::Loaded` and the console).
    pub description: String,
    /// True when the bundled model replaced the requested one.
    pub fallback: bool,
}

/// How `resolve` may find checkpoints.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    /// Cache root for downloaded checkpoints.
    pub cache_dir: PathBuf,
    /// Folder with the bundled models.
    pub bundled_dir: PathBuf,
    /// Whether downloads are allowed.
    pub allow_network: bool,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Cache folder of a URL: `<cache>/<host>/<path>` with unsafe characters replaced.
pub fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let mut p = cache_dir.to_path_buf();
    for part in rest.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..") {
        let clean: String = part
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        p.push(clean);
    }
    p
}

fn has_checkpoint(dir: &Path) -> bool {
    dir.join("config.json").is_file() && dir.join("weights_manifest.json").is_file()
}

/// Resolves `url_or_path` to a checkpoint folder (see the module doc). `progress` gets
/// download progress and fallback notices.
pub fn resolve(
    url_or_path: &str,
    kind: ModelKind,
    opts: &ResolveOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Resolved, ModelError> {
    let spec = url_or_path.trim();
    if spec.is_empty() {
        return bundled(kind, opts, "no checkpoint given", progress);
    }
    if !is_url(spec) {
        let path = PathBuf::from(spec.strip_prefix("file://").unwrap_or(spec));
        if has_checkpoint(&path) {
            return Ok(Resolved {
                description: format!("checkpoint folder {}", path.display()),
                dir: path,
                fallback: false,
            });
        }
        return Err(ModelError::new(
            ModelErrorKind::NotFound,
            format!(
                "no magenta.js checkpoint at {} (config.json and weights_manifest.json expected)",
                path.display()
            ),
        ));
    }
    let url = spec.trim_end_matches('/');
    let dir = cache_path(&opts.cache_dir, url);
    if dir.join(COMPLETE_MARKER).is_file() && has_checkpoint(&dir) {
        return Ok(Resolved {
            description: format!("{url} (cached in {})", dir.display()),
            dir,
            fallback: false,
        });
    }
    if !opts.allow_network {
        return bundled(
            kind,
            opts,
            &format!("{url} is not cached and downloads are off"),
            progress,
        );
    }
    match download(url, &dir, progress) {
        Ok(()) => Ok(Resolved {
            description: format!("{url} (downloaded to {})", dir.display()),
            dir,
            fallback: false,
        }),
        Err(e) => bundled(kind, opts, &format!("download of {url} failed: {e}"), progress),
    }
}

/// The bundled model of `kind`, announcing the fallback and why.
fn bundled(
    kind: ModelKind,
    opts: &ResolveOptions,
    why: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Resolved, ModelError> {
    let name = bundled_name(kind);
    let dir = opts.bundled_dir.join(name);
    if !has_checkpoint(&dir) {
        return Err(ModelError::new(
            ModelErrorKind::NotFound,
            format!("{why}; and the bundled {name} model is missing at {}", dir.display()),
        ));
    }
    let message = format!("{why}; using the bundled {name} model instead");
    progress(Progress { message: message.clone(), fraction: None });
    Ok(Resolved { description: format!("bundled {name} ({})", dir.display()), dir, fallback: true })
}

/// A failed transfer of the file at `url`: "`url`: `error`".
fn failed(url: &str, error: impl std::fmt::Display) -> ModelError {
    ModelError::new(ModelErrorKind::Download, format!("{url}: {error}"))
}

/// Downloads a checkpoint into `dir` through a sibling `.partial` folder, so an
/// interrupted download never looks complete.
fn download(url: &str, dir: &Path, progress: &mut dyn FnMut(Progress)) -> Result<(), ModelError> {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| ModelError::io("create", &partial, e))?;

    let fetch = |name: &str,
                 progress: &mut dyn FnMut(Progress),
                 base: f32,
                 span: f32|
     -> Result<Vec<u8>, ModelError> {
        let u = format!("{url}/{name}");
        let mut resp = agent.get(&u).call().map_err(|e| failed(&u, e))?;
        let total = resp.body().content_length();
        let mut reader = resp.body_mut().as_reader();
        let mut data = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        let mut last = 0usize;
        loop {
            let n = reader.read(&mut chunk).map_err(|e| failed(&u, e))?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..n]);
            // Report about every 512 KB, not every packet.
            if data.len() - last >= 1 << 19 {
                last = data.len();
                let frac =
                    total.map(|t| (data.len() as f32 / t.max(1) as f32).min(1.0)).unwrap_or(0.0);
                progress(Progress {
                    message: format!("downloading {u}: {} KB", data.len() / 1024),
                    fraction: Some(base + span * frac),
                });
            }
        }
        Ok(data)
    };
    let write = |name: &str, data: &[u8]| -> Result<(), ModelError> {
        let p = partial.join(name);
        let mut f = std::fs::File::create(&p).map_err(|e| ModelError::io("write", &p, e))?;
        f.write_all(data).map_err(|e| ModelError::io("write", &p, e))
    };

    progress(Progress { message: format!("downloading checkpoint {url}"), fraction: Some(0.0) });
    let cfg = fetch("config.json", progress, 0.0, 0.0)?;
    write("config.json", &cfg)?;
    let manifest = fetch("weights_manifest.json", progress, 0.0, 0.0)?;
    let groups: Vec<ManifestGroup> = serde_json::from_slice(&manifest).map_err(|e| {
        ModelError::bad_checkpoint(format!("{url}/weights_manifest.json: invalid manifest: {e}"))
    })?;
    write("weights_manifest.json", &manifest)?;
    let shards: Vec<&String> = groups.iter().flat_map(|g| g.paths.iter()).collect();
    for (i, shard) in shards.iter().enumerate() {
        if shard.contains("..") || shard.contains('/') || shard.contains('\\') {
            return Err(ModelError::bad_checkpoint(format!("refusing shard path {shard:?}")));
        }
        let span = 1.0 / shards.len() as f32;
        let data = fetch(shard, progress, i as f32 * span, span)?;
        write(shard, &data)?;
    }
    write(COMPLETE_MARKER, b"")?;
    let _ = std::fs::remove_dir_all(dir);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io("create", parent, e))?;
    }
    std::fs::rename(&partial, dir).map_err(|e| ModelError::io("move download into", dir, e))?;
    progress(Progress { message: format!("downloaded {url}"), fraction: Some(1.0) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::random_checkpoint::{write_rnn, RnnSizes};

    fn opts(root: &Path, net: bool) -> ResolveOptions {
        ResolveOptions {
            cache_dir: root.join("cache"),
            bundled_dir: root.join("bundled"),
            allow_network: net,
        }
    }

    #[test]
    fn local_folders_cache_and_bundled_fallback() {
        let root = tempfile::tempdir().unwrap();
        let o = opts(root.path(), false);
        let mut msgs = Vec::new();
        let mut cb = |p: Progress| msgs.push(p.message);
        let url = "https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn";
        // Nothing bundled, no network: a clear error naming both problems.
        let e = resolve(url, ModelKind::MusicRnn, &o, &mut cb).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NotFound, "{e}");
        assert!(
            e.message().contains("not cached")
                && e.message().contains("bundled basic_rnn model is missing"),
            "{e}"
        );
        let sizes = RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![4] };
        write_rnn(&o.bundled_dir.join("basic_rnn"), &sizes, Storage::Float32, 1).unwrap();
        let r = resolve(url, ModelKind::MusicRnn, &o, &mut cb).unwrap();
        assert!(r.fallback && r.dir.ends_with("bundled/basic_rnn"));
        // A cached copy wins over the fallback.
        let cached = cache_path(&o.cache_dir, url);
        assert!(cached
            .ends_with("storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn"));
        write_rnn(&cached, &sizes, Storage::Float32, 2).unwrap();
        std::fs::write(cached.join(COMPLETE_MARKER), b"").unwrap();
        let r = resolve(&format!("{url}/"), ModelKind::MusicRnn, &o, &mut cb).unwrap();
        assert!(!r.fallback && r.dir == cached);
        // Local folders.
        let local = root.path().join("bundled/basic_rnn");
        let r = resolve(local.to_str().unwrap(), ModelKind::MusicRnn, &o, &mut cb).unwrap();
        assert_eq!(r.dir, local);
        let e = resolve("/no/such/dir", ModelKind::MusicRnn, &o, &mut cb).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NotFound, "{e}");
        assert!(e.message().contains("no magenta.js checkpoint"), "{e}");
        assert!(msgs.iter().any(|m| m.contains("using the bundled basic_rnn model")));
    }

    /// Serves files of `root` over HTTP/1.0 on 127.0.0.1 until `requests` were answered.
    fn serve(root: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<()>) {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                std::io::BufReader::new(&mut stream).read_line(&mut line).unwrap();
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                match std::fs::read(root.join(&path)) {
                    Ok(body) => {
                        let head = format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(&body);
                    }
                    Err(_) => {
                        let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            }
        });
        (base, h)
    }

    #[test]
    fn downloads_into_the_cache_with_progress() {
        let root = tempfile::tempdir().unwrap();
        let served = root.path().join("served/ckpt");
        // 1 MB of shards in several files so progress is reported.
        write_rnn(
            &served,
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![180] },
            Storage::Float32,
            3,
        )
        .unwrap();
        let shards = std::fs::read_dir(&served).unwrap().count() - 2;
        let (base, server) = serve(root.path().join("served"), 2 + shards);
        let o = opts(root.path(), true);
        let url = format!("{base}/ckpt");
        let mut msgs = Vec::new();
        let r = resolve(&url, ModelKind::MusicRnn, &o, &mut |p| msgs.push((p.message, p.fraction)))
            .unwrap();
        server.join().unwrap();
        assert!(!r.fallback, "{msgs:?}");
        assert!(r.dir.join(COMPLETE_MARKER).is_file());
        let a = crate::ml::core::checkpoint::load(&served).unwrap();
        let b = crate::ml::core::checkpoint::load(&r.dir).unwrap();
        assert_eq!(a.vars, b.vars);
        assert!(msgs.iter().any(|(m, f)| m.starts_with("downloaded") && *f == Some(1.0)));
        assert!(msgs.iter().any(|(m, _)| m.contains("KB")));
        // The server is gone: the cached copy is used.
        let again = resolve(&url, ModelKind::MusicRnn, &o, &mut |_| {}).unwrap();
        assert_eq!(again.dir, r.dir);
        assert!(again.description.contains("cached"));
    }

    #[test]
    fn unreachable_server_falls_back() {
        let root = tempfile::tempdir().unwrap();
        let o = opts(root.path(), true);
        write_rnn(
            &o.bundled_dir.join("basic_rnn"),
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![4] },
            Storage::Float32,
            1,
        )
        .unwrap();
        // Port 9 on localhost: connection refused at once.
        let mut msgs = Vec::new();
        let r = resolve("http://127.0.0.1:9/ckpt", ModelKind::MusicRnn, &o, &mut |p| {
            msgs.push(p.message)
        })
        .unwrap();
        assert!(r.fallback);
        assert!(
            msgs.iter().any(|m| m.contains("download of http://127.0.0.1:9/ckpt failed")),
            "{msgs:?}"
        );
        assert!(!cache_path(&o.cache_dir, "http://127.0.0.1:9/ckpt").exists());
    }
}
