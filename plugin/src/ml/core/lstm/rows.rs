//! `RowStack`: an LSTM stack fed one-hot classes and a fixed context vector (the MusicVAE
//! decoders: the previous output and `z`), run by a native kernel that reads each weight
//! once for a whole batch of up to [`MAX_ROWS`] rows.
//!
//! A decoder small enough to stay in cache (mel_2bar_small: 3 MB a step) costs one pass
//! over its weights per step at batch 1, and the multiply-adds of each further row. The
//! kernel keeps the accumulators of every row of some columns in registers while those
//! columns' weights stream past once (AVX2 + FMA, 8 or 9 registers: 1 row × 64 columns,
//! 2 × 32, 3 × 24, 4 × 16; 5 to 8 rows as 4 and the rest over the same columns, which
//! are then in L1 or L2), so 4 rows cost little more than one. The kernel adds
//! into the outputs in place (each row `stride` apart), so no tile is copied in or out.
//!
//! Every output is the chain `acc = fma(x[k], w[k][j], acc)` over `k` in order from its
//! starting value, whatever the batch size and whichever kernel runs (AVX2 or portable):
//! row `i` of a batch gets the bits that row alone gets (a variation of a batch equals the
//! same job run alone). A layer's gates start from its bias (layer 0: the bias plus the
//! context part, `bias + z @ W_z` chained once per decode, plus the one-hot row of `W_x`)
//! and chain `[x, h] @ [W_x; W_h]` on; the cell is `native`'s.

use crate::ml::core::lstm::{Dense, LstmWeights};
use crate::ml::error::ModelError;

use super::native::cell;

/// Columns per panel (one AVX2 vector).
pub(crate) const PANEL: usize = 8;
/// Most panels one pass takes at once.
const GROUP: usize = 8;
/// Rows that share one pass over the weights (more run in groups of this many).
pub(crate) const MAX_ROWS: usize = 8;
/// Rows one kernel call takes (5 to 8 rows take two calls per group of panels, the
/// second reading the panels from L1 or L2).
const KERNEL_ROWS: usize = 4;

/// Panels a pass takes at once for `m` rows: 8 or 9 accumulators for up to 4 rows
/// (enough independent FMA chains to keep both FMA units busy: FMA latency 4, two a
/// cycle) plus the weight vectors and a broadcast within the 16 AVX2 registers.
const fn group(m: usize) -> usize {
    match m {
        1 => 8,
        2 => 4,
        3 => 3,
        _ => 2,
    }
}

/// A `[rows, cols]` matrix stored as column panels, `[panel][row][PANEL]` (the last panel
/// padded with zeros), so a panel's weights are one contiguous stream.
pub(crate) struct PanelMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

/// A kernel: `g` panels (`w`: `[g][k][PANEL]`) for `m` (≤ [`KERNEL_ROWS`]) rows of `x`
/// (`[m, k]`), accumulated in place into `y`: row `i`'s `g * PANEL` outputs start at
/// `y[i * stride]`.
type Kernel = fn(&[f32], &[f32], usize, usize, usize, &mut [f32], usize);

/// Room for a group's last panels past the matrix's columns (rows of [`GROUP`] panels).
type Padded = [f32; KERNEL_ROWS * PANEL * GROUP];

impl PanelMatrix {
    /// Rows `row0..row0 + rows` of the row-major `[.., cols]` matrix `w`.
    pub(crate) fn new(w: &[f32], cols: usize, row0: usize, rows: usize) -> Self {
        let panels = cols.div_ceil(PANEL);
        let mut data = vec![0f32; panels * rows * PANEL];
        for p in 0..panels {
            let c0 = p * PANEL;
            let width = PANEL.min(cols - c0);
            for k in 0..rows {
                let src = (row0 + k) * cols + c0;
                let dst = (p * rows + k) * PANEL;
                data[dst..dst + width].copy_from_slice(&w[src..src + width]);
            }
        }
        PanelMatrix { rows, cols, data }
    }

    /// For the `n` rows of `x` (`[n, rows]`) and `y` (`[n, cols]`):
    /// `y[r][j] = fma(x[r][K-1], W[K-1][j], … fma(x[r][0], W[0][j], y[r][j]))`, the chain
    /// over `k` in order from the value `y` holds. Each group of up to [`MAX_ROWS`] rows
    /// reads the weights once.
    pub(crate) fn accumulate(&self, x: &[f32], n: usize, y: &mut [f32]) {
        self.accumulate_with(x, n, y, panels);
    }

    fn accumulate_with(&self, x: &[f32], n: usize, y: &mut [f32], kernel: Kernel) {
        let (rows, cols) = (self.rows, self.cols);
        assert!(x.len() == n * rows && y.len() == n * cols, "accumulate: sizes");
        let count = cols.div_ceil(PANEL);
        let mut r0 = 0;
        while r0 < n {
            let m = (n - r0).min(MAX_ROWS);
            let mut p = 0;
            while p < count {
                // The last panels one at a time.
                let full = group(m);
                let g = if count - p >= full { full } else { 1 };
                let c0 = p * PANEL;
                let w = &self.data[p * rows * PANEL..(p + g) * rows * PANEL];
                let mut s = 0;
                while s < m {
                    let ms = (m - s).min(KERNEL_ROWS);
                    let xs = &x[(r0 + s) * rows..(r0 + s + ms) * rows];
                    let at = (r0 + s) * cols + c0;
                    if c0 + g * PANEL <= cols {
                        // Whole panels: the kernel works on `y` itself.
                        let end = at + (ms - 1) * cols + g * PANEL;
                        kernel(w, xs, rows, ms, g, &mut y[at..end], cols);
                    } else {
                        // The group runs past the last column: through a padded copy.
                        let width = cols - c0;
                        let stride = PANEL * GROUP;
                        let mut pad: Padded = [0.0; KERNEL_ROWS * PANEL * GROUP];
                        for i in 0..ms {
                            let src = &y[at + i * cols..at + i * cols + width];
                            pad[i * stride..i * stride + width].copy_from_slice(src);
                        }
                        kernel(w, xs, rows, ms, g, &mut pad, stride);
                        for i in 0..ms {
                            let dst = &mut y[at + i * cols..at + i * cols + width];
                            dst.copy_from_slice(&pad[i * stride..i * stride + width]);
                        }
                    }
                    s += ms;
                }
                p += g;
            }
            r0 += m;
        }
    }
}

/// `g` panels for `m` (1..=4) rows (see [`Kernel`]).
fn panels(w: &[f32], x: &[f32], k: usize, m: usize, g: usize, y: &mut [f32], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        return unsafe { x86::panels(w, x, k, m, g, y, stride) };
    }
    panels_portable(w, x, k, m, g, y, stride)
}

fn panels_portable(
    w: &[f32],
    x: &[f32],
    k: usize,
    m: usize,
    g: usize,
    y: &mut [f32],
    stride: usize,
) {
    for (q, wq) in w.chunks_exact(k * PANEL).enumerate().take(g) {
        for (kk, wr) in wq.chunks_exact(PANEL).enumerate() {
            for i in 0..m {
                let xv = x[i * k + kk];
                let at = i * stride + q * PANEL;
                for (a, &wv) in y[at..at + PANEL].iter_mut().zip(wr) {
                    *a = xv.mul_add(wv, *a);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{group, GROUP, PANEL};
    use std::arch::x86_64::*;

    /// `m` (1..=4) rows × `g` panels: [`group`]`(m)` panels, 2 (the rows past 4 of a
    /// group of 5 to 8), or 1 (the last few panels).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn panels(
        w: &[f32],
        x: &[f32],
        k: usize,
        m: usize,
        g: usize,
        y: &mut [f32],
        stride: usize,
    ) {
        assert!(
            w.len() >= g * k * PANEL
                && x.len() >= m * k
                && m >= 1
                && g <= GROUP
                && y.len() >= (m - 1) * stride + g * PANEL,
            "panels: sizes"
        );
        match (m, g) {
            (1, 1) => tile::<1, 1>(w, x, k, y, stride),
            (2, 1) => tile::<2, 1>(w, x, k, y, stride),
            (3, 1) => tile::<3, 1>(w, x, k, y, stride),
            (4, 1) => tile::<4, 1>(w, x, k, y, stride),
            (1, 2) => tile::<1, 2>(w, x, k, y, stride),
            (2, 2) => tile::<2, 2>(w, x, k, y, stride),
            (3, 2) => tile::<3, 2>(w, x, k, y, stride),
            (4, 2) => tile::<4, 2>(w, x, k, y, stride),
            (1, _) if g == group(1) => tile::<1, { group(1) }>(w, x, k, y, stride),
            (2, _) if g == group(2) => tile::<2, { group(2) }>(w, x, k, y, stride),
            (3, _) if g == group(3) => tile::<3, { group(3) }>(w, x, k, y, stride),
            _ => unreachable!("panels: {m} rows × {g} panels"),
        }
    }

    /// `M·G` accumulators, loaded from `y` and stored back; per `k`, `G` weight loads and
    /// `M` broadcasts.
    #[target_feature(enable = "avx2,fma")]
    fn tile<const M: usize, const G: usize>(
        w: &[f32],
        x: &[f32],
        k: usize,
        y: &mut [f32],
        stride: usize,
    ) {
        let (wp, xp, yp) = (w.as_ptr(), x.as_ptr(), y.as_mut_ptr());
        let mut a = [[_mm256_setzero_ps(); G]; M];
        for (i, ai) in a.iter_mut().enumerate() {
            for (q, v) in ai.iter_mut().enumerate() {
                // SAFETY: `i * stride + 8q + 8 <= (M - 1) * stride + 8G <= y.len()`
                // (asserted by the caller).
                *v = unsafe { _mm256_loadu_ps(yp.add(i * stride + q * PANEL)) };
            }
        }
        for kk in 0..k {
            // SAFETY: `w` holds `G` panels of `k` rows of PANEL and `x` `M` rows of `k`
            // (asserted by the caller).
            unsafe {
                let mut wv = [_mm256_setzero_ps(); G];
                for (q, v) in wv.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(wp.add((q * k + kk) * PANEL));
                }
                for (i, ai) in a.iter_mut().enumerate() {
                    let xv = _mm256_broadcast_ss(&*xp.add(i * k + kk));
                    for (v, &wq) in ai.iter_mut().zip(&wv) {
                        *v = _mm256_fmadd_ps(xv, wq, *v);
                    }
                }
            }
        }
        for (i, ai) in a.iter().enumerate() {
            for (q, v) in ai.iter().enumerate() {
                // SAFETY: as above.
                unsafe { _mm256_storeu_ps(yp.add(i * stride + q * PANEL), *v) };
            }
        }
    }
}

/// A dense layer `y = x @ W + b` run by the panel kernel: each output is the fma chain
/// over the inputs in order from the bias, so a row gets the same bits in any batch (the
/// MusicVAE decoders' `z` → initial state).
pub struct PanelDense {
    w: PanelMatrix,
    bias: Vec<f32>,
}

impl PanelDense {
    pub fn new(d: &Dense) -> Self {
        PanelDense {
            w: PanelMatrix::new(&d.kernel.data, d.output(), 0, d.input()),
            bias: d.bias.clone(),
        }
    }

    /// Input size.
    pub fn input(&self) -> usize {
        self.w.rows
    }

    /// Output size.
    #[cfg(test)]
    pub fn output(&self) -> usize {
        self.w.cols
    }

    /// `x @ W + b` for `rows` rows of `x` (`[rows, input]`).
    pub fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = self.bias.repeat(rows);
        self.w.accumulate(x, rows, &mut y);
        y
    }
}

/// One layer: `[W_x; W_h]` (layer 0: `W_h` only; its input parts are `rows0` and the
/// context) and the bias.
struct Layer {
    units: usize,
    weights: PanelMatrix,
    bias: Vec<f32>,
}

/// An LSTM stack fed a one-hot class (or nothing) and a context vector per row, with an
/// optional output projection to logits; or ([`RowStack::new_dense`]) fed `depth` dense
/// values (the GrooVAE decoder's previous output) and the context.
pub struct RowStack {
    /// Number of classes (the one-hot part of layer 0's input, first), or of dense values.
    depth: usize,
    /// Size of the context input (after the one-hot part).
    context: usize,
    /// The one-hot part's rows of layer 0's `W_x`, `[depth, 4 * units0]` (one-hot stacks).
    rows0: Vec<f32>,
    /// The dense part's rows of layer 0's `W_x` (dense stacks).
    dense_w: Option<PanelMatrix>,
    /// The context part of layer 0's `W_x`.
    context_w: Option<PanelMatrix>,
    layers: Vec<Layer>,
    /// Output projection and its bias.
    projection: Option<(PanelMatrix, Vec<f32>)>,
}

/// The `c` and `h` of every layer for `batch` rows (`[batch, units]` each), the start of
/// layer 0's gates per row, and scratch space for the steps.
#[derive(Clone, Debug)]
pub struct RowState {
    pub batch: usize,
    c: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
    /// Layer 0's bias plus the context part, `[batch, 4 * units0]`; None until the
    /// context is set (stacks with a context input).
    base: Option<Vec<f32>>,
    gates: Vec<f32>,
    x: Vec<f32>,
}

impl RowState {
    /// `h` of layer `l`, `[batch, units]`.
    pub fn h(&self, l: usize) -> Result<&[f32], ModelError> {
        self.h
            .get(l)
            .map(|v| v.as_slice())
            .ok_or_else(|| ModelError::bad_input(format!("no LSTM layer {l}")))
    }
}

/// Layer 0's input of one step: a class per row, or dense values (and their rows of
/// `W_x`).
#[derive(Clone, Copy)]
enum Input<'a> {
    Classes(&'a [Option<usize>]),
    Dense(&'a PanelMatrix, &'a [f32]),
}

impl RowStack {
    /// Checks the shapes and packs the weights. Layer 0's input is a one-hot class of
    /// `depth` followed by a `context` vector (0 for none); `projection` maps the top `h`
    /// to logits.
    pub fn new(
        layers: &[LstmWeights],
        projection: Option<&Dense>,
        depth: usize,
        context: usize,
    ) -> Result<Self, ModelError> {
        Self::build(layers, projection, depth, context, false)
    }

    /// [`RowStack::new`] for a layer 0 fed `depth` dense values (then the context):
    /// step with [`RowStack::step_dense`].
    pub fn new_dense(
        layers: &[LstmWeights],
        projection: Option<&Dense>,
        depth: usize,
        context: usize,
    ) -> Result<Self, ModelError> {
        Self::build(layers, projection, depth, context, true)
    }

    fn build(
        layers: &[LstmWeights],
        projection: Option<&Dense>,
        depth: usize,
        context: usize,
        dense: bool,
    ) -> Result<Self, ModelError> {
        // Also refuses a stack without layers.
        super::check_shapes(layers, projection, depth + context)?;
        let first = &layers[0];
        let cols0 = 4 * first.units;
        let k0 = &first.kernel.data;
        let (rows0, dense_w) = if dense {
            (Vec::new(), Some(PanelMatrix::new(k0, cols0, 0, depth)))
        } else {
            (k0[..depth * cols0].to_vec(), None)
        };
        let context_w = (context > 0).then(|| PanelMatrix::new(k0, cols0, depth, context));
        let packed = layers
            .iter()
            .enumerate()
            .map(|(l, w)| {
                let cols = 4 * w.units;
                let (row0, rows) = if l == 0 { (w.input, w.units) } else { (0, w.input + w.units) };
                Layer {
                    units: w.units,
                    weights: PanelMatrix::new(&w.kernel.data, cols, row0, rows),
                    bias: w.bias.clone(),
                }
            })
            .collect();
        let projection = projection
            .map(|p| (PanelMatrix::new(&p.kernel.data, p.output(), 0, p.input()), p.bias.clone()));
        Ok(RowStack { depth, context, rows0, dense_w, context_w, layers: packed, projection })
    }

    /// Units per layer.
    #[cfg(test)]
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.units).collect()
    }

    /// A state from `[c0, h0, c1, h1, ...]`, each `[batch, units]` row-major.
    pub fn state_from(&self, batch: usize, states: &[Vec<f32>]) -> Result<RowState, ModelError> {
        if states.len() != 2 * self.layers.len() {
            return Err(ModelError::bad_input(format!(
                "LSTM state: {} parts given, {} expected",
                states.len(),
                2 * self.layers.len()
            )));
        }
        for (l, part) in self.layers.iter().zip(states.chunks(2)) {
            for v in part {
                if v.len() != batch * l.units {
                    return Err(ModelError::bad_input(format!(
                        "LSTM state: {} values, expected {}",
                        v.len(),
                        batch * l.units
                    )));
                }
            }
        }
        let bias0 = &self.layers[0].bias;
        Ok(RowState {
            batch,
            c: states.iter().step_by(2).cloned().collect(),
            h: states.iter().skip(1).step_by(2).cloned().collect(),
            base: (self.context == 0).then(|| bias0.repeat(batch)),
            gates: Vec::new(),
            x: Vec::new(),
        })
    }

    /// Sets the context input of every row (`[batch, context]` row-major) for the steps
    /// that follow; its part of layer 0's gates is computed here, once.
    pub fn set_context(&self, state: &mut RowState, context: &[f32]) -> Result<(), ModelError> {
        let b = state.batch;
        let Some(w) = &self.context_w else {
            return Err(ModelError::bad_input("LSTM stack: this model has no context input"));
        };
        if context.len() != b * self.context {
            return Err(ModelError::bad_input(format!(
                "LSTM stack: context of {} values, expected {}",
                context.len(),
                b * self.context
            )));
        }
        let mut base = self.layers[0].bias.repeat(b);
        w.accumulate(context, b, &mut base);
        state.base = Some(base);
        Ok(())
    }

    /// One step of all layers for `state.batch` rows, row `r` fed class `classes[r]`
    /// (`None`: an all-zero input) and the context; updates `state` and returns the
    /// logits `[batch, classes]` (empty without a projection).
    pub fn step(
        &self,
        classes: &[Option<usize>],
        state: &mut RowState,
    ) -> Result<Vec<f32>, ModelError> {
        if self.dense_w.is_some() {
            return Err(ModelError::bad_input("LSTM stack: this stack takes dense inputs"));
        }
        super::check_classes(classes, state.batch, self.depth)?;
        self.step_input(Input::Classes(classes), state)
    }

    /// [`RowStack::step`] of a dense stack: row `r` fed `inputs[r * depth..][..depth]`.
    pub fn step_dense(&self, inputs: &[f32], state: &mut RowState) -> Result<Vec<f32>, ModelError> {
        let Some(w) = &self.dense_w else {
            return Err(ModelError::bad_input("LSTM stack: this stack takes one-hot classes"));
        };
        if inputs.len() != state.batch * self.depth {
            return Err(ModelError::bad_input(format!(
                "LSTM stack: {} input values, expected {}",
                inputs.len(),
                state.batch * self.depth
            )));
        }
        self.step_input(Input::Dense(w, inputs), state)
    }

    fn step_input(&self, input: Input, state: &mut RowState) -> Result<Vec<f32>, ModelError> {
        let b = state.batch;
        let RowState { c, h, base, gates, x, .. } = state;
        let Some(base) = base.as_ref() else {
            return Err(ModelError::bad_input("LSTM stack: the context input is not set"));
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let (u, cols) = (layer.units, 4 * layer.units);
            gates.clear();
            if l == 0 {
                gates.extend_from_slice(base);
                match input {
                    Input::Classes(classes) => {
                        for (r, k) in classes.iter().enumerate() {
                            if let Some(k) = *k {
                                let row = &self.rows0[k * cols..(k + 1) * cols];
                                gates[r * cols..(r + 1) * cols]
                                    .iter_mut()
                                    .zip(row)
                                    .for_each(|(g, &w)| *g += w);
                            }
                        }
                    }
                    Input::Dense(w, v) => w.accumulate(v, b, gates),
                }
                layer.weights.accumulate(&h[0], b, gates);
            } else {
                for _ in 0..b {
                    gates.extend_from_slice(&layer.bias);
                }
                let below = self.layers[l - 1].units;
                x.clear();
                for r in 0..b {
                    x.extend_from_slice(&h[l - 1][r * below..(r + 1) * below]);
                    x.extend_from_slice(&h[l][r * u..(r + 1) * u]);
                }
                layer.weights.accumulate(x, b, gates);
            }
            for r in 0..b {
                cell(
                    &gates[r * cols..(r + 1) * cols],
                    &mut c[l][r * u..(r + 1) * u],
                    &mut h[l][r * u..(r + 1) * u],
                );
            }
        }
        let Some((proj, bias)) = &self.projection else {
            return Ok(Vec::new());
        };
        let mut logits = bias.repeat(b);
        proj.accumulate(&h[self.layers.len() - 1], b, &mut logits);
        Ok(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::checkpoint::Var;
    use crate::ml::core::lstm::test_support::{max_diff, random_layer};
    use crate::ml::core::lstm::{reference_step, OneHotStack};
    use crate::ml::error::ModelErrorKind;
    use crate::ml::random_checkpoint::Lcg;

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// Every row count (1 to 8 in one pass, more in groups), SIMD or portable, gives each
    /// row the fma chain over `k` in order from its starting value, bit for bit.
    #[test]
    fn panels_give_each_row_the_exact_fma_chain() {
        let mut rng = Lcg::new(77);
        let (all_rows, cols) = (60usize, 70usize);
        let w = rng.vec(all_rows * cols, 0.5);
        let (row0, rows) = (9, 37);
        let m = PanelMatrix::new(&w, cols, row0, rows);
        for n in 1..=11 {
            let x = rng.vec(n * rows, 2.0);
            let init = rng.vec(n * cols, 1.0);
            let mut want = init.clone();
            for r in 0..n {
                for j in 0..cols {
                    let mut a = init[r * cols + j];
                    for k in 0..rows {
                        a = x[r * rows + k].mul_add(w[(row0 + k) * cols + j], a);
                    }
                    want[r * cols + j] = a;
                }
            }
            let mut y = init.clone();
            m.accumulate(&x, n, &mut y);
            assert!(same(&y, &want), "{n} rows");
            let mut yp = init.clone();
            m.accumulate_with(&x, n, &mut yp, panels_portable);
            assert!(same(&yp, &want), "{n} rows, portable");
            // Each row alone gets the same bits.
            for r in 0..n {
                let mut one = init[r * cols..(r + 1) * cols].to_vec();
                m.accumulate(&x[r * rows..(r + 1) * rows], 1, &mut one);
                assert!(same(&one, &y[r * cols..(r + 1) * cols]), "row {r} of {n}");
            }
        }
    }

    /// The native stack computes tract's stack (and the f64 reference) to float
    /// rounding, and each row of a batch is bit for bit the row run alone.
    #[test]
    fn row_stack_matches_tract_and_rows_run_alone() {
        let mut rng = Lcg::new(3);
        let (d, ctx) = (9usize, 6usize);
        let layers = vec![random_layer(&mut rng, d + ctx, 20), random_layer(&mut rng, 20, 12)];
        let proj = Dense {
            kernel: Var { shape: vec![12, d], data: rng.vec(12 * d, 0.5) },
            bias: rng.vec(d, 0.5),
        };
        let native = RowStack::new(&layers, Some(&proj), d, ctx).unwrap();
        assert_eq!(native.layer_sizes(), vec![20, 12]);
        let mut tract = OneHotStack::new(layers.clone(), Some(&proj), d, ctx).unwrap();
        let b = 5;
        let states: Vec<Vec<f32>> =
            [20usize, 20, 12, 12].iter().map(|&n| rng.vec(b * n, 0.5)).collect();
        let z = rng.vec(b * ctx, 1.0);
        let mut st = native.state_from(b, &states).unwrap();
        let e = native.step(&[None; 5], &mut st).unwrap_err();
        assert!(e.message().contains("context input is not set"), "{e}");
        native.set_context(&mut st, &z).unwrap();
        let mut tst = tract.state_from(b, &states).unwrap();
        tract.set_context(&mut tst, &z).unwrap();
        // Rows run alone, each from its own state and z.
        let mut alone: Vec<RowState> = (0..b)
            .map(|r| {
                let part: Vec<Vec<f32>> = states
                    .iter()
                    .map(|v| {
                        let n = v.len() / b;
                        v[r * n..(r + 1) * n].to_vec()
                    })
                    .collect();
                let mut s = native.state_from(1, &part).unwrap();
                native.set_context(&mut s, &z[r * ctx..(r + 1) * ctx]).unwrap();
                s
            })
            .collect();
        // The f64 reference for row 0.
        let (mut rc, mut rh): (Vec<Vec<f32>>, Vec<Vec<f32>>) = (
            vec![states[0][..20].to_vec(), states[2][..12].to_vec()],
            vec![states[1][..20].to_vec(), states[3][..12].to_vec()],
        );
        for t in 0..6 {
            let classes: Vec<Option<usize>> = (0..b)
                .map(|r| (r + t != 3).then(|| (rng.next_u64() % d as u64) as usize))
                .collect();
            let got = native.step(&classes, &mut st).unwrap();
            let want = tract.step(&classes, &mut tst).unwrap();
            assert!(max_diff(&got, &want) < 1e-4, "step {t}: {got:?} vs {want:?}");
            for (r, s) in alone.iter_mut().enumerate() {
                let one = native.step(&classes[r..r + 1], s).unwrap();
                assert!(same(&one, &got[r * d..(r + 1) * d]), "step {t} row {r}");
            }
            let mut x = vec![0f32; d + ctx];
            if let Some(k) = classes[0] {
                x[k] = 1.0;
            }
            x[d..].copy_from_slice(&z[..ctx]);
            reference_step(&layers[0], &x, &mut rc[0], &mut rh[0]);
            let x1 = rh[0].clone();
            reference_step(&layers[1], &x1, &mut rc[1], &mut rh[1]);
            assert!(max_diff(&st.h(1).unwrap()[..12], &rh[1]) < 1e-5, "step {t} reference");
        }
        let e = native.step(&[Some(d), None, None, None, None], &mut st).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("out of range"), "{e}");
        assert!(native.step(&[None], &mut st).is_err());
        assert!(native.set_context(&mut st, &z[..ctx]).is_err());
        // The dense layer: the fma chain from the bias, row by row.
        let dense = PanelDense::new(&proj);
        assert_eq!((dense.input(), dense.output()), (12, d));
        let xs = rng.vec(3 * 12, 1.0);
        let y = dense.apply(&xs, 3);
        for r in 0..3 {
            for j in 0..d {
                let want = (0..12).fold(proj.bias[j], |a, k| {
                    xs[r * 12 + k].mul_add(proj.kernel.data[k * d + j], a)
                });
                assert_eq!(y[r * d + j].to_bits(), want.to_bits());
            }
        }
        let e = RowStack::new(&layers, Some(&proj), d, ctx + 1).err().unwrap();
        assert_eq!(e.kind(), ModelErrorKind::BadCheckpoint, "{e}");
        // Without a context input, the state starts from the bias.
        let plain = vec![random_layer(&mut rng, 1, 8)];
        let cond = RowStack::new(&plain, None, 1, 0).unwrap();
        let mut s = cond.state_from(2, &[vec![0.0; 16], vec![0.0; 16]]).unwrap();
        assert!(cond.step(&[None, None], &mut s).unwrap().is_empty());
        let (mut c, mut h) = (vec![0f32; 8], vec![0f32; 8]);
        reference_step(&plain[0], &[0.0], &mut c, &mut h);
        assert!(max_diff(&s.h(0).unwrap()[8..], &h) < 1e-6);
    }
}
