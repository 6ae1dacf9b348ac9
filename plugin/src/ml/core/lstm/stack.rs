//! `OneHotStack`: an LSTM stack fed one-hot classes (MusicRNN, the MusicVAE encoder and
//! decoder), reading as few weight bytes per step as it can.

use tract_onnx::prelude::*;

use crate::ml::error::ModelError;

use super::*;

/// Primer steps run layer by layer per chunk of this many (bounds the memory a long
/// primer needs for its per-step gates).
pub(super) const PRIME_CHUNK: usize = 256;

/// An LSTM stack fed one-hot classes, with an output projection to logits (MusicRNN).
///
/// Work is split so that fewer weight bytes are read per step, since a step at batch 1
/// is bound by reading the weights from cache: `onehot @ W_x` of layer 0 is a row of
/// `W_x` (copied, exact), every layer's recurrent half reads only `W_h`, and when the
/// inputs are known in advance (a primer) `prime` runs the stack layer by layer, with one
/// batched matmul for each upper layer's input part over all steps. The sums are the
/// ones tract forms for the single-step graph (`(x @ W_x + h @ W_h) + b`).
pub struct OneHotStack {
    /// Layer weights (to build cells for new batch sizes).
    pub(super) layers: Vec<LstmWeights>,
    /// Number of classes (the one-hot part of layer 0's input).
    pub(super) depth: usize,
    /// The one-hot part's rows of layer 0's `W_x`, `[depth, 4 * units0]`.
    pub(super) rows0: Vec<f32>,
    /// Size of the context input: the rest of layer 0's input (a VAE decoder's `z`, an
    /// RNN's chord controls and counters), in input order around the one-hot part.
    pub(super) context: usize,
    /// Layer 0's input part for the context (no bias), any number of rows.
    pub(super) context_net: Option<DenseNet>,
    /// Input parts of layers 1.. (no bias), any number of rows (a primer's steps).
    pub(super) proj: Vec<DenseNet>,
    /// The same for a fixed number of rows, per batch size > 1, built on first use: with
    /// its row count known when the graph is optimised, tract picks a kernel that reads
    /// the weights once for the whole batch (with any row count, 4 rows ran as 3 + 1 and
    /// read them twice). The sums are the same (each output one fma chain in `k` order).
    pub(super) proj_rows: std::collections::HashMap<usize, Vec<DenseNet>>,
    /// Output projection (with bias), if the stack has one.
    pub(super) out: Option<DenseNet>,
    /// Recurrent halves per batch size, built on first use.
    pub(super) cells: std::collections::HashMap<usize, Vec<CellNet>>,
}

impl OneHotStack {
    /// Checks the shapes and builds the batch-1 networks. Layer 0's input is a one-hot
    /// class of `depth` followed by a `context` vector (0 for none); `projection` maps the
    /// top `h` to logits.
    pub fn new(
        layers: Vec<LstmWeights>,
        projection: Option<&Dense>,
        depth: usize,
        context: usize,
    ) -> Result<Self, ModelError> {
        Self::new_split(layers, projection, 0, depth, context)
    }

    /// As [`new`](Self::new) for a layer 0 input of `before` context values, the one-hot
    /// class of `depth`, then `after` context values (the context vector is the `before`
    /// and `after` parts in that order).
    pub fn new_split(
        layers: Vec<LstmWeights>,
        projection: Option<&Dense>,
        before: usize,
        depth: usize,
        after: usize,
    ) -> Result<Self, ModelError> {
        let context = before + after;
        // Also refuses a stack without layers.
        check_shapes(&layers, projection, depth + context)?;
        let cols0 = 4 * layers[0].units;
        let k0 = &layers[0].kernel.data;
        let rows0 = k0[before * cols0..(before + depth) * cols0].to_vec();
        let context_net = if context > 0 {
            let mut wc = k0[..before * cols0].to_vec();
            wc.extend_from_slice(&k0[(before + depth) * cols0..(before + depth + after) * cols0]);
            Some(DenseNet::build(&wc, context, cols0, None, None)?)
        } else {
            None
        };
        let proj = layers[1..]
            .iter()
            .map(|w| {
                let cols = 4 * w.units;
                DenseNet::build(&w.kernel.data[..w.input * cols], w.input, cols, None, None)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = projection
            .map(|p| DenseNet::build(&p.kernel.data, p.input(), p.output(), Some(&p.bias), None))
            .transpose()?;
        let mut stack = OneHotStack {
            layers,
            depth,
            rows0,
            context,
            context_net,
            proj,
            proj_rows: Default::default(),
            out,
            cells: Default::default(),
        };
        stack.cells(1)?;
        Ok(stack)
    }

    /// Units per layer.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.units).collect()
    }

    /// The input parts of layers 1.. for `batch` rows: the any-rows nets for one row,
    /// else nets built for exactly `batch` rows.
    pub(super) fn proj_for(&mut self, batch: usize) -> Result<&mut Vec<DenseNet>, ModelError> {
        if batch <= 1 {
            return Ok(&mut self.proj);
        }
        if !self.proj_rows.contains_key(&batch) {
            let nets = self.layers[1..]
                .iter()
                .map(|w| {
                    let cols = 4 * w.units;
                    let kernel = &w.kernel.data[..w.input * cols];
                    DenseNet::build(kernel, w.input, cols, None, Some(batch))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.proj_rows.insert(batch, nets);
        }
        self.proj_rows.get_mut(&batch).ok_or_else(|| ModelError::engine("LSTM inputs missing"))
    }

    pub(super) fn cells(&mut self, batch: usize) -> Result<&mut Vec<CellNet>, ModelError> {
        if !self.cells.contains_key(&batch) {
            let nets = self
                .layers
                .iter()
                .map(|w| CellNet::build(w, batch))
                .collect::<Result<Vec<_>, _>>()?;
            self.cells.insert(batch, nets);
        }
        self.cells.get_mut(&batch).ok_or_else(|| ModelError::engine("LSTM cells missing"))
    }

    /// The all-zero state for `batch` rows.
    pub fn zero_state(&self, batch: usize) -> Result<StackState, ModelError> {
        let states: Vec<Vec<f32>> = self
            .layers
            .iter()
            .flat_map(|w| [vec![0f32; batch * w.units], vec![0f32; batch * w.units]])
            .collect();
        self.state_from(batch, &states)
    }

    /// A state from `[c0, h0, c1, h1, ...]`, each `[batch, units]` row-major.
    pub fn state_from(&self, batch: usize, states: &[Vec<f32>]) -> Result<StackState, ModelError> {
        if states.len() != 2 * self.layers.len() {
            return Err(ModelError::bad_input(format!(
                "LSTM state: {} parts given, {} expected",
                states.len(),
                2 * self.layers.len()
            )));
        }
        let layers = self
            .layers
            .iter()
            .zip(states.chunks(2))
            .map(|(w, ch)| {
                let part = |v: &Vec<f32>| {
                    if v.len() != batch * w.units {
                        return Err(ModelError::bad_input(format!(
                            "LSTM state: {} values, expected {}",
                            v.len(),
                            batch * w.units
                        )));
                    }
                    tensor_2d(batch, w.units, v)
                };
                Ok((part(&ch[0])?, part(&ch[1])?))
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(StackState { batch, layers, context_gates: None })
    }

    /// Sets the context input of every row (`[batch, context]` row-major) for the steps
    /// that follow; its part of layer 0's gates is computed here, once (the tests compare
    /// `RowStack` with it).
    #[cfg(test)]
    pub fn set_context(
        &mut self,
        state: &mut StackState,
        context: &[f32],
    ) -> Result<(), ModelError> {
        let b = state.batch;
        let net = self
            .context_net
            .as_mut()
            .ok_or_else(|| ModelError::bad_input("LSTM stack: this model has no context input"))?;
        if context.len() != b * self.context {
            return Err(ModelError::bad_input(format!(
                "LSTM stack: context of {} values, expected {}",
                context.len(),
                b * self.context
            )));
        }
        let g = net.run(tensor_2d(b, self.context, context)?)?;
        state.context_gates = Some(f32s(&g)?.to_vec());
        Ok(())
    }

    /// The context part of layer 0's gates for `rows` context vectors (`[rows, context]`
    /// row-major), `[rows, 4 * units0]`: computed once for inputs known in advance (an
    /// RNN's controls and counters for all steps, an encoder's dense inputs).
    pub fn context_gates(&mut self, values: &[f32], rows: usize) -> Result<Vec<f32>, ModelError> {
        let ctx = self.context;
        let net = self
            .context_net
            .as_mut()
            .ok_or_else(|| ModelError::bad_input("LSTM stack: this model has no context input"))?;
        if values.len() != rows * ctx {
            return Err(ModelError::bad_input(format!(
                "LSTM stack: {} context values for {rows} rows of {ctx}",
                values.len()
            )));
        }
        let g = net.run(tensor_2d(rows, ctx, values)?)?;
        Ok(f32s(&g)?.to_vec())
    }

    /// Sets the context part of layer 0's gates for the next steps, `[batch, 4 * units0]`
    /// (rows of [`context_gates`](Self::context_gates)).
    pub fn set_context_gates(
        &self,
        state: &mut StackState,
        gates: Vec<f32>,
    ) -> Result<(), ModelError> {
        let want = state.batch * 4 * self.layers[0].units;
        if gates.len() != want || self.context == 0 {
            return Err(ModelError::bad_input(format!(
                "LSTM stack: {} context gate values, expected {want}",
                gates.len()
            )));
        }
        state.context_gates = Some(gates);
        Ok(())
    }

    /// Layer 0's input part of the gates, `[rows, 4 * units0]`: the sum of the rows of
    /// `W_x` of each row's set columns (a 0/1 input times `W_x`, exactly for one-hot rows;
    /// no column is an all-zero input) plus the row's context part.
    pub(super) fn input_rows(
        &self,
        rows: &[&[usize]],
        context_gates: Option<&[f32]>,
    ) -> Result<TValue, ModelError> {
        let cols = 4 * self.layers[0].units;
        if self.context > 0 && context_gates.is_none() {
            return Err(ModelError::bad_input("LSTM stack: the context input is not set"));
        }
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (r, set) in rows.iter().enumerate() {
            let start = data.len();
            match context_gates {
                Some(g) => data.extend_from_slice(&g[r * cols..(r + 1) * cols]),
                None => data.resize(start + cols, 0.0),
            }
            for &k in set.iter() {
                if k >= self.depth {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {})",
                        self.depth
                    )));
                }
                let row = &self.rows0[k * cols..(k + 1) * cols];
                data[start..].iter_mut().zip(row).for_each(|(a, &w)| *a += w);
            }
        }
        tensor_2d(rows.len(), cols, &data)
    }

    pub(super) fn logits(&mut self, state: &StackState) -> Result<Vec<f32>, ModelError> {
        match self.out.as_mut() {
            Some(out) => {
                let top = state.layers[state.layers.len() - 1].1.clone();
                let logits = out.run(top)?;
                Ok(f32s(&logits)?.to_vec())
            }
            None => Ok(Vec::new()),
        }
    }

    /// Feeds a known class sequence to one row from the zero state, layer by layer, and
    /// returns the state after the last class and the logits there (`classes()` values).
    /// For stacks without a context input.
    #[cfg(test)]
    pub fn prime(&mut self, sequence: &[usize]) -> Result<(StackState, Vec<f32>), ModelError> {
        let classes: Vec<Option<usize>> = sequence.iter().map(|&k| Some(k)).collect();
        self.prime_with(&classes, None)
    }

    /// [`prime`](Self::prime) for classes that may be absent (an all-zero input) and,
    /// for stacks with a context input, the context part of the gates of every step
    /// (`[sequence.len(), 4 * units0]`, from [`context_gates`](Self::context_gates)).
    pub fn prime_with(
        &mut self,
        sequence: &[Option<usize>],
        gates: Option<&[f32]>,
    ) -> Result<(StackState, Vec<f32>), ModelError> {
        if sequence.is_empty() {
            return Err(ModelError::bad_input("prime: empty sequence"));
        }
        let cols = 4 * self.layers[0].units;
        if let Some(g) = gates {
            if g.len() != sequence.len() * cols {
                return Err(ModelError::bad_input(format!(
                    "prime: {} context gate values for {} steps",
                    g.len(),
                    sequence.len()
                )));
            }
        }
        let mut state = self.zero_state(1)?;
        // In chunks, so that a long primer needs bounded memory for the per-step gates.
        for (i, chunk) in sequence.chunks(PRIME_CHUNK).enumerate() {
            let start = i * PRIME_CHUNK;
            let g = gates.map(|g| &g[start * cols..(start + chunk.len()) * cols]);
            self.prime_chunk(chunk, g, &mut state)?;
        }
        let logits = self.logits(&state)?;
        Ok((state, logits))
    }

    pub(super) fn prime_chunk(
        &mut self,
        sequence: &[Option<usize>],
        gates: Option<&[f32]>,
        state: &mut StackState,
    ) -> Result<(), ModelError> {
        let t_len = sequence.len();
        let nl = self.layers.len();
        // Input parts of the current layer's gates for every step, `[t_len, 4 * units]`.
        let rows: Vec<&[usize]> = sequence.iter().map(|k| k.as_slice()).collect();
        let mut gx_all = self.input_rows(&rows, gates)?;
        for l in 0..nl {
            let u = self.layers[l].units;
            let keep = l + 1 < nl;
            let mut hs: Vec<f32> = Vec::with_capacity(if keep { t_len * u } else { 0 });
            let (mut c, mut h) = state.layers[l].clone();
            {
                let cell = &mut self.cells(1)?[l];
                for t in 0..t_len {
                    let gx =
                        gx_all.slice(0, t, t + 1).map_err(terr("slicing gates"))?.into_tvalue();
                    (c, h) = cell.run(gx, c, h)?;
                    if keep {
                        hs.extend_from_slice(f32s(&h)?);
                    }
                }
            }
            state.layers[l] = (c, h);
            if keep {
                gx_all = self.proj[l].run(tensor_2d(t_len, u, &hs)?)?;
            }
        }
        Ok(())
    }

    /// One step of all layers for `state.batch` rows, row `r` fed class `classes[r]`
    /// (`None`: an all-zero input) and the context; updates `state` and returns the
    /// logits `[batch, classes()]` (empty without a projection).
    pub fn step(
        &mut self,
        classes: &[Option<usize>],
        state: &mut StackState,
    ) -> Result<Vec<f32>, ModelError> {
        let rows: Vec<&[usize]> = classes.iter().map(|k| k.as_slice()).collect();
        self.step_rows(&rows, state)
    }

    /// [`step`](Self::step) for rows given by their set columns (0/1 inputs with several
    /// ones, such as a drum roll or the trio's three one-hot parts).
    pub fn step_rows(
        &mut self,
        rows: &[&[usize]],
        state: &mut StackState,
    ) -> Result<Vec<f32>, ModelError> {
        let b = state.batch;
        if rows.len() != b {
            return Err(ModelError::bad_input(format!(
                "step: {} classes for {b} rows",
                rows.len()
            )));
        }
        let mut x = self.input_rows(rows, state.context_gates.as_deref())?;
        let nl = self.layers.len();
        for l in 0..nl {
            if l > 0 {
                let h_below = state.layers[l - 1].1.clone();
                x = self.proj_for(b)?[l - 1].run(h_below)?;
            }
            let (c, h) = state.layers[l].clone();
            let cell = &mut self.cells(b)?[l];
            state.layers[l] = cell.run(x.clone(), c, h)?;
        }
        self.logits(state)
    }
}
