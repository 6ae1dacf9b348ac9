//! Reads (and, for tests and benches, writes) magenta.js checkpoint folders:
//! `config.json`, `weights_manifest.json` and the binary shards it names.
//!
//! Format (tfjs `io.loadWeights`): the manifest is a list of groups; the shards of a group
//! are concatenated in order and the group's tensors lie back to back in that buffer,
//! little endian, without padding. A tensor is float32, or quantised as uint8/uint16
//! (`value = q * scale + min`, computed in f64 then rounded to f32 as JS does) or float16.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ml::core::lstm::packed::{dequantise, Source};
use crate::ml::error::{ModelError, ModelErrorKind};

/// One float32 variable of a checkpoint (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    /// Shape as in the manifest.
    pub shape: Vec<usize>,
    /// Values, `prod(shape)` of them.
    pub data: Vec<f32>,
}

impl Var {
    /// Rows and columns of a 2-D variable, or an error naming it.
    pub fn dims2(&self, name: &str) -> Result<(usize, usize), ModelError> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => Err(ModelError::bad_checkpoint(format!(
                "checkpoint variable {name}: expected 2-D shape, got {:?}",
                self.shape
            ))),
        }
    }

    /// Length of a 1-D variable, or an error naming it.
    pub fn dims1(&self, name: &str) -> Result<usize, ModelError> {
        match self.shape[..] {
            [n] => Ok(n),
            _ => Err(ModelError::bad_checkpoint(format!(
                "checkpoint variable {name}: expected 1-D shape, got {:?}",
                self.shape
            ))),
        }
    }
}

/// `dataConverter` of `config.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConverterSpec {
    /// Converter class, e.g. `MelodyConverter`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Constructor arguments.
    pub args: ConverterArgs,
}

/// Arguments of the data converters (each reads the ones it knows).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConverterArgs {
    /// Lowest pitch.
    pub min_pitch: Option<i32>,
    /// Highest pitch.
    pub max_pitch: Option<i32>,
    /// Fixed length in steps (MusicVAE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_steps: Option<usize>,
    /// Whether to skip simultaneous notes (default true) instead of failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_polyphony: Option<bool>,
    /// Conductor segments of a hierarchical MusicVAE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_segments: Option<usize>,
    /// Drum pitch classes (drum converters; default: the 9 standard classes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pitch_classes: Option<Vec<Vec<i32>>>,
    /// The trio's melody part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mel_args: Option<Box<ConverterArgs>>,
    /// The trio's bass part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bass_args: Option<Box<ConverterArgs>>,
    /// The trio's drum part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drums_args: Option<Box<ConverterArgs>>,
    /// Grid steps per quarter note (GrooveConverter; default 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_quarter: Option<u32>,
    /// GrooveConverter: the input's velocities and offsets left out (the model adds them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub humanize: Option<bool>,
    /// GrooveConverter: every input note on one drum class, velocity 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tapify: Option<bool>,
    /// GrooveConverter: one model step per drum class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_instruments: Option<bool>,
}

/// `config.json` of a checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelConfig {
    /// `MusicRNN` or `MusicVAE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Data converter.
    pub data_converter: ConverterSpec,
    /// Conductor segments (magenta.js reads them from `dataConverter.args`; accepted here
    /// too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_segments: Option<usize>,
    /// Attention length of attention_rnn (read from config; vars decide).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_length: Option<usize>,
    /// Chord encoder of a chord-conditioned model (`PitchChordEncoder`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chord_encoder: Option<serde_json::Value>,
    /// Auxiliary inputs of a MusicRNN (`BinaryCounter`s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux_inputs: Option<Vec<serde_json::Value>>,
    /// A MusicVAE with a Bernoulli decoder; not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_boolean_decoder: Option<bool>,
    /// A key-conditioned MusicVAE; not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition_on_key: Option<bool>,
    /// Extra control signals of a MusicVAE; not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_controls: Option<serde_json::Value>,
}

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Folder it came from.
    pub dir: PathBuf,
    /// Parsed `config.json`.
    pub config: ModelConfig,
    /// float32 variables by name (float16 ones widened).
    pub vars: HashMap<String, Var>,
    /// uint8/uint16 variables by name, kept as their codes.
    pub quantised: HashMap<String, QuantVar>,
}

impl Checkpoint {
    /// A variable by name as float32 (a quantised one dequantised into a copy), or an
    /// error naming the missing variable and the folder.
    pub fn var(&self, name: &str) -> Result<Cow<'_, Var>, ModelError> {
        if let Some(v) = self.vars.get(name) {
            return Ok(Cow::Borrowed(v));
        }
        match self.quantised.get(name) {
            Some(q) => Ok(Cow::Owned(q.dequantise())),
            None => Err(self.missing(name)),
        }
    }

    fn missing(&self, name: &str) -> ModelError {
        ModelError::bad_checkpoint(format!(
            "checkpoint {}: missing variable {name}",
            self.dir.display()
        ))
    }

    /// A variable's shape.
    pub fn shape(&self, name: &str) -> Result<&[usize], ModelError> {
        match (self.vars.get(name), self.quantised.get(name)) {
            (Some(v), _) => Ok(&v.shape),
            (_, Some(q)) => Ok(&q.shape),
            _ => Err(self.missing(name)),
        }
    }

    /// A variable's values as stored (float32 or codes), for the native kernels.
    pub(crate) fn source(&self, name: &str) -> Result<Source<'_>, ModelError> {
        match (self.vars.get(name), self.quantised.get(name)) {
            (Some(v), _) => Ok(Source::F32(&v.data)),
            (_, Some(q)) => Ok(q.source()),
            _ => Err(self.missing(name)),
        }
    }

    /// Whether a variable is kept as uint8/uint16 codes.
    pub fn is_quantised(&self, name: &str) -> bool {
        self.quantised.contains_key(name)
    }

    /// Whether a variable exists.
    pub fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name) || self.quantised.contains_key(name)
    }
}

/// Quantisation info of a manifest entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Quantization {
    /// Storage type: `uint8`, `uint16` or `float16`.
    pub dtype: String,
    /// Offset (uint8/uint16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Step (uint8/uint16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
}

/// One tensor entry of a manifest group.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ManifestEntry {
    /// Variable name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Logical dtype; only `float32` is supported.
    pub dtype: String,
    /// Present for quantised storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
}

/// One manifest group: shards concatenated in order hold the entries back to back.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ManifestGroup {
    /// Shard file names, relative to the checkpoint folder.
    pub paths: Vec<String>,
    /// Tensors in storage order.
    pub weights: Vec<ManifestEntry>,
}

/// Bytes per stored element of an entry, or an error for unsupported types.
fn storage_bytes(e: &ManifestEntry) -> Result<usize, ModelError> {
    if e.dtype != "float32" {
        return Err(ModelError::unsupported(format!(
            "weight {}: unsupported dtype {:?} (only float32)",
            e.name, e.dtype
        )));
    }
    match &e.quantization {
        None => Ok(4),
        Some(q) => match q.dtype.as_str() {
            "uint8" => Ok(1),
            "uint16" | "float16" => Ok(2),
            other => Err(ModelError::unsupported(format!(
                "weight {}: unsupported quantization dtype {other:?}",
                e.name
            ))),
        },
    }
}

/// Converts an IEEE 754 half to f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // Subnormal half: value = man * 2^-24, exactly representable in f32.
            let v = man as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

/// A tensor kept as its uint8/uint16 codes; its values are `f32(q * scale + min)` with the
/// product and sum in f64, as tfjs computes them at load.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantVar {
    /// Shape as in the manifest.
    pub shape: Vec<usize>,
    /// The stored codes.
    pub codes: QuantCodes,
    /// Offset.
    pub min: f64,
    /// Step.
    pub scale: f64,
}

/// The codes of a quantised tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantCodes {
    /// One byte per value.
    U8(Vec<u8>),
    /// Two bytes per value.
    U16(Vec<u16>),
}

impl QuantVar {
    /// The values as tfjs holds them (a float32 copy).
    pub fn dequantise(&self) -> Var {
        Var {
            shape: self.shape.clone(),
            data: (0..self.len()).map(|i| self.source().value(i)).collect(),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match &self.codes {
            QuantCodes::U8(c) => c.len(),
            QuantCodes::U16(c) => c.len(),
        }
    }

    /// Whether it holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn source(&self) -> Source<'_> {
        let (min, scale) = (self.min, self.scale);
        match &self.codes {
            QuantCodes::U8(codes) => Source::U8 { codes, min, scale },
            QuantCodes::U16(codes) => Source::U16 { codes, min, scale },
        }
    }
}

/// Decodes a run of an entry's bytes (a whole number of elements) onto `out`.
fn decode_into(q: Option<&Quantization>, minmax: (f64, f64), bytes: &[u8], out: &mut Vec<f32>) {
    let (min, scale) = minmax;
    match q.map(|q| q.dtype.as_str()) {
        None => {
            out.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        Some("float16") => {
            out.extend(bytes.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))))
        }
        // JS: Float32Array.from(q, v => v * scale + min): f64 arithmetic, one rounding.
        Some("uint8") => out.extend(bytes.iter().map(|&b| dequantise(b as f64, min, scale))),
        Some(_) => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| dequantise(u16::from_le_bytes([b[0], b[1]]) as f64, min, scale)),
        ),
    }
}

/// A group's shards read one after another as one stream, a piece at a time (a
/// checkpoint is never held twice: each tensor is decoded straight from the files).
struct Shards {
    files: std::collections::VecDeque<(PathBuf, u64)>,
    current: Option<(std::io::BufReader<std::fs::File>, PathBuf)>,
}

impl Shards {
    /// Opens nothing yet; returns the stream and the bytes all shards hold.
    fn new(dir: &Path, manifest: &Path, paths: &[String]) -> Result<(Self, u64), ModelError> {
        let mut files = std::collections::VecDeque::new();
        let mut total = 0u64;
        for p in paths {
            // Shard names are relative; refuse anything that climbs out of the folder.
            if p.contains("..") || Path::new(p).is_absolute() {
                return Err(ModelError::bad_checkpoint(format!(
                    "{}: shard path {p:?} is not inside the checkpoint",
                    manifest.display()
                )));
            }
            let sp = dir.join(p);
            let len =
                std::fs::metadata(&sp).map_err(|e| ModelError::io("read shard", &sp, e))?.len();
            total += len;
            files.push_back((sp, len));
        }
        Ok((Shards { files, current: None }, total))
    }

    /// Fills `buf` from the shards in order.
    fn read_exact(&mut self, mut buf: &mut [u8]) -> Result<(), ModelError> {
        use std::io::Read;
        while !buf.is_empty() {
            if self.current.is_none() {
                let Some((sp, _)) = self.files.pop_front() else {
                    return Err(ModelError::bad_checkpoint("shards ended early (truncated)"));
                };
                let f =
                    std::fs::File::open(&sp).map_err(|e| ModelError::io("read shard", &sp, e))?;
                self.current = Some((std::io::BufReader::with_capacity(1 << 16, f), sp));
            }
            let Some((r, sp)) = self.current.as_mut() else { continue };
            let n = r.read(buf).map_err(|e| ModelError::io("read shard", sp, e))?;
            if n == 0 {
                self.current = None;
            } else {
                buf = &mut buf[n..];
            }
        }
        Ok(())
    }
}

/// Decoded tensors of a checkpoint: float32 ones (float16 widened) and, when asked to keep
/// them, uint8/uint16 ones as their codes.
type Weights = (HashMap<String, Var>, HashMap<String, QuantVar>);

/// Reads `weights_manifest.json` and its shards from `dir`, every tensor as float32
/// (quantised ones dequantised as tfjs does).
pub fn read_weights(dir: &Path) -> Result<HashMap<String, Var>, ModelError> {
    Ok(read_weights_with(dir, false, &mut |_, _| {})?.0)
}

/// Reads the weights; `keep_quantised` keeps uint8/uint16 tensors as their codes.
/// `progress(done, total)` hears the bytes read so far after every piece.
pub fn read_weights_with(
    dir: &Path,
    keep_quantised: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Weights, ModelError> {
    let manifest_path = dir.join("weights_manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| ModelError::io("read", &manifest_path, e))?;
    let groups: Vec<ManifestGroup> = serde_json::from_str(&text).map_err(|e| {
        ModelError::bad_checkpoint(format!("invalid {}: {e}", manifest_path.display()))
    })?;
    let mut opened = Vec::new();
    let mut all = 0u64;
    for g in &groups {
        let (shards, total) = Shards::new(dir, &manifest_path, &g.paths)?;
        all += total;
        opened.push((shards, total));
    }
    let mut done = 0u64;
    let mut vars = HashMap::new();
    let mut quantised = HashMap::new();
    // Read in pieces of this many bytes (a whole number of elements of any type).
    const PIECE: usize = 1 << 20;
    let mut piece = vec![0u8; PIECE];
    for (gi, (group, (mut shards, total))) in groups.iter().zip(opened).enumerate() {
        let buf_len = usize::try_from(total).unwrap_or(usize::MAX);
        let mut offset = 0usize;
        for e in &group.weights {
            let count = e.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let size = count
                .and_then(|c| storage_bytes(e).ok().and_then(|b| c.checked_mul(b)))
                .ok_or_else(|| match storage_bytes(e) {
                    Err(err) => err,
                    Ok(_) => ModelError::bad_checkpoint(format!(
                        "weight {}: shape {:?} too large",
                        e.name, e.shape
                    )),
                })?;
            // Saturating: a huge size must be reported, not overflow.
            let end = offset.saturating_add(size);
            if end > buf_len {
                return Err(ModelError::bad_checkpoint(format!(
                    "checkpoint {}: group {gi} shards hold {buf_len} bytes but weight {} needs bytes {offset}..{end} (truncated or mismatched shards)",
                    dir.display(),
                    e.name
                )));
            }
            let count = count.unwrap_or(0);
            let q = e.quantization.as_ref();
            let minmax = match q {
                Some(q) if q.dtype == "uint8" || q.dtype == "uint16" => match (q.min, q.scale) {
                    (Some(min), Some(scale)) => (min, scale),
                    _ => {
                        return Err(ModelError::bad_checkpoint(format!(
                            "weight {}: {} quantization needs min and scale",
                            e.name, q.dtype
                        )))
                    }
                },
                _ => (0.0, 0.0),
            };
            let keep = keep_quantised && q.is_some_and(|q| q.dtype.starts_with("uint"));
            let mut read = |out: &mut dyn FnMut(&[u8])| -> Result<(), ModelError> {
                let mut left = size;
                while left > 0 {
                    let n = left.min(PIECE);
                    shards.read_exact(&mut piece[..n]).map_err(|err| {
                        err.context(format_args!("checkpoint {} weight {}", dir.display(), e.name))
                    })?;
                    out(&piece[..n]);
                    left -= n;
                    done += n as u64;
                    progress(done, all);
                }
                Ok(())
            };
            if keep && q.is_some_and(|q| q.dtype == "uint8") {
                let mut codes = Vec::with_capacity(count);
                read(&mut |b| codes.extend_from_slice(b))?;
                let (min, scale) = minmax;
                let var =
                    QuantVar { shape: e.shape.clone(), codes: QuantCodes::U8(codes), min, scale };
                quantised.insert(e.name.clone(), var);
            } else if keep {
                let mut codes = Vec::with_capacity(count);
                read(&mut |b| {
                    codes.extend(b.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])))
                })?;
                let (min, scale) = minmax;
                let var =
                    QuantVar { shape: e.shape.clone(), codes: QuantCodes::U16(codes), min, scale };
                quantised.insert(e.name.clone(), var);
            } else {
                let mut data = Vec::with_capacity(count);
                read(&mut |b| decode_into(q, minmax, b, &mut data))?;
                quantised.remove(&e.name);
                vars.insert(e.name.clone(), Var { shape: e.shape.clone(), data });
                offset = end;
                continue;
            }
            vars.remove(&e.name);
            offset = end;
        }
        if offset != buf_len {
            return Err(ModelError::bad_checkpoint(format!(
                "checkpoint {}: group {gi} shards hold {buf_len} bytes but the manifest describes {offset} (mismatched shards)",
                dir.display(),
            )));
        }
    }
    Ok((vars, quantised))
}

/// Reads `config.json` from `dir`.
pub fn read_config(dir: &Path) -> Result<ModelConfig, ModelError> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).map_err(|e| ModelError::io("read", &p, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::bad_checkpoint(format!("invalid {}: {e}", p.display())))
}

/// Loads a whole checkpoint folder (uint8/uint16 tensors kept as their codes).
pub fn load(dir: &Path) -> Result<Checkpoint, ModelError> {
    load_with(dir, &mut |_, _| {})
}

/// `load`, telling `progress(done, total)` the weight bytes read so far.
pub fn load_with(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Checkpoint, ModelError> {
    let config = read_config(dir)?;
    let (vars, quantised) = read_weights_with(dir, true, progress)?;
    Ok(Checkpoint { dir: dir.to_path_buf(), config, vars, quantised })
}

/// How `write` stores the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Plain float32.
    Float32,
    /// uint8 with per-tensor min/scale (as tfjs's `--quantize_uint8`).
    Uint8,
    /// uint16 with per-tensor min/scale.
    Uint16,
    /// IEEE half.
    Float16,
}

/// Converts an f32 to the nearest IEEE half (round to nearest even), for writing.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let round = (rem > mid || (rem == mid && half & 1 == 1)) as u32;
        return sign | (half + round) as u16;
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    let round = (rem > 0x1000 || (rem == 0x1000 && half & 1 == 1)) as u32;
    sign | (half + round) as u16
}

/// Writes a checkpoint folder in the magenta.js format: `config.json`,
/// `weights_manifest.json` (one group) and shards of at most `shard_bytes` bytes each
/// (tensors may straddle shards, as in real checkpoints). Returns the vars as a reader
/// will see them (quantised values dequantised), so callers can compare.
pub fn write(
    dir: &Path,
    config: &serde_json::Value,
    vars: &[(String, Var)],
    storage: Storage,
    shard_bytes: usize,
) -> Result<HashMap<String, Var>, ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io("create", dir, e))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut entries = Vec::new();
    for (name, var) in vars {
        let mut entry = ManifestEntry {
            name: name.clone(),
            shape: var.shape.clone(),
            dtype: "float32".into(),
            quantization: None,
        };
        match storage {
            Storage::Float32 => {
                for v in &var.data {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            Storage::Float16 => {
                entry.quantization =
                    Some(Quantization { dtype: "float16".into(), min: None, scale: None });
                for v in &var.data {
                    buf.extend_from_slice(&f32_to_f16(*v).to_le_bytes());
                }
            }
            Storage::Uint8 | Storage::Uint16 => {
                let levels = if storage == Storage::Uint8 { 255.0 } else { 65535.0 };
                let lo = var.data.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
                let hi = var.data.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
                let scale = if hi > lo { (hi - lo) / levels } else { 1.0 };
                for v in &var.data {
                    let q = ((*v as f64 - lo) / scale).round().clamp(0.0, levels);
                    if storage == Storage::Uint8 {
                        buf.push(q as u8);
                    } else {
                        buf.extend_from_slice(&(q as u16).to_le_bytes());
                    }
                }
                let dtype = if storage == Storage::Uint8 { "uint8" } else { "uint16" };
                entry.quantization =
                    Some(Quantization { dtype: dtype.into(), min: Some(lo), scale: Some(scale) });
            }
        }
        entries.push(entry);
    }
    let shard_bytes = shard_bytes.max(1);
    let mut paths = Vec::new();
    let nshards = buf.len().div_ceil(shard_bytes).max(1);
    for (i, chunk) in buf.chunks(shard_bytes).enumerate() {
        let name = format!("group1-shard{}of{}", i + 1, nshards);
        std::fs::write(dir.join(&name), chunk)
            .map_err(|e| write_error(&format!("shard {name}"), e))?;
        paths.push(name);
    }
    if buf.is_empty() {
        let name = "group1-shard1of1".to_string();
        std::fs::write(dir.join(&name), [])
            .map_err(|e| write_error(&format!("shard {name}"), e))?;
        paths.push(name);
    }
    let manifest = vec![ManifestGroup { paths, weights: entries }];
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ModelError::bad_input(e.to_string()))?;
    std::fs::write(dir.join("weights_manifest.json"), text)
        .map_err(|e| write_error("manifest", e))?;
    let text =
        serde_json::to_string_pretty(config).map_err(|e| ModelError::bad_input(e.to_string()))?;
    std::fs::write(dir.join("config.json"), text).map_err(|e| write_error("config", e))?;
    read_weights(dir)
}

/// "cannot write `what`: `e`" (`write` names files relative to the checkpoint).
fn write_error(what: &str, e: std::io::Error) -> ModelError {
    ModelError::new(ModelErrorKind::Io, format!("cannot write {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vec<(String, Var)> {
        vec![
            (
                "a/kernel".into(),
                Var { shape: vec![3, 5], data: (0..15).map(|i| i as f32 * 0.37 - 2.0).collect() },
            ),
            ("a/bias".into(), Var { shape: vec![5], data: vec![0.5, -0.25, 1.0, 3.0, -7.5] }),
            ("s".into(), Var { shape: vec![], data: vec![42.0] }),
        ]
    }

    #[test]
    fn float32_round_trip_across_small_shards() {
        let dir = tempfile::tempdir().unwrap();
        let got =
            write(dir.path(), &json!({"type": "MusicRNN"}), &vars(), Storage::Float32, 7).unwrap();
        for (name, v) in vars() {
            assert_eq!(got[&name], v, "{name}");
        }
        // 7-byte shards: more than one shard, and tensors straddle them.
        assert!(std::fs::read_dir(dir.path()).unwrap().count() > 5);
        let ck = load(dir.path()).unwrap();
        assert_eq!(ck.config.kind, "MusicRNN");
        let e = ck.var("nope").unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.to_string().contains("missing variable nope"), "{e}");
    }

    #[test]
    fn uint8_and_uint16_dequantise_with_js_arithmetic() {
        let dir = tempfile::tempdir().unwrap();
        let got = write(dir.path(), &json!({}), &vars(), Storage::Uint8, 1 << 20).unwrap();
        let k = &got["a/kernel"];
        // min = -2, max = -2 + 14 * 0.37: each value within half a quantisation step.
        let step = (14.0 * 0.37) / 255.0;
        for (i, v) in k.data.iter().enumerate() {
            let orig = i as f32 * 0.37 - 2.0;
            assert!((v - orig).abs() <= step * 0.5 + 1e-6, "{i}: {v} vs {orig}");
        }
        assert_eq!(k.data[0], -2.0);
        // Hand-made manifest: q * scale + min evaluated in f64, rounded once.
        std::fs::write(dir.path().join("w.bin"), [0u8, 1, 255]).unwrap();
        std::fs::write(
            dir.path().join("weights_manifest.json"),
            r#"[{"paths":["w.bin"],"weights":[{"name":"q","shape":[3],"dtype":"float32",
                "quantization":{"dtype":"uint8","min":-1.0,"scale":0.1}}]}]"#,
        )
        .unwrap();
        let v = read_weights(dir.path()).unwrap();
        assert_eq!(
            v["q"].data,
            vec![-1.0f32, (0.1f64 - 1.0) as f32, (255.0 * 0.1f64 - 1.0) as f32]
        );

        let dir2 = tempfile::tempdir().unwrap();
        let got = write(dir2.path(), &json!({}), &vars(), Storage::Uint16, 3).unwrap();
        let step = (14.0 * 0.37) / 65535.0;
        for (i, v) in got["a/kernel"].data.iter().enumerate() {
            assert!((v - (i as f32 * 0.37 - 2.0)).abs() <= step + 1e-6);
        }
    }

    #[test]
    fn quantised_tensors_stay_codes_and_load_reports_progress() {
        let dir = tempfile::tempdir().unwrap();
        for storage in [Storage::Uint8, Storage::Uint16] {
            let want = write(dir.path(), &json!({}), &vars(), storage, 5).unwrap();
            let mut seen = Vec::new();
            let ck = load_with(dir.path(), &mut |done, total| seen.push((done, total))).unwrap();
            assert!(ck.vars.is_empty(), "{storage:?}");
            let q = &ck.quantised["a/kernel"];
            assert_eq!(q.len(), 15);
            let bytes = if storage == Storage::Uint8 { 1 } else { 2 };
            assert!(matches!((&q.codes, bytes), (QuantCodes::U8(_), 1) | (QuantCodes::U16(_), 2)));
            // Their values are what a float32 reader (and tfjs) sees.
            for (name, v) in &want {
                assert_eq!(&*ck.var(name).unwrap(), v, "{name}");
                assert!(ck.is_quantised(name) && ck.has(name));
                assert_eq!(ck.shape(name).unwrap(), &v.shape[..]);
            }
            let total = (15 + 5 + 1) * bytes as u64;
            assert_eq!(seen.last(), Some(&(total, total)));
            assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    #[test]
    fn float16_round_trip() {
        for x in [0.0f32, 1.0, -2.5, 0.333, 65504.0, 6.1e-5, 3.0e-7, -1.0e-6] {
            let back = f16_to_f32(f32_to_f16(x));
            assert!((back - x).abs() <= x.abs() * 1e-3 + 6e-8, "{x} -> {back}");
        }
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x8001), -5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
        let dir = tempfile::tempdir().unwrap();
        let got = write(dir.path(), &json!({}), &vars(), Storage::Float16, 5).unwrap();
        assert_eq!(got["a/bias"].data, vec![0.5, -0.25, 1.0, 3.0, -7.5]);
    }

    /// The error of reading `dir`'s weights: its kind, and its text (what users read).
    fn weights_error(dir: &Path) -> (ModelErrorKind, String) {
        let e = read_weights(dir).unwrap_err();
        (e.kind(), e.to_string())
    }

    #[test]
    fn corrupt_checkpoints_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &json!({}), &vars(), Storage::Float32, 1 << 20).unwrap();
        let shard = dir.path().join("group1-shard1of1");
        let bytes = std::fs::read(&shard).unwrap();
        std::fs::write(&shard, &bytes[..bytes.len() - 4]).unwrap();
        let (kind, e) = weights_error(dir.path());
        assert_eq!(kind, ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.contains("weight s") && e.contains("truncated"), "{e}");
        std::fs::write(&shard, [bytes.clone(), vec![0; 8]].concat()).unwrap();
        let (kind, e) = weights_error(dir.path());
        assert_eq!(kind, ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.contains("mismatched"), "{e}");
        std::fs::remove_file(&shard).unwrap();
        let (kind, e) = weights_error(dir.path());
        assert_eq!(kind, ModelErrorKind::Io, "{e}");
        assert!(e.contains("cannot read shard"), "{e}");
        std::fs::write(dir.path().join("weights_manifest.json"), "{not json").unwrap();
        let (kind, e) = weights_error(dir.path());
        assert_eq!(kind, ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.contains("invalid"), "{e}");
        std::fs::write(
            dir.path().join("weights_manifest.json"),
            r#"[{"paths":[],"weights":[{"name":"x","shape":[1],"dtype":"int32"}]}]"#,
        )
        .unwrap();
        let (kind, e) = weights_error(dir.path());
        assert_eq!(kind, ModelErrorKind::Unsupported, "{e}");
        assert!(e.contains("unsupported dtype"), "{e}");
        let e = load(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Io, "{e}");
        assert!(e.to_string().contains("config.json"), "{e}");
    }

    #[test]
    fn absurd_manifests_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.bin"), [0u8; 8]).unwrap();
        for (weights, kind) in [
            // A shape whose byte size overflows.
            (
                r#"{"name":"x","shape":[4611686018427387904, 4],"dtype":"float32"}"#,
                ModelErrorKind::BadCheckpoint,
            ),
            // Fits usize but not the shards, and overflows the end offset after `a`.
            (
                r#"{"name":"a","shape":[1],"dtype":"float32"},
                   {"name":"x","shape":[4611686018427387903],"dtype":"float32"}"#,
                ModelErrorKind::BadCheckpoint,
            ),
            // uint8 quantisation without min and scale.
            (
                r#"{"name":"x","shape":[8],"dtype":"float32","quantization":{"dtype":"uint8"}}"#,
                ModelErrorKind::BadCheckpoint,
            ),
            (
                r#"{"name":"x","shape":[2],"dtype":"float32","quantization":{"dtype":"int4"}}"#,
                ModelErrorKind::Unsupported,
            ),
        ] {
            std::fs::write(
                dir.path().join("weights_manifest.json"),
                format!(r#"[{{"paths":["w.bin"],"weights":[{weights}]}}]"#),
            )
            .unwrap();
            let (got, e) = weights_error(dir.path());
            assert_eq!(got, kind, "{weights}: {e}");
        }
        std::fs::write(
            dir.path().join("weights_manifest.json"),
            r#"[{"paths":["../w.bin"],"weights":[]}]"#,
        )
        .unwrap();
        assert_eq!(weights_error(dir.path()).0, ModelErrorKind::BadCheckpoint);
    }
}
