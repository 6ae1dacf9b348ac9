//! LSTM step networks for tract, built in Rust as ONNX graphs from checkpoint weights.
//!
//! One graph computes one time step of a stack of `tf.basicLSTMCell`s with explicit state
//! in and out (plus an optional output projection). It is optimised once at load time
//! (tract splits the concat matmul and pre-packs the weights) and run per step with one
//! reused `TypedSimpleState`. The batch dimension is fixed per graph; models keep one
//! graph per batch size they have been asked for, so N variations cost one weight pass
//! per step.
//!
//! Cell math (forget bias 1.0, gate order i, j, f, o):
//! `g = [x, h] @ K + b; c' = σ(i)·tanh(j) + c·σ(f + 1); h' = tanh(c')·σ(o)`.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::checkpoint::{Checkpoint, Var};

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
    pub fn from_checkpoint(ck: &Checkpoint, prefix: &str) -> Result<Self, String> {
        let kname = format!("{prefix}kernel");
        let bname = format!("{prefix}bias");
        let kernel = ck.var(&kname)?.clone();
        let bias = ck.var(&bname)?;
        let nb = bias.dims1(&bname)?;
        let (rows, cols) = kernel.dims2(&kname)?;
        if nb % 4 != 0 || nb == 0 {
            return Err(format!(
                "{bname}: length {nb} is not a positive multiple of 4"
            ));
        }
        let units = nb / 4;
        if cols != nb || rows <= units {
            return Err(format!(
                "{kname}: shape [{rows}, {cols}] does not fit {units} units (expected [input + {units}, {nb}])"
            ));
        }
        Ok(LstmWeights {
            kernel,
            bias: bias.data.clone(),
            input: rows - units,
            units,
        })
    }

    /// Layers `fmt(0)`, `fmt(1)`, ... up to the first missing `<prefix>kernel`, as
    /// magenta.js discovers them.
    pub fn discover(ck: &Checkpoint, fmt: impl Fn(usize) -> String) -> Result<Vec<Self>, String> {
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
    pub fn from_checkpoint(ck: &Checkpoint, kname: &str, bname: &str) -> Result<Self, String> {
        let kernel = ck.var(kname)?.clone();
        let (_, cols) = kernel.dims2(kname)?;
        let bias = ck.var(bname)?;
        if bias.dims1(bname)? != cols {
            return Err(format!(
                "{bname}: length {} does not match {kname} columns {cols}",
                bias.data.len()
            ));
        }
        Ok(Dense {
            kernel,
            bias: bias.data.clone(),
        })
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
    /// one-off layers like `encoder/mu` and `z_to_initial_state`).
    pub fn apply(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let (n, m) = (self.input(), self.output());
        let mut out = vec![0f32; batch * m];
        let mut acc = vec![0f64; m];
        for b in 0..batch {
            acc.iter_mut()
                .zip(&self.bias)
                .for_each(|(a, &v)| *a = v as f64);
            for k in 0..n {
                let xv = x[b * n + k] as f64;
                if xv == 0.0 {
                    continue;
                }
                let row = &self.kernel.data[k * m..(k + 1) * m];
                acc.iter_mut()
                    .zip(row)
                    .for_each(|(a, &w)| *a += xv * w as f64);
            }
            out[b * m..(b + 1) * m]
                .iter_mut()
                .zip(&acc)
                .for_each(|(o, &a)| *o = a as f32);
        }
        out
    }
}

/// Converts tract errors to the module's `String` errors.
fn terr(ctx: &str) -> impl Fn(TractError) -> String + '_ {
    move |e| format!("{ctx}: {e:?}")
}

/// Builds an ONNX graph node by node.
struct GraphBuilder {
    graph: pb::GraphProto,
    /// Counter for unique value names.
    next: usize,
}

fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| Dimension {
                            denotation: String::new(),
                            value: Some(Value::DimValue(d as i64)),
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
            graph: pb::GraphProto {
                name: "step".into(),
                ..Default::default()
            },
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

    fn output(&mut self, name: &str, shape: &[usize]) {
        self.graph.output.push(value_info(name, shape));
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
        let outs: Vec<String> = (0..outputs)
            .map(|_| self.fresh(&op.to_lowercase()))
            .collect();
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
        let gates = self.node("Split", &[&g], 4, Some(1));
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
        let node_name = self.fresh("out");
        self.graph.node.push(pb::NodeProto {
            input: vec![value.to_string()],
            output: vec![name.to_string()],
            name: node_name,
            op_type: "Identity".into(),
            ..Default::default()
        });
        self.output(name, shape);
    }

    fn compile(self) -> Result<Arc<TypedRunnableModel>, String> {
        let proto = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
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
    pub fn build(spec: &StepSpec, batch: usize) -> Result<Self, String> {
        if spec.layers.is_empty() {
            return Err("LSTM stack has no layers".into());
        }
        let batch = batch.max(1);
        let in_size: usize = spec.inputs.iter().sum();
        if spec.layers[0].input != in_size {
            return Err(format!(
                "layer 0 expects input size {} but the model feeds {in_size}",
                spec.layers[0].input
            ));
        }
        for l in 1..spec.layers.len() {
            if spec.layers[l].input != spec.layers[l - 1].units {
                return Err(format!(
                    "layer {l} expects input size {} but layer {} has {} units",
                    spec.layers[l].input,
                    l - 1,
                    spec.layers[l - 1].units
                ));
            }
        }
        let top = spec.layers.last().map(|l| l.units).unwrap_or(0);
        if let Some(p) = &spec.projection {
            if p.input() != top {
                return Err(format!(
                    "output projection expects {} inputs, top layer has {top} units",
                    p.input()
                ));
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
        Ok(StepNet {
            plan,
            state,
            batch,
            input_sizes,
        })
    }

    /// Runs one step. `inputs` are the step inputs then the states, each `batch * size`
    /// values; returns the new states then the logits, as flat vectors.
    pub fn run(&mut self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
        if inputs.len() != self.input_sizes.len() {
            return Err(format!(
                "step: {} inputs given, {} expected",
                inputs.len(),
                self.input_sizes.len()
            ));
        }
        let mut tv: TVec<TValue> = tvec![];
        for (i, (data, &n)) in inputs.iter().zip(&self.input_sizes).enumerate() {
            if data.len() != self.batch * n {
                return Err(format!(
                    "step input {i}: {} values, expected {}",
                    data.len(),
                    self.batch * n
                ));
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

    /// The optimised plan (for inspection in tests).
    pub fn plan(&self) -> &Arc<TypedRunnableModel> {
        &self.plan
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
        g.iter_mut()
            .zip(row)
            .for_each(|(a, &wv)| *a += v as f64 * wv as f64);
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
    use crate::ml::testutil::Lcg;

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
        for (inputs, sizes, batch) in [
            (vec![5usize], vec![8usize], 1usize),
            (vec![6, 3], vec![16, 12], 3),
        ] {
            let d: usize = inputs.iter().sum();
            let mut layers = Vec::new();
            let mut prev = d;
            for &h in &sizes {
                layers.push(random_layer(&mut rng, prev, h));
                prev = h;
            }
            let proj = Dense {
                kernel: Var {
                    shape: vec![prev, 4],
                    data: rng.vec(prev * 4, 0.5),
                },
                bias: rng.vec(4, 0.5),
            };
            let spec = StepSpec {
                inputs: inputs.clone(),
                layers: layers.clone(),
                projection: Some(proj.clone()),
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

    #[test]
    fn mismatched_shapes_are_errors() {
        let mut rng = Lcg::new(1);
        let l0 = random_layer(&mut rng, 5, 8);
        let l1 = random_layer(&mut rng, 7, 8);
        let spec = StepSpec {
            inputs: vec![5],
            layers: vec![l0.clone(), l1],
            projection: None,
        };
        assert!(StepNet::build(&spec, 1)
            .err()
            .unwrap()
            .contains("layer 1 expects input size 7"));
        let spec = StepSpec {
            inputs: vec![4],
            layers: vec![l0.clone()],
            projection: None,
        };
        assert!(StepNet::build(&spec, 1).is_err());
        let spec = StepSpec {
            inputs: vec![5],
            layers: vec![l0],
            projection: None,
        };
        let mut net = StepNet::build(&spec, 2).unwrap();
        let z = vec![0f32; 3];
        assert!(net.run(&[&z, &z, &z]).unwrap_err().contains("expected"));
    }
}
