//! `PackedStack`: an LSTM stack fed one-hot classes (MusicRNN) run by the native kernels
//! of `packed` instead of tract: for quantised checkpoints, whose weights stay as their
//! uint8/uint16 codes (4×/2× fewer bytes read per step), and for float32 stacks too large
//! for tract's second, packed copy of the weights.
//!
//! The work is split as `OneHotStack` splits it (the one-hot part of layer 0 is a row of
//! `W_x`; the recurrent half reads only `W_h`; a primer runs layer by layer, each upper
//! layer's input part for all steps at once) and the gates are summed in the same order,
//! `(x @ W_x + h @ W_h) + b`. The weights are exactly the values tfjs computes at load.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ml::core::checkpoint::Checkpoint;
use crate::ml::core::lstm::packed::PackedMatrix;
use crate::ml::core::lstm::Dense;
use crate::ml::error::ModelError;

/// One layer: its input part (layers above 0), recurrent part and bias.
struct Layer {
    units: usize,
    input: Option<PackedMatrix>,
    recurrent: PackedMatrix,
    bias: Vec<f32>,
}

/// An LSTM stack fed one-hot classes, with an output projection to logits.
pub struct PackedStack {
    depth: usize,
    /// `W_x` of layer 0, `[depth, 4 * units0]` (the rows a one-hot input selects).
    rows0: Vec<f32>,
    layers: Vec<Layer>,
    projection: Dense,
}

/// The `c` and `h` of every layer for `batch` rows (`[batch, units]` each, row-major).
#[derive(Clone, Debug)]
pub struct PackedState {
    pub batch: usize,
    c: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
}

impl PackedState {
    /// The state with every row a copy of row 0 of `self` (which must have one row).
    pub fn repeat_rows(&self, batch: usize) -> PackedState {
        PackedState {
            batch,
            c: self.c.iter().map(|v| v.repeat(batch)).collect(),
            h: self.h.iter().map(|v| v.repeat(batch)).collect(),
        }
    }

    /// `h` of layer `l`, `[batch, units]`.
    #[cfg(test)]
    pub fn h(&self, l: usize) -> Option<&[f32]> {
        self.h.get(l).map(|v| v.as_slice())
    }
}

/// float32 kernels by name, with their shapes, held apart from the checkpoint.
type F32Kernels = HashMap<String, (Vec<usize>, Arc<Vec<f32>>)>;

/// `(input, units)` of the layer at `prefix`, after checking its kernel and bias agree.
fn layer_shape(
    ck: &Checkpoint,
    kernels: &F32Kernels,
    prefix: &str,
) -> Result<(usize, usize), ModelError> {
    let (kname, bname) = (format!("{prefix}kernel"), format!("{prefix}bias"));
    let shape = match kernels.get(&kname) {
        Some((s, _)) => &s[..],
        None => ck.shape(&kname)?,
    };
    let nb = match ck.shape(&bname)?[..] {
        [n] => n,
        ref s => {
            return Err(ModelError::bad_checkpoint(format!(
                "checkpoint variable {bname}: expected 1-D shape, got {s:?}"
            )))
        }
    };
    let (rows, cols) = match shape[..] {
        [r, c] => (r, c),
        ref s => {
            return Err(ModelError::bad_checkpoint(format!(
                "checkpoint variable {kname}: expected 2-D shape, got {s:?}"
            )))
        }
    };
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
    Ok((rows - units, units))
}

/// The kernel names of the layers `fmt(0)`, `fmt(1)`, ... up to the first missing one (as
/// magenta.js discovers them).
fn kernel_names(ck: &Checkpoint, fmt: &impl Fn(usize) -> String) -> Vec<String> {
    (0..).map(|l| format!("{}kernel", fmt(l))).take_while(|k| ck.has(k)).collect()
}

impl PackedStack {
    /// Builds the stack of the layers `fmt(0)`, `fmt(1)`, ... (up to the first missing
    /// kernel, as magenta.js discovers them) fed `depth` classes, with `projection`.
    /// float32 kernels are copied; see [`PackedStack::from_checkpoint_taking`].
    #[cfg(test)]
    pub fn from_checkpoint(
        ck: &Checkpoint,
        fmt: impl Fn(usize) -> String,
        depth: usize,
        projection: Dense,
    ) -> Result<Self, ModelError> {
        let mut kernels = F32Kernels::new();
        for kname in kernel_names(ck, &fmt) {
            if let Some(v) = ck.vars.get(&kname) {
                kernels.insert(kname, (v.shape.clone(), Arc::new(v.data.clone())));
            }
        }
        Self::build(ck, &kernels, fmt, depth, projection)
    }

    /// `from_checkpoint`, moving the float32 kernels out of `ck` into the stack, where the
    /// kernels use them in place: a large checkpoint is never held twice.
    pub fn from_checkpoint_taking(
        ck: &mut Checkpoint,
        fmt: impl Fn(usize) -> String,
        depth: usize,
        projection: Dense,
    ) -> Result<Self, ModelError> {
        let mut kernels = F32Kernels::new();
        for kname in kernel_names(ck, &fmt) {
            if let Some(v) = ck.vars.remove(&kname) {
                kernels.insert(kname, (v.shape, Arc::new(v.data)));
            }
        }
        Self::build(ck, &kernels, fmt, depth, projection)
    }

    fn build(
        ck: &Checkpoint,
        kernels: &F32Kernels,
        fmt: impl Fn(usize) -> String,
        depth: usize,
        projection: Dense,
    ) -> Result<Self, ModelError> {
        let mut layers: Vec<Layer> = Vec::new();
        let mut rows0 = Vec::new();
        for l in 0.. {
            let prefix = fmt(l);
            let kname = format!("{prefix}kernel");
            if !ck.has(&kname) && !kernels.contains_key(&kname) {
                break;
            }
            let (input, units) = layer_shape(ck, kernels, &prefix)?;
            let want = if l == 0 { depth } else { layers[l - 1].units };
            if input != want {
                return Err(ModelError::bad_checkpoint(if l == 0 {
                    format!("layer 0 expects input size {input} but the model feeds {depth}")
                } else {
                    format!(
                        "layer {l} expects input size {input} but layer {} has {want} units",
                        l - 1
                    )
                }));
            }
            let cols = 4 * units;
            let pack = |row0: usize, rows: usize| -> Result<PackedMatrix, ModelError> {
                Ok(match kernels.get(&kname) {
                    Some((_, data)) => PackedMatrix::shared(data, cols, row0, rows),
                    None => PackedMatrix::from_rows(ck.source(&kname)?, cols, row0, rows),
                })
            };
            let input_part = if l == 0 {
                rows0 = match kernels.get(&kname) {
                    Some((_, data)) => data[..depth * cols].to_vec(),
                    None => {
                        let src = ck.source(&kname)?;
                        (0..depth * cols).map(|i| src.value(i)).collect()
                    }
                };
                None
            } else {
                Some(pack(0, input)?)
            };
            let bias = ck.var(&format!("{prefix}bias"))?.data.clone();
            let recurrent = pack(input, units)?;
            layers.push(Layer { units, input: input_part, recurrent, bias });
        }
        if layers.is_empty() {
            return Err(ModelError::bad_checkpoint(format!(
                "no LSTM layers ({}kernel missing)",
                fmt(0)
            )));
        }
        let top = layers[layers.len() - 1].units;
        if projection.input() != top {
            return Err(ModelError::bad_checkpoint(format!(
                "output projection expects {} inputs, top layer has {top} units",
                projection.input()
            )));
        }
        Ok(PackedStack { depth, rows0, layers, projection })
    }

    /// Units per layer.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.units).collect()
    }

    /// Bytes the weights of every layer take in memory (what a step reads).
    #[cfg(test)]
    pub fn weight_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.recurrent.bytes() + l.input.as_ref().map_or(0, |m| m.bytes()))
            .sum::<usize>()
            + 4 * self.rows0.len()
    }

    /// The all-zero state for `batch` rows.
    pub fn zero_state(&self, batch: usize) -> PackedState {
        PackedState {
            batch,
            c: self.layers.iter().map(|l| vec![0f32; batch * l.units]).collect(),
            h: self.layers.iter().map(|l| vec![0f32; batch * l.units]).collect(),
        }
    }

    fn check_class(&self, k: usize) -> Result<(), ModelError> {
        super::check_classes(&[Some(k)], 1, self.depth)
    }

    /// Feeds a known class sequence to one row from the zero state, layer by layer, and
    /// returns the state after the last class and the logits there.
    pub fn prime(&self, sequence: &[usize]) -> Result<(PackedState, Vec<f32>), ModelError> {
        if sequence.is_empty() {
            return Err(ModelError::bad_input("prime: empty sequence"));
        }
        for &k in sequence {
            self.check_class(k)?;
        }
        let mut state = self.zero_state(1);
        let t_len = sequence.len();
        let mut scratch = Vec::new();
        let mut rec = Vec::new();
        let mut gates = Vec::new();
        // Input parts of the current layer's gates for every step, `[t_len, 4 * units]`.
        let mut gx: Vec<f32> = Vec::new();
        let mut hs: Vec<f32> = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let (u, cols) = (layer.units, 4 * layer.units);
            if let Some(input) = &layer.input {
                gx.clear();
                gx.resize(t_len * cols, 0.0);
                input.matmul_rows(&hs, t_len, &mut gx, &mut scratch);
            }
            hs.clear();
            rec.resize(cols, 0.0);
            gates.resize(cols, 0.0);
            for (t, &k) in sequence.iter().enumerate() {
                let gin = if l == 0 {
                    &self.rows0[k * cols..(k + 1) * cols]
                } else {
                    &gx[t * cols..(t + 1) * cols]
                };
                layer.recurrent.matvec(&state.h[l], &mut rec);
                for (((g, &a), &r), &b) in gates.iter_mut().zip(gin).zip(&rec).zip(&layer.bias) {
                    *g = (a + r) + b;
                }
                cell(&gates, &mut state.c[l], &mut state.h[l]);
                hs.extend_from_slice(&state.h[l][..u]);
            }
        }
        let top = self.layers.len() - 1;
        let logits = self.projection.apply(&state.h[top], 1);
        Ok((state, logits))
    }

    /// One step of all layers for `state.batch` rows, row `r` fed class `classes[r]`
    /// (`None`: an all-zero input); updates `state` and returns the logits
    /// `[batch, classes]`.
    pub fn step(
        &self,
        classes: &[Option<usize>],
        state: &mut PackedState,
    ) -> Result<Vec<f32>, ModelError> {
        let b = state.batch;
        super::check_classes(classes, b, self.depth)?;
        let mut gin = Vec::new();
        let mut rec = Vec::new();
        let mut gates = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let (u, cols) = (layer.units, 4 * layer.units);
            gin.resize(cols, 0.0);
            rec.resize(cols, 0.0);
            gates.resize(cols, 0.0);
            for r in 0..b {
                match (l, &layer.input) {
                    (0, _) => match classes[r] {
                        Some(k) => gin.copy_from_slice(&self.rows0[k * cols..(k + 1) * cols]),
                        None => gin.fill(0.0),
                    },
                    (_, Some(input)) => {
                        let below = self.layers[l - 1].units;
                        input.matvec(&state.h[l - 1][r * below..(r + 1) * below], &mut gin)
                    }
                    (_, None) => return Err(ModelError::engine("layer input weights missing")),
                }
                layer.recurrent.matvec(&state.h[l][r * u..(r + 1) * u], &mut rec);
                for (((g, &a), &rv), &bv) in gates.iter_mut().zip(&gin).zip(&rec).zip(&layer.bias) {
                    *g = (a + rv) + bv;
                }
                let (c, h) = (&mut state.c[l], &mut state.h[l]);
                cell(&gates, &mut c[r * u..(r + 1) * u], &mut h[r * u..(r + 1) * u]);
            }
        }
        let top = self.layers.len() - 1;
        Ok(self.projection.apply(&state.h[top], b))
    }
}

/// `exp(x)` in f32 to about 2 ulp, branch-free so the cell's loops vectorise: `x = n ln2
/// + r`, a degree-7 Taylor polynomial for `e^r` (`|r| ≤ ln2 / 2`), scaled by `2^n`.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Round to nearest with the 1.5 * 2^23 trick (no `round` call, SSE2 enough).
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    // `n` as an integer: `t`'s bits minus MAGIC's (same exponent, ulp 1), no float to int
    // conversion (which would not vectorise).
    let ni = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((ni + 127) as u32) << 23)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp_f32(-2.0 * x)) - 1.0
}

/// `tf.basicLSTMCell` (forget bias 1): gates `[i, j, f, o]` → new `c`, `h`. AVX2 when
/// the CPU has it (8 units at a time; the same operations, so the same bits).
pub(super) fn cell(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { cell_avx2(gates, c, h) };
    }
    cell_portable(gates, c, h)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn cell_avx2(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    cell_portable(gates, c, h)
}

#[inline(always)]
fn cell_portable(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    let u = c.len();
    let (i, rest) = gates.split_at(u);
    let (j, rest) = rest.split_at(u);
    let (f, o) = rest.split_at(u);
    // Iterators of equal length (no bounds checks, so the loops vectorise), and two
    // passes: each has half the dependency chain of the whole cell, so more of its
    // iterations overlap.
    for (c, ((&i, &j), &f)) in c.iter_mut().zip(i.iter().zip(j).zip(f)) {
        *c = sigmoid(i) * tanh(j) + *c * sigmoid(f + 1.0);
    }
    for ((h, &c), &o) in h[..u].iter_mut().zip(c.iter()).zip(&o[..u]) {
        *h = tanh(c) * sigmoid(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_gates_are_accurate() {
        let mut worst = 0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = ((exp_f32(x) as f64) - (x as f64).exp()).abs() / (x as f64).exp();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "exp relative error {worst}");
        // The exponent from the rounding trick's bits is the rounded value's.
        for x in [-87.0f32, -86.3, -1.2, -0.4, 0.0, 0.4, 1.7, 60.1, 88.0] {
            let t = x.clamp(-87.0, 88.0) * std::f32::consts::LOG2_E + 12_582_912.0;
            let n = (t - 12_582_912.0) as i32;
            assert_eq!(t.to_bits() as i32 - 12_582_912f32.to_bits() as i32, n, "{x}");
        }
        // The vectorised cell gives the scalar cell's bits.
        let u = 37;
        let gates: Vec<f32> = (0..4 * u).map(|i| ((i * 7919) % 613) as f32 / 20.0 - 15.0).collect();
        let c0: Vec<f32> = (0..u).map(|i| (i as f32 - 18.0) / 3.0).collect();
        let (mut c1, mut h1) = (c0.clone(), vec![0f32; u]);
        let (mut c2, mut h2) = (c0.clone(), vec![0f32; u]);
        cell(&gates, &mut c1, &mut h1);
        for k in 0..u {
            let g = |q: usize| gates[q * u + k];
            c2[k] = sigmoid(g(0)) * tanh(g(1)) + c0[k] * sigmoid(g(2) + 1.0);
            h2[k] = tanh(c2[k]) * sigmoid(g(3));
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!((bits(&c1), bits(&h1)), (bits(&c2), bits(&h2)));
        for x in [-30.0f32, -5.0, -1.0, -1e-3, 0.0, 1e-4, 0.5, 3.0, 30.0] {
            assert!((tanh(x) as f64 - (x as f64).tanh()).abs() < 2e-7, "tanh {x}");
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid(x) as f64 - s).abs() < 2e-7, "sigmoid {x}");
        }
    }
}
