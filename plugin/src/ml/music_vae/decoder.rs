//! MusicVAE decoders as magenta.js builds them (`music_vae/model.ts`):
//!
//! - a *core* decoder (`CategoricalDecoder`): `z` → initial LSTM state
//!   (`tanh(z @ z_to_initial_state + b)` split into `[c0, h0, c1, h1, ...]`), then per step
//!   `[previous output one-hot, z]` → LSTM stack → `output_projection` → a label (argmax,
//!   or a softmax sample at a temperature);
//! - a *split* decoder: several core decoders that each decode the same `z` (the trio's
//!   melody, bass and drums), their outputs side by side;
//! - a *groove* decoder (`GrooveDecoder`, the GrooVAE models): a core decoder whose step
//!   output is not a label but values (hits, velocities, offsets) fed back as they are;
//! - a *conductor* (`ConductorDecoder`, hierarchical models): an LSTM run on an all-zero
//!   input from `tanh(z @ initial_state + b)`, whose top `h` after each of its
//!   `numSegments` steps is the `z` of the core decoders for one segment of
//!   `numSteps / numSegments` steps. Each core decoder starts a segment from the last
//!   output of its previous segment (all-zero before the first).

use crate::ml::core::checkpoint::Checkpoint;
use crate::ml::core::lstm::{Dense, LstmWeights, PanelDense, RowStack};
use crate::ml::error::ModelError;

/// Where magenta.js keeps the conductor's variables.
const CONDUCTOR_PREFIX: &str = "decoder/hierarchical_level_0/";

/// Splits `tanh(x @ W + b)` rows into `[c0, h0, c1, h1, ...]` state parts of `units` per
/// layer (tf.split into equal chunks), for `b` rows.
fn initial_state(
    dense: &PanelDense,
    x: &[f32],
    b: usize,
    layers: usize,
    units: usize,
) -> Vec<Vec<f32>> {
    let init: Vec<f32> = dense.apply(x, b).iter().map(|v| v.tanh()).collect();
    let width = 2 * layers * units;
    (0..2 * layers)
        .map(|k| {
            (0..b)
                .flat_map(|r| {
                    init[r * width + k * units..r * width + (k + 1) * units].iter().copied()
                })
                .collect()
        })
        .collect()
}

/// Layers of one size (the state split needs them equal), or an error naming `what`.
fn equal_units(layers: &[LstmWeights], what: &str) -> Result<usize, ModelError> {
    let Some(first) = layers.first() else {
        return Err(ModelError::bad_checkpoint(format!("{what}: no LSTM layers")));
    };
    if layers.iter().any(|l| l.units != first.units) {
        return Err(ModelError::unsupported(format!(
            "{what}: decoder layers must all have the same size"
        )));
    }
    Ok(first.units)
}

/// One categorical LSTM decoder.
pub(super) struct CoreDecoder {
    /// `z_to_initial_state`.
    z_to_state: PanelDense,
    /// The stack, fed `[previous output, z]` (`z` as its context input), with the output
    /// projection; native, so a batch of variations reads the weights once a step.
    stack: RowStack,
    /// Output labels (or values, for a dense decoder).
    depth: usize,
    /// Fed its previous output as values (GrooVAE), not as a one-hot label.
    dense: bool,
    /// Units per layer and number of layers.
    units: usize,
    layers: usize,
}

impl CoreDecoder {
    /// Reads the decoder under `prefix` (e.g. `decoder/`) for labels of `depth`, or
    /// (`dense`) outputs of `depth` values.
    fn from_checkpoint(
        ck: &Checkpoint,
        prefix: &str,
        depth: usize,
        dense: bool,
    ) -> Result<Self, ModelError> {
        let at = |e: ModelError| e.context(format_args!("decoder {prefix}"));
        if ck.has(&format!("{prefix}nade/w_enc")) {
            return Err(at(ModelError::unsupported(
                "NADE decoders are not supported (only categorical decoders)",
            )));
        }
        let layers =
            LstmWeights::discover(ck, |l| format!("{prefix}multi_rnn_cell/cell_{l}/lstm_cell/"))
                .map_err(at)?;
        let units = equal_units(&layers, prefix).map_err(at)?;
        let z_to_state = Dense::from_checkpoint(
            ck,
            &format!("{prefix}z_to_initial_state/kernel"),
            &format!("{prefix}z_to_initial_state/bias"),
        )
        .map_err(at)?;
        if z_to_state.output() != 2 * units * layers.len() {
            return Err(at(ModelError::bad_checkpoint(format!(
                "z_to_initial_state gives {} values, the decoder state needs {}",
                z_to_state.output(),
                2 * units * layers.len()
            ))));
        }
        let proj = Dense::from_checkpoint(
            ck,
            &format!("{prefix}output_projection/kernel"),
            &format!("{prefix}output_projection/bias"),
        )
        .map_err(at)?;
        if proj.output() != depth {
            return Err(at(ModelError::bad_checkpoint(format!(
                "output_projection has {} outputs, the data converter has {depth} labels",
                proj.output()
            ))));
        }
        let n = layers.len();
        let zd = z_to_state.input();
        let stack = if dense {
            RowStack::new_dense(&layers, Some(&proj), depth, zd)
        } else {
            RowStack::new(&layers, Some(&proj), depth, zd)
        }
        .map_err(at)?;
        let z_to_state = PanelDense::new(&z_to_state);
        Ok(CoreDecoder { z_to_state, stack, depth, dense, units, layers: n })
    }

    /// Size of the `z` this decoder reads.
    pub(super) fn z_dims(&self) -> usize {
        self.z_to_state.input()
    }

    /// Decodes `len` steps for the `b` rows of `z` (`[b, z_dims]`), starting from
    /// `initial` (each row's previous output; None is all-zero). Returns labels `[b][len]`.
    fn decode(
        &mut self,
        z: &[f32],
        b: usize,
        len: usize,
        initial: &[Option<usize>],
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        let states = initial_state(&self.z_to_state, z, b, self.layers, self.units);
        let mut state = self.stack.state_from(b, &states)?;
        self.stack.set_context(&mut state, z)?;
        let mut prev = initial.to_vec();
        let mut out = vec![Vec::with_capacity(len); b];
        let d = self.depth;
        for _ in 0..len {
            let mut logits = self.stack.step(&prev, &mut state)?;
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

    /// Decodes `len` steps of a dense decoder for the `b` rows of `z`: each step, row
    /// `r`'s projection goes through `sample(r, values)`, which turns it in place into the
    /// step's output; that is fed back as the next input (all-zero before the first).
    /// Returns each row's outputs, `[b][len * depth]`.
    fn decode_dense(
        &mut self,
        z: &[f32],
        b: usize,
        len: usize,
        sample: &mut dyn FnMut(usize, &mut [f32]),
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let states = initial_state(&self.z_to_state, z, b, self.layers, self.units);
        let mut state = self.stack.state_from(b, &states)?;
        self.stack.set_context(&mut state, z)?;
        let d = self.depth;
        let mut input = vec![0f32; b * d];
        let mut out = vec![Vec::with_capacity(len * d); b];
        for _ in 0..len {
            let mut values = self.stack.step_dense(&input, &mut state)?;
            for (r, row) in values.chunks_exact_mut(d).enumerate() {
                sample(r, row);
                out[r].extend_from_slice(row);
            }
            input = values;
        }
        Ok(out)
    }
}

/// The conductor of a hierarchical model.
struct Conductor {
    /// `initial_state`.
    init: PanelDense,
    /// The LSTM stack (its one input value is always 0).
    stack: RowStack,
    /// Units per layer and number of layers.
    units: usize,
    layers: usize,
    /// Embeddings per sequence (`numSegments`).
    segments: usize,
}

/// A MusicVAE decoder: core decoders (one, or one per part), optionally under a conductor.
pub(super) struct Decoder {
    /// The conductor of hierarchical models.
    conductor: Option<Conductor>,
    /// The core decoders, one per part.
    cores: Vec<CoreDecoder>,
}

impl Decoder {
    /// Reads the decoder of a checkpoint whose converter samples parts of `depths` labels
    /// (or, `dense`, one part of `depths[0]` values), hierarchical with `segments`
    /// conductor steps when given.
    pub(super) fn from_checkpoint(
        ck: &Checkpoint,
        depths: &[usize],
        segments: Option<usize>,
        dense: bool,
    ) -> Result<Self, ModelError> {
        if dense && (segments.is_some() || depths.len() != 1) {
            return Err(ModelError::unsupported(
                "hierarchical or multi-part groove decoders are not supported",
            ));
        }
        let base = if segments.is_some() { "core_decoder/" } else { "" };
        let prefixes: Vec<String> = if depths.len() > 1 {
            (0..depths.len()).map(|i| format!("{base}core_decoder_{i}/decoder/")).collect()
        } else {
            vec![format!("{base}decoder/")]
        };
        let cores = prefixes
            .iter()
            .zip(depths)
            .map(|(p, &d)| CoreDecoder::from_checkpoint(ck, p, d, dense))
            .collect::<Result<Vec<_>, _>>()?;
        let zc = cores[0].z_dims();
        if let Some(c) = cores.iter().find(|c| c.z_dims() != zc) {
            return Err(ModelError::bad_checkpoint(format!(
                "the split decoders read z of {zc} and {} values",
                c.z_dims()
            )));
        }
        let conductor = match segments {
            None => None,
            Some(segments) => {
                let at = |e: ModelError| e.context("conductor");
                let layers =
                    LstmWeights::discover(ck, |l| format!("{CONDUCTOR_PREFIX}cell_{l}/lstm_cell/"))
                        .map_err(at)?;
                let units = equal_units(&layers, "conductor").map_err(at)?;
                let init = Dense::from_checkpoint(
                    ck,
                    &format!("{CONDUCTOR_PREFIX}initial_state/kernel"),
                    &format!("{CONDUCTOR_PREFIX}initial_state/bias"),
                )
                .map_err(at)?;
                if init.output() != 2 * units * layers.len() {
                    return Err(at(ModelError::bad_checkpoint(format!(
                        "initial_state gives {} values, the conductor state needs {}",
                        init.output(),
                        2 * units * layers.len()
                    ))));
                }
                if units != zc {
                    return Err(at(ModelError::bad_checkpoint(format!(
                        "the conductor has {units} units but the core decoders read z of {zc}"
                    ))));
                }
                let n = layers.len();
                // Input: one value, always 0 (magenta.js feeds zeros [batch, 1]).
                let stack = RowStack::new(&layers, None, 1, 0).map_err(at)?;
                Some(Conductor { init: PanelDense::new(&init), stack, units, layers: n, segments })
            }
        };
        Ok(Decoder { conductor, cores })
    }

    /// Size of the model's `z`.
    pub(super) fn z_dims(&self) -> usize {
        match &self.conductor {
            Some(c) => c.init.input(),
            None => self.cores[0].z_dims(),
        }
    }

    /// Decodes the `b` rows of `z` to `num_steps` steps of values of a dense (groove)
    /// decoder: `[b][num_steps * depth]` (see `CoreDecoder::decode_dense`).
    pub(super) fn decode_dense(
        &mut self,
        z: &[f32],
        b: usize,
        num_steps: usize,
        sample: &mut dyn FnMut(usize, &mut [f32]),
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        match (&self.conductor, self.cores.as_mut_slice()) {
            (None, [core]) if core.dense => core.decode_dense(z, b, num_steps, sample),
            _ => Err(ModelError::bad_input("decode: this model's decoder outputs labels")),
        }
    }

    /// Decodes the `b` rows of `z` to `num_steps` labels per part: `[b][part][step]`.
    pub(super) fn decode(
        &mut self,
        z: &[f32],
        b: usize,
        num_steps: usize,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<Vec<usize>>>, ModelError> {
        let parts = self.cores.len();
        let mut out = vec![vec![Vec::with_capacity(num_steps); parts]; b];
        let Some(cond) = self.conductor.as_mut() else {
            for (p, core) in self.cores.iter_mut().enumerate() {
                let labels = core.decode(z, b, num_steps, &vec![None; b], pick)?;
                for (r, l) in labels.into_iter().enumerate() {
                    out[r][p] = l;
                }
            }
            return Ok(out);
        };
        let seg_len = num_steps / cond.segments;
        let states = initial_state(&cond.init, z, b, cond.layers, cond.units);
        let mut state = cond.stack.state_from(b, &states)?;
        let mut initial: Vec<Vec<Option<usize>>> = vec![vec![None; b]; parts];
        let zero_input = vec![None; b];
        for _ in 0..cond.segments {
            cond.stack.step(&zero_input, &mut state)?;
            let emb = state.h(cond.layers - 1)?.to_vec();
            for (p, core) in self.cores.iter_mut().enumerate() {
                let labels = core.decode(&emb, b, seg_len, &initial[p], pick)?;
                for (r, l) in labels.into_iter().enumerate() {
                    initial[p][r] = l.last().copied();
                    out[r][p].extend(l);
                }
            }
        }
        Ok(out)
    }
}
