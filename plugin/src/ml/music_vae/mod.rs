//! MusicVAE as magenta.js runs it: encode, decode, sample and interpolate, for the model
//! families magenta.js hosts with categorical decoders:
//! - flat melody models (`mel_2bar_small`, `mel_4bar_small_q2`);
//! - the drums models (`drums_2bar_lokl_small`: drum roll in, 512 drum labels out);
//! - hierarchical models with a conductor (`mel_16bar_small_q2`: 16 segments of 16 steps;
//!   `trio_4bar`: 4 segments, a melody, a bass and a drums decoder side by side).
//!
//! [`encoder`] and [`decoder`] hold the networks; the data converter
//! ([`DataConverter`]) turns NoteSequences into input rows and labels back into notes.
//! - the GrooVAE models (`groovae_2bar_humanize`, `tap2drum_*bar`, `groovae_4bar`): a
//!   drum performance (hits, velocities, offsets: `GrooveConverter`) in, one out, through a
//!   flat encoder and a decoder fed its own previous output as values.
//!
//! Refused with a clear error: NADE and boolean decoders, and models conditioned on
//! chords, key or other controls.

mod decoder;
mod encoder;
pub(crate) mod midime;
#[cfg(test)]
mod tests;

use std::path::Path;

use rand::Rng;

use crate::ml::core::checkpoint::{self, Checkpoint};
use crate::ml::core::data::DataConverter;
use crate::ml::core::note_seq::{NoteSequence, DEFAULT_QPM};
use crate::ml::core::scale::ClassMask;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::music_rnn::sample_class;
use crate::ml::music_rnn::MAX_BATCH;
use decoder::Decoder;
use encoder::Encoder;

/// Standard normal sample (Box-Muller), for `sample`'s prior draws.
pub fn normal(rng: &mut impl Rng) -> f32 {
    let u1 = rng.random::<f64>().max(1e-300);
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// How a decoder's step output becomes what it is fed next.
pub trait Draw {
    /// A class from a categorical decoder's `logits` for row `row` (which it may change:
    /// a key's mask).
    fn label(&mut self, row: usize, logits: &mut [f32]) -> usize;
    /// A GrooVAE decoder's output for row `row`, turned in place into hits, velocities
    /// and offsets (see [`groove_sample`]).
    fn values(&mut self, row: usize, values: &mut [f32]);
}

/// magenta.js's sampling at `temperature` (0: greedy): softmax sampling of a class
/// (masked by `mask`, a key's scale), or a groove's hits drawn against uniform
/// thresholds. Row `r` draws from `rngs[r]`, or every row from `rngs[0]` when it is the
/// only one (a batch drawn from one stream).
pub struct Sampler<'a, R> {
    pub temperature: f32,
    pub mask: Option<ClassMask>,
    rngs: &'a mut [R],
}

impl<'a, R: Rng> Sampler<'a, R> {
    /// `rngs` must not be empty.
    pub fn new(temperature: f32, mask: Option<ClassMask>, rngs: &'a mut [R]) -> Self {
        assert!(!rngs.is_empty(), "Sampler: no random streams");
        Sampler { temperature, mask, rngs }
    }

    fn rng(&mut self, row: usize) -> &mut R {
        let n = self.rngs.len();
        &mut self.rngs[if n == 1 { 0 } else { row % n }]
    }
}

impl<R: Rng> Draw for Sampler<'_, R> {
    fn label(&mut self, row: usize, logits: &mut [f32]) -> usize {
        if let Some(m) = &self.mask {
            m.apply(logits);
        }
        let t = self.temperature;
        sample_class(logits, t, self.rng(row))
    }

    fn values(&mut self, row: usize, values: &mut [f32]) {
        let t = self.temperature;
        groove_sample(values, t, self.rng(row));
    }
}

/// magenta.js `GrooveDecoder.sample`: the output's thirds are hits, velocities and
/// offsets; velocities go through a sigmoid, offsets through tanh, and a hit is 1 where
/// `sigmoid(hit / temperature)` beats a uniform draw (temperature 0: where `sigmoid(hit)`
/// is above 0.5), else 0.
pub fn groove_sample(values: &mut [f32], temperature: f32, rng: &mut impl Rng) {
    let k = values.len() / 3;
    let (hits, rest) = values.split_at_mut(k);
    let (velocities, offsets) = rest.split_at_mut(k);
    let sigmoid = |x: f32| (1.0 / (1.0 + (-(x as f64)).exp())) as f32;
    for v in velocities {
        *v = sigmoid(*v);
    }
    for v in offsets {
        *v = (*v as f64).tanh() as f32;
    }
    for h in hits {
        let on = if temperature > 0.0 {
            sigmoid(*h / temperature) > rng.random::<f32>()
        } else {
            sigmoid(*h) > 0.5
        };
        *h = if on { 1.0 } else { 0.0 };
    }
}

/// A loaded MusicVAE.
pub struct MusicVae {
    /// The model's data converter.
    pub converter: DataConverter,
    /// Sequence length in steps.
    pub num_steps: usize,
    /// Conductor segments of a hierarchical model.
    pub segments: Option<usize>,
    /// The encoder.
    encoder: Encoder,
    /// The decoder.
    decoder: Decoder,
}

impl MusicVae {
    /// Loads a checkpoint folder.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let ck = checkpoint::load(dir)?;
        Self::from_checkpoint(&ck)
    }

    /// Builds the model from a loaded checkpoint and compiles its batch-1 networks.
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self, ModelError> {
        let at =
            |e: ModelError| e.context(format_args!("MusicVAE checkpoint {}", ck.dir.display()));
        let cfg = &ck.config;
        if cfg.kind != "MusicVAE" {
            return Err(at(ModelError::new(
                ModelErrorKind::WrongModel,
                format!("config type is {:?}, expected \"MusicVAE\"", cfg.kind),
            )));
        }
        let refuse = |what: &str| Err(at(ModelError::unsupported(what.to_string())));
        if cfg.chord_encoder.is_some() {
            return refuse("chord-conditioned MusicVAE models are not supported");
        }
        if cfg.condition_on_key == Some(true) || cfg.extra_controls.is_some() {
            return refuse("key- or control-conditioned MusicVAE models are not supported");
        }
        if cfg.use_boolean_decoder == Some(true) {
            return refuse("boolean decoders are not supported (only categorical decoders)");
        }
        if ck.has("control_preprocessing/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel") {
            return refuse("control preprocessing is not supported");
        }
        let converter = DataConverter::from_spec(&cfg.data_converter).map_err(at)?;
        let num_steps = converter.num_steps().filter(|&n| n > 0).ok_or_else(|| {
            at(ModelError::bad_checkpoint(format!(
                "the {} of a MusicVAE needs numSteps",
                converter.name()
            )))
        })?;
        // magenta.js reads the segments from the converter's arguments.
        let segments = cfg.data_converter.args.num_segments.or(cfg.num_segments).filter(|&n| n > 0);
        if let Some(s) = segments {
            if num_steps % s != 0 {
                return Err(at(ModelError::bad_checkpoint(format!(
                    "numSteps {num_steps} is not a multiple of numSegments {s}"
                ))));
            }
        } else if ck.has("decoder/hierarchical_level_0/initial_state/kernel") {
            return Err(at(ModelError::bad_checkpoint(
                "the checkpoint has a conductor but its converter has no numSegments",
            )));
        }
        let groove = matches!(converter, DataConverter::Groove(_));
        if groove && segments.is_some() {
            return refuse("hierarchical GrooVAE models are not supported");
        }
        let encoder =
            Encoder::from_checkpoint(ck, converter.input_depth(), segments, groove).map_err(at)?;
        let decoder = Decoder::from_checkpoint(ck, &converter.output_depths(), segments, groove)
            .map_err(at)?;
        if encoder.z_dims() != decoder.z_dims() {
            return Err(at(ModelError::bad_checkpoint(format!(
                "encoder/mu gives {} dims but the decoder takes z of {}",
                encoder.z_dims(),
                decoder.z_dims()
            ))));
        }
        Ok(MusicVae { converter, num_steps, segments, encoder, decoder })
    }

    /// `decoder.zDims`.
    pub fn z_dims(&self) -> usize {
        self.decoder.z_dims()
    }

    /// One line about the model's kind, for load messages.
    pub fn describe(&self) -> String {
        let parts = self.converter.output_depths().len();
        format!(
            "{}{} MusicVAE, {} steps{}, z {}",
            if self.segments.is_some() { "hierarchical " } else { "" },
            self.converter.name(),
            self.num_steps,
            if parts > 1 { format!(", {parts} parts") } else { String::new() },
            self.z_dims()
        )
    }

    /// `encode(seqs)`: the mean of q(z|x) for each quantized sequence (no sampling).
    pub fn encode(&mut self, seqs: &[NoteSequence]) -> Result<Vec<Vec<f32>>, ModelError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        if seqs.len() > MAX_BATCH {
            return Err(ModelError::bad_input(format!(
                "encode: at most {MAX_BATCH} sequences per call"
            )));
        }
        let at = |i: usize| move |e: ModelError| e.context(format_args!("encode: sequence {i}"));
        let z = if let DataConverter::Groove(g) = &self.converter {
            let mut x = Vec::with_capacity(seqs.len() * g.num_steps * g.depth());
            for (i, s) in seqs.iter().enumerate() {
                x.extend(g.to_tensor(s).map_err(at(i))?);
            }
            self.encoder.encode_dense(&x, seqs.len(), self.num_steps)?
        } else {
            let inputs = seqs
                .iter()
                .enumerate()
                .map(|(i, s)| self.converter.to_input(s).map_err(at(i)))
                .collect::<Result<Vec<_>, _>>()?;
            self.encoder.encode(&inputs, self.num_steps)?
        };
        Ok(z.chunks(self.z_dims()).map(|c| c.to_vec()).collect())
    }

    /// Decodes latent vectors to labels, `[row][part][step]`: greedy at temperature 0,
    /// else softmax sampling at that temperature.
    pub fn decode_labels(
        &mut self,
        z: &[Vec<f32>],
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<Vec<usize>>>, ModelError> {
        let mut s = Sampler::new(temperature, None, std::slice::from_mut(rng));
        self.decode_labels_with(z, &mut |r, logits| s.label(r, logits))
    }

    /// Decodes latent vectors (one batch) to labels per part, with the pick of each class
    /// left to `pick(row, logits)`, which may change the row's logits (a key's mask) and
    /// returns the class fed back (see `MusicRnn::continue_events_with`). Categorical
    /// decoders only.
    pub fn decode_labels_with(
        &mut self,
        z: &[Vec<f32>],
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<Vec<usize>>>, ModelError> {
        if self.is_groove() {
            return Err(ModelError::bad_input(
                "decode: a GrooVAE model decodes to hits, velocities and offsets, not labels",
            ));
        }
        let Some(flat) = self.checked_z(z)? else { return Ok(Vec::new()) };
        self.decoder.decode(&flat, z.len(), self.num_steps, pick)
    }

    /// A batch of latent vectors as one row-major block, after checking their number,
    /// sizes and values; None for an empty batch.
    fn checked_z(&self, z: &[Vec<f32>]) -> Result<Option<Vec<f32>>, ModelError> {
        let b = z.len();
        if b == 0 {
            return Ok(None);
        }
        if b > MAX_BATCH {
            return Err(ModelError::bad_input(format!(
                "decode: at most {MAX_BATCH} vectors per call"
            )));
        }
        let zd = self.z_dims();
        if let Some((i, v)) = z.iter().enumerate().find(|(_, v)| v.len() != zd) {
            return Err(ModelError::bad_input(format!(
                "decode: z[{i}] has {} dims, the model needs {zd}",
                v.len()
            )));
        }
        if z.iter().flatten().any(|v| !v.is_finite()) {
            return Err(ModelError::bad_input("decode: z contains NaN or infinity"));
        }
        Ok(Some(z.iter().flatten().copied().collect()))
    }

    /// Whether this is a GrooVAE model (its outputs are values, not labels).
    pub fn is_groove(&self) -> bool {
        matches!(self.converter, DataConverter::Groove(_))
    }

    /// `decode(z, temperature)`: sequences at 4 steps per quarter, 120 qpm.
    pub fn decode(
        &mut self,
        z: &[Vec<f32>],
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.decode_with(z, &mut Sampler::new(temperature, None, std::slice::from_mut(rng)))
    }

    /// [`MusicVae::decode`] with each step's output drawn by `draw`: a class (see
    /// [`MusicVae::decode_labels_with`]) or, for a GrooVAE model, its values.
    pub fn decode_with(
        &mut self,
        z: &[Vec<f32>],
        draw: &mut dyn Draw,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        if let DataConverter::Groove(g) = &self.converter {
            let Some(flat) = self.checked_z(z)? else { return Ok(Vec::new()) };
            let rows = self
                .decoder
                .decode_dense(&flat, z.len(), self.num_steps, &mut |r, v| draw.values(r, v))?;
            return rows.iter().map(|t| g.to_note_sequence(t, DEFAULT_QPM)).collect();
        }
        let labels = self.decode_labels_with(z, &mut |r, logits| draw.label(r, logits))?;
        labels.iter().map(|parts| self.converter.to_note_sequence(parts, 4, None)).collect()
    }

    /// `sample(n, temperature)`: decodes `n` draws of z ~ N(0, 1).
    pub fn sample(
        &mut self,
        n: usize,
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        let zd = self.z_dims();
        let z: Vec<Vec<f32>> = (0..n).map(|_| (0..zd).map(|_| normal(rng)).collect()).collect();
        self.decode(&z, temperature, rng)
    }

    /// `interpolate(seqs, n)`: 2 inputs give `n` sequences on the line between their
    /// codes; 4 inputs give an `n` x `n` grid (bilinear, row-major), as magenta.js.
    pub fn interpolate(
        &mut self,
        seqs: &[NoteSequence],
        n: usize,
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.interpolate_with(
            seqs,
            n,
            &mut Sampler::new(temperature, None, std::slice::from_mut(rng)),
        )
    }

    /// [`MusicVae::interpolate`] with the pick of each class left to `pick` (see
    /// [`MusicVae::decode_events_with`]).
    pub fn interpolate_with(
        &mut self,
        seqs: &[NoteSequence],
        n: usize,
        draw: &mut dyn Draw,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        if n == 0 {
            return Err(ModelError::bad_input(
                "interpolate: the number of interpolations must be > 0",
            ));
        }
        let zs = self.encode(seqs)?;
        let z = interpolated_zs(&zs, n)?;
        self.decode_with(&z, draw)
    }
}

/// `linspace(0, 1, n)` as tfjs's CPU kernel computes it: a running sum of an f64 step,
/// stored as f32 after each addition.
fn linspace(n: usize) -> Vec<f32> {
    let step = if n > 1 { 1.0 / (n - 1) as f64 } else { 0.0 };
    let mut out = Vec::with_capacity(n);
    let mut v = 0f32;
    for i in 0..n {
        if i > 0 {
            v = (v as f64 + step) as f32;
        }
        out.push(v);
    }
    out
}

/// The latent vectors `interpolate` decodes (see `MusicVae::interpolate`).
pub fn interpolated_zs(zs: &[Vec<f32>], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
    let tx = linspace(n);
    match zs.len() {
        2 => Ok(tx
            .iter()
            .map(|&t| zs[0].iter().zip(&zs[1]).map(|(&a, &b)| t * (b - a) + a).collect())
            .collect()),
        4 => {
            let mut out = Vec::with_capacity(n * n);
            for &ty in &tx {
                for &txv in &tx {
                    let w =
                        [(1.0 - ty) * (1.0 - txv), ty * (1.0 - txv), (1.0 - ty) * txv, ty * txv];
                    out.push(
                        (0..zs[0].len())
                            .map(|k| w.iter().zip(zs).map(|(wi, z)| z[k] * wi).sum())
                            .collect(),
                    );
                }
            }
            Ok(out)
        }
        k => Err(ModelError::bad_input(format!(
            "interpolate: needs 2 or 4 input sequences, got {k}"
        ))),
    }
}
