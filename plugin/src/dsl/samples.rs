//! Sample buffers the DSL's players can play, by name: the built-in kit, Sema's pack
//! (downloaded on request), the user's sample folder and buffers sent from JS with
//! `sema.sendBuffer(name, data)`. See [`crate::control::samples`] for where they come
//! from and when; this module holds them and decodes WAV files.
//!
//! Each name gets a **slot** the first time a program or a buffer names it; a compiled
//! player keeps only its slot number and reads the buffer from the engine's
//! [`SampleBank`] while it plays. So a program can name a sample that has not arrived
//! yet (it plays silence), and the buffer plays as soon as a new bank reaches the audio
//! thread, without recompiling. Slots are shared by every clone of a library (one
//! numbering per plugin instance).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

pub use crate::audio::patch::{SampleBank, SampleBuffer};

/// Most distinct sample names one instance can play.
pub const MAX_SLOTS: usize = 4096;

/// Where a sample came from (shown in the editor's sample list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in kit (synthesised stand-ins under Sema's names).
    Kit,
    /// Sema's own sample pack, downloaded on first use and cached in this file.
    SemaPack(PathBuf),
    /// A WAV file of the user's sample folder (or an imported folder).
    Folder(PathBuf),
    /// Sent from JS with `sema.sendBuffer`.
    Js,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Kit => f.write_str("built-in kit"),
            Origin::SemaPack(p) => write!(f, "Sema's pack ({})", p.display()),
            Origin::Folder(p) => write!(f, "{}", p.display()),
            Origin::Js => f.write_str("sema.sendBuffer"),
        }
    }
}

/// A sample of the library: its buffer and where it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    pub buffer: Arc<SampleBuffer>,
    pub origin: Origin,
}

/// Name → slot numbering, shared by the clones of a library.
#[derive(Debug, Default)]
struct Slots {
    by_name: HashMap<String, u32>,
    names: Vec<String>,
}

/// Named mono sample buffers. Built off the audio thread; the engine reads them through
/// a [`SampleBank`] made by [`SampleLibrary::bank`].
#[derive(Clone, Debug, Default)]
pub struct SampleLibrary {
    buffers: HashMap<String, Entry>,
    slots: Arc<Mutex<Slots>>,
}

/// The playable name of a file stem: letters and digits only (Sema's sample names are
/// `[a-zA-Z0-9]+`, so `elstatic-old1.wav` plays as `\elstaticold1`).
pub fn sample_name(stem: &str) -> String {
    stem.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

impl SampleLibrary {
    /// An empty library.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `.wav` file under `dir` (recursively) into a new library; see
    /// [`SampleLibrary::load_dir`].
    pub fn from_dir(dir: &Path) -> (Self, Vec<String>) {
        let mut lib = Self::new();
        let warnings = lib.load_dir(dir, None, Origin::Folder);
        (lib, warnings)
    }

    /// Loads every `.wav` file under `dir` (recursively), replacing samples of the same
    /// name loaded before (a folder overrides the kit). The name is the file stem with
    /// characters other than letters and digits removed ([`sample_name`]). Files are
    /// resampled to `rate` when given. Returns one warning per file that was skipped or
    /// renamed.
    pub fn load_dir(
        &mut self,
        dir: &Path,
        rate: Option<f64>,
        origin: impl Fn(PathBuf) -> Origin,
    ) -> Vec<String> {
        self.load_dir_filtered(dir, rate, origin, |_| true)
    }

    /// [`SampleLibrary::load_dir`] for the files whose playable name `wanted` accepts
    /// (the others are neither read nor warned about).
    pub fn load_dir_filtered(
        &mut self,
        dir: &Path,
        rate: Option<f64>,
        origin: impl Fn(PathBuf) -> Origin,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in wav_files(dir, &mut warnings) {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let name = sample_name(&stem);
            if !name.is_empty() && !wanted(&name) {
                continue;
            }
            if name.is_empty() {
                warnings
                    .push(format!("{}: the name has no letters or digits, skipped", p.display()));
                continue;
            }
            if name != stem {
                warnings.push(format!("{}: playable as \\{name}", p.display()));
            }
            if !seen.insert(name.clone()) {
                warnings.push(format!(
                    "{}: a sample named '{name}' is already loaded from this folder, skipped",
                    p.display()
                ));
                continue;
            }
            match read_wav_file(&p, rate) {
                Ok(buffer) => self.insert_entry(&name, Arc::new(buffer), origin(p)),
                Err(e) => warnings.push(format!("{}: {e}", p.display())),
            }
        }
        warnings
    }

    /// Adds or replaces a buffer from JS (`sema.sendBuffer`) at `rate`.
    pub fn insert(&mut self, name: &str, data: Vec<f32>, rate: f64) {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 44_100.0 };
        let buffer = SampleBuffer { data: data.into_boxed_slice(), rate };
        self.insert_entry(name, Arc::new(buffer), Origin::Js);
    }

    /// Adds or replaces a buffer, and gives its name a slot.
    pub fn insert_entry(&mut self, name: &str, buffer: Arc<SampleBuffer>, origin: Origin) {
        let _ = self.slot(name);
        self.buffers.insert(name.to_string(), Entry { buffer, origin });
    }

    /// The buffer named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<SampleBuffer>> {
        self.buffers.get(name).map(|e| &e.buffer)
    }

    /// The buffer and origin of `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.buffers.get(name)
    }

    /// Whether a buffer named `name` is loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.buffers.contains_key(name)
    }

    /// The slot of `name`, given on first use (None when [`MAX_SLOTS`] are taken).
    pub fn slot(&self, name: &str) -> Option<u32> {
        let mut s = self.slots.lock();
        if let Some(&i) = s.by_name.get(name) {
            return Some(i);
        }
        if s.names.len() >= MAX_SLOTS {
            return None;
        }
        let i = s.names.len() as u32;
        s.names.push(name.to_string());
        s.by_name.insert(name.to_string(), i);
        Some(i)
    }

    /// Makes this library number its names like `other` (and the clones of both), so
    /// programs compiled against `other` read this library's buffers.
    pub fn share_slots_with(&mut self, other: &SampleLibrary) {
        if Arc::ptr_eq(&self.slots, &other.slots) {
            return;
        }
        self.slots = other.slots.clone();
        let names: Vec<String> = self.buffers.keys().cloned().collect();
        for n in names {
            let _ = self.slot(&n);
        }
    }

    /// Every slot's buffer, for the engine (slots without a buffer stay empty).
    pub fn bank(&self) -> SampleBank {
        let s = self.slots.lock();
        SampleBank::new(s.names.iter().map(|n| self.get(n).cloned()).collect())
    }

    /// Sorted sample names.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.buffers.keys().cloned().collect();
        v.sort();
        v
    }

    /// Every sample, sorted by name (case-insensitively, digits first as in Sema's list).
    pub fn entries(&self) -> Vec<(String, Entry)> {
        let mut v: Vec<(String, Entry)> =
            self.buffers.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
        v.sort_by(|a, b| a.0.to_lowercase().cmp(&b.0.to_lowercase()).then(a.0.cmp(&b.0)));
        v
    }

    /// Number of buffers.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Whether the library is empty.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }
}

/// The `.wav` files under `dir` (recursively, sorted within each folder).
pub fn wav_files(dir: &Path, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => {
                warnings.push(format!("cannot read sample folder {}: {e}", d.display()));
                continue;
            }
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                out.push(p);
            }
        }
    }
    out
}

/// Reads a WAV file (see [`read_wav`]).
pub fn read_wav_file(path: &Path, rate: Option<f64>) -> Result<SampleBuffer, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open ({e})"))?;
    read_wav(std::io::BufReader::new(file), rate)
}

/// Decodes a WAV stream, mixes it down to mono (the players are mono: a stereo file
/// plays the average of its channels) and resamples it to `rate` when given and
/// different from the file's.
pub fn read_wav<R: std::io::Read>(input: R, rate: Option<f64>) -> Result<SampleBuffer, String> {
    let mut reader =
        hound::WavReader::new(input).map_err(|e| format!("not a readable WAV file ({e})"))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            reader.samples::<f32>().collect::<Result<_, _>>().map_err(|e| e.to_string())?
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        }
    };
    let mono: Vec<f32> =
        interleaved.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect();
    if spec.sample_rate == 0 {
        return Err("the file says its sample rate is 0".into());
    }
    let file_rate = spec.sample_rate as f64;
    match rate {
        Some(to) if to.is_finite() && to > 0.0 && (to - file_rate).abs() > 1e-9 => {
            Ok(SampleBuffer { data: resample(&mono, file_rate, to)?.into_boxed_slice(), rate: to })
        }
        _ => Ok(SampleBuffer { data: mono.into_boxed_slice(), rate: file_rate }),
    }
}

/// Resamples mono `data` from `from` Hz to `to` Hz with a band-limited sinc
/// interpolator (rubato), keeping the length in seconds and the timing (the resampler's
/// delay is trimmed).
pub fn resample(data: &[f32], from: f64, to: f64) -> Result<Vec<f32>, String> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{
        Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
        WindowFunction,
    };
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if !(from.is_finite() && to.is_finite() && from > 0.0 && to > 0.0) {
        return Err(format!("cannot resample from {from} Hz to {to} Hz"));
    }
    let params = SincInterpolationParameters {
        sinc_len: 64,
        f_cutoff: Some(0.95),
        interpolation: SincInterpolationType::Cubic,
        oversampling_factor: 32,
        window: WindowFunction::BlackmanHarris2,
    };
    let mut r = Async::<f32>::new_sinc(to / from, 1.0, &params, 1024, 1, FixedAsync::Input)
        .map_err(|e| format!("resampler: {e}"))?;
    let input =
        InterleavedSlice::new(data, 1, data.len()).map_err(|e| format!("resampler: {e}"))?;
    let out = r.process_all(&input, data.len(), None).map_err(|e| format!("resampling: {e}"))?;
    let mut v = out.take_data();
    // The resampler rounds the length up; keep the duration exact.
    v.truncate(((data.len() as f64) * to / from).round().max(1.0) as usize);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_wavs_and_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.join("sub/909-open.wav"), spec).unwrap();
        for i in 0..100 {
            w.write_sample((i * 100) as i16).unwrap();
            w.write_sample((i * 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        std::fs::write(dir.join("broken.wav"), b"nope").unwrap();
        let (lib, warnings) = SampleLibrary::from_dir(dir);
        let b = lib.get("909open").unwrap();
        assert_eq!(b.data.len(), 100);
        assert_eq!(b.rate, 22_050.0);
        assert!((b.data[10] - 1000.0 / 32768.0).abs() < 1e-6);
        assert!(
            matches!(&lib.entry("909open").unwrap().origin, Origin::Folder(p) if p.ends_with("sub/909-open.wav"))
        );
        assert!(warnings.iter().any(|w| w.contains("broken.wav")));
        assert!(warnings.iter().any(|w| w.contains("\\909open")));
    }

    #[test]
    fn slots_are_shared_and_banks_hold_what_is_loaded() {
        let mut lib = SampleLibrary::new();
        let later = lib.slot("later").unwrap();
        let copy = lib.clone();
        lib.insert("kick", vec![0.5; 10], 48_000.0);
        let kick = copy.slot("kick").unwrap();
        assert_ne!(later, kick);
        assert_eq!(copy.slot("later"), Some(later));
        let bank = lib.bank();
        assert!(bank.get(later).is_none());
        assert_eq!(bank.get(kick).unwrap().data.len(), 10);
        lib.insert("later", vec![0.25; 4], 48_000.0);
        assert_eq!(lib.bank().view(later, 24_000.0), (&[0.25f32; 4][..], 2.0));
    }

    #[test]
    fn files_at_other_rates_are_resampled_keeping_pitch_and_length() {
        // 1 s of 1 kHz at 44.1 kHz → 48 kHz: 48 000 samples, still 1 kHz, same level.
        let tone: Vec<f32> = (0..44_100)
            .map(|i| (std::f64::consts::TAU * 1_000.0 * i as f64 / 44_100.0).sin() as f32 * 0.5)
            .collect();
        let mut bytes = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for &x in &tone {
            // Stereo: the left channel and its inverse scaled, mixed down to x * 0.25.
            w.write_sample(x).unwrap();
            w.write_sample(-0.5 * x).unwrap();
        }
        w.finalize().unwrap();
        let b = read_wav(&bytes.get_ref()[..], Some(48_000.0)).unwrap();
        assert_eq!(b.rate, 48_000.0);
        assert_eq!(b.data.len(), 48_000);
        let mid = &b.data[4_000..44_000];
        let crossings = mid.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((832..=834).contains(&crossings), "{crossings} rising crossings in 40 000 samples");
        let peak = mid.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.125).abs() < 0.003, "mixed down to mono: {peak}");
        // The first sample of the tone is where it was (no resampler delay left).
        let first = b.data.iter().position(|x| x.abs() > 0.05).unwrap();
        assert!(first < 12, "starts at {first}");
    }
}
