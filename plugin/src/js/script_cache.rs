//! `importScripts` of other libraries (lodash in Sema's RL tutorials): the script is
//! downloaded from its URL on first use and kept in the user cache
//! (`<cache>/sema-live/models/scripts/`), like model checkpoints; later runs (and offline
//! runs) use the cached copy. `sema-live js cache add URL FILE` seeds the cache from a
//! local file. The tfjs and @magenta/music URLs stay built in and are never fetched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest script downloaded or cached.
pub const MAX_SCRIPT_BYTES: u64 = 16 * 1024 * 1024;
/// How long a download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The scripts folder inside a models cache folder.
pub fn scripts_dir(models_cache: &Path) -> PathBuf {
    models_cache.join("scripts")
}

/// The cache file of `url`: a hash of the whole URL plus its file name, readable in a
/// listing (`3f9a…-lodash.js`).
pub fn cache_path(dir: &Path, url: &str) -> PathBuf {
    // FNV-1a: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.trim().bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    let name = url
        .trim()
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect::<String>();
    let name = if name.is_empty() { "script.js".to_string() } else { name };
    dir.join(format!("{h:016x}-{name}"))
}

/// Where a script came from.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    Cache,
    Network,
}

/// The code of `url`: from the cache, else downloaded (when `allow_network`) and cached.
/// `note` receives console lines (download started, cached).
pub fn fetch_script(
    dir: &Path,
    url: &str,
    allow_network: bool,
    note: &mut dyn FnMut(String),
) -> Result<(String, Fetched), String> {
    let path = cache_path(dir, url);
    if let Ok(code) = std::fs::read_to_string(&path) {
        return Ok((code, Fetched::Cache));
    }
    if !allow_network {
        return Err(format!(
            "importScripts: '{url}' is not in the script cache and the network is off; seed the \
             cache with `sema-live js cache add {url} FILE`"
        ));
    }
    note(format!("importScripts: downloading {url}…"));
    let code = download(url).map_err(|e| {
        format!(
            "importScripts: cannot download '{url}': {e}; without network, seed the cache with \
             `sema-live js cache add {url} FILE`"
        )
    })?;
    match store(dir, url, &code) {
        Ok(p) => note(format!("importScripts: {url} cached as {}", p.display())),
        Err(e) => note(format!("importScripts: {url} loaded but not cached: {e}")),
    }
    Ok((code, Fetched::Network))
}

fn download(url: &str) -> Result<String, String> {
    let url = if url.starts_with("//") { format!("https:{url}") } else { url.to_string() };
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut resp = agent.get(&url).call().map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(MAX_SCRIPT_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(format!("larger than {} MB", MAX_SCRIPT_BYTES / (1024 * 1024)));
    }
    String::from_utf8(body).map_err(|_| "the script is not UTF-8 text".to_string())
}

/// Writes `code` as the cached copy of `url` (atomically: a temporary file renamed).
pub fn store(dir: &Path, url: &str, code: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = cache_path(dir, url);
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, code).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// `sema-live js cache add URL FILE`: seeds the cache with a local copy of `url`.
pub fn add_to_cache(dir: &Path, url: &str, file: &Path) -> Result<PathBuf, String> {
    let meta =
        std::fs::metadata(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(format!("{} is larger than {} MB", file.display(), MAX_SCRIPT_BYTES >> 20));
    }
    let code = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {} as UTF-8 text: {e}", file.display()))?;
    store(dir, url, &code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_scripts_by_url_and_serves_them_offline() {
        let dir =
            std::env::temp_dir().join(format!("sema-live-script-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = "https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.15/lodash.js";
        let mut notes = Vec::new();
        let e = fetch_script(&dir, url, false, &mut |n| notes.push(n)).unwrap_err();
        assert!(e.contains("sema-live js cache add") && e.contains(url), "{e}");
        let src = dir.join("local.js");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&src, "var _ = {x: 1};").unwrap();
        let p = add_to_cache(&dir, url, &src).unwrap();
        assert!(p.file_name().unwrap().to_string_lossy().ends_with("-lodash.js"), "{p:?}");
        let (code, from) = fetch_script(&dir, url, false, &mut |n| notes.push(n)).unwrap();
        assert_eq!((code.as_str(), from), ("var _ = {x: 1};", Fetched::Cache));
        // Another version of the same file is another entry.
        assert_ne!(cache_path(&dir, url), cache_path(&dir, &url.replace("4.17.15", "4.17.21")));
        assert!(notes.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn downloads_once_then_uses_the_cache() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // Serves exactly one request: a second download would hang the test.
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let body = "var fromServer = 42;";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        let dir = std::env::temp_dir().join(format!("sema-live-script-dl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("http://127.0.0.1:{port}/lib/util.js");
        let mut notes = Vec::new();
        let (code, from) = fetch_script(&dir, &url, true, &mut |n| notes.push(n)).unwrap();
        assert_eq!((code.as_str(), from), ("var fromServer = 42;", Fetched::Network));
        server.join().unwrap();
        assert!(notes[0].contains("downloading") && notes[1].contains("cached"), "{notes:?}");
        let (code, from) = fetch_script(&dir, &url, true, &mut |_| {}).unwrap();
        assert_eq!((code.as_str(), from), ("var fromServer = 42;", Fetched::Cache));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
