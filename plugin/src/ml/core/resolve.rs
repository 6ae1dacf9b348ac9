//! Finds a checkpoint folder for a URL or path: local folders as they are, URLs through a
//! per-user cache (downloaded when missing and the network is allowed). When a URL can be
//! neither found in the cache nor downloaded, the bundled model is used only if the URL
//! names it (its last path segment is the bundled model's name, e.g. `.../basic_rnn`),
//! with a console message saying so; any other model (a typo, a drum model Sema Live does
//! not bundle) is an error naming the URL, never silently another model.
//!
//! Downloads go through a `<name>.partial-<pid>-<n>` sibling folder that is removed when
//! the download fails or is cancelled, and renamed to the cache folder only once every
//! file is there; folders of that kind left by a crashed process are removed the first
//! time a process resolves a URL (once they are older than the download timeout). A
//! download started with a [`CancelDownload`] stops when it is cancelled from another
//! thread: between chunks, and at once when blocked on a read (its connection is closed).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::ml::core::checkpoint::ManifestGroup;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::worker::{ModelKind, Progress};

/// Stops a download from another thread ([`fetch_cancellable`]): the download checks it
/// between chunks, and [`CancelDownload::cancel`] closes the download's connections so a
/// read waiting on a stalled server returns at once. The download then removes its
/// partial folder and fails with [`ModelErrorKind::Cancelled`]; nothing reaches the cache.
/// (Name resolution and a TCP connect in progress are not interrupted: they end within
/// the connect timeout, 10 s, and the download stops then.)
#[derive(Default)]
pub struct CancelDownload {
    cancelled: AtomicBool,
    /// The HTTP agent of the download in progress (its connections are shut down on
    /// cancel).
    agent: Mutex<Option<ureq::Agent>>,
}

impl CancelDownload {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the download (now if it runs, at its start if it has not started yet).
    pub fn cancel(&self) {
        // The flag first: a download attaching its agent after this sees it.
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(agent) = self.agent.lock().take() {
            agent.shutdown();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Registers the download's agent (so [`CancelDownload::cancel`] can interrupt it);
    /// an error when it was cancelled already.
    fn attach(&self, agent: &ureq::Agent, url: &str) -> Result<(), ModelError> {
        let mut slot = self.agent.lock();
        if self.is_cancelled() {
            return Err(cancelled(url));
        }
        *slot = Some(agent.clone());
        Ok(())
    }

    fn detach(&self) {
        self.agent.lock().take();
    }
}

/// The error of a cancelled download of `url`.
fn cancelled(url: &str) -> ModelError {
    ModelError::new(ModelErrorKind::Cancelled, format!("the download of {url} was cancelled"))
}

/// Marker written into a cache folder once every file of the checkpoint is there.
pub(crate) const COMPLETE_MARKER: &str = ".complete";

/// What a download folder's name holds after the checkpoint's name.
const PARTIAL_INFIX: &str = ".partial";

/// A whole download may take this long (ureq's global timeout); a `.partial` folder older
/// than this belongs to no running download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

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
        ModelKind::MusicVae => "mel_2bar_small",
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

/// The cache folder of `url` if the whole checkpoint is there (downloaded, or copied in
/// with its `.complete` marker), else None. Never downloads.
pub fn cached(cache_dir: &Path, url: &str) -> Option<PathBuf> {
    let dir = cache_path(cache_dir, url.trim().trim_end_matches('/'));
    (dir.join(COMPLETE_MARKER).is_file() && has_checkpoint(&dir)).then_some(dir)
}

/// Downloads the checkpoint at `url` into the cache (`sema-live model fetch`), unless it is
/// there already; never falls back to a bundled model. Returns the cache folder and
/// whether it was downloaded now.
pub fn fetch(
    url: &str,
    cache_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, bool), ModelError> {
    fetch_cancellable(url, cache_dir, &CancelDownload::new(), progress)
}

/// [`fetch`] that stops when `cancel` is cancelled (from another thread): then nothing is
/// left in the cache and the error's kind is [`ModelErrorKind::Cancelled`].
pub fn fetch_cancellable(
    url: &str,
    cache_dir: &Path,
    cancel: &CancelDownload,
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, bool), ModelError> {
    let url = url.trim().trim_end_matches('/');
    if !is_url(url) {
        return Err(ModelError::bad_input(format!(
            "fetch: {url:?} is not an http(s) URL of a magenta.js checkpoint"
        )));
    }
    if let Some(dir) = cached(cache_dir, url) {
        return Ok((dir, false));
    }
    let dir = cache_path(cache_dir, url);
    download(url, &dir, cancel, progress)?;
    Ok((dir, true))
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
    if cached(&opts.cache_dir, url).is_some() {
        return Ok(Resolved {
            description: format!("{url} (cached in {})", dir.display()),
            dir,
            fallback: false,
        });
    }
    // The bundled model stands in only for a URL that names it.
    let name = url_model_name(url);
    let names_bundled = name == bundled_name(kind);
    if !opts.allow_network {
        let why = format!("{url} is not cached and downloads are off");
        return if names_bundled {
            bundled(kind, opts, &why, progress)
        } else {
            Err(ModelError::new(ModelErrorKind::NotFound, not_bundled(&why, name, kind)))
        };
    }
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        remove_stale_partials(&opts.cache_dir, DOWNLOAD_TIMEOUT);
    });
    match download(url, &dir, &CancelDownload::new(), progress) {
        Ok(()) => Ok(Resolved {
            description: format!("{url} (downloaded to {})", dir.display()),
            dir,
            fallback: false,
        }),
        Err(e) => {
            let why = format!("download of {url} failed: {e}");
            if names_bundled {
                bundled(kind, opts, &why, progress)
            } else {
                Err(ModelError::new(ModelErrorKind::Download, not_bundled(&why, name, kind)))
            }
        }
    }
}

/// magenta.js models Sema Live does not bundle but names in its documentation: what
/// they are and their download size, for the message when one cannot be had.
const DOWNLOAD_ONLY: &[(&str, &str)] = &[
    ("drum_kit_rnn", "MusicRNN drums, 11.9 MB"),
    ("chord_pitches_improv", "chord-conditioned MusicRNN, 5.6 MB"),
    ("drums_2bar_lokl_small", "MusicVAE 2-bar drums, 18.5 MB"),
    ("mel_4bar_small_q2", "MusicVAE 4-bar melody, 26.5 MB"),
    ("mel_16bar_small_q2", "hierarchical MusicVAE 16-bar melody, 23.5 MB"),
    ("trio_4bar", "MusicVAE 4-bar trio (melody, bass, drums), 17.6 MB"),
];

/// The model name a checkpoint URL ends with (`.../music_rnn/basic_rnn` → `basic_rnn`).
fn url_model_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// The message when a URL that is not the bundled model could not be had.
fn not_bundled(why: &str, name: &str, kind: ModelKind) -> String {
    let advice = match DOWNLOAD_ONLY.iter().find(|(n, _)| *n == name) {
        Some((_, what)) => format!(
            "{name} ({what}) is download-only: load it once with the network on (it is then \
             cached for offline use), or copy its checkpoint folder (config.json, \
             weights_manifest.json and the weight files it lists, from the same URL) to this \
             machine and give the folder's path instead of the URL"
        ),
        None => "check the URL, or use a local checkpoint folder".to_string(),
    };
    format!(
        "{why}; {name:?} is not a bundled model (Sema Live bundles {} for this model type), \
         so nothing else is loaded in its place: {advice}",
        bundled_name(kind)
    )
}

/// Removes download folders (`*.partial-*`) under `cache_dir` last modified more than
/// `older_than` ago: left by a process that crashed or was killed while downloading.
/// Returns how many were removed.
pub fn remove_stale_partials(cache_dir: &Path, older_than: Duration) -> usize {
    fn walk(dir: &Path, older_than: Duration, depth: usize, removed: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            // `.partial` alone: the name earlier versions used.
            let is_partial = entry.file_name().to_str().is_some_and(|n| {
                n.ends_with(PARTIAL_INFIX) || n.contains(&format!("{PARTIAL_INFIX}-"))
            });
            if is_partial {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                if age >= older_than && std::fs::remove_dir_all(&path).is_ok() {
                    *removed += 1;
                }
            } else if depth < 12 && !path.join(COMPLETE_MARKER).exists() {
                walk(&path, older_than, depth + 1, removed);
            }
        }
    }
    let mut removed = 0;
    walk(cache_dir, older_than, 0, &mut removed);
    removed
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

/// Downloads a checkpoint into `dir` through a sibling `.partial-…` folder, so an
/// interrupted download never looks complete; the folder is removed when it fails or is
/// cancelled.
fn download(
    url: &str,
    dir: &Path,
    cancel: &CancelDownload,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ModelError> {
    static DOWNLOADS: AtomicU64 = AtomicU64::new(0);
    let mut partial_name = dir.file_name().unwrap_or_default().to_os_string();
    partial_name.push(format!(
        "{PARTIAL_INFIX}-{}-{}",
        std::process::id(),
        DOWNLOADS.fetch_add(1, Ordering::Relaxed)
    ));
    let partial = dir.with_file_name(partial_name);
    let result = download_into(url, dir, &partial, cancel, progress);
    cancel.detach();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}

fn download_into(
    url: &str,
    dir: &Path,
    partial: &Path,
    cancel: &CancelDownload,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ModelError> {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    cancel.attach(&agent, url)?;
    // A failure after a cancel (the connection was closed under a read) is the cancel.
    let fail = |u: &str, e: &dyn std::fmt::Display| {
        if cancel.is_cancelled() {
            cancelled(url)
        } else {
            failed(u, e)
        }
    };
    std::fs::create_dir_all(partial).map_err(|e| ModelError::io("create", partial, e))?;

    let fetch = |name: &str,
                 progress: &mut dyn FnMut(Progress),
                 base: f32,
                 span: f32|
     -> Result<Vec<u8>, ModelError> {
        let u = format!("{url}/{name}");
        if cancel.is_cancelled() {
            return Err(cancelled(url));
        }
        let mut resp = agent.get(&u).call().map_err(|e| fail(&u, &e))?;
        let total = resp.body().content_length();
        let mut reader = resp.body_mut().as_reader();
        let mut data = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        let mut last = 0usize;
        loop {
            let n = reader.read(&mut chunk).map_err(|e| fail(&u, &e))?;
            // Checked between chunks: a cancel ends the download at the next one.
            if cancel.is_cancelled() {
                return Err(cancelled(url));
            }
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
    if cancel.is_cancelled() {
        return Err(cancelled(url));
    }
    // Another instance finished the same download first (and may be reading it): keep
    // its copy.
    if dir.join(COMPLETE_MARKER).is_file() && has_checkpoint(dir) {
        let _ = std::fs::remove_dir_all(partial);
        progress(Progress { message: format!("downloaded {url}"), fraction: Some(1.0) });
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(dir);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io("create", parent, e))?;
    }
    std::fs::rename(partial, dir).map_err(|e| ModelError::io("move download into", dir, e))?;
    progress(Progress { message: format!("downloaded {url}"), fraction: Some(1.0) });
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// Serves files of `root` over HTTP/1.0 on 127.0.0.1 until `requests` were answered;
    /// returns the base URL and the server thread.
    pub(crate) fn serve(root: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        (base, serve_on(listener, root, requests))
    }

    /// [`serve`] on a bound `listener` (connections made before this call wait in its
    /// backlog, so a test can hold a download until it has looked at it).
    pub(crate) fn serve_on(
        listener: std::net::TcpListener,
        root: PathBuf,
        requests: usize,
    ) -> std::thread::JoinHandle<()> {
        use std::io::BufRead;
        std::thread::spawn(move || {
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
        })
    }

    /// Serves files of `root` like [`serve_on`], slowly: each body in `chunk`-byte pieces
    /// with `pause` between them. With `stall`, a body longer than one chunk stops after
    /// its first chunk until `stall`'s sender is dropped (a server that stopped sending).
    /// Ends at the first write that fails (the client went away) or after `requests`.
    pub(crate) fn serve_slowly(
        listener: std::net::TcpListener,
        root: PathBuf,
        requests: usize,
        chunk: usize,
        pause: Duration,
        stall: Option<std::sync::mpsc::Receiver<()>>,
    ) -> std::thread::JoinHandle<()> {
        use std::io::BufRead;
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let Ok(mut stream) = stream else { return };
                let mut line = String::new();
                if std::io::BufReader::new(&mut stream).read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/');
                let Ok(body) = std::fs::read(root.join(path)) else {
                    let _ = stream.write_all(
                        b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                };
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for (i, piece) in body.chunks(chunk.max(1)).enumerate() {
                    if stream.write_all(piece).and_then(|()| stream.flush()).is_err() {
                        return;
                    }
                    if i == 0 && body.len() > chunk {
                        if let Some(stall) = &stall {
                            let _ = stall.recv();
                        }
                    }
                    std::thread::sleep(pause);
                }
            }
        })
    }

    /// A checkpoint of about 1 MB (several shards) in `served/ckpt`; its file count.
    fn served_checkpoint(root: &Path) -> usize {
        let served = root.join("served/ckpt");
        write_rnn(
            &served,
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![180] },
            Storage::Float32,
            3,
        )
        .unwrap();
        std::fs::read_dir(&served).unwrap().count()
    }

    /// A checkpoint served 4 KB at a time with `pause` between chunks (and, with `stall`,
    /// stopping mid-file until that channel closes): its temporary folder, URL and server.
    fn slow_checkpoint_server(
        pause: Duration,
        stall: Option<std::sync::mpsc::Receiver<()>>,
    ) -> (tempfile::TempDir, String, std::thread::JoinHandle<()>) {
        let root = tempfile::tempdir().unwrap();
        let files = served_checkpoint(root.path());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ckpt", listener.local_addr().unwrap());
        let served = root.path().join("served");
        let server = serve_slowly(listener, served, files, 4096, pause, stall);
        (root, url, server)
    }

    /// Runs `fetch_cancellable` of `url` on a thread, cancels it once the shards are being
    /// downloaded (after `after`), and returns how long the thread took to end after the
    /// cancel and its result.
    fn fetch_then_cancel(
        url: String,
        cache: PathBuf,
        after: Duration,
    ) -> (Duration, Result<(PathBuf, bool), ModelError>) {
        let cancel = std::sync::Arc::new(CancelDownload::new());
        let (tx, rx) = std::sync::mpsc::channel();
        let c = cancel.clone();
        let thread = std::thread::spawn(move || {
            fetch_cancellable(&url, &cache, &c, &mut |p| {
                let _ = tx.send(p.message);
            })
        });
        // The manifest is in: the shards come next.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !rx.try_iter().any(|m| m.starts_with("downloading checkpoint")) {
            assert!(std::time::Instant::now() < deadline, "the download never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(after);
        assert!(!thread.is_finished(), "still downloading when cancelled");
        let t0 = std::time::Instant::now();
        cancel.cancel();
        let result = thread.join().unwrap();
        (t0.elapsed(), result)
    }

    /// A slow server (4 KB every 20 ms): a cancel ends the download at its next chunk,
    /// with a Cancelled error, nothing in the cache and no partial folder left.
    #[test]
    fn a_cancelled_fetch_ends_at_the_next_chunk_and_leaves_nothing() {
        let (root, url, server) = slow_checkpoint_server(Duration::from_millis(20), None);
        let cache = root.path().join("cache");
        let (took, result) =
            fetch_then_cancel(url.clone(), cache.clone(), Duration::from_millis(400));
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Cancelled, "{e}");
        assert!(e.message().contains("cancelled") && e.message().contains(&url), "{e}");
        assert!(took < Duration::from_secs(1), "the download ended {took:?} after the cancel");
        assert!(cached(&cache, &url).is_none());
        assert!(!cache_path(&cache, &url).exists());
        assert_no_partials(&cache);
        // The server saw the client go (its write failed) and ended.
        server.join().unwrap();
        // A cancel before the start: nothing is asked of the network.
        let cancel = CancelDownload::new();
        cancel.cancel();
        let e = fetch_cancellable("http://127.0.0.1:9/x/ckpt", &cache, &cancel, &mut |_| {})
            .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Cancelled, "{e}");
    }

    /// A server that stopped sending mid-file: the cancel closes the connection, so the
    /// read waiting on it returns at once (not after the 600 s timeout).
    #[test]
    fn a_cancel_interrupts_a_read_on_a_stalled_server() {
        let (release, stall) = std::sync::mpsc::channel::<()>();
        let (root, url, server) = slow_checkpoint_server(Duration::from_millis(1), Some(stall));
        let cache = root.path().join("cache");
        let (took, result) =
            fetch_then_cancel(url.clone(), cache.clone(), Duration::from_millis(300));
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Cancelled, "{e}");
        assert!(took < Duration::from_secs(1), "the download ended {took:?} after the cancel");
        assert!(!cache_path(&cache, &url).exists());
        assert_no_partials(&cache);
        drop(release);
        server.join().unwrap();
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

    /// `sema-live model fetch`: downloads into the cache the runtime reads URLs from,
    /// once; never stands the bundled model in for a failed download.
    #[test]
    fn fetch_downloads_into_the_cache_once_without_fallback() {
        use crate::ml::random_checkpoint::{write_rnn_family, RnnFamily};
        let root = tempfile::tempdir().unwrap();
        let served = root.path().join("served/music_rnn/drum_kit_rnn");
        write_rnn_family(&served, &RnnFamily::drum_kit_rnn(vec![16]), Storage::Uint8, 4).unwrap();
        let shards = std::fs::read_dir(&served).unwrap().count() - 2;
        let (base, server) = serve(root.path().join("served"), 2 + shards + 2);
        let o = opts(root.path(), false);
        let url = format!("{base}/music_rnn/drum_kit_rnn");
        assert_eq!(cached(&o.cache_dir, &url), None);
        let (dir, now) = fetch(&format!("{url}/"), &o.cache_dir, &mut |_| {}).unwrap();
        assert!(now);
        assert_eq!(dir, cache_path(&o.cache_dir, &url));
        assert_eq!(cached(&o.cache_dir, &url), Some(dir.clone()));
        // Downloads off: the runtime now finds it in the cache.
        let r = resolve(&url, ModelKind::MusicRnn, &o, &mut |_| {}).unwrap();
        assert_eq!(r.dir, dir);
        assert!(crate::ml::music_rnn::MusicRnn::load(&r.dir).is_ok());
        let (again, now) = fetch(&url, &o.cache_dir, &mut |_| {}).unwrap();
        assert_eq!((again, now), (dir, false));
        // A 404 for the bundled model's name is an error here, not the bundled model
        // (the server answers its last two requests).
        write_rnn(
            &o.bundled_dir.join("basic_rnn"),
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![8] },
            Storage::Float32,
            1,
        )
        .unwrap();
        let missing = format!("{base}/music_rnn/basic_rnn");
        let e = fetch(&missing, &o.cache_dir, &mut |_| {}).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Download, "{e}");
        assert!(e.message().contains("basic_rnn/config.json"), "{e}");
        assert!(cached(&o.cache_dir, &missing).is_none());
        let _ = fetch(&format!("{base}/nothing"), &o.cache_dir, &mut |_| {});
        server.join().unwrap();
        assert_no_partials(&o.cache_dir);
        let e = fetch("/some/folder", &o.cache_dir, &mut |_| {}).unwrap_err();
        assert!(e.message().contains("not an http(s) URL"), "{e}");
    }

    #[test]
    fn unreachable_server_falls_back_only_for_the_bundled_name() {
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
        let url = "http://127.0.0.1:9/music_rnn/basic_rnn";
        let r = resolve(url, ModelKind::MusicRnn, &o, &mut |p| msgs.push(p.message)).unwrap();
        assert!(r.fallback);
        assert!(msgs.iter().any(|m| m.contains(&format!("download of {url} failed"))), "{msgs:?}");
        assert!(!cache_path(&o.cache_dir, url).exists());
        // Another model name: an error, not the melody RNN.
        let url = "http://127.0.0.1:9/music_rnn/drum_kit_rnn";
        let e = resolve(url, ModelKind::MusicRnn, &o, &mut |_| {}).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Download, "{e}");
        assert!(e.message().contains("\"drum_kit_rnn\" is not a bundled model"), "{e}");
        // A known download-only model: the message says how to get it.
        assert!(
            e.message().contains("drum_kit_rnn (MusicRNN drums, 11.9 MB) is download-only"),
            "{e}"
        );
        assert_no_partials(&o.cache_dir);
    }

    fn assert_no_partials(cache: &Path) {
        fn walk(d: &Path, found: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().contains(".partial") {
                    found.push(e.path());
                }
                if e.path().is_dir() {
                    walk(&e.path(), found);
                }
            }
        }
        let mut found = Vec::new();
        walk(cache, &mut found);
        assert!(found.is_empty(), "partial downloads left behind: {found:?}");
    }

    #[test]
    fn a_404_is_an_error_unless_the_url_names_the_bundled_model() {
        let root = tempfile::tempdir().unwrap();
        let o = opts(root.path(), true);
        write_rnn(
            &o.bundled_dir.join("basic_rnn"),
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![4] },
            Storage::Float32,
            1,
        )
        .unwrap();
        // The server holds config.json of drum_kit_rnn but no manifest: the download
        // fails after a file was written into the partial folder.
        let served = root.path().join("served");
        std::fs::create_dir_all(served.join("drum_kit_rnn")).unwrap();
        std::fs::write(served.join("drum_kit_rnn/config.json"), b"{}").unwrap();
        let (base, server) = serve(served, 3);
        // A typo'd / unbundled model: a clear error, no fallback, nothing left in the cache.
        let url = format!("{base}/drum_kit_rnn");
        let mut msgs = Vec::new();
        let e = resolve(&url, ModelKind::MusicRnn, &o, &mut |p| msgs.push(p.message)).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Download, "{e}");
        assert!(e.message().contains("404"), "{e}");
        assert!(e.message().contains(&format!("download of {url} failed")), "{e}");
        assert!(e.message().contains("bundles basic_rnn"), "{e}");
        assert!(!msgs.iter().any(|m| m.contains("using the bundled")), "{msgs:?}");
        assert!(!cache_path(&o.cache_dir, &url).exists());
        assert_no_partials(&o.cache_dir);
        // A URL naming the bundled model: the fallback, announced.
        let url = format!("{base}/music_rnn/basic_rnn");
        let r = resolve(&url, ModelKind::MusicRnn, &o, &mut |p| msgs.push(p.message)).unwrap();
        assert!(r.fallback && r.dir.ends_with("bundled/basic_rnn"));
        assert!(msgs
            .iter()
            .any(|m| m.contains("404") && m.contains("using the bundled basic_rnn")));
        assert_no_partials(&o.cache_dir);
        // A VAE URL that is not mel_2bar_small: an error too.
        let url = format!("{base}/music_vae/trio_4bar");
        let e = resolve(&url, ModelKind::MusicVae, &o, &mut |_| {}).unwrap_err();
        assert!(e.message().contains("bundles mel_2bar_small"), "{e}");
        server.join().unwrap();
        // Offline: the same rule.
        let off = opts(root.path(), false);
        let e =
            resolve("https://example.org/x/drum_kit_rnn", ModelKind::MusicRnn, &off, &mut |_| {})
                .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NotFound, "{e}");
        assert!(e.message().contains("downloads are off") && e.message().contains("drum_kit_rnn"));
    }

    #[test]
    fn stale_partial_downloads_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("cache");
        let host = cache.join("example.org/ckpts");
        let stale = [host.join("basic_rnn.partial-123-0"), host.join("old.partial")];
        for d in &stale {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("config.json"), b"{}").unwrap();
        }
        let keep = host.join("basic_rnn");
        std::fs::create_dir_all(&keep).unwrap();
        // Younger than the limit: kept (may be a download under way in another process).
        assert_eq!(remove_stale_partials(&cache, Duration::from_secs(3600)), 0);
        assert!(stale.iter().all(|d| d.is_dir()));
        assert_eq!(remove_stale_partials(&cache, Duration::ZERO), 2);
        assert!(stale.iter().all(|d| !d.exists()) && keep.is_dir());
    }
}
