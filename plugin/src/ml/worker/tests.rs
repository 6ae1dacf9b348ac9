use super::*;
use crate::ml::core::checkpoint::Storage;
use crate::ml::core::note_seq::piano_phase;
use crate::ml::random_checkpoint::{write_rnn, write_vae, RnnSizes, VaeSizes};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn worker_runs_models_asynchronously() {
    let root = tempfile::tempdir().unwrap();
    let rnn_dir = root.path().join("rnn");
    let vae_dir = root.path().join("vae");
    write_rnn(
        &rnn_dir,
        &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![16, 16] },
        Storage::Float32,
        1,
    )
    .unwrap();
    let vs = VaeSizes {
        min_pitch: 21,
        max_pitch: 108,
        num_steps: 32,
        encoder: 16,
        decoder: vec![8, 8],
        z: 4,
    };
    write_vae(&vae_dir, &vs, Storage::Uint8, 2).unwrap();
    let mut cfg = WorkerConfig::new(root.path().join("bundled"));
    cfg.cache_dir = root.path().join("cache");
    cfg.allow_network = false;
    cfg.seed = Some(5);
    cfg.temperature = Arc::new(|| 0.0);
    let status = cfg.status.clone();
    let w = ModelWorker::spawn(cfg);
    assert!(w.try_recv().is_none());

    // Two requests queued at once complete in order with their ids.
    let a = w.submit(Request::LoadRnn { url_or_path: rnn_dir.display().to_string() });
    let b = w.submit(Request::LoadVae { url_or_path: vae_dir.display().to_string() });
    let (ia, ra) = w.recv_timeout(WAIT).unwrap();
    let (ib, rb) = w.recv_timeout(WAIT).unwrap();
    assert_eq!((ia, ib), (a, b));
    let Ok(Response::Loaded { model: rnn, kind: ModelKind::MusicRnn, .. }) = ra else {
        panic!("{ra:?}")
    };
    let Ok(Response::Loaded { model: vae, kind: ModelKind::MusicVae, z_dims: Some(4), .. }) = rb
    else {
        panic!("{rb:?}")
    };

    // Unquantized primer, host temperature 0 -> greedy: all 3 outputs agree.
    let r = w.run_blocking(
        Request::RnnContinue {
            model: rnn,
            seq: piano_phase(),
            steps: 16,
            temperature: None,
            count: 3,
        },
        WAIT,
    );
    let Ok(Response::Sequences(seqs)) = r else { panic!("{r:?}") };
    assert_eq!(seqs.len(), 3);
    assert!(seqs.iter().all(|s| s == &seqs[0] && s.total_quantized_steps == Some(16)));
    // The status strip's view: both models loaded, the batch timed, nothing queued.
    assert_eq!(status.pending.load(Ordering::Relaxed), 0);
    assert_eq!(status.loaded.lock().len(), 2);
    let last = status.last_inference.lock().clone();
    assert!(
        matches!(last, Some((ref what, ms)) if what == "continueSequence ×3" && ms > 0.0),
        "{last:?}"
    );
    assert!(
        status.summary().starts_with("models: ready (2) · last continueSequence ×3"),
        "{}",
        status.summary()
    );

    let r = w.run_blocking(
        Request::VaeEncode { model: vae, seqs: vec![piano_phase(), piano_phase()] },
        WAIT,
    );
    let Ok(Response::Z(z)) = r else { panic!("{r:?}") };
    assert_eq!((z.len(), z[0].len()), (2, 4));
    assert_eq!(z[0], z[1]);
    let r = w.run_blocking(
        Request::VaeDecode { model: vae, z: z.clone(), temperature: Some(0.0) },
        WAIT,
    );
    assert!(matches!(r, Ok(Response::Sequences(ref s)) if s.len() == 2));
    let r = w.run_blocking(Request::VaeSample { model: vae, n: 2, temperature: Some(0.5) }, WAIT);
    assert!(matches!(r, Ok(Response::Sequences(ref s)) if s.len() == 2));
    let r = w.run_blocking(
        Request::VaeInterpolate {
            model: vae,
            seqs: vec![piano_phase(), piano_phase()],
            n: 3,
            temperature: None,
        },
        WAIT,
    );
    assert!(matches!(r, Ok(Response::Sequences(ref s)) if s.len() == 3));

    let r = w.run_blocking(
        Request::MidiMeTrain { vae, seqs: vec![piano_phase()], epochs: 3, latent: 2 },
        WAIT,
    );
    let Ok(Response::MidiMe { model: mm }) = r else { panic!("{r:?}") };
    let r = w.run_blocking(
        Request::MidiMeSample { midime: mm, vae, n: 2, temperature: Some(0.0) },
        WAIT,
    );
    assert!(matches!(r, Ok(Response::Sequences(ref s)) if s.len() == 2));
    let mut saw_epoch = false;
    while let Some(p) = w.try_progress() {
        saw_epoch |= p.message.contains("MidiMe epoch 3/3");
    }
    assert!(saw_epoch);

    // Wrong kinds and unknown ids are errors, not panics.
    let r = w.run_blocking(Request::VaeEncode { model: rnn, seqs: vec![] }, WAIT);
    assert_eq!(r.unwrap_err().kind(), ModelErrorKind::WrongModel);
    assert_eq!(w.run_blocking(Request::Unload { model: rnn }, WAIT), Ok(Response::Unloaded));
    let r = w.run_blocking(
        Request::RnnContinue {
            model: rnn,
            seq: piano_phase(),
            steps: 4,
            temperature: None,
            count: 1,
        },
        WAIT,
    );
    assert_eq!(r.unwrap_err().kind(), ModelErrorKind::NoSuchModel);
    // A URL with no cache, no network and no bundled model: a clear error.
    let r = w.run_blocking(
        Request::LoadRnn { url_or_path: "https://example.com/x/basic_rnn".into() },
        WAIT,
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ModelErrorKind::NotFound, "{e}");
    assert!(e.message().contains("bundled basic_rnn model is missing"), "{e}");
    // The status strip shows the last error's message.
    assert_eq!(status.last_error.lock().as_deref(), Some(e.message()));
}

#[test]
fn a_panic_on_the_worker_is_an_error_and_the_worker_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let rnn_dir = root.path().join("rnn");
    let sizes = RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![8] };
    write_rnn(&rnn_dir, &sizes, Storage::Float32, 1).unwrap();
    let cfg = WorkerConfig::new(root.path().join("bundled"));
    let status = cfg.status.clone();
    let w = ModelWorker::spawn(cfg);
    let load = |w: &ModelWorker| {
        w.run_blocking(Request::LoadRnn { url_or_path: rnn_dir.display().to_string() }, WAIT)
    };
    let Ok(Response::Loaded { model: before, .. }) = load(&w) else { panic!("load") };
    let e =
        w.run_blocking(Request::LoadRnn { url_or_path: "test:panic".into() }, WAIT).unwrap_err();
    assert_eq!(e.kind(), ModelErrorKind::Crashed, "{e}");
    assert!(e.message().contains("test panic in the model worker"), "{e}");
    assert!(e.message().contains("load them again"), "{e}");
    assert_eq!(status.crashes.load(Ordering::Relaxed), 1);
    assert!(status.summary().contains("restarted after 1 crash"), "{}", status.summary());
    // The models of the crashed state are gone; new ones load and run.
    let e = w.run_blocking(Request::Unload { model: before }, WAIT).unwrap_err();
    assert_eq!(e.kind(), ModelErrorKind::NoSuchModel, "{e}");
    assert!(matches!(load(&w), Ok(Response::Loaded { .. })));
}

#[test]
fn a_stopped_worker_answers_with_an_error() {
    let mut w = ModelWorker::spawn(WorkerConfig::new(std::env::temp_dir().join("none")));
    w.requests = None;
    let e = w.run_blocking(Request::Unload { model: 1 }, WAIT).unwrap_err();
    assert_eq!(e.kind(), ModelErrorKind::WorkerStopped, "{e}");
}
