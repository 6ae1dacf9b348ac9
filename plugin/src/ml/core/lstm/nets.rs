//! The compiled tract nets: `StepNet` (one step of a whole stack), `DenseNet`
//! (`x @ W (+ b)`), `CellNet` (the recurrent half of one layer) and the stack's state.

use tract_onnx::prelude::*;

use crate::ml::error::ModelError;

use super::*;

/// Shape of a step network: its inputs and what it computes (the tests' reference for
/// the stacks).
#[cfg(test)]
#[derive(Clone, Debug)]
pub struct StepSpec {
    /// Sizes of the step inputs concatenated (in order) to form layer 0's input.
    pub inputs: Vec<usize>,
    /// The LSTM stack.
    pub layers: Vec<LstmWeights>,
    /// Projection of the top `h` to logits, if any.
    pub projection: Option<Dense>,
}

/// A compiled step of an LSTM stack for a fixed batch size.
///
/// Inputs, in order: the step inputs of `StepSpec::inputs`, then `c_l`, `h_l` for each
/// layer. Outputs: `c_l'`, `h_l'` for each layer, then the logits if there is a projection.
#[cfg(test)]
pub struct StepNet {
    /// Reused run state, so a step allocates no plan-level structures.
    pub(super) state: TypedSimpleState,
    /// Batch size the graph was built for.
    pub batch: usize,
    /// Input sizes (step inputs then states) to validate calls.
    pub(super) input_sizes: Vec<usize>,
}

#[cfg(test)]
impl StepNet {
    /// Builds and optimises the graph of `spec` for `batch` rows.
    pub fn build(spec: &StepSpec, batch: usize) -> Result<Self, ModelError> {
        let batch = batch.max(1);
        let in_size: usize = spec.inputs.iter().sum();
        super::check_shapes(&spec.layers, spec.projection.as_ref(), in_size)?;
        let mut g = GraphBuilder::new();
        let mut input_sizes = Vec::new();
        let step_inputs: Vec<String> = spec
            .inputs
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                input_sizes.push(n);
                g.input(&format!("in{i}"), &[batch, n])
            })
            .collect();
        let mut states = Vec::new();
        for (l, w) in spec.layers.iter().enumerate() {
            let c = g.input(&format!("c{l}"), &[batch, w.units]);
            let h = g.input(&format!("h{l}"), &[batch, w.units]);
            input_sizes.extend([w.units, w.units]);
            states.push((c, h));
        }
        let one = g.constant("one", &[], &[1.0]);
        let mut x = if step_inputs.len() == 1 {
            step_inputs[0].clone()
        } else {
            let refs: Vec<&str> = step_inputs.iter().map(|s| s.as_str()).collect();
            g.node("Concat", &refs, 1, Some(1)).remove(0)
        };
        for (l, w) in spec.layers.iter().enumerate() {
            let (c, h) = states[l].clone();
            let (c2, h2) = g.lstm(&x, &c, &h, w, &one);
            g.expose(&c2, &format!("c{l}_out"), &[batch, w.units]);
            g.expose(&h2, &format!("h{l}_out"), &[batch, w.units]);
            x = h2;
        }
        if let Some(p) = &spec.projection {
            let logits = g.dense(&x, p);
            g.expose(&logits, "logits", &[batch, p.output()]);
        }
        let plan = g.compile()?;
        let state = TypedSimpleState::new(&plan).map_err(terr("creating step state"))?;
        Ok(StepNet { state, batch, input_sizes })
    }

    /// Runs one step. `inputs` are the step inputs then the states, each `batch * size`
    /// values; returns the new states then the logits, as flat vectors.
    pub fn run(&mut self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        if inputs.len() != self.input_sizes.len() {
            return Err(ModelError::bad_input(format!(
                "step: {} inputs given, {} expected",
                inputs.len(),
                self.input_sizes.len()
            )));
        }
        let mut tv: TVec<TValue> = tvec![];
        for (i, (data, &n)) in inputs.iter().zip(&self.input_sizes).enumerate() {
            if data.len() != self.batch * n {
                return Err(ModelError::bad_input(format!(
                    "step input {i}: {} values, expected {}",
                    data.len(),
                    self.batch * n
                )));
            }
            let t =
                Tensor::from_shape::<f32>(&[self.batch, n], data).map_err(terr("step input"))?;
            tv.push(t.into_tvalue());
        }
        let out = self.state.run(tv).map_err(terr("running step"))?;
        out.iter()
            .map(|t| {
                t.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(terr("reading step output"))
            })
            .collect()
    }
}

/// `x @ W (+ b)` as a tract graph, for a fixed number of rows or any (symbolic; one plan
/// and one packed copy of `W` then serve a whole primer at once). tract picks its matmul
/// kernel by the row count: a fixed count of 1 gets the fastest matrix-vector kernel.
pub struct DenseNet {
    /// Reused run state.
    pub(super) state: TypedSimpleState,
    /// Columns of `x`.
    pub(super) input: usize,
    /// Fixed row count, if any.
    pub(super) rows: Option<usize>,
}

impl DenseNet {
    /// Builds the graph for `kernel` (`[input, output]`, row-major) and optional `bias`,
    /// for `rows` rows (`None`: any).
    pub fn build(
        kernel: &[f32],
        input: usize,
        output: usize,
        bias: Option<&[f32]>,
        rows: Option<usize>,
    ) -> Result<Self, ModelError> {
        if kernel.len() != input * output || bias.is_some_and(|b| b.len() != output) {
            return Err(ModelError::bad_checkpoint(format!(
                "dense layer: kernel of {} values or bias does not fit [{input}, {output}]",
                kernel.len()
            )));
        }
        let mut g = GraphBuilder::new();
        let r = rows.map(Dim::Fixed).unwrap_or(Dim::Rows);
        let x = g.input_dims("x", &[r, Dim::Fixed(input)]);
        let k = g.constant("w", &[input, output], kernel);
        let mut y = g.op1("MatMul", &[&x, &k]);
        if let Some(b) = bias {
            let b = g.constant("b", &[output], b);
            y = g.op1("Add", &[&y, &b]);
        }
        g.expose_dims(&y, "y", &[r, Dim::Fixed(output)]);
        let plan = g.compile()?;
        let state = TypedSimpleState::new(&plan).map_err(terr("creating dense state"))?;
        Ok(DenseNet { state, input, rows })
    }

    /// Runs the layer on `[rows, input]`; returns `[rows, output]`.
    pub fn run(&mut self, x: TValue) -> Result<TValue, ModelError> {
        if x.rank() != 2
            || x.shape()[1] != self.input
            || self.rows.is_some_and(|r| r != x.shape()[0])
        {
            return Err(ModelError::bad_input(format!(
                "dense layer: input shape {:?}, expected [{}, {}]",
                x.shape(),
                self.rows.map(|r| r.to_string()).unwrap_or("rows".into()),
                self.input
            )));
        }
        let mut out = self.state.run(tvec![x]).map_err(terr("running dense layer"))?;
        out.pop().ok_or_else(|| ModelError::engine("dense layer gave no output"))
    }
}

/// The recurrent half of one LSTM layer for a fixed batch: takes the input part of the
/// gates (`x @ W_x`) ready-made, so it can come from a batched matmul over a whole primer
/// (or, for one-hot inputs, be a row of `W_x`). Reads only `W_h` per step.
pub struct CellNet {
    /// Reused run state.
    pub(super) state: TypedSimpleState,
    /// Batch size the graph was built for.
    pub(super) batch: usize,
    /// Units of the layer.
    pub(super) units: usize,
}

impl CellNet {
    /// Builds the graph of layer `w` for `batch` rows.
    pub fn build(w: &LstmWeights, batch: usize) -> Result<Self, ModelError> {
        let batch = batch.max(1);
        let u = w.units;
        if w.kernel.data.len() != (w.input + u) * 4 * u || w.bias.len() != 4 * u {
            return Err(ModelError::bad_checkpoint(format!(
                "LSTM layer: kernel/bias sizes do not fit input {} and {u} units",
                w.input
            )));
        }
        let mut g = GraphBuilder::new();
        let gx = g.input("gx", &[batch, 4 * u]);
        let c = g.input("c", &[batch, u]);
        let h = g.input("h", &[batch, u]);
        let one = g.constant("one", &[], &[1.0]);
        let (c2, h2) = g.lstm_recurrent(&gx, &c, &h, w, &one);
        g.expose(&c2, "c_out", &[batch, u]);
        g.expose(&h2, "h_out", &[batch, u]);
        let plan = g.compile()?;
        let state = TypedSimpleState::new(&plan).map_err(terr("creating cell state"))?;
        Ok(CellNet { state, batch, units: u })
    }

    /// One step: `gx` `[batch, 4 * units]`, `c`, `h` `[batch, units]`; returns (c', h').
    pub fn run(
        &mut self,
        gx: TValue,
        c: TValue,
        h: TValue,
    ) -> Result<(TValue, TValue), ModelError> {
        let (b, u) = (self.batch, self.units);
        if gx.shape() != [b, 4 * u] || c.shape() != [b, u] || h.shape() != [b, u] {
            return Err(ModelError::bad_input(format!(
                "LSTM cell: shapes {:?}, {:?}, {:?}, expected [{b}, {}], [{b}, {u}], [{b}, {u}]",
                gx.shape(),
                c.shape(),
                h.shape(),
                4 * u
            )));
        }
        let mut out = self.state.run(tvec![gx, c, h]).map_err(terr("running LSTM cell"))?;
        let h2 = out.pop().ok_or_else(|| ModelError::engine("LSTM cell gave no h"))?;
        let c2 = out.pop().ok_or_else(|| ModelError::engine("LSTM cell gave no c"))?;
        Ok((c2, h2))
    }
}

/// The state of an LSTM stack: `(c, h)` per layer, `[batch, units]` each.
#[derive(Clone)]
pub struct StackState {
    /// Rows.
    pub batch: usize,
    /// `(c, h)` per layer.
    pub(super) layers: Vec<(TValue, TValue)>,
    /// `context @ W_c` of layer 0 per row, `[batch, 4 * units0]`, if the stack has a
    /// context input.
    pub(super) context_gates: Option<Vec<f32>>,
}

impl StackState {
    /// The `h` of `layer`, `[batch, units]` row-major.
    pub fn h(&self, layer: usize) -> Result<Vec<f32>, ModelError> {
        let (_, h) = self
            .layers
            .get(layer)
            .ok_or_else(|| ModelError::bad_input(format!("no LSTM layer {layer}")))?;
        Ok(f32s(h)?.to_vec())
    }

    /// The state with each row repeated `n` times (a batch-1 primer state fanned out to
    /// `n` variations).
    pub fn repeat_rows(&self, n: usize) -> Result<StackState, ModelError> {
        let rep = |t: &TValue| -> Result<TValue, ModelError> {
            let v = f32s(t)?;
            let cols = t.shape()[1];
            let mut data = Vec::with_capacity(v.len() * n);
            for row in v.chunks(cols) {
                for _ in 0..n {
                    data.extend_from_slice(row);
                }
            }
            tensor_2d(self.batch * n, cols, &data)
        };
        Ok(StackState {
            batch: self.batch * n,
            layers: self
                .layers
                .iter()
                .map(|(c, h)| Ok((rep(c)?, rep(h)?)))
                .collect::<Result<_, ModelError>>()?,
            context_gates: self.context_gates.as_ref().map(|g| {
                let cols = g.len() / self.batch.max(1);
                g.chunks(cols.max(1))
                    .flat_map(|row| std::iter::repeat_n(row, n).flatten().copied())
                    .collect()
            }),
        })
    }
}
