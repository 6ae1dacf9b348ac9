//! MusicRNN (`basic_rnn` and other melody RNNs): `continueSequence` as magenta.js does it.

pub(crate) mod attention;

use std::path::Path;

use rand::Rng;

use crate::ml::core::checkpoint::{self, Checkpoint};
use crate::ml::core::converter::MelodyConverter;
use crate::ml::core::lstm::{Dense, LstmWeights, OneHotStack};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::music_rnn::attention::{AttentionStack, PREFIX as ATTENTION_PREFIX};

/// Upper bound on generated steps per request, to refuse runaway requests clearly.
pub const MAX_STEPS: usize = 16_384;
/// Upper bound on the batch of one request.
pub const MAX_BATCH: usize = 64;

/// Picks a class from logits: argmax (first maximum, as tfjs) when `temperature` is 0,
/// else a sample of `softmax(logits / temperature)`.
pub fn sample_class(logits: &[f32], temperature: f32, rng: &mut impl Rng) -> usize {
    if temperature <= 0.0 || !temperature.is_finite() {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            // Strict `>` keeps the first maximum; NaN never wins.
            if v > logits[best] || logits[best].is_nan() {
                best = i;
            }
        }
        return best;
    }
    let t = temperature as f64;
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64 / t));
    let weights: Vec<f64> = logits.iter().map(|&v| (v as f64 / t - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return sample_class(logits, 0.0, rng);
    }
    let mut r = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        r -= w;
        if r < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

/// A loaded MusicRNN.
pub struct MusicRnn {
    /// The model's data converter.
    pub converter: MelodyConverter,
    /// The network.
    net: Net,
}

/// The two MusicRNN variants magenta.js runs.
// One per loaded model, built once and never moved in a hot path: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Net {
    /// `basic_rnn`, `melody_rnn`, ...: the LSTM stack and output projection as tract
    /// networks.
    Plain(OneHotStack),
    /// `attention_rnn`: the attention-wrapped stack.
    Attention(AttentionStack),
}

impl MusicRnn {
    /// Loads a checkpoint folder.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let ck = checkpoint::load(dir)?;
        Self::from_checkpoint(&ck)
    }

    /// Builds the model from a loaded checkpoint (and compiles the batch-1 network).
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self, ModelError> {
        let at =
            |e: ModelError| e.context(format_args!("MusicRNN checkpoint {}", ck.dir.display()));
        if ck.config.kind != "MusicRNN" {
            return Err(at(ModelError::new(
                ModelErrorKind::WrongModel,
                format!("config type is {:?}, expected \"MusicRNN\"", ck.config.kind),
            )));
        }
        if ck.config.chord_encoder.is_some() {
            return Err(at(ModelError::unsupported("chord-conditioned models are not supported")));
        }
        let converter = MelodyConverter::from_spec(&ck.config.data_converter).map_err(at)?;
        if ck.has(&format!("{ATTENTION_PREFIX}kernel")) {
            let len = ck.config.attention_length.ok_or_else(|| {
                at(ModelError::bad_checkpoint(
                    "attention variables present but config.json has no attentionLength",
                ))
            })?;
            let att = AttentionStack::from_checkpoint(ck, converter.depth(), len).map_err(at)?;
            return Ok(MusicRnn { converter, net: Net::Attention(att) });
        }
        let layers =
            LstmWeights::discover(ck, |l| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"))
                .map_err(at)?;
        if layers.is_empty() {
            return Err(at(ModelError::bad_checkpoint(
                "no LSTM layers (rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel missing)",
            )));
        }
        let projection =
            Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")
                .map_err(at)?;
        let d = converter.depth();
        if projection.output() != d {
            return Err(at(ModelError::bad_checkpoint(format!(
                "fully_connected has {} outputs but the converter has {d} classes",
                projection.output()
            ))));
        }
        let stack = OneHotStack::new(layers, Some(&projection), d, 0).map_err(at)?;
        Ok(MusicRnn { converter, net: Net::Plain(stack) })
    }

    /// LSTM layer sizes.
    pub fn layer_sizes(&self) -> Vec<usize> {
        match &self.net {
            Net::Plain(s) => s.layer_sizes(),
            Net::Attention(a) => a.layer_sizes(),
        }
    }

    /// Runs the magenta.js sampling loop on melody classes: all primer frames, then
    /// `steps` samples each fed back; returns `count` class sequences (one batch).
    pub fn continue_events(
        &mut self,
        primer: &[usize],
        steps: usize,
        temperature: f32,
        count: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        self.continue_events_with(primer, steps, count, &mut |_, logits| {
            sample_class(logits, temperature, rng)
        })
    }

    /// The sampling loop with the pick of each class left to `pick(row, logits)`, which
    /// may change the row's logits (a key's mask) and returns the class fed back: the
    /// Studio's per-variation random streams and key constraint, and teacher forcing in
    /// evaluations. `count` rows run as one batch.
    pub fn continue_events_with(
        &mut self,
        primer: &[usize],
        steps: usize,
        count: usize,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        let d = self.converter.depth();
        let b = count.max(1);
        if b > MAX_BATCH {
            return Err(ModelError::bad_input(format!(
                "continueSequence: at most {MAX_BATCH} outputs per call"
            )));
        }
        if steps > MAX_STEPS {
            return Err(ModelError::bad_input(format!(
                "continueSequence: at most {MAX_STEPS} steps per call"
            )));
        }
        if steps == 0 {
            return Ok(vec![Vec::new(); b]);
        }
        if primer.is_empty() {
            return Err(ModelError::bad_input(
                "continueSequence: the primer has no steps (totalQuantizedSteps is 0)",
            ));
        }
        if let Some(&bad) = primer.iter().find(|&&k| k >= d) {
            return Err(ModelError::bad_input(format!(
                "continueSequence: primer class {bad} out of range (depth {d})"
            )));
        }
        let stack = match &mut self.net {
            Net::Plain(s) => s,
            Net::Attention(att) => return continue_attention(att, primer, steps, b, d, pick),
        };
        // The primer is the same for every variation and known in advance: run it once,
        // layer by layer, then fan the state and logits out to the batch.
        let (state1, logits1) = stack.prime(primer)?;
        let mut state = if b == 1 { state1 } else { state1.repeat_rows(b)? };
        let mut logits = logits1.repeat(b);
        let mut samples = vec![Vec::with_capacity(steps); b];
        let mut classes: Vec<Option<usize>> = vec![None; b];
        for i in 0..steps {
            for r in 0..b {
                let k = pick(r, &mut logits[r * d..(r + 1) * d]);
                if k >= d {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {d})"
                    )));
                }
                samples[r].push(k);
                classes[r] = Some(k);
            }
            // No LSTM step after the last sample, as magenta.js.
            if i + 1 == steps {
                break;
            }
            logits = stack.step(&classes, &mut state)?;
        }
        Ok(samples)
    }

    /// `continueSequence(seq, steps, temperature)` for `count` variations. The primer
    /// must be quantized (the worker quantizes unquantized primers first).
    pub fn continue_sequence(
        &mut self,
        seq: &NoteSequence,
        steps: usize,
        temperature: f32,
        count: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.continue_sequence_with(seq, steps, count, &mut |_, logits| {
            sample_class(logits, temperature, rng)
        })
    }

    /// [`MusicRnn::continue_sequence`] with the pick of each class left to `pick` (see
    /// [`MusicRnn::continue_events_with`]).
    pub fn continue_sequence_with(
        &mut self,
        seq: &NoteSequence,
        steps: usize,
        count: usize,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        let spq = seq.steps_per_quarter().ok_or_else(|| {
            ModelError::new(
                ModelErrorKind::NotQuantized,
                "continueSequence: the primer must be quantized (stepsPerQuarter > 0)",
            )
        })?;
        let primer = self.converter.to_events(seq)?;
        let outs = self.continue_events_with(&primer, steps, count, pick)?;
        Ok(outs.iter().map(|ev| self.converter.to_note_sequence(ev, spq, None)).collect())
    }
}

/// The magenta.js loop for `attention_rnn`: the primer once, then each of the `count`
/// variations samples and feeds back from a copy of the primed state.
fn continue_attention(
    att: &AttentionStack,
    primer: &[usize],
    steps: usize,
    count: usize,
    d: usize,
    pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
) -> Result<Vec<Vec<usize>>, ModelError> {
    let mut primed = att.zero_state();
    let mut primed_logits = Vec::new();
    for &k in primer {
        primed_logits = att.step(k, &mut primed);
    }
    (0..count)
        .map(|row| {
            let (mut st, mut logits) = (primed.clone(), primed_logits.clone());
            let mut out = Vec::with_capacity(steps);
            for i in 0..steps {
                let k = pick(row, &mut logits);
                if k >= d {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {d})"
                    )));
                }
                out.push(k);
                if i + 1 == steps {
                    break;
                }
                logits = att.step(k, &mut st);
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::core::lstm::reference_step;
    use crate::ml::random_checkpoint::{write_rnn, RnnSizes};
    use rand::{rngs::SmallRng, SeedableRng};

    /// Greedy continuation in plain Rust (f64 cells), the reference for the tract model.
    fn reference_continue(ck: &Checkpoint, primer: &[usize], steps: usize) -> Vec<usize> {
        let layers =
            LstmWeights::discover(ck, |l| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"))
                .unwrap();
        let proj = Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")
            .unwrap();
        let d = proj.output();
        let mut st: Vec<(Vec<f32>, Vec<f32>)> =
            layers.iter().map(|l| (vec![0.0; l.units], vec![0.0; l.units])).collect();
        let mut out = Vec::new();
        let mut rng = SmallRng::seed_from_u64(0);
        for i in 0..primer.len() + steps {
            let mut x = vec![0f32; d];
            if i < primer.len() {
                x[primer[i]] = 1.0;
            } else {
                let top = &st.last().unwrap().1;
                let k = sample_class(&proj.apply(top, 1), 0.0, &mut rng);
                out.push(k);
                x[k] = 1.0;
            }
            if i == primer.len() + steps - 1 {
                break;
            }
            for (l, w) in layers.iter().enumerate() {
                let (c, h) = &mut st[l];
                reference_step(w, &x, c, h);
                x = h.clone();
            }
        }
        out
    }

    #[test]
    fn greedy_continuation_matches_reference_float32_and_uint8() {
        for (layers, storage, seed) in
            [(vec![16usize, 24], Storage::Float32, 3u64), (vec![32], Storage::Uint8, 4)]
        {
            let dir = tempfile::tempdir().unwrap();
            write_rnn(
                dir.path(),
                &RnnSizes { min_pitch: 48, max_pitch: 83, layers: layers.clone() },
                storage,
                seed,
            )
            .unwrap();
            let ck = checkpoint::load(dir.path()).unwrap();
            let mut m = MusicRnn::from_checkpoint(&ck).unwrap();
            assert_eq!(m.layer_sizes(), layers);
            let primer = vec![27, 0, 0, 0, 29, 0, 1, 0, 34, 0, 0, 0];
            let want = reference_continue(&ck, &primer, 20);
            let mut rng = SmallRng::seed_from_u64(1);
            let got = m.continue_events(&primer, 20, 0.0, 3, &mut rng).unwrap();
            assert_eq!(got.len(), 3);
            for g in &got {
                assert_eq!(g, &want);
            }
            // Temperature sampling stays in range and gives the requested length.
            let hot = m.continue_events(&primer, 20, 1.5, 2, &mut rng).unwrap();
            assert!(hot.iter().all(|s| s.len() == 20 && s.iter().all(|&k| k < 38)));
        }
    }

    #[test]
    fn sequences_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_rnn(
            dir.path(),
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![8] },
            Storage::Float32,
            9,
        )
        .unwrap();
        let mut m = MusicRnn::load(dir.path()).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let primer = m.converter.to_note_sequence(&[20, 0, 1, 0], 4, None);
        let out = m.continue_sequence(&primer, 16, 0.0, 1, &mut rng).unwrap();
        assert_eq!(out[0].total_quantized_steps, Some(16));
        assert_eq!(out[0].steps_per_quarter(), Some(4));
        let mut unq = primer.clone();
        unq.quantization_info = None;
        let e = m.continue_sequence(&unq, 4, 0.0, 1, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NotQuantized, "{e}");
        let e = m.continue_events(&[], 4, 0.0, 1, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        let e = m.continue_events(&[40], 4, 0.0, 1, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("out of range"), "{e}");
        // A VAE config is refused with a clear message.
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        std::fs::write(dir.path().join("config.json"), text.replace("MusicRNN", "MusicVAE"))
            .unwrap();
        assert_eq!(
            MusicRnn::load(dir.path()).err().map(|e| e.kind()),
            Some(ModelErrorKind::WrongModel)
        );
    }

    #[test]
    fn sampling_rules() {
        let mut rng = SmallRng::seed_from_u64(5);
        assert_eq!(sample_class(&[1.0, 3.0, 3.0, 2.0], 0.0, &mut rng), 1);
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[sample_class(&[0.0, (2.0f32).ln(), f32::NEG_INFINITY], 1.0, &mut rng)] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!(counts[1] > counts[0] * 3 / 2 && counts[1] < counts[0] * 5 / 2, "{counts:?}");
    }
}
