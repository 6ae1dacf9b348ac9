//! tfjs's `fit` loop and `evaluate`.
//!
//! As tfjs-layers does it: the validation split is the last `validationSplit` fraction
//! of the samples, taken before any shuffling; each epoch shuffles the training indices
//! (unless `shuffle: false`) and walks them in batches of `batchSize` (the last one
//! partial); a batch's loss is computed before its update; the epoch's loss is the mean
//! of the batch losses weighted by batch size; validation runs after the epoch's last
//! update. The model is locked per batch only, so predictions from another thread see
//! the weights between batches.

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::model::Sequential;
use super::optim::Optimizer;
use super::{LayersError, Matrix};

/// Options of `fit`.
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    /// Fraction 0..1 of the samples (the last ones) held out for validation.
    pub validation_split: f64,
    /// Explicit validation data (`validationData: [x, y]`), used instead of the split.
    pub validation_data: Option<(Matrix, Matrix)>,
    /// Epoch to start counting from (`initialEpoch`).
    pub initial_epoch: usize,
    /// Seed of the shuffling and dropout (random when none).
    pub seed: Option<u64>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            validation_split: 0.0,
            validation_data: None,
            initial_epoch: 0,
            seed: None,
        }
    }
}

/// Loss and metrics of a batch or an epoch (`logs` of the callbacks).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    pub loss: Option<f32>,
    pub acc: Option<f32>,
    pub val_loss: Option<f32>,
    pub val_acc: Option<f32>,
}

/// What happens during `fit`, in order, for the callbacks.
#[derive(Clone, Debug, PartialEq)]
pub enum FitEvent {
    TrainBegin,
    EpochBegin { epoch: usize },
    BatchBegin { batch: usize, size: usize },
    BatchEnd { batch: usize, size: usize, logs: Logs },
    EpochEnd { epoch: usize, logs: Logs },
    TrainEnd,
}

/// What `fit` returns: the epochs' logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<usize>,
    pub logs: Vec<Logs>,
}

/// Checks `x` and `y` against the model (shapes, compile) before training or evaluating.
pub fn check_data(m: &Sequential, x: &Matrix, y: &Matrix, what: &str) -> Result<(), LayersError> {
    let Some(c) = &m.compiled else {
        return Err(LayersError::new(format!(
            "{what}: the model must be compiled before training or evaluation (call \
             model.compile({{loss, optimizer}}) first)"
        )));
    };
    m.check_input(x, what)?;
    let out = m.output_dim().unwrap_or(0);
    let want = c.loss.target_cols(out);
    if y.cols != want {
        let last = m.layers.last().map(|l| l.name()).unwrap_or("");
        return Err(LayersError::new(format!(
            "{what}: Error when checking target: expected {last} to have shape [null,{want}] but \
             got array with shape [{},{}]",
            y.rows, y.cols
        )));
    }
    if x.rows != y.rows {
        return Err(LayersError::new(format!(
            "{what}: Input Tensors should have the same number of samples as target Tensors. \
             Found {} input sample(s) and {} target sample(s).",
            x.rows, y.rows
        )));
    }
    Ok(())
}

/// Loss and metric of a batch after the forward pass; `grad` receives dLoss/dOutput.
fn batch_step(
    m: &mut Sequential,
    xb: &Matrix,
    yb: &Matrix,
    grad: &mut Matrix,
    grads: &mut Vec<Vec<f32>>,
) -> Logs {
    let Some(c) = m.compiled.as_ref() else { return Logs::default() };
    let (loss_fn, metric) = (c.loss, c.metrics.first().copied());
    let out = m.forward_train(xb);
    let loss = loss_fn.compute(out, yb, Some(grad));
    let acc = metric.map(|mt| mt.compute(out, yb));
    m.backward(grad, grads);
    // The optimizer is taken out while it updates the weights it belongs with.
    let Some(mut opt) =
        m.compiled.as_mut().map(|c| std::mem::replace(&mut c.optimizer, Optimizer::sgd(0.0)))
    else {
        return Logs::default();
    };
    opt.apply(&mut m.weights_mut(), grads);
    if let Some(c) = m.compiled.as_mut() {
        c.optimizer = opt;
    }
    Logs { loss: Some(loss), acc, ..Logs::default() }
}

/// `evaluate`: loss and metric over `x`, in batches of `batch_size` (dropout off).
pub fn evaluate(
    m: &Sequential,
    x: &Matrix,
    y: &Matrix,
    batch_size: usize,
) -> Result<Logs, LayersError> {
    check_data(m, x, y, "evaluate")?;
    let Some(c) = &m.compiled else { return Ok(Logs::default()) };
    if x.rows == 0 {
        return Ok(Logs::default());
    }
    let bs = batch_size.max(1);
    let (mut loss, mut acc) = (0.0f64, 0.0f64);
    let mut start = 0;
    while start < x.rows {
        let end = (start + bs).min(x.rows);
        let xb = x.slice_rows(start, end);
        let yb = y.slice_rows(start, end);
        let p = m.predict(&xb)?;
        let n = (end - start) as f64;
        loss += c.loss.compute(&p, &yb, None) as f64 * n;
        if let Some(mt) = c.metrics.first() {
            acc += mt.compute(&p, &yb) as f64 * n;
        }
        start = end;
    }
    let n = x.rows as f64;
    Ok(Logs {
        loss: Some((loss / n) as f32),
        acc: c.metrics.first().map(|_| (acc / n) as f32),
        ..Logs::default()
    })
}

/// Claims `m` for a `fit`: checks the data against it and marks it training (a second
/// `fit` is refused until [`fit_claimed`] ends).
pub fn begin_fit(m: &mut Sequential, x: &Matrix, y: &Matrix) -> Result<(), LayersError> {
    if m.training {
        return Err(LayersError::new(
            "fit: Cannot start training because another fit() call is ongoing.",
        ));
    }
    check_data(m, x, y, "fit")?;
    m.training = true;
    m.stop_requested = false;
    Ok(())
}

/// Trains `model` on `x`, `y`. `on_event` receives every [`FitEvent`] (between batches,
/// with the model unlocked); returning false stops training after that event.
pub fn fit(
    model: &Mutex<Sequential>,
    x: &Matrix,
    y: &Matrix,
    opts: &FitOptions,
    on_event: &mut dyn FnMut(FitEvent) -> bool,
) -> Result<History, LayersError> {
    begin_fit(&mut model.lock(), x, y)?;
    fit_claimed(model, x, y, opts, on_event)
}

/// [`fit`] on a model already claimed by [`begin_fit`]; releases it at the end.
pub fn fit_claimed(
    model: &Mutex<Sequential>,
    x: &Matrix,
    y: &Matrix,
    opts: &FitOptions,
    on_event: &mut dyn FnMut(FitEvent) -> bool,
) -> Result<History, LayersError> {
    let result = fit_loop(model, x, y, opts, on_event);
    model.lock().training = false;
    result
}

fn fit_loop(
    model: &Mutex<Sequential>,
    x: &Matrix,
    y: &Matrix,
    opts: &FitOptions,
    on_event: &mut dyn FnMut(FitEvent) -> bool,
) -> Result<History, LayersError> {
    if opts.batch_size == 0 {
        return Err(LayersError::new("fit: batchSize must be a positive integer"));
    }
    // The validation split: the last samples, before shuffling.
    let (xt, yt, val) = match &opts.validation_data {
        Some((vx, vy)) => {
            check_data(&model.lock(), vx, vy, "fit (validationData)")?;
            (x.clone(), y.clone(), Some((vx.clone(), vy.clone())))
        }
        None if opts.validation_split > 0.0 && opts.validation_split < 1.0 => {
            let split = (x.rows as f64 * (1.0 - opts.validation_split)).floor() as usize;
            (
                x.slice_rows(0, split),
                y.slice_rows(0, split),
                Some((x.slice_rows(split, x.rows), y.slice_rows(split, y.rows))),
            )
        }
        None => (x.clone(), y.clone(), None),
    };
    let n = xt.rows;
    let mut rng = match opts.seed {
        Some(s) => SmallRng::seed_from_u64(s),
        None => SmallRng::seed_from_u64(rand_seed()),
    };
    let mut indices: Vec<usize> = (0..n).collect();
    let (mut xb, mut yb, mut grad) = (Matrix::default(), Matrix::default(), Matrix::default());
    let mut grads: Vec<Vec<f32>> = Vec::new();
    let mut history = History::default();
    let mut go = on_event(FitEvent::TrainBegin);
    let mut epoch = opts.initial_epoch;
    while go && epoch < opts.epochs {
        if !on_event(FitEvent::EpochBegin { epoch }) {
            break;
        }
        if opts.shuffle {
            for i in (1..n).rev() {
                let j = rng.random_range(0..=i);
                indices.swap(i, j);
            }
        }
        let (mut sum_loss, mut sum_acc, mut seen) = (0.0f64, 0.0f64, 0usize);
        let mut has_acc = false;
        let mut start = 0;
        let mut batch = 0;
        while start < n {
            let end = (start + opts.batch_size).min(n);
            let size = end - start;
            go = on_event(FitEvent::BatchBegin { batch, size });
            xt.gather_into(&indices[start..end], &mut xb);
            yt.gather_into(&indices[start..end], &mut yb);
            let (logs, stop) = {
                let mut m = model.lock();
                let logs = batch_step(&mut m, &xb, &yb, &mut grad, &mut grads);
                (logs, m.stop_requested)
            };
            let loss = logs.loss.unwrap_or(f32::NAN);
            if !loss.is_finite() {
                return Err(LayersError::new(format!(
                    "fit: the loss became {loss} at epoch {} batch {batch} (the learning rate may \
                     be too high, or the data holds NaN or Infinity); training stopped",
                    epoch + 1
                )));
            }
            sum_loss += loss as f64 * size as f64;
            if let Some(a) = logs.acc {
                sum_acc += a as f64 * size as f64;
                has_acc = true;
            }
            seen += size;
            go = on_event(FitEvent::BatchEnd { batch, size, logs }) && go && !stop;
            start = end;
            batch += 1;
            if !go {
                break;
            }
        }
        let mut logs = Logs::default();
        if seen > 0 {
            logs.loss = Some((sum_loss / seen as f64) as f32);
            logs.acc = has_acc.then(|| (sum_acc / seen as f64) as f32);
        }
        if let Some((vx, vy)) = &val {
            if vx.rows > 0 {
                let m = model.lock();
                let v = evaluate(&m, vx, vy, opts.batch_size)?;
                logs.val_loss = v.loss;
                logs.val_acc = v.acc;
            }
        }
        history.epochs.push(epoch);
        history.logs.push(logs.clone());
        go = on_event(FitEvent::EpochEnd { epoch, logs }) && go;
        epoch += 1;
    }
    on_event(FitEvent::TrainEnd);
    Ok(history)
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed)
}
