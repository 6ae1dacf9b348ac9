//! LSTM networks for tract, built in Rust as ONNX graphs from checkpoint weights.
//!
//! Each graph is optimised once at load time (tract splits the concat matmul and
//! pre-packs the weights) and run with one reused `TypedSimpleState`. Batch dimensions
//! are fixed per graph (models keep one per batch size they have been asked for, so N
//! variations cost one weight pass per step), except `DenseNet`'s symbolic row count.
//!
//! - `StepNet`: one time step of a whole stack of `tf.basicLSTMCell`s, state in and out,
//!   plus an optional output projection.
//! - `CellNet`: the recurrent half of one layer, given the input part of its gates.
//! - `DenseNet`: `x @ W (+ b)` for a fixed or any number of rows.
//! - `OneHotStack`: a stack fed one-hot classes (MusicRNN, the MusicVAE encoder and
//!   decoder) built from those. A step at batch 1 is bound by reading the weights from
//!   cache, so it reads as few as it can: the one-hot part of layer 0 is a row of `W_x`,
//!   a fixed context input (the VAE's `z`) is multiplied once per call, and a primer runs
//!   layer by layer with one batched matmul per upper layer for its input parts. The
//!   sums are the ones tract forms for the single-step graph (`(x @ W_x + h @ W_h) + b`),
//!   so the results are `StepNet`'s (the tests compare them).
//!
//! Cell math (forget bias 1.0, gate order i, j, f, o):
//! `g = [x, h] @ K + b; c' = σ(i)·tanh(j) + c·σ(f + 1); h' = tanh(c')·σ(o)`.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::ml::core::checkpoint::{Checkpoint, Var};
use crate::ml::error::ModelError;

/// Weights of one LSTM layer.
#[derive(Clone, Debug)]
pub struct LstmWeights {
    /// Kernel `[input + units, 4 * units]`, row-major.
    pub kernel: Var,
    /// Bias `[4 * units]`.
    pub bias: Vec<f32>,
    /// Size of the layer's input.
    pub input: usize,
    /// Number of units (`bias.len() / 4`).
    pub units: usize,
}

impl LstmWeights {
    /// Reads `<prefix>kernel` and `<prefix>bias` and checks their shapes agree.
    pub fn from_checkpoint(ck: &Checkpoint, prefix: &str) -> Result<Self, ModelError> {
        let kname = format!("{prefix}kernel");
        let bname = format!("{prefix}bias");
        let kernel = ck.var(&kname)?.clone();
        let bias = ck.var(&bname)?;
        let nb = bias.dims1(&bname)?;
        let (rows, cols) = kernel.dims2(&kname)?;
        if nb % 4 != 0 || nb == 0 {
            return Err(ModelError::bad_checkpoint(format!(
                "{bname}: length {nb} is not a positive multiple of 4"
            )));
        }
        let units = nb / 4;
        if cols != nb || rows <= units {
            return Err(ModelError::bad_checkpoint(format!(
                "{kname}: shape [{rows}, {cols}] does not fit {units} units (expected [input + {units}, {nb}])"
            )));
        }
        Ok(LstmWeights { kernel, bias: bias.data.clone(), input: rows - units, units })
    }

    /// Layers `fmt(0)`, `fmt(1)`, ... up to the first missing `<prefix>kernel`, as
    /// magenta.js discovers them.
    pub fn discover(
        ck: &Checkpoint,
        fmt: impl Fn(usize) -> String,
    ) -> Result<Vec<Self>, ModelError> {
        let mut layers = Vec::new();
        for l in 0.. {
            let prefix = fmt(l);
            if !ck.has(&format!("{prefix}kernel")) {
                break;
            }
            layers.push(Self::from_checkpoint(ck, &prefix)?);
        }
        Ok(layers)
    }
}

/// A dense layer `y = x @ W + b`.
#[derive(Clone, Debug)]
pub struct Dense {
    /// `[input, output]`, row-major.
    pub kernel: Var,
    /// `[output]`.
    pub bias: Vec<f32>,
}

impl Dense {
    /// Reads `kname`/`bname` and checks their shapes.
    pub fn from_checkpoint(ck: &Checkpoint, kname: &str, bname: &str) -> Result<Self, ModelError> {
        let kernel = ck.var(kname)?.clone();
        let (_, cols) = kernel.dims2(kname)?;
        let bias = ck.var(bname)?;
        if bias.dims1(bname)? != cols {
            return Err(ModelError::bad_checkpoint(format!(
                "{bname}: length {} does not match {kname} columns {cols}",
                bias.data.len()
            )));
        }
        Ok(Dense { kernel, bias: bias.data.clone() })
    }

    /// Input size.
    pub fn input(&self) -> usize {
        self.kernel.shape[0]
    }

    /// Output size.
    pub fn output(&self) -> usize {
        self.kernel.shape[1]
    }

    /// `x @ W + b` for a batch of rows (plain Rust, f64 accumulation; used for the
    /// one-off layers like `encoder/mu` and `z_to_initial_state`). Each output sums the
    /// bias and then the products of the non-zero inputs in input order.
    pub fn apply(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let (n, m) = (self.input(), self.output());
        let mut out = vec![0f32; batch * m];
        let mut acc = vec![0f64; m];
        let mut nz: Vec<(usize, f64)> = Vec::with_capacity(n);
        for b in 0..batch {
            acc.iter_mut().zip(&self.bias).for_each(|(a, &v)| *a = v as f64);
            nz.clear();
            nz.extend(
                x[b * n..(b + 1) * n]
                    .iter()
                    .enumerate()
                    .filter(|(_, &v)| v != 0.0)
                    .map(|(k, &v)| (k, v as f64)),
            );
            let row = |k: usize| &self.kernel.data[k * m..(k + 1) * m];
            let mut quads = nz.chunks_exact(4);
            for q in &mut quads {
                let xs = [q[0].1, q[1].1, q[2].1, q[3].1];
                let rows = [row(q[0].0), row(q[1].0), row(q[2].0), row(q[3].0)];
                add_rows4(&mut acc, xs, rows);
            }
            for &(k, xv) in quads.remainder() {
                acc.iter_mut().zip(row(k)).for_each(|(a, &w)| *a += xv * w as f64);
            }
            out[b * m..(b + 1) * m].iter_mut().zip(&acc).for_each(|(o, &a)| *o = a as f32);
        }
        out
    }
}

/// `acc += x0 * r0 + ... + x3 * r3`, added one product at a time in that order (the same
/// sums as four single-row passes, four times fewer passes over `acc`). Uses AVX2 when
/// the CPU has it (plain multiplies and adds there too: Rust never fuses them).
fn add_rows4(acc: &mut [f64], xs: [f64; 4], rows: [&[f32]; 4]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { add_rows4_avx2(acc, xs, rows) };
        return;
    }
    add_rows4_portable(acc, xs, rows);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_rows4_avx2(acc: &mut [f64], xs: [f64; 4], rows: [&[f32]; 4]) {
    add_rows4_portable(acc, xs, rows);
}

#[inline(always)]
fn add_rows4_portable(acc: &mut [f64], xs: [f64; 4], rows: [&[f32]; 4]) {
    let [r0, r1, r2, r3] = rows;
    for ((((a, &w0), &w1), &w2), &w3) in acc.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
        let mut v = *a;
        v += xs[0] * w0 as f64;
        v += xs[1] * w1 as f64;
        v += xs[2] * w2 as f64;
        v += xs[3] * w3 as f64;
        *a = v;
    }
}

/// Converts tract errors to the module's errors ([`ModelErrorKind::Engine`]).
///
/// [`ModelErrorKind::Engine`]: crate::ml::error::ModelErrorKind::Engine
fn terr(ctx: &str) -> impl Fn(TractError) -> ModelError + '_ {
    move |e| ModelError::engine(format!("{ctx}: {e:?}"))
}

/// Builds an ONNX graph node by node.
struct GraphBuilder {
    graph: pb::GraphProto,
    /// Counter for unique value names.
    next: usize,
}

/// A dimension of a graph input or output: fixed, or the symbolic row count `N`.
#[derive(Clone, Copy, Debug)]
enum Dim {
    Fixed(usize),
    Rows,
}

fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
    let dims: Vec<Dim> = shape.iter().map(|&d| Dim::Fixed(d)).collect();
    value_info_dims(name, &dims)
}

fn value_info_dims(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            denotation: String::new(),
                            value: Some(match d {
                                Dim::Fixed(n) => Value::DimValue(n as i64),
                                Dim::Rows => Value::DimParam("N".into()),
                            }),
                        })
                        .collect(),
                }),
            })),
        }),
        doc_string: String::new(),
    }
}

impl GraphBuilder {
    fn new() -> Self {
        GraphBuilder {
            graph: pb::GraphProto { name: "step".into(), ..Default::default() },
            next: 0,
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    fn input(&mut self, name: &str, shape: &[usize]) -> String {
        self.graph.input.push(value_info(name, shape));
        name.to_string()
    }

    fn input_dims(&mut self, name: &str, dims: &[Dim]) -> String {
        self.graph.input.push(value_info_dims(name, dims));
        name.to_string()
    }

    fn constant(&mut self, hint: &str, shape: &[usize], data: &[f32]) -> String {
        let name = self.fresh(hint);
        self.graph.initializer.push(pb::TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            float_data: data.to_vec(),
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: usize,
        axis: Option<i64>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh(&op.to_lowercase())).collect();
        let attribute = axis
            .map(|a| {
                vec![pb::AttributeProto {
                    name: "axis".into(),
                    r#type: pb::attribute_proto::AttributeType::Int as i32,
                    i: a,
                    ..Default::default()
                }]
            })
            .unwrap_or_default();
        let name = self.fresh("n");
        self.graph.node.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        outs
    }

    fn op1(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node(op, inputs, 1, None).remove(0)
    }

    /// `x @ W + b`.
    fn dense(&mut self, x: &str, d: &Dense) -> String {
        let k = self.constant("w", &d.kernel.shape, &d.kernel.data);
        let b = self.constant("b", &[d.output()], &d.bias);
        let m = self.op1("MatMul", &[x, &k]);
        self.op1("Add", &[&m, &b])
    }

    /// One `basicLSTMCell` step; returns (c', h').
    fn lstm(&mut self, x: &str, c: &str, h: &str, w: &LstmWeights, one: &str) -> (String, String) {
        let k = self.constant("kernel", &w.kernel.shape, &w.kernel.data);
        let b = self.constant("bias", &[w.bias.len()], &w.bias);
        let xh = self.node("Concat", &[x, h], 1, Some(1)).remove(0);
        let m = self.op1("MatMul", &[&xh, &k]);
        let g = self.op1("Add", &[&m, &b]);
        self.gates(&g, c, one)
    }

    /// The recurrent half of a `basicLSTMCell` step: `gx` is the input part of the gates
    /// (`x @ W_x`, computed elsewhere); returns (c', h').
    fn lstm_recurrent(
        &mut self,
        gx: &str,
        c: &str,
        h: &str,
        w: &LstmWeights,
        one: &str,
    ) -> (String, String) {
        let cols = 4 * w.units;
        let wh = &w.kernel.data[w.input * cols..(w.input + w.units) * cols];
        let k = self.constant("kernel_h", &[w.units, cols], wh);
        let b = self.constant("bias", &[w.bias.len()], &w.bias);
        // (h @ W_h + x @ W_x) + b: the same sums tract forms for the concatenated kernel
        // (it splits the concat matmul into an input and a recurrent part itself).
        let m = self.op1("MatMul", &[h, &k]);
        let s = self.op1("Add", &[&m, gx]);
        let g = self.op1("Add", &[&s, &b]);
        self.gates(&g, c, one)
    }

    /// Gate math on `g = [i, j, f, o]`; returns (c', h').
    fn gates(&mut self, g: &str, c: &str, one: &str) -> (String, String) {
        let gates = self.node("Split", &[g], 4, Some(1));
        let (i, j, f, o) = (&gates[0], &gates[1], &gates[2], &gates[3]);
        let si = self.op1("Sigmoid", &[i]);
        let tj = self.op1("Tanh", &[j]);
        let f1 = self.op1("Add", &[f, one]);
        let sf = self.op1("Sigmoid", &[&f1]);
        let a = self.op1("Mul", &[&si, &tj]);
        let bb = self.op1("Mul", &[c, &sf]);
        let c2 = self.op1("Add", &[&a, &bb]);
        let so = self.op1("Sigmoid", &[o]);
        let tc = self.op1("Tanh", &[&c2]);
        let h2 = self.op1("Mul", &[&tc, &so]);
        (c2, h2)
    }

    /// Renames a value into a graph output with a fixed name.
    fn expose(&mut self, value: &str, name: &str, shape: &[usize]) {
        let dims: Vec<Dim> = shape.iter().map(|&d| Dim::Fixed(d)).collect();
        self.expose_dims(value, name, &dims);
    }

    fn expose_dims(&mut self, value: &str, name: &str, dims: &[Dim]) {
        let node_name = self.fresh("out");
        self.graph.node.push(pb::NodeProto {
            input: vec![value.to_string()],
            output: vec![name.to_string()],
            name: node_name,
            op_type: "Identity".into(),
            ..Default::default()
        });
        self.graph.output.push(value_info_dims(name, dims));
    }

    fn compile(self) -> Result<Arc<TypedRunnableModel>, ModelError> {
        let proto = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
            producer_name: "sema-live".into(),
            graph: Some(self.graph),
            ..Default::default()
        };
        let model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(terr("building step graph"))?;
        model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(terr("optimising step graph"))
    }
}

/// Shape of a step network: its inputs and what it computes.
#[derive(Clone, Debug)]
pub struct StepSpec {
    /// Sizes of the step inputs concatenated (in order) to form layer 0's input.
    pub inputs: Vec<usize>,
    /// The LSTM stack.
    pub layers: Vec<LstmWeights>,
    /// Projection of the top `h` to logits, if any.
    pub projection: Option<Dense>,
    /// Layer 0 takes the input part of its gates (`x @ W_x`, `4 * units` values per row,
    /// computed by the caller) as the single step input instead of `x`, and reads only
    /// its recurrent weights.
    pub gates_input: bool,
}

/// A compiled step of an LSTM stack for a fixed batch size.
///
/// Inputs, in order: the step inputs of `StepSpec::inputs`, then `c_l`, `h_l` for each
/// layer. Outputs: `c_l'`, `h_l'` for each layer, then the logits if there is a projection.
pub struct StepNet {
    /// The optimised plan (shared, immutable).
    plan: Arc<TypedRunnableModel>,
    /// Reused run state, so a step allocates no plan-level structures.
    state: TypedSimpleState,
    /// Batch size the graph was built for.
    pub batch: usize,
    /// Input sizes (step inputs then states) to validate calls.
    input_sizes: Vec<usize>,
}

impl StepNet {
    /// Builds and optimises the graph of `spec` for `batch` rows.
    pub fn build(spec: &StepSpec, batch: usize) -> Result<Self, ModelError> {
        if spec.layers.is_empty() {
            return Err(ModelError::bad_checkpoint("LSTM stack has no layers"));
        }
        let batch = batch.max(1);
        let in_size: usize = spec.inputs.iter().sum();
        if spec.gates_input {
            if spec.inputs != [4 * spec.layers[0].units] {
                return Err(ModelError::engine(format!(
                    "layer 0 takes its {} gate inputs, the model feeds {:?}",
                    4 * spec.layers[0].units,
                    spec.inputs
                )));
            }
        } else if spec.layers[0].input != in_size {
            return Err(ModelError::bad_checkpoint(format!(
                "layer 0 expects input size {} but the model feeds {in_size}",
                spec.layers[0].input
            )));
        }
        for l in 1..spec.layers.len() {
            if spec.layers[l].input != spec.layers[l - 1].units {
                return Err(ModelError::bad_checkpoint(format!(
                    "layer {l} expects input size {} but layer {} has {} units",
                    spec.layers[l].input,
                    l - 1,
                    spec.layers[l - 1].units
                )));
            }
        }
        let top = spec.layers.last().map(|l| l.units).unwrap_or(0);
        if let Some(p) = &spec.projection {
            if p.input() != top {
                return Err(ModelError::bad_checkpoint(format!(
                    "output projection expects {} inputs, top layer has {top} units",
                    p.input()
                )));
            }
        }
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
            let (c2, h2) = if l == 0 && spec.gates_input {
                g.lstm_recurrent(&x, &c, &h, w, &one)
            } else {
                g.lstm(&x, &c, &h, w, &one)
            };
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
        Ok(StepNet { plan, state, batch, input_sizes })
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

    /// Runs one step on tensors (no copies): the step inputs then the states, each
    /// `[batch, size]`; returns the new states then the logits.
    pub fn run_values(&mut self, inputs: TVec<TValue>) -> Result<TVec<TValue>, ModelError> {
        if inputs.len() != self.input_sizes.len()
            || inputs.iter().zip(&self.input_sizes).any(|(t, &n)| t.shape() != [self.batch, n])
        {
            return Err(ModelError::bad_input(format!(
                "step: inputs {:?}, expected {} rows of {:?}",
                inputs.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(),
                self.batch,
                self.input_sizes
            )));
        }
        self.state.run(inputs).map_err(terr("running step"))
    }

    /// The optimised plan (for inspection in tests).
    pub fn plan(&self) -> &Arc<TypedRunnableModel> {
        &self.plan
    }
}

/// `x @ W (+ b)` as a tract graph, for a fixed number of rows or any (symbolic; one plan
/// and one packed copy of `W` then serve a whole primer at once). tract picks its matmul
/// kernel by the row count: a fixed count of 1 gets the fastest matrix-vector kernel.
pub struct DenseNet {
    /// Reused run state.
    state: TypedSimpleState,
    /// Columns of `x`.
    input: usize,
    /// Fixed row count, if any.
    rows: Option<usize>,
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
    state: TypedSimpleState,
    /// Batch size the graph was built for.
    batch: usize,
    /// Units of the layer.
    units: usize,
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
    layers: Vec<(TValue, TValue)>,
    /// `context @ W_c` of layer 0 per row, `[batch, 4 * units0]`, if the stack has a
    /// context input.
    context_gates: Option<Vec<f32>>,
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
            Ok(tensor_2d(self.batch * n, cols, &data)?)
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

/// The values of an f32 tensor.
fn f32s(t: &Tensor) -> Result<&[f32], ModelError> {
    t.try_as_plain_ram().and_then(|v| v.as_slice::<f32>()).map_err(terr("reading a tensor"))
}

fn tensor_2d(rows: usize, cols: usize, data: &[f32]) -> Result<TValue, ModelError> {
    Tensor::from_shape::<f32>(&[rows, cols], data)
        .map(|t| t.into_tvalue())
        .map_err(terr("making a tensor"))
}

/// Primer steps run layer by layer per chunk of this many (bounds the memory a long
/// primer needs for its per-step gates).
const PRIME_CHUNK: usize = 256;

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
    layers: Vec<LstmWeights>,
    /// Number of classes (layer 0's input size).
    depth: usize,
    /// `W_x` of layer 0, `[depth, 4 * units0]`.
    rows0: Vec<f32>,
    /// Size of the context input that follows the one-hot part (a VAE decoder's `z`).
    context: usize,
    /// Layer 0's input part for the context (no bias), computed once per call.
    context_net: Option<DenseNet>,
    /// Input parts of layers 1.. (no bias), any number of rows.
    proj: Vec<DenseNet>,
    /// Output projection (with bias), if the stack has one.
    out: Option<DenseNet>,
    /// Classes of the output projection.
    classes: usize,
    /// Recurrent halves per batch size, built on first use.
    cells: std::collections::HashMap<usize, Vec<CellNet>>,
    /// The output projection's weights (for the fused step networks).
    projection: Option<Dense>,
    /// Whether `step` runs one fused graph per step (see `set_fused_steps`).
    fused: bool,
    /// Fused step networks per batch size, built on first use.
    step_nets: std::collections::HashMap<usize, StepNet>,
}

impl OneHotStack {
    /// Checks the shapes and builds the batch-1 networks. Layer 0's input is a one-hot
    /// class of `depth` followed by a `context` vector held fixed for a whole call (0 for
    /// none); `projection` maps the top `h` to logits.
    pub fn new(
        layers: Vec<LstmWeights>,
        projection: Option<&Dense>,
        depth: usize,
        context: usize,
    ) -> Result<Self, ModelError> {
        if layers.is_empty() {
            return Err(ModelError::bad_checkpoint("LSTM stack has no layers"));
        }
        if layers[0].input != depth + context {
            return Err(ModelError::bad_checkpoint(format!(
                "layer 0 expects input size {} but the model feeds {}",
                layers[0].input,
                depth + context
            )));
        }
        for l in 1..layers.len() {
            if layers[l].input != layers[l - 1].units {
                return Err(ModelError::bad_checkpoint(format!(
                    "layer {l} expects input size {} but layer {} has {} units",
                    layers[l].input,
                    l - 1,
                    layers[l - 1].units
                )));
            }
        }
        let top = layers[layers.len() - 1].units;
        if let Some(p) = projection {
            if p.input() != top {
                return Err(ModelError::bad_checkpoint(format!(
                    "output projection expects {} inputs, top layer has {top} units",
                    p.input()
                )));
            }
        }
        let cols0 = 4 * layers[0].units;
        let rows0 = layers[0].kernel.data[..depth * cols0].to_vec();
        let context_net = if context > 0 {
            let wc = &layers[0].kernel.data[depth * cols0..(depth + context) * cols0];
            Some(DenseNet::build(wc, context, cols0, None, None)?)
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
            out,
            classes: projection.map(|p| p.output()).unwrap_or(0),
            cells: Default::default(),
            projection: projection.cloned(),
            fused: false,
            step_nets: Default::default(),
        };
        stack.cells(1)?;
        Ok(stack)
    }

    /// Units per layer.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.units).collect()
    }

    /// Makes `step` run the whole stack as one graph per batch size (layer 0's gate
    /// input part, then all layers and the projection; the same sums as the separate
    /// networks). Fewer graph runs per step, which pays for small models, at the cost of
    /// a second packed copy of the weights when `prime` is also used. Builds the batch-1
    /// network now.
    pub fn set_fused_steps(&mut self, on: bool) -> Result<(), ModelError> {
        self.fused = on;
        if on {
            self.step_net(1)?;
        }
        Ok(())
    }

    fn step_net(&mut self, batch: usize) -> Result<&mut StepNet, ModelError> {
        if !self.step_nets.contains_key(&batch) {
            let spec = StepSpec {
                inputs: vec![4 * self.layers[0].units],
                layers: self.layers.clone(),
                projection: self.projection.clone(),
                gates_input: true,
            };
            let net = StepNet::build(&spec, batch)?;
            self.step_nets.insert(batch, net);
        }
        self.step_nets.get_mut(&batch).ok_or_else(|| ModelError::engine("step network missing"))
    }

    /// Number of output classes (0 without a projection).
    pub fn classes(&self) -> usize {
        self.classes
    }

    fn cells(&mut self, batch: usize) -> Result<&mut Vec<CellNet>, ModelError> {
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
    /// that follow; its part of layer 0's gates is computed here, once.
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

    /// Layer 0's input part of the gates, `[rows, 4 * units0]`: the row of `W_x` of each
    /// row's class (a one-hot times `W_x`, exactly; none is an all-zero input) plus the
    /// row's context part.
    fn input_rows(
        &self,
        classes: &[Option<usize>],
        context_gates: Option<&[f32]>,
    ) -> Result<TValue, ModelError> {
        let cols = 4 * self.layers[0].units;
        if self.context > 0 && context_gates.is_none() {
            return Err(ModelError::bad_input("LSTM stack: the context input is not set"));
        }
        let mut data = Vec::with_capacity(classes.len() * cols);
        for (r, &k) in classes.iter().enumerate() {
            let start = data.len();
            match context_gates {
                Some(g) => data.extend_from_slice(&g[r * cols..(r + 1) * cols]),
                None => data.resize(start + cols, 0.0),
            }
            if let Some(k) = k {
                if k >= self.depth {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {})",
                        self.depth
                    )));
                }
                let row = &self.rows0[k * cols..(k + 1) * cols];
                data[start..].iter_mut().zip(row).for_each(|(a, &w)| *a = w + *a);
            }
        }
        tensor_2d(classes.len(), cols, &data)
    }

    fn logits(&mut self, state: &StackState) -> Result<Vec<f32>, ModelError> {
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
    pub fn prime(&mut self, sequence: &[usize]) -> Result<(StackState, Vec<f32>), ModelError> {
        if sequence.is_empty() {
            return Err(ModelError::bad_input("prime: empty sequence"));
        }
        let mut state = self.zero_state(1)?;
        // In chunks, so that a long primer needs bounded memory for the per-step gates.
        for chunk in sequence.chunks(PRIME_CHUNK) {
            self.prime_chunk(chunk, &mut state)?;
        }
        let logits = self.logits(&state)?;
        Ok((state, logits))
    }

    fn prime_chunk(
        &mut self,
        sequence: &[usize],
        state: &mut StackState,
    ) -> Result<(), ModelError> {
        let t_len = sequence.len();
        let nl = self.layers.len();
        // Input parts of the current layer's gates for every step, `[t_len, 4 * units]`.
        let classes: Vec<Option<usize>> = sequence.iter().map(|&k| Some(k)).collect();
        let mut gx_all = self.input_rows(&classes, None)?;
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
        let b = state.batch;
        if classes.len() != b {
            return Err(ModelError::bad_input(format!(
                "step: {} classes for {b} rows",
                classes.len()
            )));
        }
        let mut x = self.input_rows(classes, state.context_gates.as_deref())?;
        let nl = self.layers.len();
        if self.fused {
            let mut inputs: TVec<TValue> = tvec![x];
            for (c, h) in &state.layers {
                inputs.push(c.clone());
                inputs.push(h.clone());
            }
            let has_logits = self.out.is_some();
            let mut out = self.step_net(b)?.run_values(inputs)?;
            let logits = if has_logits {
                let t = out.pop().ok_or_else(|| ModelError::engine("step gave no logits"))?;
                f32s(&t)?.to_vec()
            } else {
                Vec::new()
            };
            for l in (0..nl).rev() {
                let h = out.pop().ok_or_else(|| ModelError::engine("step gave no h"))?;
                let c = out.pop().ok_or_else(|| ModelError::engine("step gave no c"))?;
                state.layers[l] = (c, h);
            }
            return Ok(logits);
        }
        for l in 0..nl {
            if l > 0 {
                let h_below = state.layers[l - 1].1.clone();
                x = self.proj[l - 1].run(h_below)?;
            }
            let (c, h) = state.layers[l].clone();
            let cell = &mut self.cells(b)?[l];
            state.layers[l] = cell.run(x.clone(), c, h)?;
        }
        self.logits(state)
    }
}

/// Plain-Rust reference of the cell math in f64 (tests, parity checks and the
/// bidirectional encoder's one-off work). `x` is one row; `c`, `h` are updated in place.
pub fn reference_step(w: &LstmWeights, x: &[f32], c: &mut [f32], h: &mut [f32]) {
    let hsz = w.units;
    let cols = 4 * hsz;
    let mut g: Vec<f64> = w.bias.iter().map(|&b| b as f64).collect();
    let xh: Vec<f32> = x.iter().chain(h.iter()).copied().collect();
    for (k, &v) in xh.iter().enumerate() {
        if v == 0.0 {
            continue;
        }
        let row = &w.kernel.data[k * cols..(k + 1) * cols];
        g.iter_mut().zip(row).for_each(|(a, &wv)| *a += v as f64 * wv as f64);
    }
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    for u in 0..hsz {
        let (i, j, f, o) = (g[u], g[hsz + u], g[2 * hsz + u], g[3 * hsz + u]);
        let c2 = sig(i) * j.tanh() + c[u] as f64 * sig(f + 1.0);
        c[u] = c2 as f32;
        h[u] = (c2.tanh() * sig(o)) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::error::ModelErrorKind;
    use crate::ml::random_checkpoint::Lcg;

    fn random_layer(rng: &mut Lcg, input: usize, units: usize) -> LstmWeights {
        LstmWeights {
            kernel: Var {
                shape: vec![input + units, 4 * units],
                data: rng.vec((input + units) * 4 * units, 0.3),
            },
            bias: rng.vec(4 * units, 0.3),
            input,
            units,
        }
    }

    #[test]
    fn step_net_matches_reference_for_stacks_and_batches() {
        let mut rng = Lcg::new(7);
        for (inputs, sizes, batch) in
            [(vec![5usize], vec![8usize], 1usize), (vec![6, 3], vec![16, 12], 3)]
        {
            let d: usize = inputs.iter().sum();
            let mut layers = Vec::new();
            let mut prev = d;
            for &h in &sizes {
                layers.push(random_layer(&mut rng, prev, h));
                prev = h;
            }
            let proj = Dense {
                kernel: Var { shape: vec![prev, 4], data: rng.vec(prev * 4, 0.5) },
                bias: rng.vec(4, 0.5),
            };
            let spec = StepSpec {
                inputs: inputs.clone(),
                layers: layers.clone(),
                projection: Some(proj.clone()),
                gates_input: false,
            };
            let mut net = StepNet::build(&spec, batch).unwrap();
            let mut states: Vec<Vec<f32>> = sizes
                .iter()
                .flat_map(|&h| [vec![0f32; batch * h], vec![0f32; batch * h]])
                .collect();
            let mut ref_states = states.clone();
            for _step in 0..5 {
                let xs: Vec<Vec<f32>> = inputs.iter().map(|&n| rng.vec(batch * n, 1.0)).collect();
                let mut args: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
                args.extend(states.iter().map(|v| v.as_slice()));
                let out = net.run(&args).unwrap();
                assert_eq!(out.len(), 2 * sizes.len() + 1);
                for b in 0..batch {
                    let mut x: Vec<f32> = Vec::new();
                    for (xi, &n) in xs.iter().zip(&inputs) {
                        x.extend_from_slice(&xi[b * n..(b + 1) * n]);
                    }
                    for (l, w) in layers.iter().enumerate() {
                        let h = w.units;
                        let (cs, hs) = ref_states.split_at_mut(2 * l + 1);
                        let c = &mut cs[2 * l][b * h..(b + 1) * h];
                        let hh = &mut hs[0][b * h..(b + 1) * h];
                        reference_step(w, &x, c, hh);
                        x = hh.to_vec();
                    }
                    let logits = proj.apply(&x, 1);
                    for (a, r) in out[2 * sizes.len()][b * 4..(b + 1) * 4].iter().zip(&logits) {
                        assert!((a - r).abs() < 1e-4, "logits {a} vs {r}");
                    }
                }
                for (o, r) in out.iter().zip(&ref_states) {
                    for (a, b) in o.iter().zip(r) {
                        assert!((a - b).abs() < 1e-5, "state {a} vs {b}");
                    }
                }
                states = out[..2 * sizes.len()].to_vec();
            }
        }
    }

    /// Runs the single-step graph over one-hot classes (`classes[r]` per row per step).
    fn step_net_logits(
        net: &mut StepNet,
        d: usize,
        classes: &[Vec<usize>],
        states: &mut Vec<Vec<f32>>,
    ) -> Vec<f32> {
        let mut logits = Vec::new();
        for step in classes {
            let mut x = vec![0f32; step.len() * d];
            for (r, &k) in step.iter().enumerate() {
                x[r * d + k] = 1.0;
            }
            let mut args: Vec<&[f32]> = vec![&x];
            args.extend(states.iter().map(|v| v.as_slice()));
            let mut out = net.run(&args).unwrap();
            logits = out.pop().unwrap();
            *states = out;
        }
        logits
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn one_hot_stack_matches_step_net() {
        let mut rng = Lcg::new(11);
        let d = 7;
        for sizes in [vec![8usize], vec![16, 12, 10]] {
            let mut layers = Vec::new();
            let mut prev = d;
            for &h in &sizes {
                layers.push(random_layer(&mut rng, prev, h));
                prev = h;
            }
            let proj = Dense {
                kernel: Var { shape: vec![prev, d], data: rng.vec(prev * d, 0.5) },
                bias: rng.vec(d, 0.5),
            };
            let spec = StepSpec {
                inputs: vec![d],
                layers: layers.clone(),
                projection: Some(proj.clone()),
                gates_input: false,
            };
            let mut stack = OneHotStack::new(layers.clone(), Some(&proj), d, 0).unwrap();
            assert_eq!(stack.layer_sizes(), sizes);
            let seq: Vec<usize> = (0..9).map(|_| (rng.next_u64() % d as u64) as usize).collect();
            // Priming layer by layer gives the logits of stepping the whole stack.
            let mut net = StepNet::build(&spec, 1).unwrap();
            let mut states: Vec<Vec<f32>> =
                sizes.iter().flat_map(|&h| [vec![0f32; h], vec![0f32; h]]).collect();
            let steps: Vec<Vec<usize>> = seq.iter().map(|&k| vec![k]).collect();
            let want = step_net_logits(&mut net, d, &steps, &mut states);
            let (st, got) = stack.prime(&seq).unwrap();
            assert!(max_diff(&got, &want) < 1e-5, "prime logits {got:?} vs {want:?}");
            // Then steps for 3 rows fed different classes.
            let mut st3 = st.repeat_rows(3).unwrap();
            assert_eq!(st3.batch, 3);
            // The fused step graph gives the same values as the separate networks.
            let mut fused = OneHotStack::new(layers.clone(), Some(&proj), d, 0).unwrap();
            fused.set_fused_steps(true).unwrap();
            let mut fst = st3.clone();
            let mut net3 = StepNet::build(&spec, 3).unwrap();
            let mut states3: Vec<Vec<f32>> = states.iter().map(|v| v.repeat(3)).collect();
            for _ in 0..4 {
                let classes: Vec<usize> =
                    (0..3).map(|_| (rng.next_u64() % d as u64) as usize).collect();
                let want =
                    step_net_logits(&mut net3, d, std::slice::from_ref(&classes), &mut states3);
                let opt: Vec<Option<usize>> = classes.iter().map(|&k| Some(k)).collect();
                let got = stack.step(&opt, &mut st3).unwrap();
                assert!(max_diff(&got, &want) < 1e-5, "step logits {got:?} vs {want:?}");
                let f = fused.step(&opt, &mut fst).unwrap();
                assert!(max_diff(&f, &got) < 1e-6, "fused logits {f:?} vs {got:?}");
            }
            let e = stack.step(&[Some(0), None], &mut st3).unwrap_err();
            assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
            assert!(e.message().contains("3 rows"), "{e}");
            let e = stack.step(&[Some(0), None, Some(d)], &mut st3).unwrap_err();
            assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
            assert!(e.message().contains("out of range"), "{e}");
            assert_eq!(stack.prime(&[]).err().map(|e| e.kind()), Some(ModelErrorKind::BadInput));
        }
    }

    #[test]
    fn long_primers_run_in_chunks() {
        let mut rng = Lcg::new(21);
        let d = 5;
        let layers = vec![random_layer(&mut rng, d, 6), random_layer(&mut rng, 6, 4)];
        let proj = Dense {
            kernel: Var { shape: vec![4, d], data: rng.vec(4 * d, 0.5) },
            bias: rng.vec(d, 0.5),
        };
        let spec = StepSpec {
            inputs: vec![d],
            layers: layers.clone(),
            projection: Some(proj.clone()),
            gates_input: false,
        };
        let seq: Vec<usize> =
            (0..PRIME_CHUNK + 45).map(|_| (rng.next_u64() % d as u64) as usize).collect();
        let mut net = StepNet::build(&spec, 1).unwrap();
        let mut states: Vec<Vec<f32>> = [6, 6, 4, 4].iter().map(|&n| vec![0f32; n]).collect();
        let steps: Vec<Vec<usize>> = seq.iter().map(|&k| vec![k]).collect();
        let want = step_net_logits(&mut net, d, &steps, &mut states);
        let mut stack = OneHotStack::new(layers, Some(&proj), d, 0).unwrap();
        let (st, got) = stack.prime(&seq).unwrap();
        assert!(max_diff(&got, &want) < 1e-5, "{got:?} vs {want:?}");
        assert!(max_diff(&st.h(1).unwrap(), &states[3]) < 1e-5);
    }

    #[test]
    fn dense_apply_sums_in_input_order() {
        let mut rng = Lcg::new(9);
        let (n, m, batch) = (23usize, 37usize, 3usize);
        let d = Dense {
            kernel: Var { shape: vec![n, m], data: rng.vec(n * m, 1.0) },
            bias: rng.vec(m, 1.0),
        };
        let mut x = rng.vec(batch * n, 3.0);
        for k in [0usize, 5, 6, 30, 68] {
            x[k] = 0.0;
        }
        let got = d.apply(&x, batch);
        for b in 0..batch {
            for j in 0..m {
                let mut a = d.bias[j] as f64;
                for k in 0..n {
                    let v = x[b * n + k] as f64;
                    if v != 0.0 {
                        a += v * d.kernel.data[k * m + j] as f64;
                    }
                }
                // Bit for bit: the same f64 sums in the same order.
                assert_eq!(got[b * m + j].to_bits(), (a as f32).to_bits());
            }
        }
    }

    #[test]
    fn dense_net_takes_any_row_count() {
        let mut rng = Lcg::new(5);
        let d = Dense {
            kernel: Var { shape: vec![6, 4], data: rng.vec(24, 1.0) },
            bias: rng.vec(4, 1.0),
        };
        let mut net = DenseNet::build(&d.kernel.data, 6, 4, Some(&d.bias), None).unwrap();
        for rows in [1usize, 5, 2] {
            let x = rng.vec(rows * 6, 1.0);
            let y = net.run(tensor_2d(rows, 6, &x).unwrap()).unwrap();
            assert_eq!(y.shape(), [rows, 4]);
            assert!(max_diff(f32s(&y).unwrap(), &d.apply(&x, rows)) < 1e-5);
        }
        let e = net.run(tensor_2d(1, 5, &[0.0; 5]).unwrap()).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("expected [rows, 6]"), "{e}");
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let mut rng = Lcg::new(1);
        let l0 = random_layer(&mut rng, 5, 8);
        let l1 = random_layer(&mut rng, 7, 8);
        let spec = StepSpec {
            inputs: vec![5],
            layers: vec![l0.clone(), l1],
            projection: None,
            gates_input: false,
        };
        let e = StepNet::build(&spec, 1).err().unwrap();
        assert_eq!(e.kind(), ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.message().contains("layer 1 expects input size 7"), "{e}");
        let spec = StepSpec {
            inputs: vec![4],
            layers: vec![l0.clone()],
            projection: None,
            gates_input: false,
        };
        assert_eq!(
            StepNet::build(&spec, 1).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadCheckpoint)
        );
        let spec =
            StepSpec { inputs: vec![5], layers: vec![l0], projection: None, gates_input: false };
        let mut net = StepNet::build(&spec, 2).unwrap();
        let z = vec![0f32; 3];
        let e = net.run(&[&z, &z, &z]).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("expected"), "{e}");
    }
}
