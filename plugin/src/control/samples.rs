//! Where the DSL's samples come from, off the audio thread:
//!
//! 1. **The built-in kit**: synthesised stand-ins under Sema's sample names
//!    (`assets/samples`, made by `tools/samplekit`), compiled into the plugin and written
//!    to `<data>/kit/<fingerprint>/` on first use.
//! 2. **Sema's pack**: a name the kit does not have but Sema's app ships is downloaded
//!    on first use from the Sema app's sample URL ([`DEFAULT_PACK_URL`], or
//!    `$SEMA_LIVE_SAMPLE_URL`; `off` disables downloads) into `<data>/sema-pack/`, and
//!    read from there afterwards.
//! 3. **The user's sample folder** (`$SEMA_LIVE_SAMPLES`, else `<data>/samples`): its WAV
//!    files override the kit and the pack; `sema-live samples import DIR` copies a folder
//!    into it. It is rescanned every [`RESCAN_PERIOD`], so a file dropped in plays.
//! 4. Buffers sent from JS with `sema.sendBuffer` (see [`super::controller::insert_buffer`]).
//!
//! `<data>` is `$SEMA_LIVE_DATA`, else the platform's data folder + `sema-live`
//! (`~/.local/share/sema-live` on Linux).
//!
//! Downloads and rescans run on one background thread per plugin instance
//! ([`SampleService`]), started on first use; it holds only a weak handle on the
//! controller and ends with it. Everything that arrives goes through
//! [`super::controller::Controller::add_sample`], which sends the audio thread a new
//! sample bank: a player already compiled against the name starts playing it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::control::console::{Console, Level, Source};
use crate::control::controller::Controller;
use crate::dsl::samples::{self, Origin, SampleLibrary};

/// The Sema app's sample URL: its build emits `assets/samples/*.wav` into `dist/build/`
/// (rollup `url` plugin, `fileName: '[name][extname]'`) and its engine loads each one
/// relative to `document.location.origin + '/build/'` (`controller.init` in
/// `src/pages/playground/_layout.svelte`, `engine.loadSample`).
pub const DEFAULT_PACK_URL: &str = "https://sema.codes/build/";

/// How often the user's sample folder is checked for new or changed files.
pub const RESCAN_PERIOD: Duration = Duration::from_secs(2);

/// The WAV files of Sema's pack (`assets/samples` of mimic-sussex/sema), by file stem.
/// A name is playable as the stem without its non-alphanumeric characters
/// (`elstatic-old1` → `\elstaticold1`).
pub const SEMA_PACK: &[&str] = &[
    "909",
    "909b",
    "909closed",
    "909open",
    "CARinsect",
    "Cryptotympana",
    "Dundunia",
    "InsectBee",
    "InsectBee2",
    "InsectFly",
    "InsecticideZG",
    "Macrosemia",
    "MacrosemiaTonk",
    "MeimunaNau",
    "auboom",
    "auboom2",
    "auclick",
    "audoubelclick2",
    "audoubleclick",
    "auhiclick",
    "ausiclick",
    "backswing-old1",
    "bee",
    "bello",
    "bellrip",
    "bellrip2",
    "bellrip3",
    "bellx",
    "birta",
    "blade-old1",
    "boom",
    "boom2",
    "boomwag",
    "camclick-old1",
    "camina1",
    "camina2",
    "camina3",
    "camina4",
    "chain",
    "chainSpade",
    "click-old1",
    "click",
    "clicko-old1",
    "clicko",
    "clicks1",
    "convol1",
    "convol2",
    "convol3",
    "convol4",
    "convol5",
    "crackle3",
    "crickBee",
    "dalispark",
    "dentist-old1",
    "digaa",
    "dorje",
    "drone1",
    "drone2",
    "drr",
    "electro",
    "elstatic-old1",
    "firecrack",
    "firespark",
    "firespark2",
    "flash-old1",
    "glitch-old1",
    "hapsi",
    "harshi-old1",
    "harshlow-old1",
    "heart",
    "holeMONO",
    "ice",
    "insec",
    "insec2",
    "insec3",
    "insectzapZG",
    "iron",
    "ironrip",
    "jump",
    "kernel",
    "kernel2",
    "kerneldrone",
    "kernelmix",
    "kicic",
    "kicic2",
    "kicicboom",
    "knock",
    "laekur",
    "lookout",
    "machine",
    "magnetclock-old1",
    "noinoi",
    "noise-old1",
    "noise1",
    "noise2",
    "paper",
    "pattern10",
    "pattern11",
    "pattern8",
    "pattern9",
    "patterndrone",
    "patterndrone2",
    "patterndrone3",
    "phoo-old1",
    "pork",
    "rain_ravi",
    "ravi",
    "revbell",
    "rocks",
    "rotatingIron",
    "sbq",
    "skake2Ed",
    "snork",
    "snow",
    "spade",
    "spark",
    "stretch",
    "sweetmachine-old1",
    "swipe-old1",
    "triplet",
    "vindva",
    "vindvabd",
    "vindvaclick",
    "vindvadbase",
    "vindvahat",
    "viromachine-old1",
    "woodsamp",
    "wooo-old1",
    "xylophone",
    "zhish",
    "zzzz",
];

/// The file stem in Sema's pack of the playable name `name`.
pub fn pack_file(name: &str) -> Option<&'static str> {
    SEMA_PACK.iter().copied().find(|f| samples::sample_name(f) == name)
}

macro_rules! kit {
    ($($name:literal: $what:literal),* $(,)?) => {
        &[$(KitSample {
            name: $name,
            what: $what,
            wav: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/samples/", $name, ".wav")),
        }),*]
    };
}

/// One sample of the built-in kit.
pub struct KitSample {
    /// Sema's name for it.
    pub name: &'static str,
    /// What the stand-in is.
    pub what: &'static str,
    /// The WAV file.
    pub wav: &'static [u8],
}

/// The built-in kit: licence-clean stand-ins under Sema's names, synthesised by
/// `tools/samplekit` (see `assets/samples/README.md`).
pub const KIT: &[KitSample] = kit![
    "909": "snare: two detuned body tones and a bright noise burst",
    "909b": "kick: pitch-swept sine with a click",
    "909closed": "closed hi-hat: six square partials through a high-pass, short",
    "909open": "open hi-hat: the same metal, long decay",
    "click": "a 2 ms click",
    "clicks1": "a burst of irregular clicks",
    "auclick": "a band-passed tick",
    "boom": "low boom: a long pitch-swept sine with rumble",
    "boom2": "a shorter, brighter boom",
    "auboom": "a muffled boom",
    "spade": "a metal strike: inharmonic partials ringing out",
    "machine": "a mechanical loop: pulsing motor hum and ticks",
    "dalispark": "electric sparks: crackling noise bursts",
    "spark": "a single spark: a sharp noise crack",
    "woodsamp": "a wood block: a damped resonant knock",
    "crackle3": "crackle: sparse random impulses",
    "convol5": "scraping: noise through a sweeping resonant filter",
    "paper": "paper rustle: band-passed noise in gusts",
    "patterndrone2": "a drone: detuned saws beating slowly",
    "drone1": "a low drone: stacked sines with slow tremolo",
    "kernel": "a textured loop: grainy filtered noise with a pulse",
    "InsectBee": "a buzzing insect: a wavering pulse wave",
];

/// Where samples are looked for (see the module documentation).
#[derive(Clone, Debug)]
pub struct SampleSources {
    /// The user's sample folder.
    pub folder: PathBuf,
    /// The data folder (kit and pack cache).
    pub data: PathBuf,
    /// Base URL of Sema's pack (`<url><file>.wav`); None disables downloads.
    pub pack_url: Option<String>,
}

impl SampleSources {
    /// From the environment: `$SEMA_LIVE_SAMPLES`, `$SEMA_LIVE_DATA`, `$SEMA_LIVE_SAMPLE_URL`.
    pub fn from_env() -> Self {
        let data = data_dir();
        let folder = match std::env::var_os("SEMA_LIVE_SAMPLES") {
            Some(p) => p.into(),
            None => data.join("samples"),
        };
        let pack_url = match std::env::var("SEMA_LIVE_SAMPLE_URL") {
            Ok(u) if u.trim().eq_ignore_ascii_case("off") || u.trim().is_empty() => None,
            Ok(u) => Some(u.trim().to_string()),
            Err(_) => Some(DEFAULT_PACK_URL.to_string()),
        };
        Self { folder, data, pack_url }
    }

    /// The folder downloaded pack samples are cached in.
    pub fn pack_dir(&self) -> PathBuf {
        self.data.join("sema-pack")
    }

    /// The URL of `file` (a pack file stem).
    pub fn pack_url_of(&self, file: &str) -> Option<String> {
        self.pack_url.as_ref().map(|base| {
            let sep = if base.ends_with('/') { "" } else { "/" };
            format!("{base}{sep}{file}.wav")
        })
    }

    /// Where a missing name was looked for, for the console.
    pub fn looked_in(&self) -> String {
        format!(
            "the built-in kit, Sema's pack cache {} and {}",
            self.pack_dir().display(),
            self.folder.display()
        )
    }
}

/// `$SEMA_LIVE_DATA`, else `<platform data dir>/sema-live`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("SEMA_LIVE_DATA") {
        Some(p) => p.into(),
        None => dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("sema-live"),
    }
}

/// FNV-1a over the kit: names its folder, so a new build never reads a stale kit.
fn kit_fingerprint() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for k in KIT {
        for b in k.name.bytes().chain(k.wav.iter().copied()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Writes the kit to `<data>/kit/<fingerprint>/` unless it is there; returns the folder.
pub fn write_kit(data: &Path) -> Result<PathBuf, String> {
    let root = data.join("kit").join(format!("{:016x}", kit_fingerprint()));
    let complete = root.join(".complete");
    if complete.is_file() {
        return Ok(root);
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    for k in KIT {
        let p = root.join(format!("{}.wav", k.name));
        std::fs::write(&p, k.wav).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    std::fs::write(&complete, b"")
        .map_err(|e| format!("cannot write {}: {e}", complete.display()))?;
    Ok(root)
}

/// Size and modification time of each WAV file of a folder (to notice changes).
pub type Stamps = HashMap<PathBuf, (u64, Option<SystemTime>)>;

fn stamps(dir: &Path) -> Stamps {
    let mut ignored = Vec::new();
    samples::wav_files(dir, &mut ignored)
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            Some((p, (m.len(), m.modified().ok())))
        })
        .collect()
}

/// Builds the library: the kit, then the pack cache, then the user's folder (later ones
/// replace earlier ones of the same name), resampled to `rate`. Problems go to the console.
/// Also returns the folder's stamps for the rescans.
pub fn load_library(src: &SampleSources, rate: f64, console: &Console) -> (SampleLibrary, Stamps) {
    let mut lib = SampleLibrary::new();
    let warn = |w: String| console.push(Level::Warn, Source::System, w);
    match write_kit(&src.data) {
        Ok(dir) => {
            for w in lib.load_dir(&dir, Some(rate), |_| Origin::Kit) {
                warn(w);
            }
        }
        Err(e) => {
            // Not fatal: the kit is in the binary.
            warn(format!("the built-in sample kit was not written to the data folder ({e}); using it from memory"));
            for k in KIT {
                match samples::read_wav(k.wav, Some(rate)) {
                    Ok(b) => lib.insert_entry(k.name, Arc::new(b), Origin::Kit),
                    Err(e) => warn(format!("built-in sample {}: {e}", k.name)),
                }
            }
        }
    }
    let pack = src.pack_dir();
    if pack.is_dir() {
        for w in lib.load_dir(&pack, Some(rate), Origin::SemaPack) {
            warn(w);
        }
    }
    let mut stamp = Stamps::new();
    if src.folder.is_dir() {
        for w in lib.load_dir(&src.folder, Some(rate), Origin::Folder) {
            warn(w);
        }
        stamp = stamps(&src.folder);
    }
    (lib, stamp)
}

/// Copies the WAV files of `from` (recursively) into `to`, named by their playable name.
/// Returns the names copied and a warning per file skipped.
pub fn import_dir(from: &Path, to: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    if !from.is_dir() {
        return Err(format!("{} is not a folder", from.display()));
    }
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let mut warnings = Vec::new();
    let mut names = Vec::new();
    for p in samples::wav_files(from, &mut warnings) {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = samples::sample_name(&stem);
        if name.is_empty() {
            warnings.push(format!("{}: the name has no letters or digits, skipped", p.display()));
            continue;
        }
        if let Err(e) = samples::read_wav_file(&p, None) {
            warnings.push(format!("{}: {e}, skipped", p.display()));
            continue;
        }
        let dest = to.join(format!("{name}.wav"));
        std::fs::copy(&p, &dest)
            .map_err(|e| format!("cannot copy {} to {}: {e}", p.display(), dest.display()))?;
        names.push(name);
    }
    Ok((names, warnings))
}

/// Requests for the [`SampleService`] thread.
enum Request {
    /// Find `name` in Sema's pack (cache, else download).
    Fetch(String),
    /// Check the sample folder now.
    Rescan,
}

/// The background thread of one instance (see the module documentation).
pub struct SampleService {
    tx: Sender<Request>,
}

impl SampleService {
    /// Starts the thread. It ends when the controller is dropped.
    pub fn spawn(controller: Weak<Mutex<Controller>>, src: SampleSources, stamps: Stamps) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let spawned = std::thread::Builder::new()
            .name("sema-live samples".into())
            .spawn(move || service(controller, src, stamps, rx));
        if let Err(e) = spawned {
            eprintln!("sema-live: cannot start the sample thread: {e}");
        }
        Self { tx }
    }

    /// Asks for `name` from Sema's pack (in the background).
    pub fn fetch(&self, name: &str) {
        let _ = self.tx.send(Request::Fetch(name.to_string()));
    }

    /// Asks for a rescan of the sample folder now.
    pub fn rescan(&self) {
        let _ = self.tx.send(Request::Rescan);
    }
}

fn service(
    controller: Weak<Mutex<Controller>>,
    src: SampleSources,
    mut stamps: Stamps,
    rx: Receiver<Request>,
) {
    loop {
        let req = match rx.recv_timeout(RESCAN_PERIOD) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Request::Rescan,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(c) = controller.upgrade() else { return };
        match req {
            Request::Fetch(name) => fetch(&c, &src, &name),
            Request::Rescan => rescan(&c, &src, &mut stamps),
        }
    }
}

/// Loads new or changed files of the sample folder.
fn rescan(c: &Mutex<Controller>, src: &SampleSources, old: &mut Stamps) {
    if !src.folder.is_dir() {
        return;
    }
    let now = stamps(&src.folder);
    let changed: Vec<&PathBuf> =
        now.iter().filter(|(p, s)| old.get(*p) != Some(s)).map(|(p, _)| p).collect();
    if changed.is_empty() {
        *old = now;
        return;
    }
    let rate = c.lock().sample_rate();
    for p in changed {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = samples::sample_name(&stem);
        if name.is_empty() {
            continue;
        }
        let console = c.lock().console().clone();
        match samples::read_wav_file(p, Some(rate)) {
            Ok(b) => {
                let mut guard = c.lock();
                let res = guard.add_sample(&name, Arc::new(b), Origin::Folder(p.clone()));
                drop(guard);
                match res {
                    Ok(()) => console.info(
                        Source::System,
                        format!("sample '{name}' loaded from {}", p.display()),
                    ),
                    Err(e) => console.error(Source::System, format!("sample '{name}': {e}")),
                }
            }
            // A file still being written fails to decode: it is tried again next time.
            Err(e) => {
                console.push(Level::Warn, Source::System, format!("{}: {e}", p.display()));
            }
        }
    }
    *old = now;
}

/// Most bytes one pack sample may have.
const MAX_DOWNLOAD: u64 = 64 << 20;

/// Finds `name` in Sema's pack: the cache, else a download into it.
fn fetch(c: &Mutex<Controller>, src: &SampleSources, name: &str) {
    let console = c.lock().console().clone();
    let Some(file) = pack_file(name) else { return };
    let cached = src.pack_dir().join(format!("{file}.wav"));
    if !cached.is_file() {
        let Some(url) = src.pack_url_of(file) else {
            console.push(
                Level::Warn,
                Source::System,
                format!("sample '{name}' is in Sema's pack but downloads are off (SEMA_LIVE_SAMPLE_URL=off): import a Sema checkout's assets/samples with `sema-live samples import DIR`"),
            );
            return;
        };
        console.info(Source::System, format!("sample '{name}': downloading {url}"));
        match download(&url, &cached) {
            Ok(bytes) => console.info(
                Source::System,
                format!(
                    "sample '{name}': downloaded from Sema's pack ({} KB), cached in {}",
                    bytes / 1024,
                    cached.display()
                ),
            ),
            Err(e) => {
                console.error(
                    Source::System,
                    format!("sample '{name}': cannot download it from Sema's pack ({e}); offline? It plays silence until it arrives: `sema-live samples import DIR` with a Sema checkout's assets/samples, a WAV file named {name}.wav in {}, or sema.sendBuffer", src.folder.display()),
                );
                return;
            }
        }
    }
    let rate = c.lock().sample_rate();
    match samples::read_wav_file(&cached, Some(rate)) {
        Ok(b) => {
            let res = c.lock().add_sample(name, Arc::new(b), Origin::SemaPack(cached.clone()));
            if let Err(e) = res {
                console.error(Source::System, format!("sample '{name}': {e}"));
            }
        }
        Err(e) => {
            let _ = std::fs::remove_file(&cached);
            console.error(Source::System, format!("sample '{name}': the file from Sema's pack is unreadable ({e}); removed from the cache"));
        }
    }
}

/// Downloads `url` into `dest` (through a `.partial` file). Returns the size.
fn download(url: &str, dest: &Path) -> Result<u64, String> {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(120)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut resp = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let mut data = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(MAX_DOWNLOAD)
        .read_to_end(&mut data)
        .map_err(|e| format!("{url}: {e}"))?;
    samples::read_wav(&data[..], None).map_err(|e| format!("{url}: {e}"))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let partial = dest.with_extension("partial");
    std::fs::write(&partial, &data)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, dest).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    Ok(data.len() as u64)
}
