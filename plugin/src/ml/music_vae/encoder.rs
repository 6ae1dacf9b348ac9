//! MusicVAE encoders as magenta.js builds them (`music_vae/model.ts`): `encode` gives the
//! mean of q(z|x) (no sampling).
//!
//! - flat (`BidirectionalLstmEncoder`): one forward and one backward LSTM layer over the
//!   input rows; `z = [h_fw(last step), h_bw(first step)] @ encoder/mu + b`.
//! - hierarchical (`HierarchicalEncoder`, `numSegments` in the converter): level 0 encodes
//!   each of the `numSegments` segments on its own (a bidirectional layer from zero state,
//!   `[h_fw, h_bw]` per segment, no `mu`); level 1 runs a bidirectional layer over those
//!   segment embeddings; `mu` projects its `[h_fw, h_bw]`.
//!
//! Every segment of every sequence of a batch is one row of one batched run.

use crate::ml::core::checkpoint::Checkpoint;
use crate::ml::core::lstm::{Dense, LstmWeights, OneHotStack};
use crate::ml::error::ModelError;

/// A forward and a backward LSTM layer.
struct Bidirectional {
    fw: OneHotStack,
    bw: OneHotStack,
}

impl Bidirectional {
    /// Reads `{prefix}{fw,bw}/multi_rnn_cell/cell_0/lstm_cell/` for inputs of `depth`
    /// one-hot/multi-hot columns, or (`dense`) of `depth` dense values.
    fn from_checkpoint(
        ck: &Checkpoint,
        prefix: &str,
        depth: usize,
        dense: bool,
    ) -> Result<Self, ModelError> {
        let dir = |d: &str| -> Result<OneHotStack, ModelError> {
            let layers = LstmWeights::discover(ck, |l| {
                format!("{prefix}{d}/multi_rnn_cell/cell_{l}/lstm_cell/")
            })?;
            if layers.len() != 1 {
                return Err(ModelError::bad_checkpoint(format!(
                    "the encoder needs exactly one {d} layer under {prefix}, found {}",
                    layers.len()
                )));
            }
            if dense {
                OneHotStack::new(layers, None, 0, depth)
            } else {
                OneHotStack::new(layers, None, depth, 0)
            }
        };
        Ok(Bidirectional { fw: dir("fw")?, bw: dir("bw")? })
    }

    /// Output size (`2 * units`).
    fn output(&self) -> usize {
        self.fw.layer_sizes()[0] + self.bw.layer_sizes()[0]
    }

    /// `[h_fw, h_bw]` for each row of `rows` (each `t_len` steps of set columns).
    fn run_rows(&mut self, rows: &[Vec<Vec<usize>>], t_len: usize) -> Result<Vec<f32>, ModelError> {
        let b = rows.len();
        let mut halves = Vec::with_capacity(2);
        for (stack, reverse) in [(&mut self.fw, false), (&mut self.bw, true)] {
            let mut state = stack.zero_state(b)?;
            for s in 0..t_len {
                let t = if reverse { t_len - 1 - s } else { s };
                let step: Vec<&[usize]> = rows
                    .iter()
                    .map(|r| r.get(t).map(Vec::as_slice))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        ModelError::bad_input("encode: sequence shorter than numSteps")
                    })?;
                stack.step_rows(&step, &mut state)?;
            }
            halves.push(state.h(0)?);
        }
        Ok(concat_rows(&halves[0], &halves[1], b))
    }

    /// `[h_fw, h_bw]` for `b` rows of `t_len` dense steps (`x[r][t]` at
    /// `(r * t_len + t) * depth`).
    fn run_dense(&mut self, x: &[f32], b: usize, t_len: usize) -> Result<Vec<f32>, ModelError> {
        let mut halves = Vec::with_capacity(2);
        for (stack, reverse) in [(&mut self.fw, false), (&mut self.bw, true)] {
            // Input parts of the gates of every row and step, computed in one run.
            let gates = stack.context_gates(x, b * t_len)?;
            let cols = gates.len() / (b * t_len).max(1);
            let mut state = stack.zero_state(b)?;
            let none = vec![None; b];
            for s in 0..t_len {
                let t = if reverse { t_len - 1 - s } else { s };
                let mut g = Vec::with_capacity(b * cols);
                for r in 0..b {
                    let i = r * t_len + t;
                    g.extend_from_slice(&gates[i * cols..(i + 1) * cols]);
                }
                stack.set_context_gates(&mut state, g)?;
                stack.step(&none, &mut state)?;
            }
            halves.push(state.h(0)?);
        }
        Ok(concat_rows(&halves[0], &halves[1], b))
    }
}

/// Rows of `a` and `b` side by side.
fn concat_rows(a: &[f32], b: &[f32], rows: usize) -> Vec<f32> {
    let (ua, ub) = (a.len() / rows.max(1), b.len() / rows.max(1));
    let mut out = Vec::with_capacity(a.len() + b.len());
    for r in 0..rows {
        out.extend_from_slice(&a[r * ua..(r + 1) * ua]);
        out.extend_from_slice(&b[r * ub..(r + 1) * ub]);
    }
    out
}

/// A MusicVAE encoder.
pub(super) struct Encoder {
    /// Level 0 (the only level of a flat encoder).
    base: Bidirectional,
    /// Level 1 over the segment embeddings, and the number of segments.
    top: Option<(Bidirectional, usize)>,
    /// `encoder/mu`.
    mu: Dense,
    /// Reads dense rows (GrooVAE) rather than set columns.
    dense: bool,
}

impl Encoder {
    /// Reads the encoder for input rows of `depth` columns (`dense`: `depth` values, flat
    /// encoders only); hierarchical with `segments`.
    pub(super) fn from_checkpoint(
        ck: &Checkpoint,
        depth: usize,
        segments: Option<usize>,
        dense: bool,
    ) -> Result<Self, ModelError> {
        let at = |e: ModelError| e.context("encoder");
        let mu = Dense::from_checkpoint(ck, "encoder/mu/kernel", "encoder/mu/bias").map_err(at)?;
        let (base, top) = match segments {
            None => {
                if ck.has(
                    "encoder/cell_1/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel",
                ) {
                    return Err(at(ModelError::bad_checkpoint(
                        "only single-layer bidirectional encoders are supported",
                    )));
                }
                let base = Bidirectional::from_checkpoint(
                    ck,
                    "encoder/cell_0/bidirectional_rnn/",
                    depth,
                    dense,
                )
                .map_err(at)?;
                (base, None)
            }
            Some(_) if dense => {
                return Err(at(ModelError::unsupported(
                    "hierarchical encoders of dense inputs are not supported",
                )))
            }
            Some(n) => {
                let level =
                    |l: usize| format!("encoder/hierarchical_level_{l}/cell_0/bidirectional_rnn/");
                if ck.has(&format!("{}fw/multi_rnn_cell/cell_0/lstm_cell/kernel", level(2))) {
                    return Err(at(ModelError::unsupported(
                        "only 2 hierarchical encoder levels are supported",
                    )));
                }
                let base =
                    Bidirectional::from_checkpoint(ck, &level(0), depth, false).map_err(at)?;
                let top = Bidirectional::from_checkpoint(ck, &level(1), base.output(), true)
                    .map_err(at)?;
                (base, Some((top, n)))
            }
        };
        let out = top.as_ref().map(|(t, _)| t.output()).unwrap_or(base.output());
        if mu.input() != out {
            return Err(at(ModelError::bad_checkpoint(format!(
                "encoder/mu expects {} inputs, the encoder gives {out}",
                mu.input()
            ))));
        }
        Ok(Encoder { base, top, mu, dense })
    }

    /// Size of `z`.
    pub(super) fn z_dims(&self) -> usize {
        self.mu.output()
    }

    /// `z` (the mean) of each sequence of input rows (all of `num_steps` steps),
    /// `[b, z_dims]` row-major.
    pub(super) fn encode(
        &mut self,
        inputs: &[Vec<Vec<usize>>],
        num_steps: usize,
    ) -> Result<Vec<f32>, ModelError> {
        if self.dense {
            return Err(ModelError::bad_input("encode: this encoder reads dense rows"));
        }
        let b = inputs.len();
        let h = match self.top.as_mut() {
            None => self.base.run_rows(inputs, num_steps)?,
            Some((top, segments)) => {
                let seg_len = num_steps / *segments;
                // Every segment of every sequence is a row of level 0.
                let rows: Vec<Vec<Vec<usize>>> = inputs
                    .iter()
                    .flat_map(|seq| {
                        (0..*segments).map(move |s| {
                            seq.get(s * seg_len..(s + 1) * seg_len).unwrap_or_default().to_vec()
                        })
                    })
                    .collect();
                let emb = self.base.run_rows(&rows, seg_len)?;
                top.run_dense(&emb, b, *segments)?
            }
        };
        Ok(self.mu.apply(&h, b))
    }

    /// `z` (the mean) of `b` sequences of dense rows, `x[r]` at `r * num_steps * depth`
    /// (a flat encoder reading dense rows).
    pub(super) fn encode_dense(
        &mut self,
        x: &[f32],
        b: usize,
        num_steps: usize,
    ) -> Result<Vec<f32>, ModelError> {
        if !self.dense || self.top.is_some() {
            return Err(ModelError::bad_input("encode: this encoder reads one-hot rows"));
        }
        let h = self.base.run_dense(x, b, num_steps)?;
        Ok(self.mu.apply(&h, b))
    }
}
