//! The TensorFlow.js Layers API's maths in Rust: sequential models of dense and dropout
//! layers, trained with hand-written forward and backward passes in f32.
//!
//! Semantics follow tfjs-layers 2.x (what Sema's tutorials were written against):
//! - [`model`]: [`Sequential`], [`Dense`] (kernel `[inputDim, units]`, row-major, then
//!   bias, as `getWeights` orders them), [`Dropout`] (active only while training, scaled
//!   by `1 / (1 - rate)`), the activations, the initialisers (glorotUniform kernels and
//!   zero biases by default) and the 50 M parameter limit.
//! - [`loss`]: meanSquaredError, meanAbsoluteError, binaryCrossentropy,
//!   categoricalCrossentropy, sparseCategoricalCrossentropy (probabilities clipped to
//!   `[1e-7, 1 - 1e-7]`, the mean over the batch), and the `accuracy` metric.
//! - [`optim`]: sgd, adam, rmsprop, adagrad with tfjs's update rules and defaults.
//! - [`fit`]: tfjs's `fit` loop: validation split taken from the end before shuffling,
//!   batches of `batchSize` with a last partial batch, epoch logs averaged by batch size,
//!   events for the callbacks.
//! - [`trainer`]: the training thread: `fit` runs there, never on the JS thread, and
//!   reports its events through a channel.

pub(crate) mod fit;
pub(crate) mod loss;
pub(crate) mod model;
pub(crate) mod optim;
pub(crate) mod trainer;

#[cfg(test)]
mod tests;

pub use fit::{fit, FitEvent, FitOptions, History, Logs};
pub use loss::{Loss, Metric};
pub use model::{
    Activation, Compiled, Dense, DenseConfig, Dropout, Initializer, Layer, Sequential, MAX_PARAMS,
};
pub use optim::Optimizer;

/// A 2-D batch of f32 values, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    /// A matrix of `rows × cols` zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// A matrix from row-major values; errors when the count does not match.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self, LayersError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(LayersError::new(format!(
                "a [{rows},{cols}] tensor needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows `start..end` as a new matrix.
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix {
        Matrix {
            rows: end - start,
            cols: self.cols,
            data: self.data[start * self.cols..end * self.cols].to_vec(),
        }
    }

    /// The rows at `indices`, in that order, written into `out`.
    pub fn gather_into(&self, indices: &[usize], out: &mut Matrix) {
        out.rows = indices.len();
        out.cols = self.cols;
        out.data.clear();
        for &i in indices {
            out.data.extend_from_slice(self.row(i));
        }
    }
}

/// Why a Layers API call failed: a message naming the layer or argument, as users read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayersError(pub String);

impl LayersError {
    pub fn new(msg: impl Into<String>) -> Self {
        LayersError(msg.into())
    }
}

impl std::fmt::Display for LayersError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LayersError {}

/// Models saved with `model.save('session://name')`, as JSON text by name: shared
/// between the JS runtime (which writes and reads them) and the plugin's saved state
/// (which stores them with the DAW project).
#[derive(Clone, Debug, Default)]
pub struct SavedModels(
    std::sync::Arc<parking_lot::Mutex<std::collections::BTreeMap<String, String>>>,
);

impl SavedModels {
    /// The model saved as `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.lock().get(name).cloned()
    }

    /// Saves (or replaces) `name`.
    pub fn insert(&self, name: String, json: String) {
        self.0.lock().insert(name, json);
    }

    /// Every saved model (for the project's state).
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, String> {
        self.0.lock().clone()
    }

    /// Replaces every saved model (a project was loaded).
    pub fn replace(&self, all: std::collections::BTreeMap<String, String>) {
        *self.0.lock() = all;
    }
}

/// tfjs's `epsilon()` for float32 (clipping in the crossentropies, optimizer defaults).
pub const EPSILON: f32 = 1e-7;
