//! [`Sequential`] models of [`Dense`] and [`Dropout`] layers: building (with tfjs's
//! initialisers), the forward pass, and the backward pass that gives the gradient of a
//! loss for every weight.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::loss::{Loss, Metric};
use super::optim::Optimizer;
use super::{LayersError, Matrix};

/// Largest model accepted (weights, not counting optimizer state): bigger ones are
/// refused with a message instead of exhausting memory.
pub const MAX_PARAMS: usize = 50_000_000;

/// Largest layer width.
pub const MAX_UNITS: usize = 1 << 24;

/// The activations of tfjs-layers that a dense layer may apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    Softmax,
    Elu,
    Selu,
    Softplus,
    Softsign,
    HardSigmoid,
}

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

impl Activation {
    /// The activation of a tfjs name (`'relu'`, `'softmax'`, ...).
    pub fn parse(name: &str) -> Result<Self, LayersError> {
        Ok(match name {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "elu" => Activation::Elu,
            "selu" => Activation::Selu,
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "hardSigmoid" => Activation::HardSigmoid,
            other => {
                return Err(LayersError::new(format!(
                    "unknown activation '{other}' (known: linear, relu, relu6, sigmoid, tanh, \
                     softmax, elu, selu, softplus, softsign, hardSigmoid)"
                )))
            }
        })
    }

    /// The tfjs name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::Elu => "elu",
            Activation::Selu => "selu",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::HardSigmoid => "hardSigmoid",
        }
    }

    /// `y = f(z)` for a batch of rows of width `cols`, in place.
    pub fn forward(self, y: &mut [f32], cols: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Relu6 => y.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
            Activation::Sigmoid => y.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
            Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Elu => {
                y.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { v.exp_m1() })
            }
            Activation::Selu => y.iter_mut().for_each(|v| {
                *v = if *v > 0.0 { SELU_SCALE * *v } else { SELU_SCALE * SELU_ALPHA * v.exp_m1() }
            }),
            Activation::Softplus => y.iter_mut().for_each(|v| *v = softplus(*v)),
            Activation::Softsign => y.iter_mut().for_each(|v| *v /= 1.0 + v.abs()),
            Activation::HardSigmoid => {
                y.iter_mut().for_each(|v| *v = (0.2 * *v + 0.5).clamp(0.0, 1.0))
            }
            Activation::Softmax => {
                if cols == 0 {
                    return;
                }
                for row in y.chunks_mut(cols) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    row.iter_mut().for_each(|v| *v /= sum);
                }
            }
        }
    }

    /// Turns `dy` (gradient w.r.t. the output) into the gradient w.r.t. the input `z`,
    /// given `z` and `y = f(z)`, in place.
    pub fn backward(self, z: &[f32], y: &[f32], dy: &mut [f32], cols: usize) {
        let each = |dy: &mut [f32], f: &dyn Fn(f32, f32) -> f32| {
            for ((d, &z), &y) in dy.iter_mut().zip(z).zip(y) {
                *d *= f(z, y);
            }
        };
        match self {
            Activation::Linear => {}
            Activation::Relu => each(dy, &|z, _| if z > 0.0 { 1.0 } else { 0.0 }),
            Activation::Relu6 => each(dy, &|z, _| if z > 0.0 && z < 6.0 { 1.0 } else { 0.0 }),
            Activation::Sigmoid => each(dy, &|_, y| y * (1.0 - y)),
            Activation::Tanh => each(dy, &|_, y| 1.0 - y * y),
            // tfjs's CPU kernel (EluGrad) uses 1 only where y >= 1 and y + 1 elsewhere,
            // also for 0 < x < 1; models must train as in tfjs, so the same rule here.
            Activation::Elu => each(dy, &|_, y| if y >= 1.0 { 1.0 } else { y + 1.0 }),
            Activation::Selu => {
                each(dy, &|z, y| if z > 0.0 { SELU_SCALE } else { y + SELU_SCALE * SELU_ALPHA })
            }
            Activation::Softplus => each(dy, &|z, _| 1.0 / (1.0 + (-z).exp())),
            Activation::Softsign => each(dy, &|z, _| {
                let d = 1.0 + z.abs();
                1.0 / (d * d)
            }),
            Activation::HardSigmoid => each(dy, &|z, _| {
                let s = 0.2 * z + 0.5;
                if (0.0..=1.0).contains(&s) {
                    0.2
                } else {
                    0.0
                }
            }),
            Activation::Softmax => {
                if cols == 0 {
                    return;
                }
                for (d, y) in dy.chunks_mut(cols).zip(y.chunks(cols)) {
                    let dot: f32 = d.iter().zip(y).map(|(a, b)| a * b).sum();
                    for (dv, &yv) in d.iter_mut().zip(y) {
                        *dv = yv * (*dv - dot);
                    }
                }
            }
        }
    }
}

/// tfjs's softplus: `log(1 + exp(x))`, switching to `exp(x)` and `x` at the float32
/// thresholds as tfjs-core does.
fn softplus(x: f32) -> f32 {
    let threshold = f32::EPSILON.ln() + 2.0;
    if x > -threshold {
        x
    } else if x < threshold {
        x.exp()
    } else {
        x.exp().ln_1p()
    }
}

/// Fan computation mode of a variance-scaling initialiser (tfjs's `fanIn`, `fanOut`,
/// `fanAvg`).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
    FanAvg,
}

/// The initialisers of tfjs-layers (with their default parameters when given by name).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    Zeros,
    Ones,
    Constant(f32),
    RandomNormal {
        mean: f32,
        stddev: f32,
    },
    RandomUniform {
        min: f32,
        max: f32,
    },
    TruncatedNormal {
        mean: f32,
        stddev: f32,
    },
    /// glorotUniform/glorotNormal/heNormal/heUniform/leCunNormal/leCunUniform and
    /// varianceScaling.
    VarianceScaling {
        scale: f32,
        mode: FanMode,
        normal: bool,
    },
}

impl Initializer {
    /// The initialiser of a tfjs name, with tfjs's defaults.
    pub fn parse(name: &str) -> Result<Self, LayersError> {
        use Initializer::*;
        let vs = |scale, mode, normal| VarianceScaling { scale, mode, normal };
        Ok(match name {
            "zeros" | "Zeros" => Zeros,
            "ones" | "Ones" => Ones,
            "constant" => Constant(0.0),
            "randomNormal" | "RandomNormal" => RandomNormal { mean: 0.0, stddev: 0.05 },
            "randomUniform" | "RandomUniform" => RandomUniform { min: -0.05, max: 0.05 },
            "truncatedNormal" | "TruncatedNormal" => TruncatedNormal { mean: 0.0, stddev: 0.05 },
            "glorotUniform" | "GlorotUniform" => vs(1.0, FanMode::FanAvg, false),
            "glorotNormal" | "GlorotNormal" => vs(1.0, FanMode::FanAvg, true),
            "heNormal" | "HeNormal" => vs(2.0, FanMode::FanIn, true),
            "heUniform" | "HeUniform" => vs(2.0, FanMode::FanIn, false),
            "leCunNormal" | "LeCunNormal" => vs(1.0, FanMode::FanIn, true),
            "leCunUniform" | "LeCunUniform" => vs(1.0, FanMode::FanIn, false),
            "varianceScaling" | "VarianceScaling" => vs(1.0, FanMode::FanIn, true),
            other => {
                return Err(LayersError::new(format!(
                    "unknown initializer '{other}' (known: zeros, ones, constant, randomNormal, \
                     randomUniform, truncatedNormal, glorotUniform, glorotNormal, heNormal, \
                     heUniform, leCunNormal, leCunUniform, varianceScaling)"
                )))
            }
        })
    }

    /// Fills `out` (a weight of `fan_in × fan_out`, or a bias when `fan_in` is 1 and
    /// `fan_out` is its length as tfjs computes fans for 1-D shapes).
    pub fn fill(&self, out: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut SmallRng) {
        match *self {
            Initializer::Zeros => out.fill(0.0),
            Initializer::Ones => out.fill(1.0),
            Initializer::Constant(v) => out.fill(v),
            Initializer::RandomNormal { mean, stddev } => {
                out.iter_mut().for_each(|v| *v = mean + stddev * normal(rng))
            }
            Initializer::RandomUniform { min, max } => {
                out.iter_mut().for_each(|v| *v = min + (max - min) * rng.random::<f32>())
            }
            Initializer::TruncatedNormal { mean, stddev } => {
                out.iter_mut().for_each(|v| *v = mean + stddev * truncated_normal(rng))
            }
            Initializer::VarianceScaling { scale, mode, normal } => {
                let (fi, fo) = (fan_in as f32, fan_out as f32);
                let div = match mode {
                    FanMode::FanIn => fi.max(1.0),
                    FanMode::FanOut => fo.max(1.0),
                    FanMode::FanAvg => ((fi + fo) / 2.0).max(1.0),
                };
                let s = scale / div;
                if normal {
                    let sd = s.sqrt();
                    out.iter_mut().for_each(|v| *v = sd * truncated_normal(rng));
                } else {
                    let limit = (3.0 * s).sqrt();
                    out.iter_mut().for_each(|v| *v = limit * (2.0 * rng.random::<f32>() - 1.0));
                }
            }
        }
    }
}

/// A standard normal value (Box-Muller).
fn normal(rng: &mut SmallRng) -> f32 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random::<f64>();
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

/// A standard normal value redrawn until it lies within two standard deviations, as
/// tfjs's `truncatedNormal` does.
fn truncated_normal(rng: &mut SmallRng) -> f32 {
    loop {
        let x = normal(rng);
        if x.abs() <= 2.0 {
            return x;
        }
    }
}

/// A dense layer: `y = activation(x · kernel + bias)`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub name: String,
    pub input_dim: usize,
    pub units: usize,
    pub activation: Activation,
    pub use_bias: bool,
    /// `[input_dim, units]`, row-major.
    pub kernel: Vec<f32>,
    /// `[units]` (empty without bias).
    pub bias: Vec<f32>,
}

/// A dropout layer: zeroes a fraction `rate` of its inputs while training and scales the
/// rest by `1 / (1 - rate)`; the identity otherwise.
#[derive(Clone, Debug)]
pub struct Dropout {
    pub name: String,
    pub rate: f32,
    pub dim: usize,
}

/// One layer of a [`Sequential`] model.
#[derive(Clone, Debug)]
pub enum Layer {
    Dense(Dense),
    Dropout(Dropout),
}

impl Layer {
    pub fn name(&self) -> &str {
        match self {
            Layer::Dense(d) => &d.name,
            Layer::Dropout(d) => &d.name,
        }
    }

    /// The tfjs class name.
    pub fn class_name(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "Dense",
            Layer::Dropout(_) => "Dropout",
        }
    }

    pub fn output_dim(&self) -> usize {
        match self {
            Layer::Dense(d) => d.units,
            Layer::Dropout(d) => d.dim,
        }
    }

    pub fn param_count(&self) -> usize {
        match self {
            Layer::Dense(d) => d.kernel.len() + d.bias.len(),
            Layer::Dropout(_) => 0,
        }
    }
}

/// What a dense layer is built from (the parsed `tf.layers.dense` config).
#[derive(Clone, Debug)]
pub struct DenseConfig {
    pub name: String,
    pub units: usize,
    /// `inputShape: [n]` / `inputDim`: required on the first layer only.
    pub input_dim: Option<usize>,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub seed: Option<u64>,
}

/// The loss, optimizer and metrics given to `compile`.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub metrics: Vec<Metric>,
}

/// A sequential model: layers applied in order, then (once compiled) trained by
/// [`super::fit`].
#[derive(Clone, Debug)]
pub struct Sequential {
    pub layers: Vec<Layer>,
    pub compiled: Option<Compiled>,
    /// Set while a `fit` runs (layers and compile are refused meanwhile).
    pub training: bool,
    /// Set by `model.stopTraining = true`: the running `fit` ends after its batch.
    pub stop_requested: bool,
    rng: SmallRng,
    scratch: Scratch,
}

/// Buffers of the training passes, kept between batches.
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// `acts[0]` is the input, `acts[i + 1]` the output of layer `i`.
    acts: Vec<Matrix>,
    /// Pre-activation values of dense layers (empty for dropout).
    pre: Vec<Matrix>,
    /// Dropout multipliers.
    masks: Vec<Vec<f32>>,
    delta: Matrix,
    delta_in: Matrix,
}

impl Default for Sequential {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Sequential {
    /// An empty model; `seed` makes its initialisers and dropout repeatable.
    pub fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => SmallRng::seed_from_u64(s),
            None => SmallRng::seed_from_u64(fresh_seed()),
        };
        Sequential {
            layers: Vec::new(),
            compiled: None,
            training: false,
            stop_requested: false,
            rng,
            scratch: Scratch::default(),
        }
    }

    /// Width of the input (of the first layer), once there is one.
    pub fn input_dim(&self) -> Option<usize> {
        self.layers.first().map(|l| match l {
            Layer::Dense(d) => d.input_dim,
            Layer::Dropout(d) => d.dim,
        })
    }

    /// Width of the output.
    pub fn output_dim(&self) -> Option<usize> {
        self.layers.last().map(Layer::output_dim)
    }

    /// Total number of weights.
    pub fn count_params(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
    }

    fn check_not_training(&self, what: &str) -> Result<(), LayersError> {
        if self.training {
            return Err(LayersError::new(format!(
                "{what}: the model is training (wait for fit() to finish)"
            )));
        }
        Ok(())
    }

    /// Adds a dense layer, initialising its weights.
    pub fn add_dense(&mut self, c: DenseConfig) -> Result<(), LayersError> {
        self.check_not_training("model.add")?;
        let name = &c.name;
        if c.units == 0 || c.units > MAX_UNITS {
            return Err(LayersError::new(format!(
                "layer {name}: units must be an integer 1..{MAX_UNITS}, got {}",
                c.units
            )));
        }
        let input_dim = match (self.output_dim(), c.input_dim) {
            (None, None) => {
                return Err(LayersError::new(format!(
                    "layer {name}: the first layer in a Sequential model must get an `inputShape` \
                     or `inputDim` argument"
                )))
            }
            (None, Some(d)) => d,
            (Some(prev), Some(d)) if d != prev => {
                return Err(LayersError::new(format!(
                    "layer {name}: inputShape [{d}] does not match the previous layer's output \
                     shape [null,{prev}]"
                )))
            }
            (Some(prev), _) => prev,
        };
        if input_dim == 0 || input_dim > MAX_UNITS {
            return Err(LayersError::new(format!(
                "layer {name}: input size must be 1..{MAX_UNITS}, got {input_dim}"
            )));
        }
        let weights = input_dim as u128 * c.units as u128 + c.units as u128;
        let total = self.count_params() as u128 + weights;
        if total > MAX_PARAMS as u128 {
            return Err(LayersError::new(format!(
                "layer {name}: the model would have {total} parameters, more than the limit of \
                 {MAX_PARAMS}"
            )));
        }
        let mut rng = match c.seed {
            Some(s) => SmallRng::seed_from_u64(s),
            None => SmallRng::seed_from_u64(self.rng.random()),
        };
        let mut kernel = vec![0.0; input_dim * c.units];
        c.kernel_initializer.fill(&mut kernel, input_dim, c.units, &mut rng);
        let mut bias = Vec::new();
        if c.use_bias {
            bias = vec![0.0; c.units];
            // tfjs computes the fans of a 1-D shape as (n, n).
            c.bias_initializer.fill(&mut bias, c.units, c.units, &mut rng);
        }
        self.layers.push(Layer::Dense(Dense {
            name: c.name,
            input_dim,
            units: c.units,
            activation: c.activation,
            use_bias: c.use_bias,
            kernel,
            bias,
        }));
        Ok(())
    }

    /// Adds a dropout layer.
    pub fn add_dropout(
        &mut self,
        name: String,
        rate: f64,
        input_dim: Option<usize>,
    ) -> Result<(), LayersError> {
        self.check_not_training("model.add")?;
        if !(0.0..1.0).contains(&rate) {
            return Err(LayersError::new(format!(
                "layer {name}: rate must be a number in [0, 1), got {rate}"
            )));
        }
        let dim = match (self.output_dim(), input_dim) {
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => {
                return Err(LayersError::new(format!(
                    "layer {name}: the first layer in a Sequential model must get an `inputShape` \
                     argument"
                )))
            }
        };
        self.layers.push(Layer::Dropout(Dropout { name, rate: rate as f32, dim }));
        Ok(())
    }

    /// Sets the loss, optimizer and metrics.
    pub fn compile(&mut self, compiled: Compiled) -> Result<(), LayersError> {
        self.check_not_training("model.compile")?;
        if self.layers.is_empty() {
            return Err(LayersError::new("model.compile: the model has no layers"));
        }
        self.compiled = Some(compiled);
        Ok(())
    }

    /// The weights in `getWeights` order: each dense layer's kernel then bias.
    pub fn weights(&self) -> Vec<(Vec<usize>, &[f32])> {
        let mut out = Vec::new();
        for l in &self.layers {
            if let Layer::Dense(d) = l {
                out.push((vec![d.input_dim, d.units], d.kernel.as_slice()));
                if d.use_bias {
                    out.push((vec![d.units], d.bias.as_slice()));
                }
            }
        }
        out
    }

    /// Mutable weights in `getWeights` order.
    pub fn weights_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            if let Layer::Dense(d) = l {
                out.push(&mut d.kernel);
                if d.use_bias {
                    out.push(&mut d.bias);
                }
            }
        }
        out
    }

    /// `setWeights`: one array per weight, in `getWeights` order, of the right sizes.
    pub fn set_weights(&mut self, values: &[Vec<f32>]) -> Result<(), LayersError> {
        let shapes: Vec<Vec<usize>> = self.weights().into_iter().map(|(s, _)| s).collect();
        if values.len() != shapes.len() {
            return Err(LayersError::new(format!(
                "setWeights: the model has {} weights, got {} tensors",
                shapes.len(),
                values.len()
            )));
        }
        for (i, (v, s)) in values.iter().zip(&shapes).enumerate() {
            let n: usize = s.iter().product();
            if v.len() != n {
                return Err(LayersError::new(format!(
                    "setWeights: weight {i} has shape [{}] ({n} values), got {} values",
                    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","),
                    v.len()
                )));
            }
        }
        for (w, v) in self.weights_mut().into_iter().zip(values) {
            w.copy_from_slice(v);
        }
        Ok(())
    }

    /// Checks that `x` fits the model's input.
    pub fn check_input(&self, x: &Matrix, what: &str) -> Result<(), LayersError> {
        let Some(dim) = self.input_dim() else {
            return Err(LayersError::new(format!("{what}: the model has no layers")));
        };
        if x.cols != dim {
            let first = self.layers.first().map(Layer::name).unwrap_or("");
            return Err(LayersError::new(format!(
                "{what}: Error when checking input: expected {first}_input to have shape \
                 [null,{dim}] but got array with shape [{},{}]",
                x.rows, x.cols
            )));
        }
        Ok(())
    }

    /// Inference (dropout off): the output for each row of `x`.
    pub fn predict(&self, x: &Matrix) -> Result<Matrix, LayersError> {
        self.check_input(x, "predict")?;
        let mut cur = x.clone();
        let mut next = Matrix::default();
        for l in &self.layers {
            if let Layer::Dense(d) = l {
                dense_forward(d, &cur, &mut next);
                d.activation.forward(&mut next.data, d.units);
                std::mem::swap(&mut cur, &mut next);
            }
        }
        Ok(cur)
    }

    /// The training forward pass: keeps what the backward pass needs; returns the output.
    pub(crate) fn forward_train(&mut self, x: &Matrix) -> &Matrix {
        let n = self.layers.len();
        let s = &mut self.scratch;
        s.acts.resize_with(n + 1, Matrix::default);
        s.pre.resize_with(n, Matrix::default);
        s.masks.resize_with(n, Vec::new);
        s.acts[0].clone_from(x);
        for (i, l) in self.layers.iter().enumerate() {
            let (before, after) = s.acts.split_at_mut(i + 1);
            let (input, out) = (&before[i], &mut after[0]);
            match l {
                Layer::Dense(d) => {
                    dense_forward(d, input, &mut s.pre[i]);
                    out.clone_from(&s.pre[i]);
                    d.activation.forward(&mut out.data, d.units);
                }
                Layer::Dropout(d) => {
                    let mask = &mut s.masks[i];
                    mask.clear();
                    let keep = 1.0 / (1.0 - d.rate);
                    let rng = &mut self.rng;
                    mask.extend((0..input.data.len()).map(|_| {
                        if rng.random::<f32>() - d.rate > 0.0 {
                            keep
                        } else {
                            0.0
                        }
                    }));
                    out.rows = input.rows;
                    out.cols = input.cols;
                    out.data.clear();
                    out.data.extend(input.data.iter().zip(mask.iter()).map(|(a, m)| a * m));
                }
            }
        }
        &self.scratch.acts[n]
    }

    /// The backward pass after [`Sequential::forward_train`]: `d_out` is the gradient of
    /// the loss w.r.t. the output; fills `grads` (in `getWeights` order).
    pub(crate) fn backward(&mut self, d_out: &Matrix, grads: &mut Vec<Vec<f32>>) {
        let n_weights = self.weights().len();
        grads.resize_with(n_weights, Vec::new);
        let s = &mut self.scratch;
        s.delta.clone_from(d_out);
        let mut gi = n_weights;
        for (i, l) in self.layers.iter().enumerate().rev() {
            match l {
                Layer::Dense(d) => {
                    let input = &s.acts[i];
                    let y = &s.acts[i + 1];
                    d.activation.backward(&s.pre[i].data, &y.data, &mut s.delta.data, d.units);
                    let rows = input.rows;
                    let (k_dim, units) = (d.input_dim, d.units);
                    if d.use_bias {
                        gi -= 1;
                        let gb = &mut grads[gi];
                        gb.clear();
                        gb.resize(units, 0.0);
                        for r in 0..rows {
                            let dz = &s.delta.data[r * units..(r + 1) * units];
                            gb.iter_mut().zip(dz).for_each(|(g, v)| *g += v);
                        }
                    }
                    gi -= 1;
                    let gk = &mut grads[gi];
                    gk.clear();
                    gk.resize(k_dim * units, 0.0);
                    for r in 0..rows {
                        let dz = &s.delta.data[r * units..(r + 1) * units];
                        let xin = &input.data[r * k_dim..(r + 1) * k_dim];
                        for (k, &a) in xin.iter().enumerate() {
                            if a == 0.0 {
                                continue;
                            }
                            let row = &mut gk[k * units..(k + 1) * units];
                            row.iter_mut().zip(dz).for_each(|(g, v)| *g += a * v);
                        }
                    }
                    if i > 0 {
                        let din = &mut s.delta_in;
                        din.rows = rows;
                        din.cols = k_dim;
                        din.data.clear();
                        din.data.resize(rows * k_dim, 0.0);
                        for r in 0..rows {
                            let dz = &s.delta.data[r * units..(r + 1) * units];
                            let out = &mut din.data[r * k_dim..(r + 1) * k_dim];
                            for (k, o) in out.iter_mut().enumerate() {
                                let w = &d.kernel[k * units..(k + 1) * units];
                                *o = w.iter().zip(dz).map(|(a, b)| a * b).sum();
                            }
                        }
                        std::mem::swap(&mut s.delta, &mut s.delta_in);
                    }
                }
                Layer::Dropout(_) => {
                    let mask = &s.masks[i];
                    s.delta.data.iter_mut().zip(mask).for_each(|(d, m)| *d *= m);
                }
            }
        }
    }

    /// `summary()`: tfjs's table.
    pub fn summary(&self) -> String {
        let line_length = 65usize;
        let positions = [29usize, 55, 65];
        let row = |fields: [&str; 3]| -> String {
            let mut line = String::new();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    line.pop();
                    line.push(' ');
                }
                line.push_str(f);
                let cut: String = line.chars().take(positions[i]).collect();
                line = cut;
                let len = line.chars().count();
                line.push_str(&" ".repeat(positions[i].saturating_sub(len)));
            }
            line
        };
        let mut out = Vec::new();
        out.push("_".repeat(line_length));
        out.push(row(["Layer (type)", "Output shape", "Param #"]));
        out.push("=".repeat(line_length));
        for (i, l) in self.layers.iter().enumerate() {
            out.push(row([
                &format!("{} ({})", l.name(), l.class_name()),
                &format!("[null,{}]", l.output_dim()),
                &l.param_count().to_string(),
            ]));
            out.push(if i + 1 == self.layers.len() { "=" } else { "_" }.repeat(line_length));
        }
        if self.layers.is_empty() {
            out.push("=".repeat(line_length));
        }
        let total = self.count_params();
        out.push(format!("Total params: {total}"));
        out.push(format!("Trainable params: {total}"));
        out.push("Non-trainable params: 0".to_string());
        out.push("_".repeat(line_length));
        out.join("\n")
    }
}

/// `out = x · kernel + bias` (rows of `x` times the `[in, units]` kernel).
fn dense_forward(d: &Dense, x: &Matrix, out: &mut Matrix) {
    let units = d.units;
    out.rows = x.rows;
    out.cols = units;
    out.data.clear();
    out.data.resize(x.rows * units, 0.0);
    for r in 0..x.rows {
        let o = &mut out.data[r * units..(r + 1) * units];
        if d.use_bias {
            o.copy_from_slice(&d.bias);
        }
        for (k, &a) in x.row(r).iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let w = &d.kernel[k * units..(k + 1) * units];
            o.iter_mut().zip(w).for_each(|(o, w)| *o += a * w);
        }
    }
}

/// A seed from the clock and a counter (no OS randomness needed).
fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
