//! The losses of tfjs-layers (value and gradient w.r.t. the prediction) and the
//! `accuracy` metric.

use super::{LayersError, Matrix, EPSILON};

/// A loss function given to `compile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    MeanSquaredError,
    MeanAbsoluteError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    /// Targets are class indices (one column).
    SparseCategoricalCrossentropy,
}

impl Loss {
    /// The loss of a tfjs name (`'meanSquaredError'`, `'mse'`, ...).
    pub fn parse(name: &str) -> Result<Self, LayersError> {
        Ok(match name {
            "meanSquaredError" | "mse" | "MSE" | "mean_squared_error" => Loss::MeanSquaredError,
            "meanAbsoluteError" | "mae" | "MAE" | "mean_absolute_error" => Loss::MeanAbsoluteError,
            "binaryCrossentropy" | "binary_crossentropy" => Loss::BinaryCrossentropy,
            "categoricalCrossentropy" | "categorical_crossentropy" => Loss::CategoricalCrossentropy,
            "sparseCategoricalCrossentropy" | "sparse_categorical_crossentropy" => {
                Loss::SparseCategoricalCrossentropy
            }
            other => {
                return Err(LayersError::new(format!(
                    "Unknown loss '{other}' (known: meanSquaredError, meanAbsoluteError, \
                     binaryCrossentropy, categoricalCrossentropy, sparseCategoricalCrossentropy)"
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Loss::MeanSquaredError => "meanSquaredError",
            Loss::MeanAbsoluteError => "meanAbsoluteError",
            Loss::BinaryCrossentropy => "binaryCrossentropy",
            Loss::CategoricalCrossentropy => "categoricalCrossentropy",
            Loss::SparseCategoricalCrossentropy => "sparseCategoricalCrossentropy",
        }
    }

    /// The width `y` must have for a model output of width `out`.
    pub fn target_cols(self, out: usize) -> usize {
        match self {
            Loss::SparseCategoricalCrossentropy => 1,
            _ => out,
        }
    }

    /// The loss (mean over the batch of the per-sample loss) and, if `grad` is given, its
    /// gradient w.r.t. `pred`.
    pub fn compute(self, pred: &Matrix, target: &Matrix, grad: Option<&mut Matrix>) -> f32 {
        let (rows, cols) = (pred.rows, pred.cols);
        if rows == 0 || cols == 0 {
            if let Some(g) = grad {
                *g = Matrix::zeros(rows, cols);
            }
            return 0.0;
        }
        let mut g_buf = grad;
        if let Some(g) = g_buf.as_deref_mut() {
            g.rows = rows;
            g.cols = cols;
            g.data.clear();
            g.data.resize(rows * cols, 0.0);
        }
        let inv_b = 1.0 / rows as f32;
        let mut total = 0.0f64;
        let mut onehot = vec![0.0f32; cols];
        for r in 0..rows {
            let p = pred.row(r);
            let t: &[f32] = if self == Loss::SparseCategoricalCrossentropy {
                onehot.fill(0.0);
                let c = target.data[r];
                if c >= 0.0 && (c as usize) < cols {
                    onehot[c as usize] = 1.0;
                }
                &onehot
            } else {
                target.row(r)
            };
            let g = g_buf.as_deref_mut().map(|g| &mut g.data[r * cols..(r + 1) * cols]);
            total += row_loss(self, p, t, g, inv_b) as f64;
        }
        (total / rows as f64) as f32
    }
}

/// One sample's loss; writes its gradient (already divided by the batch size) into `g`.
fn row_loss(loss: Loss, p: &[f32], t: &[f32], g: Option<&mut [f32]>, inv_b: f32) -> f32 {
    let n = p.len() as f32;
    match loss {
        Loss::MeanSquaredError => {
            let mut s = 0.0;
            for (&a, &b) in p.iter().zip(t) {
                s += (a - b) * (a - b);
            }
            if let Some(g) = g {
                let k = 2.0 * inv_b / n;
                for ((g, &a), &b) in g.iter_mut().zip(p).zip(t) {
                    *g = k * (a - b);
                }
            }
            s / n
        }
        Loss::MeanAbsoluteError => {
            let mut s = 0.0;
            for (&a, &b) in p.iter().zip(t) {
                s += (a - b).abs();
            }
            if let Some(g) = g {
                let k = inv_b / n;
                for ((g, &a), &b) in g.iter_mut().zip(p).zip(t) {
                    let d = a - b;
                    *g = if d > 0.0 {
                        k
                    } else if d < 0.0 {
                        -k
                    } else {
                        0.0
                    };
                }
            }
            s / n
        }
        Loss::BinaryCrossentropy => {
            // tfjs: clip p to [eps, 1-eps], logits = log(p / (1 - p)), then the
            // sigmoid crossentropy with logits, mean over the last axis.
            let mut s = 0.0;
            let mut gs = g;
            for (i, (&a, &z)) in p.iter().zip(t).enumerate() {
                let c = a.clamp(EPSILON, 1.0 - EPSILON);
                let x = (c / (1.0 - c)).ln();
                s += x.max(0.0) - x * z + (-x.abs()).exp().ln_1p();
                if let Some(g) = gs.as_deref_mut() {
                    let inside = (EPSILON..=1.0 - EPSILON).contains(&a);
                    // d/dx = sigmoid(x) - z = c - z; dx/dc = 1 / (c (1 - c)).
                    g[i] = if inside { (c - z) / (c * (1.0 - c)) * inv_b / n } else { 0.0 };
                }
            }
            s / n
        }
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
            // tfjs: q = p / sum(p), clipped to [eps, 1-eps]; loss = -sum(t log q).
            let sum: f32 = p.iter().sum();
            let mut s = 0.0;
            for (&a, &z) in p.iter().zip(t) {
                let q = (a / sum).clamp(EPSILON, 1.0 - EPSILON);
                s -= z * q.ln();
            }
            if let Some(g) = g {
                // dL/dq_k = -t_k / q_k inside the clip range; then through q = p / sum.
                let mut dot = 0.0;
                for ((g, &a), &z) in g.iter_mut().zip(p).zip(t) {
                    let q = a / sum;
                    let inside = (EPSILON..=1.0 - EPSILON).contains(&q);
                    *g = if inside { -z / q } else { 0.0 };
                    dot += *g * q;
                }
                for gv in g.iter_mut() {
                    *gv = (*gv - dot) / sum * inv_b;
                }
            }
            s
        }
    }
}

/// A metric given to `compile` (`'accuracy'`/`'acc'`), resolved as tfjs resolves it
/// against the loss and the output width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
}

impl Metric {
    /// The metric of a name, for a model with `loss` and output width `out`.
    pub fn parse(name: &str, loss: Loss, out: usize) -> Result<Self, LayersError> {
        match name {
            "accuracy" | "acc" => Ok(if out == 1 || loss == Loss::BinaryCrossentropy {
                Metric::BinaryAccuracy
            } else if loss == Loss::SparseCategoricalCrossentropy {
                Metric::SparseCategoricalAccuracy
            } else {
                Metric::CategoricalAccuracy
            }),
            other => Err(LayersError::new(format!(
                "compile: unknown metric '{other}' (known: accuracy, acc)"
            ))),
        }
    }

    /// The mean over the batch.
    pub fn compute(self, pred: &Matrix, target: &Matrix) -> f32 {
        if pred.rows == 0 {
            return 0.0;
        }
        let argmax = |r: &[f32]| {
            let mut best = 0;
            for (i, v) in r.iter().enumerate() {
                if *v > r[best] {
                    best = i;
                }
            }
            best
        };
        let mut hits = 0.0f64;
        let mut count = 0usize;
        for r in 0..pred.rows {
            let p = pred.row(r);
            match self {
                Metric::BinaryAccuracy => {
                    for (a, b) in p.iter().zip(target.row(r)) {
                        let predicted = if *a > 0.5 { 1.0 } else { 0.0 };
                        hits += (predicted == *b) as u8 as f64;
                        count += 1;
                    }
                }
                Metric::CategoricalAccuracy => {
                    hits += (argmax(p) == argmax(target.row(r))) as u8 as f64;
                    count += 1;
                }
                Metric::SparseCategoricalAccuracy => {
                    hits += (argmax(p) as f32 == target.data[r]) as u8 as f64;
                    count += 1;
                }
            }
        }
        (hits / count.max(1) as f64) as f32
    }
}
