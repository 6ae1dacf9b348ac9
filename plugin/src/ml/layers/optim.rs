//! The optimizers of tfjs-core with their update rules and default hyper-parameters
//! (`tf.train.*` and the names `compile` accepts).

use super::{LayersError, EPSILON};

/// An optimizer and its per-weight state.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// `w -= lr * g`.
    Sgd { lr: f32 },
    /// `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
    /// w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`.
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        acc_beta1: f32,
        acc_beta2: f32,
        m: Vec<Vec<f32>>,
        v: Vec<Vec<f32>>,
    },
    /// `ms = d ms + (1-d) g²; mom = momentum mom + lr g / sqrt(ms + eps); w -= mom`
    /// (the centered variant subtracts the mean gradient's square inside the root).
    RmsProp {
        lr: f32,
        decay: f32,
        momentum: f32,
        eps: f32,
        centered: bool,
        ms: Vec<Vec<f32>>,
        mom: Vec<Vec<f32>>,
        mg: Vec<Vec<f32>>,
    },
    /// `acc += g²; w -= lr g / sqrt(acc + 1e-7)`, acc starting at `initial`.
    Adagrad { lr: f32, initial: f32, acc: Vec<Vec<f32>> },
}

impl Optimizer {
    /// `tf.train.sgd(learningRate)`.
    pub fn sgd(lr: f32) -> Self {
        Optimizer::Sgd { lr }
    }

    /// `tf.train.adam(learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7)`.
    pub fn adam(lr: f32, beta1: f32, beta2: f32, eps: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            acc_beta1: beta1,
            acc_beta2: beta2,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// `tf.train.rmsprop(learningRate, decay = 0.9, momentum = 0, epsilon = 1e-7,
    /// centered = false)`.
    pub fn rmsprop(lr: f32, decay: f32, momentum: f32, eps: f32, centered: bool) -> Self {
        Optimizer::RmsProp {
            lr,
            decay,
            momentum,
            eps,
            centered,
            ms: Vec::new(),
            mom: Vec::new(),
            mg: Vec::new(),
        }
    }

    /// `tf.train.adagrad(learningRate, initialAccumulatorValue = 0.1)`.
    pub fn adagrad(lr: f32, initial: f32) -> Self {
        Optimizer::Adagrad { lr, initial, acc: Vec::new() }
    }

    /// The optimizer `compile({optimizer: 'name'})` makes (tfjs-layers' `getOptimizer`).
    pub fn by_name(name: &str) -> Result<Self, LayersError> {
        Ok(match name {
            "sgd" | "SGD" => Self::sgd(0.01),
            "adam" | "Adam" => Self::adam(0.001, 0.9, 0.999, EPSILON),
            "rmsprop" | "RMSProp" => Self::rmsprop(0.001, 0.9, 0.0, EPSILON, false),
            "adagrad" | "Adagrad" => Self::adagrad(0.01, 0.1),
            other => {
                return Err(LayersError::new(format!(
                    "Unknown Optimizer '{other}' (known: sgd, adam, rmsprop, adagrad)"
                )))
            }
        })
    }

    /// Applies one step of gradients to the weights (same order, same sizes).
    pub fn apply(&mut self, weights: &mut [&mut Vec<f32>], grads: &[Vec<f32>]) {
        let shape = |state: &mut Vec<Vec<f32>>, init: f32| {
            if state.len() != weights.len()
                || state.iter().zip(weights.iter()).any(|(s, w)| s.len() != w.len())
            {
                *state = weights.iter().map(|w| vec![init; w.len()]).collect();
            }
        };
        match self {
            Optimizer::Sgd { lr } => {
                for (w, g) in weights.iter_mut().zip(grads) {
                    w.iter_mut().zip(g).for_each(|(w, g)| *w -= *lr * g);
                }
            }
            Optimizer::Adam { lr, beta1, beta2, eps, acc_beta1, acc_beta2, m, v } => {
                shape(m, 0.0);
                shape(v, 0.0);
                let (b1, b2) = (*beta1, *beta2);
                let c1 = 1.0 - *acc_beta1;
                let c2 = 1.0 - *acc_beta2;
                for (i, (w, g)) in weights.iter_mut().zip(grads).enumerate() {
                    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(&mut m[i]).zip(&mut v[i]) {
                        *m = *m * b1 + g * (1.0 - b1);
                        *v = *v * b2 + g * g * (1.0 - b2);
                        let mh = *m / c1;
                        let vh = *v / c2;
                        *w += mh / (vh.sqrt() + *eps) * -*lr;
                    }
                }
                *acc_beta1 *= b1;
                *acc_beta2 *= b2;
            }
            Optimizer::RmsProp { lr, decay, momentum, eps, centered, ms, mom, mg } => {
                shape(ms, 0.0);
                shape(mom, 0.0);
                if *centered {
                    shape(mg, 0.0);
                }
                let d = *decay;
                for (i, (w, g)) in weights.iter_mut().zip(grads).enumerate() {
                    for (j, (w, &g)) in w.iter_mut().zip(g).enumerate() {
                        let s = ms[i][j] * d + g * g * (1.0 - d);
                        ms[i][j] = s;
                        let denom = if *centered {
                            let a = mg[i][j] * d + g * (1.0 - d);
                            mg[i][j] = a;
                            (s - (a * a + *eps)).sqrt()
                        } else {
                            (s + *eps).sqrt()
                        };
                        let step = mom[i][j] * *momentum + g * *lr / denom;
                        mom[i][j] = step;
                        *w -= step;
                    }
                }
            }
            Optimizer::Adagrad { lr, initial, acc } => {
                shape(acc, *initial);
                for (i, (w, g)) in weights.iter_mut().zip(grads).enumerate() {
                    for ((w, &g), a) in w.iter_mut().zip(g).zip(&mut acc[i]) {
                        *a += g * g;
                        *w += g / (*a + EPSILON).sqrt() * -*lr;
                    }
                }
            }
        }
    }

    /// Forgets the accumulated state (a new compile).
    pub fn reset(&mut self) {
        match self {
            Optimizer::Sgd { .. } => {}
            Optimizer::Adam { beta1, beta2, acc_beta1, acc_beta2, m, v, .. } => {
                *acc_beta1 = *beta1;
                *acc_beta2 = *beta2;
                m.clear();
                v.clear();
            }
            Optimizer::RmsProp { ms, mom, mg, .. } => {
                ms.clear();
                mom.clear();
                mg.clear();
            }
            Optimizer::Adagrad { acc, .. } => acc.clear(),
        }
    }
}
