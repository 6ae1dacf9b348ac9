//! Checkpoint weights of an LSTM layer and a dense layer, and the plain-Rust dense
//! kernels (AVX2 when the CPU has it) used where a tract graph would cost more than it saves.

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
        let kernel = ck.var(&kname)?.into_owned();
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
        let kernel = ck.var(kname)?.into_owned();
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
pub(super) fn add_rows4(acc: &mut [f64], xs: [f64; 4], rows: [&[f32]; 4]) {
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
pub(super) fn add_rows4_avx2(acc: &mut [f64], xs: [f64; 4], rows: [&[f32]; 4]) {
    add_rows4_portable(acc, xs, rows);
}

#[inline(always)]
pub(super) fn add_rows4_portable(acc: &mut [f64], xs: [f64; 4], rows: [&[f32]; 4]) {
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
