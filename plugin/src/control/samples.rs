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
//!    into it. It is checked every [`RESCAN_PERIOD`], so a file dropped in plays.
//! 4. Buffers sent from JS with `sema.sendBuffer` (see [`super::controller::insert_buffer`]).
//!
//! `<data>` is `$SEMA_LIVE_DATA`, else the platform's data folder + `sema-live`
//! (`~/.local/share/sema-live` on Linux).
//!
//! Downloads and rescans run on one background thread per plugin instance
//! ([`SampleService`]), started on first use; it holds only a weak handle on the
//! controller and ends with it, and sleeps until asked: one watcher thread per process
//! checks the folders of all instances and tells those whose folder changed, so an idle
//! instance costs no wake-ups however many are loaded. Everything that arrives goes through
//! [`super::controller::Controller::add_sample`], which sends the audio thread a new
//! sample bank: a player already compiled against the name starts playing it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};
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
    #[allow(dead_code)] // describes each stand-in to readers of the table
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
    /// Load only these names (sorted): a render whose code cannot change needs no more,
    /// and starts without decoding the whole kit and folder. None loads everything.
    pub only: Option<Vec<String>>,
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
        Self { folder, data, pack_url, only: None }
    }

    /// The same sources, loading only `names` (see [`SampleSources::only`]).
    pub fn only(mut self, mut names: Vec<String>) -> Self {
        names.sort();
        names.dedup();
        self.only = Some(names);
        self
    }

    /// Whether the sample `name` is to be loaded.
    fn wants(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.binary_search_by(|n| n.as_str().cmp(name)).is_ok())
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

/// FNV-1a over the kit, eight bytes at a time (it runs on every activation): names its
/// folder, so a new build never reads a stale kit.
fn kit_fingerprint() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |word: u64| {
        h ^= word;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for k in KIT {
        for b in k.name.bytes() {
            mix(u64::from(b));
        }
        mix(k.wav.len() as u64);
        let mut words = k.wav.chunks_exact(8);
        for w in &mut words {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(w);
            mix(u64::from_le_bytes(bytes));
        }
        for &b in words.remainder() {
            mix(u64::from(b));
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
/// replace earlier ones of the same name); files of the pack and the folder are resampled
/// to `rate`. Problems go to the console.
/// Also returns the folder's stamps for the rescans.
pub fn load_library(src: &SampleSources, rate: f64, console: &Console) -> (SampleLibrary, Stamps) {
    let mut lib = SampleLibrary::new();
    let warn = |w: String| console.push(Level::Warn, Source::System, w);
    let from_memory = |lib: &mut SampleLibrary, kit: &mut dyn Iterator<Item = &KitSample>| {
        for k in kit {
            match samples::read_wav(k.wav, None) {
                Ok(b) => lib.insert_entry(k.name, Arc::new(b), Origin::Kit),
                Err(e) => warn(format!("built-in sample {}: {e}", k.name)),
            }
        }
    };
    if src.only.is_some() {
        // A few names: straight from the binary, without writing the kit to disk.
        from_memory(&mut lib, &mut KIT.iter().filter(|k| src.wants(k.name)));
    } else {
        match write_kit(&src.data) {
            Ok(dir) => {
                // The kit is made at 48 kHz and not resampled (quick to load on
                // activation): at other host rates the players step through it at its
                // own rate.
                for w in lib.load_dir(&dir, None, |_| Origin::Kit) {
                    warn(w);
                }
            }
            Err(e) => {
                // Not fatal: the kit is in the binary.
                warn(format!("the built-in sample kit was not written to the data folder ({e}); using it from memory"));
                from_memory(&mut lib, &mut KIT.iter());
            }
        }
    }
    if src.only.as_ref().is_some_and(|o| o.iter().all(|n| lib.contains(n))) {
        // Everything wanted is in the kit: the folders are not even listed.
        return (lib, Stamps::new());
    }
    let wanted = |name: &str| src.wants(name);
    let pack = src.pack_dir();
    if pack.is_dir() {
        for w in lib.load_dir_filtered(&pack, Some(rate), Origin::SemaPack, wanted) {
            warn(w);
        }
    }
    let mut stamp = Stamps::new();
    if src.folder.is_dir() {
        for w in lib.load_dir_filtered(&src.folder, Some(rate), Origin::Folder, wanted) {
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
        let folder = src.folder.clone();
        let spawned = std::thread::Builder::new()
            .name("sema-live samples".into())
            .spawn(move || service(controller, src, stamps, rx));
        match spawned {
            Ok(_) => watch(folder, tx.clone()),
            Err(e) => eprintln!("sema-live: cannot start the sample thread: {e}"),
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
    // Asleep until asked: a fetch, or a rescan from the watcher or the editor.
    while let Ok(req) = rx.recv() {
        let Some(c) = controller.upgrade() else { return };
        match req {
            Request::Fetch(name) => fetch(&c, &src, &name),
            Request::Rescan => rescan(&c, &src, &mut stamps),
        }
    }
}

/// The folders the watcher checks, with the services to tell when one changes.
struct Watched {
    folders: HashMap<PathBuf, (Stamps, Vec<Sender<Request>>)>,
    thread: Option<std::thread::Thread>,
}

static WATCHED: Mutex<Option<Watched>> = parking_lot::const_mutex(None);

/// Registers a service for changes of `folder`, starting the process's watcher thread
/// on first use.
fn watch(folder: PathBuf, tx: Sender<Request>) {
    let mut guard = WATCHED.lock();
    let w = guard.get_or_insert_with(|| Watched { folders: HashMap::new(), thread: None });
    let entry = w.folders.entry(folder.clone()).or_insert_with(|| (stamps(&folder), Vec::new()));
    entry.1.push(tx);
    match &w.thread {
        // Asleep with nothing to watch: there is now.
        Some(t) => t.unpark(),
        None => {
            let spawned =
                std::thread::Builder::new().name("sema-live sample folders".into()).spawn(watcher);
            match spawned {
                Ok(h) => w.thread = Some(h.thread().clone()),
                Err(e) => eprintln!("sema-live: cannot start the sample-folder watcher: {e}"),
            }
        }
    }
}

/// The process's watcher: every [`RESCAN_PERIOD`] while some instance watches a folder,
/// asks the services of each changed folder to rescan it; parks while none does. Ended
/// services are forgotten.
fn watcher() {
    loop {
        let folders: Vec<PathBuf> = {
            let mut guard = WATCHED.lock();
            let Some(w) = guard.as_mut() else { return };
            w.folders.retain(|_, (_, txs)| !txs.is_empty());
            w.folders.keys().cloned().collect()
        };
        if folders.is_empty() {
            std::thread::park();
            continue;
        }
        std::thread::sleep(RESCAN_PERIOD);
        for folder in folders {
            // Outside the lock: a slow disk must not hold up instances starting.
            let now = if folder.is_dir() { stamps(&folder) } else { Stamps::new() };
            let mut guard = WATCHED.lock();
            let Some((old, txs)) = guard.as_mut().and_then(|w| w.folders.get_mut(&folder)) else {
                continue;
            };
            if *old != now {
                *old = now;
                // A service that ended (its controller gone) is forgotten.
                txs.retain(|tx| tx.send(Request::Rescan).is_ok());
            }
        }
    }
}

/// Services registered with the watcher for `folder`.
#[cfg(test)]
pub(crate) fn watchers_of(folder: &Path) -> usize {
    let guard = WATCHED.lock();
    guard.as_ref().and_then(|w| w.folders.get(folder)).map_or(0, |(_, t)| t.len())
}

impl Drop for SampleService {
    /// The watcher forgets the service (and parks when no folder is left to watch).
    fn drop(&mut self) {
        if let Some(w) = WATCHED.lock().as_mut() {
            for (_, txs) in w.folders.values_mut() {
                txs.retain(|tx| !tx.same_channel(&self.tx));
            }
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

/// Fetches every name of `names` that Sema's pack has and the library lacks, now (for
/// the renderer, which cannot wait for the background thread). Messages go to the
/// controller's console.
pub fn fetch_now(controller: &Mutex<Controller>, names: &[String]) {
    let src = controller.lock().sample_sources();
    for name in names {
        if pack_file(name).is_some() && !controller.lock().has_sample(name) {
            fetch(controller, &src, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::state::SessionState;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Instant;

    /// A WAV file of `n` samples of 0.5 at `rate`.
    fn wav_bytes(n: usize, rate: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        for _ in 0..n {
            w.write_sample(16_384i16).unwrap();
        }
        w.finalize().unwrap();
        cur.into_inner()
    }

    /// Serves `body` for `GET /<file>`, 404 for anything else; returns the base URL and
    /// the paths asked for.
    fn serve(file: &'static str, body: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/build/", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().push(path.clone());
                if path == format!("/build/{file}") {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: audio/wav\r\nConnection: close\r\n\r\n", body.len());
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(&body);
                } else {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        });
        (url, asked)
    }

    fn attached(src: SampleSources) -> (Arc<Mutex<Controller>>, Arc<Console>) {
        let console = Arc::new(Console::new());
        let (ends, _audio) = crate::audio::engine::queues();
        let c =
            Arc::new(Mutex::new(Controller::new(ends, SessionState::default(), console.clone())));
        crate::control::controller::attach(&c);
        c.lock().set_sample_sources(src);
        (c, console)
    }

    fn wait(what: &str, mut ok: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn the_kit_has_every_name_sema_programs_use_and_is_written_once() {
        let data = tempfile::tempdir().unwrap();
        let dir = write_kit(data.path()).unwrap();
        for name in [
            "909",
            "909b",
            "909closed",
            "909open",
            "click",
            "boom",
            "boom2",
            "spade",
            "machine",
            "dalispark",
        ] {
            let k = KIT
                .iter()
                .find(|k| k.name == name)
                .unwrap_or_else(|| panic!("{name} missing from the kit"));
            let b = samples::read_wav(k.wav, None).unwrap();
            assert!(b.data.iter().any(|x| x.abs() > 0.5), "{name} is nearly silent");
            assert!(dir.join(format!("{name}.wav")).is_file());
            assert!(pack_file(name).is_some(), "{name} is one of Sema's names");
        }
        assert_eq!(write_kit(data.path()).unwrap(), dir);
        let total: usize = KIT.iter().map(|k| k.wav.len()).sum();
        assert!(total < 4 << 20, "the kit stays small: {total} bytes");
    }

    #[test]
    fn a_render_loads_only_the_names_its_program_plays() {
        let data = tempfile::tempdir().unwrap();
        let folder = data.path().join("folder");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("mine.wav"), wav_bytes(480, 48_000)).unwrap();
        std::fs::write(folder.join("other.wav"), wav_bytes(480, 48_000)).unwrap();
        let all =
            SampleSources { folder, data: data.path().join("data"), pack_url: None, only: None };
        let names =
            crate::dsl::sample_names(">{{{4}clt}\\909b, {{2}clt}\\mine, {{3}clt}\\nowhere}mix;")
                .expect("compiles");
        assert_eq!(names, ["909b", "mine", "nowhere"]);
        let console = Console::new();
        let (lib, _) = load_library(&all.clone().only(names), 48_000.0, &console);
        assert_eq!(lib.names(), ["909b", "mine"]);
        // The kit came from the binary: nothing was written to the data folder.
        assert!(!all.data.join("kit").exists());
        // The same buffers as a full load.
        let (full, _) = load_library(&all, 48_000.0, &console);
        assert!(full.names().len() > KIT.len(), "{:?}", full.names());
        for name in ["909b", "mine"] {
            let (a, b) = (lib.entry(name).unwrap(), full.entry(name).unwrap());
            assert_eq!(a.buffer.data, b.buffer.data, "{name}");
            assert_eq!(a.origin, b.origin, "{name}");
        }
        // A program of kit sounds only does not even list the folder.
        let kit_only = all.clone().only(vec!["909".into()]);
        assert_eq!(load_library(&kit_only, 48_000.0, &console).0.names(), ["909"]);
        // No samples at all: an empty library.
        assert!(load_library(&all.only(Vec::new()), 48_000.0, &console).0.names().is_empty());
    }

    #[test]
    fn a_pack_sample_is_downloaded_cached_and_played() {
        let (url, asked) = serve("elstatic-old1.wav", wav_bytes(2205, 22_050));
        let data = tempfile::tempdir().unwrap();
        let src = SampleSources {
            folder: data.path().join("folder"),
            data: data.path().to_path_buf(),
            pack_url: Some(url.clone()),
            only: None,
        };
        let (c, console) = attached(src.clone());
        crate::control::controller::eval_dsl(&c, ">{{4}clt}\\elstaticold1;").expect("compiles");
        wait("the download", || c.lock().has_sample("elstaticold1"));
        assert_eq!(asked.lock().as_slice(), ["/build/elstatic-old1.wav"]);
        let cached = data.path().join("sema-pack/elstatic-old1.wav");
        assert!(cached.is_file());
        let lib = c.lock().samples().clone();
        let e = lib.entry("elstaticold1").unwrap();
        assert_eq!(e.origin, Origin::SemaPack(cached));
        // Resampled to the engine's rate (48 kHz): 0.1 s.
        assert_eq!((e.buffer.rate, e.buffer.data.len()), (48_000.0, 4_800));
        let lines: Vec<String> = console.snapshot().iter().map(|l| l.text.clone()).collect();
        assert!(lines.iter().any(|l| l.contains("downloading") && l.contains(&url)), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("downloaded from Sema's pack")), "{lines:?}");
        // A second instance finds it in the cache: no new request.
        let (c2, _) = attached(src);
        c2.lock().ensure_samples();
        assert!(c2.lock().has_sample("elstaticold1"));
        assert_eq!(asked.lock().len(), 1);
    }

    #[test]
    fn offline_a_pack_sample_says_so_and_unknown_names_are_not_requested() {
        // A port nothing listens on.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = tempfile::tempdir().unwrap();
        let src = SampleSources {
            folder: data.path().join("folder"),
            data: data.path().to_path_buf(),
            pack_url: Some(format!("http://127.0.0.1:{port}/build/")),
            only: None,
        };
        let (c, console) = attached(src);
        crate::control::controller::eval_dsl(&c, ">{{{4}clt}\\bello, {{2}clt}\\nosuchthing}add;")
            .expect("compiles");
        wait("the error", || console.snapshot().iter().any(|l| l.text.contains("cannot download")));
        let lines: Vec<String> = console.snapshot().iter().map(|l| l.text.clone()).collect();
        let bello: Vec<&String> = lines.iter().filter(|l| l.contains("'bello'")).collect();
        assert!(
            bello.iter().any(|l| l.contains("offline?") && l.contains("samples import")),
            "{lines:?}"
        );
        let other: Vec<&String> = lines.iter().filter(|l| l.contains("'nosuchthing'")).collect();
        assert_eq!(other.len(), 1, "{lines:?}");
        assert!(
            other[0].contains("not in Sema's pack") && other[0].contains("plays silence"),
            "{}",
            other[0]
        );
        assert!(!c.lock().has_sample("bello"));
    }

    #[test]
    fn a_file_dropped_into_the_folder_is_picked_up() {
        let data = tempfile::tempdir().unwrap();
        let folder = data.path().join("folder");
        std::fs::create_dir_all(&folder).unwrap();
        let src = SampleSources {
            folder: folder.clone(),
            data: data.path().to_path_buf(),
            pack_url: None,
            only: None,
        };
        let (c, _console) = attached(src);
        crate::control::controller::eval_dsl(&c, ">{{4}clt}\\dropped;").expect("compiles");
        assert!(!c.lock().has_sample("dropped"));
        std::fs::write(folder.join("dropped.wav"), wav_bytes(480, 48_000)).unwrap();
        wait("the rescan", || c.lock().has_sample("dropped"));
        // And an import copies a folder in (names made playable).
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("my-kick.wav"), wav_bytes(100, 44_100)).unwrap();
        std::fs::write(other.path().join("bad.wav"), b"nope").unwrap();
        let (names, warnings) = import_dir(other.path(), &folder).unwrap();
        assert_eq!(names, ["mykick"]);
        assert!(warnings.iter().any(|w| w.contains("bad.wav")), "{warnings:?}");
        c.lock().rescan_samples();
        wait("the import", || c.lock().has_sample("mykick"));
        // One process-wide watcher tells the instance; the instance's own thread sleeps
        // until told, and is forgotten when the instance goes.
        assert_eq!(watchers_of(&folder), 1);
        drop(c);
        assert_eq!(watchers_of(&folder), 0);
    }
}
