//! A small ONNX graph builder: the LSTM nets are written as ONNX protobufs node by node
//! and handed to tract, which optimises them once at load time.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::ml::error::ModelError;

use super::*;

/// Converts tract errors to the module's errors ([`ModelErrorKind::Engine`]).
///
/// [`ModelErrorKind::Engine`]: crate::ml::error::ModelErrorKind::Engine
pub(super) fn terr(ctx: &str) -> impl Fn(TractError) -> ModelError + '_ {
    move |e| ModelError::engine(format!("{ctx}: {e:?}"))
}

/// Builds an ONNX graph node by node.
pub(super) struct GraphBuilder {
    pub(super) graph: pb::GraphProto,
    /// Counter for unique value names.
    pub(super) next: usize,
}

/// A dimension of a graph input or output: fixed, or the symbolic row count `N`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Dim {
    Fixed(usize),
    Rows,
}

pub(super) fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
    let dims: Vec<Dim> = shape.iter().map(|&d| Dim::Fixed(d)).collect();
    value_info_dims(name, &dims)
}

pub(super) fn value_info_dims(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
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
    pub(super) fn new() -> Self {
        GraphBuilder {
            graph: pb::GraphProto { name: "step".into(), ..Default::default() },
            next: 0,
        }
    }

    pub(super) fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    pub(super) fn input(&mut self, name: &str, shape: &[usize]) -> String {
        self.graph.input.push(value_info(name, shape));
        name.to_string()
    }

    pub(super) fn input_dims(&mut self, name: &str, dims: &[Dim]) -> String {
        self.graph.input.push(value_info_dims(name, dims));
        name.to_string()
    }

    pub(super) fn constant(&mut self, hint: &str, shape: &[usize], data: &[f32]) -> String {
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

    pub(super) fn node(
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

    pub(super) fn op1(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node(op, inputs, 1, None).remove(0)
    }

    /// `x @ W + b` (the tests' `StepNet`).
    #[cfg(test)]
    pub(super) fn dense(&mut self, x: &str, d: &Dense) -> String {
        let k = self.constant("w", &d.kernel.shape, &d.kernel.data);
        let b = self.constant("b", &[d.output()], &d.bias);
        let m = self.op1("MatMul", &[x, &k]);
        self.op1("Add", &[&m, &b])
    }

    /// One `basicLSTMCell` step; returns (c', h') (the tests' `StepNet`).
    #[cfg(test)]
    pub(super) fn lstm(
        &mut self,
        x: &str,
        c: &str,
        h: &str,
        w: &LstmWeights,
        one: &str,
    ) -> (String, String) {
        let k = self.constant("kernel", &w.kernel.shape, &w.kernel.data);
        let b = self.constant("bias", &[w.bias.len()], &w.bias);
        let xh = self.node("Concat", &[x, h], 1, Some(1)).remove(0);
        let m = self.op1("MatMul", &[&xh, &k]);
        let g = self.op1("Add", &[&m, &b]);
        self.gates(&g, c, one)
    }

    /// The recurrent half of a `basicLSTMCell` step: `gx` is the input part of the gates
    /// (`x @ W_x`, computed elsewhere); returns (c', h').
    pub(super) fn lstm_recurrent(
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
    pub(super) fn gates(&mut self, g: &str, c: &str, one: &str) -> (String, String) {
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
    pub(super) fn expose(&mut self, value: &str, name: &str, shape: &[usize]) {
        let dims: Vec<Dim> = shape.iter().map(|&d| Dim::Fixed(d)).collect();
        self.expose_dims(value, name, &dims);
    }

    pub(super) fn expose_dims(&mut self, value: &str, name: &str, dims: &[Dim]) {
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

    pub(super) fn compile(self) -> Result<Arc<TypedRunnableModel>, ModelError> {
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

/// The values of an f32 tensor.
pub(super) fn f32s(t: &Tensor) -> Result<&[f32], ModelError> {
    t.try_as_plain_ram().and_then(|v| v.as_slice::<f32>()).map_err(terr("reading a tensor"))
}

pub(super) fn tensor_2d(rows: usize, cols: usize, data: &[f32]) -> Result<TValue, ModelError> {
    Tensor::from_shape::<f32>(&[rows, cols], data)
        .map(|t| t.into_tvalue())
        .map_err(terr("making a tensor"))
}
