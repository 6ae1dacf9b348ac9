//! Unit tests of the Layers core: gradients against finite differences, each
//! optimizer's update rule, the fit loop's batching and validation split, bad input.

use parking_lot::Mutex;

use super::fit::{evaluate, fit, FitEvent, FitOptions};
use super::model::{Compiled, DenseConfig, Sequential};
use super::*;

fn dense(name: &str, units: usize, input: Option<usize>, act: &str) -> DenseConfig {
    DenseConfig {
        name: name.into(),
        units,
        input_dim: input,
        activation: Activation::parse(act).unwrap(),
        use_bias: true,
        kernel_initializer: Initializer::parse("glorotUniform").unwrap(),
        bias_initializer: Initializer::parse("randomNormal").unwrap(),
        seed: None,
    }
}

fn matrix(rows: usize, cols: usize, seed: u32) -> Matrix {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    let data = (0..rows * cols)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    Matrix::new(rows, cols, data).unwrap()
}

/// A model of three dense layers with the given activations, compiled with `loss`.
fn model(acts: [&str; 3], loss: Loss) -> Sequential {
    let mut m = Sequential::new(Some(7));
    m.add_dense(dense("d1", 5, Some(3), acts[0])).unwrap();
    m.add_dense(dense("d2", 4, None, acts[1])).unwrap();
    m.add_dense(dense("d3", 3, None, acts[2])).unwrap();
    m.compile(Compiled { loss, optimizer: Optimizer::sgd(0.0), metrics: vec![] }).unwrap();
    m
}

/// The loss of `m` on `(x, y)` (dropout free models only).
fn loss_of(m: &Sequential, x: &Matrix, y: &Matrix) -> f64 {
    let p = m.predict(x).unwrap();
    m.compiled.as_ref().unwrap().loss.compute(&p, y, None) as f64
}

#[allow(clippy::needless_range_loop)] // indexes weights and gradients alike
fn check_gradients(acts: [&str; 3], loss: Loss, y: Matrix) {
    let mut m = model(acts, loss);
    let x = matrix(6, 3, 1);
    let mut grad = Matrix::default();
    let mut grads = Vec::new();
    let out = m.forward_train(&x).clone();
    m.compiled.as_ref().unwrap().loss.compute(&out, &y, Some(&mut grad));
    m.backward(&grad, &mut grads);
    let n = m.weights().len();
    assert_eq!(grads.len(), n);
    let mut checked = 0;
    for wi in 0..n {
        let len = m.weights()[wi].1.len();
        for j in (0..len).step_by(3) {
            let h = 1e-2f32;
            let orig = m.weights()[wi].1[j];
            m.weights_mut()[wi][j] = orig + h;
            let up = loss_of(&m, &x, &y);
            m.weights_mut()[wi][j] = orig - h;
            let down = loss_of(&m, &x, &y);
            m.weights_mut()[wi][j] = orig;
            let numeric = (up - down) / (2.0 * h as f64);
            let analytic = grads[wi][j] as f64;
            let tol = 2e-3 + 2e-2 * numeric.abs().max(analytic.abs());
            assert!(
                (numeric - analytic).abs() <= tol,
                "{acts:?} {loss:?}: weight {wi}[{j}]: numeric {numeric} analytic {analytic}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10);
}

#[test]
fn gradients_match_finite_differences() {
    let y = matrix(6, 3, 2);
    for acts in [
        ["relu", "tanh", "linear"],
        ["sigmoid", "tanh", "selu"],
        ["softplus", "softsign", "linear"],
        ["hardSigmoid", "relu6", "tanh"],
    ] {
        check_gradients(acts, Loss::MeanSquaredError, y.clone());
        check_gradients(acts, Loss::MeanAbsoluteError, y.clone());
    }
    // Classifiers: softmax outputs, one-hot and sparse targets.
    let mut onehot = Matrix::zeros(6, 3);
    let mut sparse = Matrix::zeros(6, 1);
    for r in 0..6 {
        onehot.data[r * 3 + r % 3] = 1.0;
        sparse.data[r] = (r % 3) as f32;
    }
    check_gradients(["relu", "tanh", "softmax"], Loss::CategoricalCrossentropy, onehot.clone());
    check_gradients(["relu", "tanh", "softmax"], Loss::SparseCategoricalCrossentropy, sparse);
    // Probabilities that do not sum to 1 exercise the normalisation's gradient.
    check_gradients(["relu", "tanh", "sigmoid"], Loss::CategoricalCrossentropy, onehot.clone());
    check_gradients(["relu", "tanh", "sigmoid"], Loss::BinaryCrossentropy, onehot);
}

/// tfjs's elu gradient (its CPU kernel): 1 where the output is >= 1, output + 1 elsewhere
/// (so also 1 + x for 0 < x < 1, where the true derivative is 1). Kept for parity.
#[test]
fn elu_gradient_follows_tfjs_kernel() {
    let z = [-1.0f32, 0.5, 2.0];
    let mut y = z;
    Activation::Elu.forward(&mut y, 3);
    let mut dy = [1.0f32; 3];
    Activation::Elu.backward(&z, &y, &mut dy, 3);
    assert!((dy[0] - (-1.0f32).exp()).abs() < 1e-6, "{dy:?}");
    assert!((dy[1] - 1.5).abs() < 1e-6, "{dy:?}");
    assert_eq!(dy[2], 1.0);
}

#[test]
fn losses_match_their_definitions() {
    let p = Matrix::new(2, 2, vec![0.5, 0.5, 0.9, 0.1]).unwrap();
    let t = Matrix::new(2, 2, vec![1.0, 0.0, 1.0, 0.0]).unwrap();
    let cce = Loss::CategoricalCrossentropy.compute(&p, &t, None);
    let want = (-(0.5f64.ln()) - 0.9f64.ln()) / 2.0;
    assert!((cce as f64 - want).abs() < 1e-6, "{cce} vs {want}");
    let bce = Loss::BinaryCrossentropy.compute(&p, &t, None);
    let want = (-(0.5f64.ln()) * 2.0 / 2.0 + (-(0.9f64.ln()) - (0.9f64.ln())) / 2.0) / 2.0;
    assert!((bce as f64 - want).abs() < 1e-5, "{bce} vs {want}");
    let mse = Loss::MeanSquaredError.compute(&p, &t, None);
    assert!((mse - (0.25 + 0.25 + 0.01 + 0.01) / 4.0).abs() < 1e-6);
    // Probabilities of 0 are clipped to 1e-7, never infinite.
    let zero = Matrix::new(1, 2, vec![0.0, 1.0]).unwrap();
    let hot = Matrix::new(1, 2, vec![1.0, 0.0]).unwrap();
    let l = Loss::CategoricalCrossentropy.compute(&zero, &hot, None);
    assert!((l - 1e-7f32.ln().abs()).abs() < 1e-3, "{l}");
    assert!(Loss::parse("meanSquaredErr").unwrap_err().0.contains("Unknown loss 'meanSquaredErr'"));
}

/// One step of each optimizer on one weight, against the update rule written out.
#[test]
fn optimizers_follow_tfjs_update_rules() {
    let w0 = [0.5f32, -1.0];
    let g = [0.2f32, -0.4];
    let steps = 3;
    let run = |mut o: Optimizer| {
        let mut w = w0.to_vec();
        for _ in 0..steps {
            o.apply(&mut [&mut w], &[g.to_vec()]);
        }
        w
    };
    // sgd
    let w = run(Optimizer::by_name("sgd").unwrap());
    for i in 0..2 {
        assert!((w[i] - (w0[i] - 3.0 * 0.01 * g[i])).abs() < 1e-6);
    }
    // adam (lr 0.001, b1 0.9, b2 0.999, eps 1e-7)
    let w = run(Optimizer::by_name("adam").unwrap());
    for i in 0..2 {
        let (mut m, mut v, mut x) = (0f64, 0f64, w0[i] as f64);
        let gi = g[i] as f64;
        for t in 1..=steps {
            m = 0.9 * m + 0.1 * gi;
            v = 0.999 * v + 0.001 * gi * gi;
            let mh = m / (1.0 - 0.9f64.powi(t));
            let vh = v / (1.0 - 0.999f64.powi(t));
            x -= 0.001 * mh / (vh.sqrt() + 1e-7);
        }
        assert!((w[i] as f64 - x).abs() < 1e-6, "adam {} vs {x}", w[i]);
    }
    // rmsprop (lr 0.001, decay 0.9, momentum 0, eps 1e-7)
    let w = run(Optimizer::by_name("rmsprop").unwrap());
    for i in 0..2 {
        let (mut s, mut x) = (0f64, w0[i] as f64);
        let gi = g[i] as f64;
        for _ in 0..steps {
            s = 0.9 * s + 0.1 * gi * gi;
            x -= 0.001 * gi / (s + 1e-7).sqrt();
        }
        assert!((w[i] as f64 - x).abs() < 1e-6, "rmsprop {} vs {x}", w[i]);
    }
    // rmsprop with momentum
    let w = run(Optimizer::rmsprop(0.01, 0.8, 0.5, 1e-7, false));
    for i in 0..2 {
        let (mut s, mut mom, mut x) = (0f64, 0f64, w0[i] as f64);
        let gi = g[i] as f64;
        for _ in 0..steps {
            s = 0.8 * s + 0.2 * gi * gi;
            mom = 0.5 * mom + 0.01 * gi / (s + 1e-7).sqrt();
            x -= mom;
        }
        assert!((w[i] as f64 - x).abs() < 1e-6, "rmsprop momentum {} vs {x}", w[i]);
    }
    // adagrad (lr 0.01, initial accumulator 0.1)
    let w = run(Optimizer::by_name("adagrad").unwrap());
    for i in 0..2 {
        let (mut a, mut x) = (0.1f64, w0[i] as f64);
        let gi = g[i] as f64;
        for _ in 0..steps {
            a += gi * gi;
            x -= 0.01 * gi / (a + 1e-7).sqrt();
        }
        assert!((w[i] as f64 - x).abs() < 1e-6, "adagrad {} vs {x}", w[i]);
    }
    assert!(Optimizer::by_name("adamm").unwrap_err().0.contains("Unknown Optimizer 'adamm'"));
}

#[test]
fn fit_batches_validation_split_and_logs() {
    let mut m = model(["relu", "tanh", "linear"], Loss::MeanSquaredError);
    m.compile(Compiled {
        loss: Loss::MeanSquaredError,
        optimizer: Optimizer::by_name("adam").unwrap(),
        metrics: vec![],
    })
    .unwrap();
    let x = matrix(75, 3, 3);
    let y = matrix(75, 3, 4);
    let model = Mutex::new(m);
    let opts = FitOptions {
        epochs: 4,
        batch_size: 16,
        shuffle: false,
        validation_split: 0.2,
        ..FitOptions::default()
    };
    let mut events = Vec::new();
    let h = fit(&model, &x, &y, &opts, &mut |e| {
        events.push(e);
        true
    })
    .unwrap();
    // 60 training samples: batches of 16, 16, 16, 12; 15 validation samples.
    let sizes: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            FitEvent::BatchEnd { size, .. } => Some(*size),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [16, 16, 16, 12].repeat(4));
    assert_eq!(events.first(), Some(&FitEvent::TrainBegin));
    assert_eq!(events.last(), Some(&FitEvent::TrainEnd));
    assert_eq!(h.epochs, vec![0, 1, 2, 3]);
    // Training lowers the loss; the validation loss is the loss on the last 15 rows.
    let losses: Vec<f32> = h.logs.iter().map(|l| l.loss.unwrap()).collect();
    assert!(losses[3] < losses[0], "{losses:?}");
    let m = model.lock();
    assert!(!m.training);
    let v = evaluate(&m, &x.slice_rows(60, 75), &y.slice_rows(60, 75), 32).unwrap();
    assert!((v.loss.unwrap() - h.logs[3].val_loss.unwrap()).abs() < 1e-6);
}

#[test]
fn fit_learns_xor_with_a_softmax_classifier() {
    let mut m = Sequential::new(Some(3));
    m.add_dense(dense("h", 8, Some(2), "tanh")).unwrap();
    m.add_dense(dense("o", 2, None, "softmax")).unwrap();
    m.compile(Compiled {
        loss: Loss::CategoricalCrossentropy,
        optimizer: Optimizer::adam(0.05, 0.9, 0.999, EPSILON),
        metrics: vec![Metric::parse("accuracy", Loss::CategoricalCrossentropy, 2).unwrap()],
    })
    .unwrap();
    let x = Matrix::new(4, 2, vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
    let y = Matrix::new(4, 2, vec![1., 0., 0., 1., 0., 1., 1., 0.]).unwrap();
    let model = Mutex::new(m);
    let opts = FitOptions { epochs: 300, batch_size: 4, seed: Some(1), ..FitOptions::default() };
    let h = fit(&model, &x, &y, &opts, &mut |_| true).unwrap();
    assert_eq!(h.logs.last().unwrap().acc, Some(1.0), "{:?}", h.logs.last());
    let p = model.lock().predict(&x).unwrap();
    for r in 0..4 {
        let want = if r == 0 || r == 3 { 0 } else { 1 };
        assert!(p.row(r)[want] > 0.8, "row {r}: {:?}", p.row(r));
    }
}

#[test]
fn dropout_is_active_only_while_training() {
    let mut m = Sequential::new(Some(5));
    m.add_dropout("drop".into(), 0.5, Some(1000)).unwrap();
    let x = Matrix::new(1, 1000, vec![1.0; 1000]).unwrap();
    assert_eq!(m.predict(&x).unwrap().data, vec![1.0; 1000]);
    let out = m.forward_train(&x).clone();
    let zeros = out.data.iter().filter(|v| **v == 0.0).count();
    assert!((400..600).contains(&zeros), "{zeros} zeros");
    assert!(out.data.iter().all(|v| *v == 0.0 || *v == 2.0));
}

#[test]
fn bad_input_is_refused_with_clear_messages() {
    let mut m = Sequential::new(None);
    let e = m.add_dense(dense("dense_Dense1", 4, None, "relu")).unwrap_err();
    assert!(e.0.contains("dense_Dense1") && e.0.contains("inputShape"), "{e}");
    assert!(Activation::parse("reluu").unwrap_err().0.contains("unknown activation 'reluu'"));
    m.add_dense(dense("dense_Dense1", 4, Some(2), "relu")).unwrap();
    let e = m.add_dense(dense("dense_Dense2", 4, Some(3), "relu")).unwrap_err();
    assert!(e.0.contains("dense_Dense2") && e.0.contains("[null,4]"), "{e}");
    // Over the size limit: refused before any allocation.
    let e = m.add_dense(dense("big", 12_000_000, None, "relu")).unwrap_err();
    assert!(e.0.contains("big") && e.0.contains("50000000"), "{e}");
    let e = m.add_dense(dense("huge", 1 << 30, None, "relu")).unwrap_err();
    assert!(e.0.contains("huge") && e.0.contains("units"), "{e}");
    // fit before compile.
    let x = matrix(4, 2, 1);
    let y = matrix(4, 4, 1);
    let model = Mutex::new(m);
    let e = fit(&model, &x, &y, &FitOptions::default(), &mut |_| true).unwrap_err();
    assert!(e.0.contains("compile"), "{e}");
    model
        .lock()
        .compile(Compiled {
            loss: Loss::MeanSquaredError,
            optimizer: Optimizer::sgd(1e30),
            metrics: vec![],
        })
        .unwrap();
    // Shape mismatches name the layer and the shapes.
    let e = fit(&model, &matrix(4, 3, 1), &y, &FitOptions::default(), &mut |_| true).unwrap_err();
    assert!(e.0.contains("dense_Dense1_input") && e.0.contains("[4,3]"), "{e}");
    let e = fit(&model, &x, &matrix(4, 2, 1), &FitOptions::default(), &mut |_| true).unwrap_err();
    assert!(e.0.contains("target") && e.0.contains("[null,4]"), "{e}");
    let e = fit(&model, &x, &matrix(3, 4, 1), &FitOptions::default(), &mut |_| true).unwrap_err();
    assert!(e.0.contains("4 input sample(s) and 3 target"), "{e}");
    // A learning rate of 1e30 makes the loss overflow: a clear error, not NaN weights.
    let mut lin = Sequential::new(Some(1));
    lin.add_dense(dense("lin", 4, Some(2), "linear")).unwrap();
    lin.compile(Compiled {
        loss: Loss::MeanSquaredError,
        optimizer: Optimizer::sgd(1e30),
        metrics: vec![],
    })
    .unwrap();
    let lin = Mutex::new(lin);
    let opts = FitOptions { epochs: 20, ..FitOptions::default() };
    let e = fit(&lin, &x, &y, &opts, &mut |_| true).unwrap_err();
    assert!(e.0.contains("loss became"), "{e}");
    assert!(!lin.lock().training, "the model is released after an error");
    assert!(!model.lock().training, "the model is released after an error");
    // setWeights checks counts and sizes.
    let e = model.lock().set_weights(&[vec![0.0; 8]]).unwrap_err();
    assert!(e.0.contains("2 weights, got 1"), "{e}");
    let e = model.lock().set_weights(&[vec![0.0; 8], vec![0.0; 3]]).unwrap_err();
    assert!(e.0.contains("weight 1 has shape [4]"), "{e}");
}

#[test]
fn summary_prints_tfjs_table() {
    let mut m = Sequential::new(None);
    m.add_dense(dense("dense_Dense1", 30, Some(2), "relu")).unwrap();
    m.add_dropout("dropout_Dropout1".into(), 0.2, None).unwrap();
    m.add_dense(dense("dense_Dense2", 7, None, "linear")).unwrap();
    let s = m.summary();
    let want = "\
_________________________________________________________________
Layer (type)                 Output shape              Param #   
=================================================================
dense_Dense1 (Dense)         [null,30]                 90        
_________________________________________________________________
dropout_Dropout1 (Dropout)   [null,30]                 0         
_________________________________________________________________
dense_Dense2 (Dense)         [null,7]                  217       
=================================================================
Total params: 307
Trainable params: 307
Non-trainable params: 0
_________________________________________________________________";
    assert_eq!(s, want);
    assert_eq!(m.count_params(), 307);
}

#[test]
fn initializers_have_tfjs_spreads() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut w = vec![0.0f32; 20_000];
    let sd = |w: &[f32]| {
        let m = w.iter().map(|v| *v as f64).sum::<f64>() / w.len() as f64;
        (w.iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
    };
    Initializer::parse("glorotUniform").unwrap().fill(&mut w, 100, 100, &mut rng);
    let limit = (6.0f32 / 200.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= limit));
    assert!((sd(&w) - limit as f64 / 3f64.sqrt()).abs() < 0.01 * limit as f64);
    Initializer::parse("randomNormal").unwrap().fill(&mut w, 100, 100, &mut rng);
    assert!((sd(&w) - 0.05).abs() < 0.002, "{}", sd(&w));
    Initializer::parse("heNormal").unwrap().fill(&mut w, 50, 100, &mut rng);
    // A normal truncated at 2 sd keeps 88% of the spread.
    let want = (2.0f64 / 50.0).sqrt() * 0.8796;
    assert!((sd(&w) - want).abs() < 0.02 * want, "{} vs {want}", sd(&w));
    assert!(w.iter().all(|v| (v.abs() as f64) <= 2.0 * (2.0f64 / 50.0).sqrt() + 1e-6));
    Initializer::parse("zeros").unwrap().fill(&mut w, 1, 1, &mut rng);
    assert!(w.iter().all(|v| *v == 0.0));
    assert!(Initializer::parse("glorot").unwrap_err().0.contains("unknown initializer 'glorot'"));
}
