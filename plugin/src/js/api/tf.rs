//! `tf`: TensorFlow.js as Sema's programs use it. Tensors (float32 values with a shape)
//! and their ops — `tf.tensor*`, element-wise ops with broadcasting, reductions, `concat`,
//! `slice`, `oneHot`, `matMul`, `tidy`/`dispose`/`memory` — are written in JS (`tf.js`):
//! the tensors these programs make are small. The Layers API in the same file
//! (`tf.sequential`, `tf.layers.dense/dropout`, `compile`, `fit`, `predict`, ...) keeps its
//! models in Rust ([`super::layers`], [`crate::ml::layers`]); `fit` trains on the training
//! thread. Magenta model inference runs in Rust on the model worker.

/// The JS layer.
pub(crate) const PRELUDE: &str = include_str!("tf.js");
