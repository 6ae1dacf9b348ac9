//! Flat categorical MusicVAE (melody models such as `mel_2bar_small`): encode, decode,
//! sample and interpolate as magenta.js does them.

pub(crate) mod midime;

use std::path::Path;

use rand::Rng;

use crate::ml::core::checkpoint::{self, Checkpoint};
use crate::ml::core::converter::MelodyConverter;
use crate::ml::core::lstm::{Dense, LstmWeights, OneHotStack};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::music_rnn::{sample_class, MAX_BATCH};

/// Standard normal sample (Box-Muller), for `sample`'s prior draws.
pub fn normal(rng: &mut impl Rng) -> f32 {
    let u1 = rng.random::<f64>().max(1e-300);
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// A loaded flat MusicVAE.
pub struct MusicVae {
    /// The model's data converter (with `num_steps`).
    pub converter: MelodyConverter,
    /// Sequence length in steps.
    pub num_steps: usize,
    /// Forward encoder layer.
    enc_fw: OneHotStack,
    /// Backward encoder layer.
    enc_bw: OneHotStack,
    /// `encoder/mu`.
    mu: Dense,
    /// `decoder/z_to_initial_state`.
    z_to_state: Dense,
    /// Decoder stack with its output projection; inputs `[previous output, z]` (`z` is
    /// the stack's context input, its part of the gates computed once per decode).
    dec: OneHotStack,
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
        if ck.config.kind != "MusicVAE" {
            return Err(at(ModelError::new(
                ModelErrorKind::WrongModel,
                format!("config type is {:?}, expected \"MusicVAE\"", ck.config.kind),
            )));
        }
        if ck.config.num_segments.is_some()
            || ck.has("decoder/hierarchical_level_0/output_projection/kernel")
        {
            return Err(at(ModelError::unsupported(
                "hierarchical MusicVAE models are not supported",
            )));
        }
        if ck.config.chord_encoder.is_some() {
            return Err(at(ModelError::unsupported("chord-conditioned models are not supported")));
        }
        if ck.has("decoder/nade/w_enc") {
            return Err(at(ModelError::unsupported(
                "NADE decoders are not supported (only categorical melody models)",
            )));
        }
        let converter = MelodyConverter::from_spec(&ck.config.data_converter).map_err(at)?;
        let num_steps = converter.num_steps.filter(|&n| n > 0).ok_or_else(|| {
            at(ModelError::bad_checkpoint("MelodyConverter of a MusicVAE needs numSteps"))
        })?;
        let d = converter.depth();
        let enc = |dir: &str| {
            let fw = LstmWeights::discover(ck, |l| {
                format!("encoder/cell_0/bidirectional_rnn/{dir}/multi_rnn_cell/cell_{l}/lstm_cell/")
            })?;
            if fw.len() != 1
                || ck.has(&format!(
                    "encoder/cell_1/bidirectional_rnn/{dir}/multi_rnn_cell/cell_0/lstm_cell/kernel"
                ))
            {
                return Err(ModelError::bad_checkpoint(format!(
                    "the flat encoder needs exactly one {dir} layer, found {}",
                    fw.len()
                )));
            }
            OneHotStack::new(fw, None, d, 0)
        };
        let enc_fw = enc("fw").map_err(at)?;
        let enc_bw = enc("bw").map_err(at)?;
        let mu = Dense::from_checkpoint(ck, "encoder/mu/kernel", "encoder/mu/bias").map_err(at)?;
        let enc_out = enc_fw.layer_sizes()[0] + enc_bw.layer_sizes()[0];
        if mu.input() != enc_out {
            return Err(at(ModelError::bad_checkpoint(format!(
                "encoder/mu expects {} inputs, the encoder gives {enc_out}",
                mu.input()
            ))));
        }
        let z_to_state = Dense::from_checkpoint(
            ck,
            "decoder/z_to_initial_state/kernel",
            "decoder/z_to_initial_state/bias",
        )
        .map_err(at)?;
        let z = z_to_state.input();
        if mu.output() != z {
            return Err(at(ModelError::bad_checkpoint(format!(
                "encoder/mu gives {} dims but the decoder takes z of {z}",
                mu.output()
            ))));
        }
        let layers =
            LstmWeights::discover(ck, |l| format!("decoder/multi_rnn_cell/cell_{l}/lstm_cell/"))
                .map_err(at)?;
        if layers.is_empty() {
            return Err(at(ModelError::bad_checkpoint("no decoder layers")));
        }
        let h = layers[0].units;
        if layers.iter().any(|l| l.units != h) {
            return Err(at(ModelError::unsupported("decoder layers must all have the same size")));
        }
        if z_to_state.output() != 2 * h * layers.len() {
            return Err(at(ModelError::bad_checkpoint(format!(
                "z_to_initial_state gives {} values, the decoder state needs {}",
                z_to_state.output(),
                2 * h * layers.len()
            ))));
        }
        let proj = Dense::from_checkpoint(
            ck,
            "decoder/output_projection/kernel",
            "decoder/output_projection/bias",
        )
        .map_err(at)?;
        if proj.output() != d {
            return Err(at(ModelError::bad_checkpoint(format!(
                "output_projection has {} outputs, the converter has {d} classes",
                proj.output()
            ))));
        }
        let mut dec = OneHotStack::new(layers, Some(&proj), d, z).map_err(at)?;
        // The decoder's layers are small: one graph run per step beats four.
        dec.set_fused_steps(true).map_err(at)?;
        Ok(MusicVae { converter, num_steps, enc_fw, enc_bw, mu, z_to_state, dec })
    }

    /// `decoder.zDims`.
    pub fn z_dims(&self) -> usize {
        self.z_to_state.input()
    }

    /// Runs one encoder direction over the batch's class sequences (backwards when
    /// `reverse`) and returns the final `h` `[B, H]`.
    fn run_direction(
        stack: &mut OneHotStack,
        events: &[Vec<usize>],
        t_len: usize,
        reverse: bool,
    ) -> Result<Vec<f32>, ModelError> {
        let mut state = stack.zero_state(events.len())?;
        let mut classes: Vec<Option<usize>> = vec![None; events.len()];
        for s in 0..t_len {
            let t = if reverse { t_len - 1 - s } else { s };
            for (c, ev) in classes.iter_mut().zip(events) {
                *c = Some(*ev.get(t).ok_or_else(|| {
                    ModelError::bad_input("encode: sequence shorter than numSteps")
                })?);
            }
            stack.step(&classes, &mut state)?;
        }
        state.h(0)
    }

    /// `encode(seqs)`: the mean of q(z|x) for each quantized melody (no sampling).
    pub fn encode(&mut self, seqs: &[NoteSequence]) -> Result<Vec<Vec<f32>>, ModelError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        if seqs.len() > MAX_BATCH {
            return Err(ModelError::bad_input(format!(
                "encode: at most {MAX_BATCH} sequences per call"
            )));
        }
        let events = seqs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.converter
                    .to_events(s)
                    .map_err(|e| e.context(format_args!("encode: sequence {i}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let b = events.len();
        let hf = Self::run_direction(&mut self.enc_fw, &events, self.num_steps, false)?;
        let hb = Self::run_direction(&mut self.enc_bw, &events, self.num_steps, true)?;
        let (uf, ub) = (self.enc_fw.layer_sizes()[0], self.enc_bw.layer_sizes()[0]);
        let mut cat = Vec::with_capacity(b * (uf + ub));
        for r in 0..b {
            cat.extend_from_slice(&hf[r * uf..(r + 1) * uf]);
            cat.extend_from_slice(&hb[r * ub..(r + 1) * ub]);
        }
        let z = self.mu.apply(&cat, b);
        let zd = self.z_dims();
        Ok(z.chunks(zd).map(|c| c.to_vec()).collect())
    }

    /// Decodes latent vectors to melody classes: greedy at temperature 0, else
    /// softmax sampling at that temperature.
    pub fn decode_events(
        &mut self,
        z: &[Vec<f32>],
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        self.decode_events_with(z, &mut |_, logits| sample_class(logits, temperature, rng))
    }

    /// Decodes latent vectors (one batch) with the pick of each class left to
    /// `pick(row, logits)`, which may change the row's logits (a key's mask) and returns
    /// the class fed back (see `MusicRnn::continue_events_with`).
    pub fn decode_events_with(
        &mut self,
        z: &[Vec<f32>],
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        let b = z.len();
        if b == 0 {
            return Ok(Vec::new());
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
        let flat_z: Vec<f32> = z.iter().flatten().copied().collect();
        let init: Vec<f32> = self.z_to_state.apply(&flat_z, b).iter().map(|v| v.tanh()).collect();
        let sizes = self.dec.layer_sizes();
        let (nl, h) = (sizes.len(), sizes[0]);
        // Split into [c0, h0, c1, h1, ...] chunks of h columns per batch row.
        let width = 2 * nl * h;
        let states: Vec<Vec<f32>> = (0..2 * nl)
            .map(|k| {
                (0..b)
                    .flat_map(|r| init[r * width + k * h..r * width + (k + 1) * h].iter().copied())
                    .collect()
            })
            .collect();
        let d = self.converter.depth();
        let mut out = vec![Vec::with_capacity(self.num_steps); b];
        let mut state = self.dec.state_from(b, &states)?;
        self.dec.set_context(&mut state, &flat_z)?;
        // The first step sees an all-zero previous output, as magenta.js.
        let mut prev: Vec<Option<usize>> = vec![None; b];
        for _ in 0..self.num_steps {
            let mut logits = self.dec.step(&prev, &mut state)?;
            for r in 0..b {
                let k = pick(r, &mut logits[r * d..(r + 1) * d]);
                if k >= d {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {d})"
                    )));
                }
                out[r].push(k);
                prev[r] = Some(k);
            }
        }
        Ok(out)
    }

    /// `decode(z, temperature)`: melodies at 4 steps per quarter, 120 qpm.
    pub fn decode(
        &mut self,
        z: &[Vec<f32>],
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.decode_with(z, &mut |_, logits| sample_class(logits, temperature, rng))
    }

    /// [`MusicVae::decode`] with the pick of each class left to `pick` (see
    /// [`MusicVae::decode_events_with`]).
    pub fn decode_with(
        &mut self,
        z: &[Vec<f32>],
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        let ev = self.decode_events_with(z, pick)?;
        Ok(ev.iter().map(|e| self.converter.to_note_sequence(e, 4, None)).collect())
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

    /// `interpolate(seqs, n)`: 2 inputs give `n` melodies on the line between their
    /// codes; 4 inputs give an `n` x `n` grid (bilinear, row-major), as magenta.js.
    pub fn interpolate(
        &mut self,
        seqs: &[NoteSequence],
        n: usize,
        temperature: f32,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.interpolate_with(seqs, n, &mut |_, logits| sample_class(logits, temperature, rng))
    }

    /// [`MusicVae::interpolate`] with the pick of each class left to `pick` (see
    /// [`MusicVae::decode_events_with`]).
    pub fn interpolate_with(
        &mut self,
        seqs: &[NoteSequence],
        n: usize,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        if n == 0 {
            return Err(ModelError::bad_input(
                "interpolate: the number of interpolations must be > 0",
            ));
        }
        let zs = self.encode(seqs)?;
        let z = interpolated_zs(&zs, n)?;
        self.decode_with(&z, pick)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::core::lstm::reference_step;
    use crate::ml::core::note_seq::{Note, QuantizationInfo};
    use crate::ml::random_checkpoint::{write_vae, VaeSizes};
    use rand::{rngs::SmallRng, SeedableRng};

    fn small() -> VaeSizes {
        VaeSizes {
            min_pitch: 48,
            max_pitch: 59,
            num_steps: 8,
            encoder: 16,
            decoder: vec![12, 12],
            z: 6,
        }
    }

    fn melody(pitches: &[(i32, i64, i64)]) -> NoteSequence {
        NoteSequence {
            notes: pitches
                .iter()
                .map(|&(p, s, e)| Note {
                    pitch: p,
                    quantized_start_step: Some(s),
                    quantized_end_step: Some(e),
                    ..Default::default()
                })
                .collect(),
            total_quantized_steps: Some(8),
            quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
            ..Default::default()
        }
    }

    /// Encoder in plain Rust (f64 cells): the reference for `encode`.
    fn reference_encode(ck: &Checkpoint, events: &[usize], d: usize) -> Vec<f32> {
        let mut hs = Vec::new();
        for (dir, rev) in [("fw", false), ("bw", true)] {
            let w = LstmWeights::from_checkpoint(
                ck,
                &format!("encoder/cell_0/bidirectional_rnn/{dir}/multi_rnn_cell/cell_0/lstm_cell/"),
            )
            .unwrap();
            let (mut c, mut h) = (vec![0f32; w.units], vec![0f32; w.units]);
            for s in 0..events.len() {
                let t = if rev { events.len() - 1 - s } else { s };
                let mut x = vec![0f32; d];
                x[events[t]] = 1.0;
                reference_step(&w, &x, &mut c, &mut h);
            }
            hs.extend(h);
        }
        Dense::from_checkpoint(ck, "encoder/mu/kernel", "encoder/mu/bias").unwrap().apply(&hs, 1)
    }

    /// Greedy decoder in plain Rust.
    fn reference_decode(ck: &Checkpoint, z: &[f32], steps: usize, d: usize) -> Vec<usize> {
        let layers =
            LstmWeights::discover(ck, |l| format!("decoder/multi_rnn_cell/cell_{l}/lstm_cell/"))
                .unwrap();
        let zs = Dense::from_checkpoint(
            ck,
            "decoder/z_to_initial_state/kernel",
            "decoder/z_to_initial_state/bias",
        )
        .unwrap();
        let proj = Dense::from_checkpoint(
            ck,
            "decoder/output_projection/kernel",
            "decoder/output_projection/bias",
        )
        .unwrap();
        let init: Vec<f32> = zs.apply(z, 1).iter().map(|v| v.tanh()).collect();
        let h = layers[0].units;
        let mut st: Vec<(Vec<f32>, Vec<f32>)> = (0..layers.len())
            .map(|l| {
                (
                    init[2 * l * h..(2 * l + 1) * h].to_vec(),
                    init[(2 * l + 1) * h..(2 * l + 2) * h].to_vec(),
                )
            })
            .collect();
        let mut prev = vec![0f32; d];
        let mut out = Vec::new();
        let mut rng = SmallRng::seed_from_u64(0);
        for _ in 0..steps {
            let mut x: Vec<f32> = prev.iter().chain(z.iter()).copied().collect();
            for (l, w) in layers.iter().enumerate() {
                let (c, hh) = &mut st[l];
                reference_step(w, &x, c, hh);
                x = hh.clone();
            }
            let k = sample_class(&proj.apply(&x, 1), 0.0, &mut rng);
            out.push(k);
            prev = vec![0f32; d];
            prev[k] = 1.0;
        }
        out
    }

    #[test]
    fn encode_and_decode_match_reference() {
        for (storage, seed) in [(Storage::Float32, 11u64), (Storage::Uint8, 12)] {
            let dir = tempfile::tempdir().unwrap();
            write_vae(dir.path(), &small(), storage, seed).unwrap();
            let ck = checkpoint::load(dir.path()).unwrap();
            let mut m = MusicVae::from_checkpoint(&ck).unwrap();
            assert_eq!(m.z_dims(), 6);
            let seqs = vec![melody(&[(50, 0, 2), (55, 2, 7)]), melody(&[(59, 1, 8)])];
            let z = m.encode(&seqs).unwrap();
            for (s, zv) in seqs.iter().zip(&z) {
                let ev = m.converter.to_events(s).unwrap();
                let want = reference_encode(&ck, &ev, 14);
                for (a, b) in zv.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "z {a} vs {b}");
                }
            }
            let mut rng = SmallRng::seed_from_u64(3);
            let ev = m.decode_events(&z, 0.0, &mut rng).unwrap();
            for (zv, e) in z.iter().zip(&ev) {
                assert_eq!(e, &reference_decode(&ck, zv, 8, 14));
            }
            let out = m.decode(&z, 0.0, &mut rng).unwrap();
            assert_eq!(out.len(), 2);
            assert_eq!(out[0].total_quantized_steps, Some(8));
            let s = m.sample(3, 0.5, &mut rng).unwrap();
            assert_eq!(s.len(), 3);
            let i = m.interpolate(&seqs, 4, 0.0, &mut rng).unwrap();
            assert_eq!(i.len(), 4);
            // The first point of a greedy interpolation is the first input's own code.
            assert_eq!(i[0], out[0]);
            let e = m.decode(&[vec![0.0; 5]], 0.0, &mut rng).unwrap_err();
            assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
            assert!(e.message().contains("dims"), "{e}");
            assert_eq!(
                m.interpolate(&seqs[..1], 3, 0.0, &mut rng).err().map(|e| e.kind()),
                Some(ModelErrorKind::BadInput)
            );
        }
    }

    #[test]
    fn grid_interpolation_corners() {
        let zs = vec![vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
        let g = interpolated_zs(&zs, 3).unwrap();
        assert_eq!(g.len(), 9);
        assert_eq!(g[0], vec![0.0, 0.0]);
        assert_eq!(g[2], vec![0.0, 1.0]); // x = 1 on row 0 is z2
        assert_eq!(g[6], vec![1.0, 0.0]); // y = 1, x = 0 is z1
        assert_eq!(g[8], vec![1.0, 1.0]);
        assert_eq!(g[4], vec![0.5, 0.5]);
    }

    #[test]
    fn wrong_checkpoints_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut sizes = small();
        sizes.decoder = vec![12, 10];
        write_vae(dir.path(), &sizes, Storage::Float32, 1).unwrap();
        let e = MusicVae::load(dir.path()).err().unwrap();
        assert_eq!(e.kind(), ModelErrorKind::Unsupported, "{e}");
        assert!(e.message().contains("same size"), "{e}");
    }
}
