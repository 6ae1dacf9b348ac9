//! MusicRNN with attention (`attention_rnn`): `tf.contrib.rnn.AttentionCellWrapper` as
//! magenta.js runs it (music_rnn/attention.ts), in plain Rust. Each step:
//!
//! 1. the input and the previous attention vector are projected back to the input size
//!    (`attention_cell_wrapper/kernel`, `bias`) and run through the LSTM stack;
//! 2. the query `[c0, h0, c1, h1, ...]` (`attention/kernel`, no bias, as magenta.js) scores
//!    each of the last `attnLength` outputs: `s_j = Σ v · tanh(state_j @ attn_w + y)`;
//! 3. the softmax of the scores weights those outputs into the new attention vector;
//! 4. the output is `[h_last, attention] @ attention_output_projection + bias`, which
//!    joins the window (the oldest leaves) and feeds the `fully_connected` logits.
//!
//! Sizes are small (attention over 128-unit layers), so the steps run as plain loops: the
//! LSTM cells are [`reference_step`] and the dense layers [`Dense::apply`], the same math
//! the tract graphs are tested against.

use crate::ml::core::checkpoint::{Checkpoint, Var};
use crate::ml::core::lstm::{reference_step, Dense, LstmWeights};
use crate::ml::error::ModelError;

/// Variable prefix of the wrapper.
pub const PREFIX: &str = "rnn/attention_cell_wrapper/";
/// Longest attention window accepted from a config (magenta's models use 40).
pub const MAX_ATTENTION_LENGTH: usize = 65_536;

/// An attention-wrapped LSTM stack and its output layer.
pub struct AttentionStack {
    layers: Vec<LstmWeights>,
    /// `[input + attn_size, input]` and `[input]`: the input projection.
    input_proj: Dense,
    /// `[attn_size, vec_size]` (the 1×1 convolution over the window).
    attn_w: Var,
    /// `[vec_size]`.
    attn_v: Vec<f32>,
    /// `[Σ 2·units, vec_size]`: the query projection.
    query: Var,
    /// `[units_last + attn_size, attn_size]`.
    output_proj: Dense,
    /// `fully_connected`: `[attn_size, classes]`.
    logits: Dense,
    /// Size of the input (one-hot classes).
    input: usize,
    attn_len: usize,
    attn_size: usize,
    vec_size: usize,
}

/// State of one sequence.
#[derive(Clone)]
pub struct AttentionState {
    c: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
    /// The last attention vector, `[attn_size]`.
    attention: Vec<f32>,
    /// The window of the last `attn_len` outputs, oldest first, `[attn_len * attn_size]`.
    window: Vec<f32>,
}

/// `x @ w` (`w` row-major `[x.len(), cols]`, no bias) with f64 sums, as [`Dense::apply`]
/// does for the layers that have a bias.
fn matvec(x: &[f32], w: &[f32], cols: usize) -> Vec<f32> {
    let mut acc = vec![0f64; cols];
    for (k, &v) in x.iter().enumerate() {
        let row = &w[k * cols..(k + 1) * cols];
        acc.iter_mut().zip(row).for_each(|(a, &wv)| *a += v as f64 * wv as f64);
    }
    acc.into_iter().map(|v| v as f32).collect()
}

impl AttentionStack {
    /// Reads the wrapper's variables; `classes` is the converter depth, `attn_len` the
    /// config's `attentionLength`.
    pub fn from_checkpoint(
        ck: &Checkpoint,
        classes: usize,
        attn_len: usize,
    ) -> Result<Self, ModelError> {
        if attn_len == 0 {
            return Err(ModelError::bad_checkpoint("attentionLength must be at least 1"));
        }
        if attn_len > MAX_ATTENTION_LENGTH {
            return Err(ModelError::bad_checkpoint(format!(
                "attentionLength {attn_len} is too large (at most {MAX_ATTENTION_LENGTH})"
            )));
        }
        let layers = LstmWeights::discover(ck, |l| {
            format!("{PREFIX}multi_rnn_cell/cell_{l}/basic_lstm_cell/")
        })?;
        let Some(first) = layers.first() else {
            return Err(ModelError::bad_checkpoint(format!(
                "no LSTM layers under {PREFIX}multi_rnn_cell/"
            )));
        };
        // Each layer takes the one below (checked here: a step would index out of bounds).
        crate::ml::core::lstm::check_chain(&layers)?;
        // magenta.js: the attention size is the first layer's size.
        let attn_size = first.units;
        let input_proj =
            Dense::from_checkpoint(ck, &format!("{PREFIX}kernel"), &format!("{PREFIX}bias"))?;
        if input_proj.input() != classes + attn_size || input_proj.output() != first.input {
            return Err(ModelError::bad_checkpoint(format!(
                "{PREFIX}kernel is [{}, {}], expected [{} + {attn_size}, {}]",
                input_proj.input(),
                input_proj.output(),
                classes,
                first.input
            )));
        }
        let wname = format!("{PREFIX}attention/attn_w");
        let attn_w = ck.var(&wname)?.into_owned();
        let vec_size = match attn_w.shape[..] {
            [1, 1, a, v] if a == attn_size => v,
            _ => {
                return Err(ModelError::bad_checkpoint(format!(
                    "{wname}: shape {:?}, expected [1, 1, {attn_size}, n]",
                    attn_w.shape
                )))
            }
        };
        let vname = format!("{PREFIX}attention/attn_v");
        let attn_v = ck.var(&vname)?.data.clone();
        if attn_v.len() != vec_size {
            return Err(ModelError::bad_checkpoint(format!(
                "{vname}: {} values, expected {vec_size}",
                attn_v.len()
            )));
        }
        let qname = format!("{PREFIX}attention/kernel");
        let query = ck.var(&qname)?.into_owned();
        let state_size: usize = layers.iter().map(|l| 2 * l.units).sum();
        if query.dims2(&qname)? != (state_size, vec_size) {
            return Err(ModelError::bad_checkpoint(format!(
                "{qname}: shape {:?}, expected [{state_size}, {vec_size}]",
                query.shape
            )));
        }
        let last = layers.last().map_or(0, |l| l.units);
        let output_proj = Dense::from_checkpoint(
            ck,
            &format!("{PREFIX}attention_output_projection/kernel"),
            &format!("{PREFIX}attention_output_projection/bias"),
        )?;
        if output_proj.input() != last + attn_size || output_proj.output() != attn_size {
            return Err(ModelError::bad_checkpoint(format!(
                "{PREFIX}attention_output_projection/kernel is [{}, {}], expected [{last} + {attn_size}, {attn_size}]",
                output_proj.input(),
                output_proj.output()
            )));
        }
        let logits =
            Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")?;
        if logits.input() != attn_size || logits.output() != classes {
            return Err(ModelError::bad_checkpoint(format!(
                "fully_connected is [{}, {}], expected [{attn_size}, {classes}]",
                logits.input(),
                logits.output()
            )));
        }
        Ok(AttentionStack {
            layers,
            input_proj,
            attn_w,
            attn_v,
            query,
            output_proj,
            logits,
            input: classes,
            attn_len,
            attn_size,
            vec_size,
        })
    }

    /// LSTM layer sizes.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.units).collect()
    }

    /// Zero state, as magenta.js starts.
    pub fn zero_state(&self) -> AttentionState {
        AttentionState {
            c: self.layers.iter().map(|l| vec![0.0; l.units]).collect(),
            h: self.layers.iter().map(|l| vec![0.0; l.units]).collect(),
            attention: vec![0.0; self.attn_size],
            window: vec![0.0; self.attn_len * self.attn_size],
        }
    }

    /// One step with one-hot input `class`; returns the logits of the next class.
    pub fn step(&self, class: usize, st: &mut AttentionState) -> Vec<f32> {
        let (a, v) = (self.attn_size, self.vec_size);
        let mut x = vec![0f32; self.input + a];
        if class < self.input {
            x[class] = 1.0;
        }
        x[self.input..].copy_from_slice(&st.attention);
        let mut input = self.input_proj.apply(&x, 1);
        for (l, w) in self.layers.iter().enumerate() {
            reference_step(w, &input, &mut st.c[l], &mut st.h[l]);
            input = st.h[l].clone();
        }
        // Query from every layer's state, c before h.
        let q: Vec<f32> =
            st.c.iter().zip(&st.h).flat_map(|(c, h)| c.iter().chain(h.iter()).copied()).collect();
        let y = matvec(&q, &self.query.data, v);
        // Scores over the window, then its softmax.
        let scores: Vec<f64> = st
            .window
            .chunks(a)
            .map(|slot| {
                let feat = matvec(slot, &self.attn_w.data, v);
                feat.iter()
                    .zip(&y)
                    .zip(&self.attn_v)
                    .map(|((f, y), w)| *w as f64 * ((*f as f64) + (*y as f64)).tanh())
                    .sum()
            })
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let mut attention = vec![0f64; a];
        for (slot, e) in st.window.chunks(a).zip(&exps) {
            let p = e / total;
            attention.iter_mut().zip(slot).for_each(|(acc, &s)| *acc += p * s as f64);
        }
        st.attention = attention.into_iter().map(|v| v as f32).collect();
        let last = st.h.last().map(Vec::as_slice).unwrap_or(&[]);
        let joined: Vec<f32> = last.iter().chain(st.attention.iter()).copied().collect();
        let output = self.output_proj.apply(&joined, 1);
        // The window moves on: drop the oldest output, append this one.
        st.window.drain(..a);
        st.window.extend_from_slice(&output);
        self.logits.apply(&output, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::PREFIX;
    use crate::ml::core::checkpoint::{self, Storage};
    use crate::ml::core::note_seq::piano_phase;
    use crate::ml::core::note_seq::quantize_note_sequence;
    use crate::ml::error::ModelErrorKind;
    use crate::ml::music_rnn::MusicRnn;
    use crate::ml::random_checkpoint::{write_attention_rnn, RnnSizes};
    use rand::{rngs::SmallRng, SeedableRng};

    fn sizes() -> RnnSizes {
        RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![16, 12, 8] }
    }

    #[test]
    fn attention_rnn_continues_and_batches() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_attention_rnn(dir.path(), &sizes(), 4, Storage::Float32, 3).expect("write");
        let mut m = MusicRnn::load(dir.path()).expect("load");
        assert_eq!(m.layer_sizes(), vec![16, 12, 8]);
        let primer = quantize_note_sequence(&piano_phase(), 4).expect("quantize");
        let mut rng = SmallRng::seed_from_u64(1);
        let greedy = m.continue_sequence(&primer, 24, 0.0, 3, &mut rng).expect("continue");
        assert_eq!(greedy.len(), 3);
        assert!(greedy.iter().all(|s| s == &greedy[0] && s.total_quantized_steps == Some(24)));
        let sampled = m.continue_sequence(&primer, 24, 1.0, 2, &mut rng).expect("sample");
        assert!(sampled.iter().all(|s| s.notes.iter().all(|n| (48..=83).contains(&n.pitch))));
    }

    #[test]
    fn attention_without_a_length_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_attention_rnn(dir.path(), &sizes(), 4, Storage::Float32, 3).expect("write");
        let cfg = dir.path().join("config.json");
        let text = std::fs::read_to_string(&cfg).expect("config");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v.as_object_mut().expect("object").remove("attentionLength");
        std::fs::write(&cfg, v.to_string()).expect("write config");
        let err = MusicRnn::load(dir.path()).err().expect("must fail");
        assert_eq!(err.kind(), ModelErrorKind::BadCheckpoint, "{err}");
        assert!(err.message().contains("attentionLength"), "{err}");
    }

    #[test]
    fn inconsistent_attention_checkpoints_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_attention_rnn(dir.path(), &sizes(), 4, Storage::Float32, 3).expect("write");
        let mut ck = checkpoint::load(dir.path()).expect("load");
        // Layer 1 now takes fewer inputs than layer 0 gives (a step would index past its
        // kernel).
        let name = format!("{PREFIX}multi_rnn_cell/cell_1/basic_lstm_cell/kernel");
        let k = ck.vars.get_mut(&name).expect("layer 1 kernel");
        k.shape[0] -= 1;
        k.data.truncate(k.shape[0] * k.shape[1]);
        let err = MusicRnn::from_checkpoint(&ck).err().expect("must fail");
        assert_eq!(err.kind(), ModelErrorKind::BadCheckpoint, "{err}");
        // A window far too long for memory is refused before anything is allocated.
        let mut ck = checkpoint::load(dir.path()).expect("load");
        ck.config.attention_length = Some(usize::MAX / 2);
        let err = MusicRnn::from_checkpoint(&ck).err().expect("must fail");
        assert_eq!(err.kind(), ModelErrorKind::BadCheckpoint, "{err}");
    }
}
