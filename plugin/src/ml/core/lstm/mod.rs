//! LSTM networks for tract, built in Rust as ONNX graphs from checkpoint weights.
//!
//! Each graph is optimised once at load time (tract splits the concat matmul and
//! pre-packs the weights) and run with one reused `TypedSimpleState`. Batch dimensions
//! are fixed per graph (models keep one per batch size they have been asked for, so N
//! variations cost one weight pass per step), except `DenseNet`'s symbolic row count.
//!
//! - `StepNet` (tests only, the reference the stacks are checked against): one time step
//!   of a whole stack of `tf.basicLSTMCell`s, state in and out, plus an optional output
//!   projection.
//! - `CellNet`: the recurrent half of one layer, given the input part of its gates.
//! - `DenseNet`: `x @ W (+ b)` for a fixed or any number of rows.
//! - `OneHotStack`: a stack fed one-hot classes (MusicRNN, the MusicVAE encoder) built
//!   from those. A step at batch 1 is bound by reading the weights from
//!   cache, so it reads as few as it can: the one-hot part of layer 0 is a row of `W_x`,
//!   a fixed context input (the VAE's `z`) is multiplied once per call, and a primer runs
//!   layer by layer with one batched matmul per upper layer for its input parts. The
//!   sums are the ones tract forms for the single-step graph (`(x @ W_x + h @ W_h) + b`),
//!   so the results are `StepNet`'s (the tests compare them).
//!
//! Cell math (forget bias 1.0, gate order i, j, f, o):
//! `g = [x, h] @ K + b; c' = σ(i)·tanh(j) + c·σ(f + 1); h' = tanh(c')·σ(o)`.
//!
//! - `PackedStack`: the same one-hot stack run by native kernels (`packed`) instead of
//!   tract, for quantised checkpoints (the weights stay uint8/uint16 in memory and are
//!   dequantised inside the mat-vec loop to exactly tfjs's values) and for float32 stacks
//!   too large for tract's packed second copy.
//! - `RowStack`: a one-hot stack with a context input (the MusicVAE decoders) run by a
//!   native kernel that reads each weight once for up to 8 rows, so N variations cost
//!   one pass over the weights per step.
//!
//! Files: `weights` (layer weights, dense kernels), `graph` (the ONNX builder), `nets`
//! (the tract nets and stack state), `stack` (`OneHotStack`), `packed` (native mat-vec
//! kernels), `native` (`PackedStack`), `rows` (`RowStack` and its batched kernel).

mod graph;
mod native;
mod nets;
pub(crate) mod packed;
mod rows;
mod stack;
mod weights;

pub use native::PackedStack;
pub use nets::{CellNet, DenseNet, StackState};
#[cfg(test)]
pub use nets::{StepNet, StepSpec};
pub use rows::{PanelDense, RowStack};
pub use stack::OneHotStack;
pub use weights::{Dense, LstmWeights};

use graph::*;

#[cfg(test)]
use crate::ml::core::checkpoint::Var;
#[cfg(test)]
use stack::PRIME_CHUNK;

use crate::ml::error::ModelError;

/// Checks that each layer takes the units of the one below as its input (a step would
/// index out of bounds otherwise).
pub(crate) fn check_chain(layers: &[LstmWeights]) -> Result<(), ModelError> {
    for l in 1..layers.len() {
        if layers[l].input != layers[l - 1].units {
            return Err(ModelError::bad_checkpoint(format!(
                "layer {l} expects input size {} but layer {} has {} units",
                layers[l].input,
                l - 1,
                layers[l - 1].units
            )));
        }
    }
    Ok(())
}

/// Checks a batched step's classes: one per row of `batch`, each below `depth` (`None`
/// is an all-zero input). Shared by the packed and the row stacks.
pub(crate) fn check_classes(
    classes: &[Option<usize>],
    batch: usize,
    depth: usize,
) -> Result<(), ModelError> {
    if classes.len() != batch {
        return Err(ModelError::bad_input(format!(
            "step: {} classes for {batch} rows",
            classes.len()
        )));
    }
    match classes.iter().flatten().find(|&&k| k >= depth) {
        Some(k) => Err(ModelError::bad_input(format!("class {k} out of range (depth {depth})"))),
        None => Ok(()),
    }
}

/// Checks that a stack's layers chain: layer 0 takes `input` values, each next layer the
/// units of the one below, and `projection` (if any) the top layer's units. Shared by
/// the one-hot stack and the batched row stack.
pub(crate) fn check_shapes(
    layers: &[LstmWeights],
    projection: Option<&Dense>,
    input: usize,
) -> Result<(), ModelError> {
    let Some(first) = layers.first() else {
        return Err(ModelError::bad_checkpoint("LSTM stack has no layers"));
    };
    if first.input != input {
        return Err(ModelError::bad_checkpoint(format!(
            "layer 0 expects input size {} but the model feeds {input}",
            first.input
        )));
    }
    check_chain(layers)?;
    let top = layers[layers.len() - 1].units;
    if let Some(p) = projection {
        if p.input() != top {
            return Err(ModelError::bad_checkpoint(format!(
                "output projection expects {} inputs, top layer has {top} units",
                p.input()
            )));
        }
    }
    Ok(())
}

/// Plain-Rust reference of the cell math in f64 (tests, parity checks and the
/// bidirectional encoder's one-off work). `x` is one row; `c`, `h` are updated in place.
pub fn reference_step(w: &LstmWeights, x: &[f32], c: &mut [f32], h: &mut [f32]) {
    let hsz = w.units;
    let cols = 4 * hsz;
    let mut g: Vec<f64> = w.bias.iter().map(|&b| b as f64).collect();
    let xh: Vec<f32> = x.iter().chain(h.iter()).copied().collect();
    for (k, &v) in xh.iter().enumerate() {
        if v == 0.0 {
            continue;
        }
        let row = &w.kernel.data[k * cols..(k + 1) * cols];
        g.iter_mut().zip(row).for_each(|(a, &wv)| *a += v as f64 * wv as f64);
    }
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    for u in 0..hsz {
        let (i, j, f, o) = (g[u], g[hsz + u], g[2 * hsz + u], g[3 * hsz + u]);
        let c2 = sig(i) * j.tanh() + c[u] as f64 * sig(f + 1.0);
        c[u] = c2 as f32;
        h[u] = (c2.tanh() * sig(o)) as f32;
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::ml::random_checkpoint::Lcg;

    /// A layer of random weights (input `input`, `units` cells).
    pub(crate) fn random_layer(rng: &mut Lcg, input: usize, units: usize) -> LstmWeights {
        LstmWeights {
            kernel: Var {
                shape: vec![input + units, 4 * units],
                data: rng.vec((input + units) * 4 * units, 0.3),
            },
            bias: rng.vec(4 * units, 0.3),
            input,
            units,
        }
    }

    /// The largest absolute difference of two equally long vectors.
    pub(crate) fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{max_diff, random_layer};
    use super::*;
    use crate::ml::error::ModelErrorKind;
    use crate::ml::random_checkpoint::Lcg;

    #[test]
    fn step_net_matches_reference_for_stacks_and_batches() {
        let mut rng = Lcg::new(7);
        for (inputs, sizes, batch) in
            [(vec![5usize], vec![8usize], 1usize), (vec![6, 3], vec![16, 12], 3)]
        {
            let d: usize = inputs.iter().sum();
            let mut layers = Vec::new();
            let mut prev = d;
            for &h in &sizes {
                layers.push(random_layer(&mut rng, prev, h));
                prev = h;
            }
            let proj = Dense {
                kernel: Var { shape: vec![prev, 4], data: rng.vec(prev * 4, 0.5) },
                bias: rng.vec(4, 0.5),
            };
            let spec = StepSpec {
                inputs: inputs.clone(),
                layers: layers.clone(),
                projection: Some(proj.clone()),
            };
            let mut net = StepNet::build(&spec, batch).unwrap();
            let mut states: Vec<Vec<f32>> = sizes
                .iter()
                .flat_map(|&h| [vec![0f32; batch * h], vec![0f32; batch * h]])
                .collect();
            let mut ref_states = states.clone();
            for _step in 0..5 {
                let xs: Vec<Vec<f32>> = inputs.iter().map(|&n| rng.vec(batch * n, 1.0)).collect();
                let mut args: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
                args.extend(states.iter().map(|v| v.as_slice()));
                let out = net.run(&args).unwrap();
                assert_eq!(out.len(), 2 * sizes.len() + 1);
                for b in 0..batch {
                    let mut x: Vec<f32> = Vec::new();
                    for (xi, &n) in xs.iter().zip(&inputs) {
                        x.extend_from_slice(&xi[b * n..(b + 1) * n]);
                    }
                    for (l, w) in layers.iter().enumerate() {
                        let h = w.units;
                        let (cs, hs) = ref_states.split_at_mut(2 * l + 1);
                        let c = &mut cs[2 * l][b * h..(b + 1) * h];
                        let hh = &mut hs[0][b * h..(b + 1) * h];
                        reference_step(w, &x, c, hh);
                        x = hh.to_vec();
                    }
                    let logits = proj.apply(&x, 1);
                    for (a, r) in out[2 * sizes.len()][b * 4..(b + 1) * 4].iter().zip(&logits) {
                        assert!((a - r).abs() < 1e-4, "logits {a} vs {r}");
                    }
                }
                for (o, r) in out.iter().zip(&ref_states) {
                    for (a, b) in o.iter().zip(r) {
                        assert!((a - b).abs() < 1e-5, "state {a} vs {b}");
                    }
                }
                states = out[..2 * sizes.len()].to_vec();
            }
        }
    }

    /// Runs the single-step graph over one-hot classes (`classes[r]` per row per step).
    fn step_net_logits(
        net: &mut StepNet,
        d: usize,
        classes: &[Vec<usize>],
        states: &mut Vec<Vec<f32>>,
    ) -> Vec<f32> {
        let mut logits = Vec::new();
        for step in classes {
            let mut x = vec![0f32; step.len() * d];
            for (r, &k) in step.iter().enumerate() {
                x[r * d + k] = 1.0;
            }
            let mut args: Vec<&[f32]> = vec![&x];
            args.extend(states.iter().map(|v| v.as_slice()));
            let mut out = net.run(&args).unwrap();
            logits = out.pop().unwrap();
            *states = out;
        }
        logits
    }

    #[test]
    fn one_hot_stack_matches_step_net() {
        let mut rng = Lcg::new(11);
        let d = 7;
        for sizes in [vec![8usize], vec![16, 12, 10]] {
            let mut layers = Vec::new();
            let mut prev = d;
            for &h in &sizes {
                layers.push(random_layer(&mut rng, prev, h));
                prev = h;
            }
            let proj = Dense {
                kernel: Var { shape: vec![prev, d], data: rng.vec(prev * d, 0.5) },
                bias: rng.vec(d, 0.5),
            };
            let spec = StepSpec {
                inputs: vec![d],
                layers: layers.clone(),
                projection: Some(proj.clone()),
            };
            let mut stack = OneHotStack::new(layers.clone(), Some(&proj), d, 0).unwrap();
            assert_eq!(stack.layer_sizes(), sizes);
            let seq: Vec<usize> = (0..9).map(|_| (rng.next_u64() % d as u64) as usize).collect();
            // Priming layer by layer gives the logits of stepping the whole stack.
            let mut net = StepNet::build(&spec, 1).unwrap();
            let mut states: Vec<Vec<f32>> =
                sizes.iter().flat_map(|&h| [vec![0f32; h], vec![0f32; h]]).collect();
            let steps: Vec<Vec<usize>> = seq.iter().map(|&k| vec![k]).collect();
            let want = step_net_logits(&mut net, d, &steps, &mut states);
            let (st, got) = stack.prime(&seq).unwrap();
            assert!(max_diff(&got, &want) < 1e-5, "prime logits {got:?} vs {want:?}");
            // Then steps for 3 rows fed different classes.
            let mut st3 = st.repeat_rows(3).unwrap();
            assert_eq!(st3.batch, 3);
            let mut net3 = StepNet::build(&spec, 3).unwrap();
            let mut states3: Vec<Vec<f32>> = states.iter().map(|v| v.repeat(3)).collect();
            for _ in 0..4 {
                let classes: Vec<usize> =
                    (0..3).map(|_| (rng.next_u64() % d as u64) as usize).collect();
                let want =
                    step_net_logits(&mut net3, d, std::slice::from_ref(&classes), &mut states3);
                let opt: Vec<Option<usize>> = classes.iter().map(|&k| Some(k)).collect();
                let got = stack.step(&opt, &mut st3).unwrap();
                assert!(max_diff(&got, &want) < 1e-5, "step logits {got:?} vs {want:?}");
            }
            let e = stack.step(&[Some(0), None], &mut st3).unwrap_err();
            assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
            assert!(e.message().contains("3 rows"), "{e}");
            let e = stack.step(&[Some(0), None, Some(d)], &mut st3).unwrap_err();
            assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
            assert!(e.message().contains("out of range"), "{e}");
            assert_eq!(stack.prime(&[]).err().map(|e| e.kind()), Some(ModelErrorKind::BadInput));
        }
    }

    #[test]
    fn long_primers_run_in_chunks() {
        let mut rng = Lcg::new(21);
        let d = 5;
        let layers = vec![random_layer(&mut rng, d, 6), random_layer(&mut rng, 6, 4)];
        let proj = Dense {
            kernel: Var { shape: vec![4, d], data: rng.vec(4 * d, 0.5) },
            bias: rng.vec(d, 0.5),
        };
        let spec =
            StepSpec { inputs: vec![d], layers: layers.clone(), projection: Some(proj.clone()) };
        let seq: Vec<usize> =
            (0..PRIME_CHUNK + 45).map(|_| (rng.next_u64() % d as u64) as usize).collect();
        let mut net = StepNet::build(&spec, 1).unwrap();
        let mut states: Vec<Vec<f32>> = [6, 6, 4, 4].iter().map(|&n| vec![0f32; n]).collect();
        let steps: Vec<Vec<usize>> = seq.iter().map(|&k| vec![k]).collect();
        let want = step_net_logits(&mut net, d, &steps, &mut states);
        let mut stack = OneHotStack::new(layers, Some(&proj), d, 0).unwrap();
        let (st, got) = stack.prime(&seq).unwrap();
        assert!(max_diff(&got, &want) < 1e-5, "{got:?} vs {want:?}");
        assert!(max_diff(&st.h(1).unwrap(), &states[3]) < 1e-5);
    }

    #[test]
    fn dense_apply_sums_in_input_order() {
        let mut rng = Lcg::new(9);
        let (n, m, batch) = (23usize, 37usize, 3usize);
        let d = Dense {
            kernel: Var { shape: vec![n, m], data: rng.vec(n * m, 1.0) },
            bias: rng.vec(m, 1.0),
        };
        let mut x = rng.vec(batch * n, 3.0);
        for k in [0usize, 5, 6, 30, 68] {
            x[k] = 0.0;
        }
        let got = d.apply(&x, batch);
        for b in 0..batch {
            for j in 0..m {
                let mut a = d.bias[j] as f64;
                for k in 0..n {
                    let v = x[b * n + k] as f64;
                    if v != 0.0 {
                        a += v * d.kernel.data[k * m + j] as f64;
                    }
                }
                // Bit for bit: the same f64 sums in the same order.
                assert_eq!(got[b * m + j].to_bits(), (a as f32).to_bits());
            }
        }
    }

    #[test]
    fn dense_net_takes_any_row_count() {
        let mut rng = Lcg::new(5);
        let d = Dense {
            kernel: Var { shape: vec![6, 4], data: rng.vec(24, 1.0) },
            bias: rng.vec(4, 1.0),
        };
        let mut net = DenseNet::build(&d.kernel.data, 6, 4, Some(&d.bias), None).unwrap();
        for rows in [1usize, 5, 2] {
            let x = rng.vec(rows * 6, 1.0);
            let y = net.run(tensor_2d(rows, 6, &x).unwrap()).unwrap();
            assert_eq!(y.shape(), [rows, 4]);
            assert!(max_diff(f32s(&y).unwrap(), &d.apply(&x, rows)) < 1e-5);
        }
        let e = net.run(tensor_2d(1, 5, &[0.0; 5]).unwrap()).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("expected [rows, 6]"), "{e}");
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let mut rng = Lcg::new(1);
        let l0 = random_layer(&mut rng, 5, 8);
        let l1 = random_layer(&mut rng, 7, 8);
        let spec = StepSpec { inputs: vec![5], layers: vec![l0.clone(), l1], projection: None };
        let e = StepNet::build(&spec, 1).err().unwrap();
        assert_eq!(e.kind(), ModelErrorKind::BadCheckpoint, "{e}");
        assert!(e.message().contains("layer 1 expects input size 7"), "{e}");
        let spec = StepSpec { inputs: vec![4], layers: vec![l0.clone()], projection: None };
        assert_eq!(
            StepNet::build(&spec, 1).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadCheckpoint)
        );
        let spec = StepSpec { inputs: vec![5], layers: vec![l0], projection: None };
        let mut net = StepNet::build(&spec, 2).unwrap();
        let z = vec![0f32; 3];
        let e = net.run(&[&z, &z, &z]).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("expected"), "{e}");
    }
}
