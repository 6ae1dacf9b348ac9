//! `tf`: the part of TensorFlow.js that magenta code (and the seed) uses — tensors of
//! float32 values with a shape: `tf.tensor`, `tf.tensor1d`, `tf.tensor2d`,
//! `tf.randomNormal`, `tf.randomUniform`, `tf.zeros`, `tf.ones`, `tf.tidy`, `tf.dispose`,
//! and on tensors `dataSync`, `data`, `array`, `arraySync`, `shape`, `reshape`,
//! element-wise `add`/`sub`/`mul`/`div`, `dispose`. Written in JS (`tf.js`): the tensors
//! are small (latent vectors), and model inference runs in Rust on the model worker.

/// The JS layer.
pub(crate) const PRELUDE: &str = include_str!("tf.js");
