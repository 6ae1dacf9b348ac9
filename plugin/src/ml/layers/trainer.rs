//! The training thread: `model.fit` jobs run here, one after another, never on the JS
//! thread. Each job's [`FitEvent`]s and its final [`History`] (or error) come back
//! through a channel that the JS runtime drains between its other work, so callbacks
//! run on the JS thread between batches while training goes on. Progress (epoch, loss)
//! is published for the status strip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;

use super::fit::{fit_claimed, FitEvent, FitOptions, History};
use super::model::Sequential;
use super::{LayersError, Matrix};
use crate::ml::worker::ModelStatus;

/// A model shared by the JS thread (build, predict, weights) and the training thread.
pub type ModelRef = Arc<Mutex<Sequential>>;

/// One `fit` to run.
pub struct Job {
    pub id: u64,
    pub model: ModelRef,
    pub x: Matrix,
    pub y: Matrix,
    pub opts: FitOptions,
    /// Whether the script listens to batch events (otherwise only epoch events are sent).
    pub batch_events: bool,
}

/// What the training thread reports for a job.
#[derive(Debug)]
pub enum Report {
    Event(FitEvent),
    Done(Result<History, LayersError>),
}

/// Training progress for the status strip.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingProgress {
    /// Epoch being trained (1-based) and how many there are.
    pub epoch: usize,
    pub epochs: usize,
    /// The last batch's loss.
    pub loss: Option<f32>,
    /// Jobs waiting behind this one.
    pub queued: usize,
}

/// The training thread and its channels.
pub struct Trainer {
    jobs: Option<Sender<Job>>,
    reports: Receiver<(u64, Report)>,
    cancel: Arc<AtomicBool>,
    status: Arc<ModelStatus>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Trainer {
    /// Starts the thread; progress goes to `status.training`.
    pub fn spawn(status: Arc<ModelStatus>) -> Self {
        let (job_tx, job_rx) = unbounded::<Job>();
        let (rep_tx, rep_rx) = unbounded::<(u64, Report)>();
        let cancel = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (c, st, q) = (cancel.clone(), status.clone(), queued.clone());
        let thread = std::thread::Builder::new()
            .name("sema-live-training".into())
            .spawn(move || run(job_rx, rep_tx, c, st, q))
            .ok();
        Trainer { jobs: Some(job_tx), reports: rep_rx, cancel, status, queued, thread }
    }

    /// Queues a job. The caller has claimed the model ([`super::fit::begin_fit`]).
    pub fn submit(&self, job: Job) -> Result<(), LayersError> {
        let model = job.model.clone();
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.as_ref().map(|tx| tx.send(job).is_ok()).unwrap_or(false);
        if !sent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            model.lock().training = false;
            return Err(LayersError::new("fit: the training thread is not running"));
        }
        Ok(())
    }

    /// The next report, if any (never waits).
    pub fn try_recv(&self) -> Option<(u64, Report)> {
        self.reports.try_recv().ok()
    }
}

impl Drop for Trainer {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        *self.status.training.lock() = None;
    }
}

fn run(
    jobs: Receiver<Job>,
    reports: Sender<(u64, Report)>,
    cancel: Arc<AtomicBool>,
    status: Arc<ModelStatus>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Ok(job) = jobs.recv() {
        let id = job.id;
        if cancel.load(Ordering::Relaxed) {
            job.model.lock().training = false;
            queued.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let epochs = job.opts.epochs;
        let publish = |p: TrainingProgress| *status.training.lock() = Some(p);
        publish(TrainingProgress {
            epoch: job.opts.initial_epoch + 1,
            epochs,
            loss: None,
            queued: queued.load(Ordering::Relaxed).saturating_sub(1),
        });
        let mut progress_epoch = job.opts.initial_epoch + 1;
        let mut on_event = |e: FitEvent| {
            match &e {
                FitEvent::EpochBegin { epoch } => progress_epoch = epoch + 1,
                FitEvent::BatchEnd { logs, .. } => publish(TrainingProgress {
                    epoch: progress_epoch,
                    epochs,
                    loss: logs.loss,
                    queued: queued.load(Ordering::Relaxed).saturating_sub(1),
                }),
                _ => {}
            }
            let is_batch = matches!(e, FitEvent::BatchBegin { .. } | FitEvent::BatchEnd { .. });
            if !is_batch || job.batch_events {
                let _ = reports.send((id, Report::Event(e)));
            }
            !cancel.load(Ordering::Relaxed)
        };
        let result = fit_claimed(&job.model, &job.x, &job.y, &job.opts, &mut on_event);
        queued.fetch_sub(1, Ordering::Relaxed);
        *status.training.lock() = None;
        let _ = reports.send((id, Report::Done(result)));
    }
}
