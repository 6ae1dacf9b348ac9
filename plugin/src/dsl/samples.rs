//! Sample buffers the DSL's players can play: WAV files from the user's sample folder
//! and buffers sent from JS with `sema.sendBuffer(name, data)`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Named mono sample buffers. Built off the audio thread; compiled programs hold `Arc`
/// clones of the buffers they play.
#[derive(Clone, Debug, Default)]
pub struct SampleLibrary {
    buffers: HashMap<String, (Arc<[f32]>, f64)>,
}

impl SampleLibrary {
    /// An empty library.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `.wav` file under `dir` (recursively). The name is the file stem
    /// with characters other than letters and digits removed (Sema sample names are
    /// `[a-zA-Z0-9]+`). Returns the library and one warning per file that was skipped
    /// or renamed.
    pub fn from_dir(dir: &Path) -> (Self, Vec<String>) {
        let mut lib = Self::new();
        let mut warnings = Vec::new();
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
                    continue;
                }
                if !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                    continue;
                }
                let stem =
                    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let name: String = stem.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
                if name.is_empty() {
                    warnings.push(format!(
                        "{}: the name has no letters or digits, skipped",
                        p.display()
                    ));
                    continue;
                }
                if name != stem {
                    warnings.push(format!("{}: playable as \\{name}", p.display()));
                }
                if lib.buffers.contains_key(&name) {
                    warnings.push(format!(
                        "{}: a sample named '{name}' is already loaded, skipped",
                        p.display()
                    ));
                    continue;
                }
                match read_wav_mono(&p) {
                    Ok((data, rate)) => lib.insert(&name, data, rate),
                    Err(e) => warnings.push(format!("{}: {e}", p.display())),
                }
            }
        }
        (lib, warnings)
    }

    /// Adds or replaces a buffer (used for JS `sema.sendBuffer`).
    pub fn insert(&mut self, name: &str, data: Vec<f32>, rate: f64) {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 44_100.0 };
        self.buffers.insert(name.to_string(), (Arc::from(data), rate));
    }

    /// The buffer and its sample rate.
    pub fn get(&self, name: &str) -> Option<(Arc<[f32]>, f64)> {
        self.buffers.get(name).map(|(d, r)| (d.clone(), *r))
    }

    /// Sorted sample names.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.buffers.keys().cloned().collect();
        v.sort();
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

/// Reads a WAV file and mixes it down to mono f32.
fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, f64), String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("not a readable WAV file ({e})"))?;
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
    let mono =
        interleaved.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect();
    Ok((mono, spec.sample_rate as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_wavs_and_names_them() {
        let dir = std::env::temp_dir().join(format!("sema_samples_{}", std::process::id()));
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
        let (lib, warnings) = SampleLibrary::from_dir(&dir);
        let (data, rate) = lib.get("909open").unwrap();
        assert_eq!(data.len(), 100);
        assert_eq!(rate, 22_050.0);
        assert!((data[10] - 1000.0 / 32768.0).abs() < 1e-6);
        assert!(warnings.iter().any(|w| w.contains("broken.wav")));
        assert!(warnings.iter().any(|w| w.contains("\\909open")));
        std::fs::remove_dir_all(&dir).ok();
    }
}
