// Model inference at the real sizes with random weights: basic_rnn [512, 512] continuing
// the seed's Piano Phase primer (96 primer steps + 32 generated), alone and as a batch of
// 4 variations; mel_2bar_small (encoder 512 bidirectional, decoder [256, 256], z 256)
// encode and greedy decode. magenta.js on the same job, same machine, same run is timed by
// `PARITY_BENCH=1 cargo test --release --test parity` (README, Benchmarks).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{rngs::SmallRng, SeedableRng};

use sema_live::ml::music_rnn::MusicRnn;
use sema_live::ml::music_vae::MusicVae;
use sema_live::ml::piano_phase;
use sema_live::ml::quantize_note_sequence;
use sema_live::ml::random_checkpoint::{write_rnn, write_vae, RnnSizes, VaeSizes};
use sema_live::ml::Storage;

fn models(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rnn_dir = dir.path().join("basic_rnn");
    let vae_dir = dir.path().join("mel_2bar_small");
    write_rnn(&rnn_dir, &RnnSizes::basic_rnn(), Storage::Float32, 1).expect("write rnn");
    write_vae(&vae_dir, &VaeSizes::mel_2bar_small(), Storage::Float32, 2).expect("write vae");
    let primer = quantize_note_sequence(&piano_phase(), 4).expect("quantize");
    let mut rng = SmallRng::seed_from_u64(1);

    let mut g = c.benchmark_group("models");
    g.sample_size(10);

    g.bench_function("rnn_load_basic_rnn", |b| {
        b.iter(|| black_box(MusicRnn::load(&rnn_dir).expect("load")))
    });
    let mut rnn = MusicRnn::load(&rnn_dir).expect("load rnn");
    g.bench_function("rnn_continue_piano_phase_96+32", |b| {
        b.iter(|| {
            black_box(rnn.continue_sequence(&primer, 32, 0.0, 1, &mut rng).expect("continue"))
        })
    });
    rnn.continue_sequence(&primer, 32, 1.0, 4, &mut rng).expect("batch net");
    g.bench_function("rnn_continue_piano_phase_96+32_x4", |b| {
        b.iter(|| {
            black_box(rnn.continue_sequence(&primer, 32, 1.0, 4, &mut rng).expect("continue x4"))
        })
    });

    let mut vae = MusicVae::load(&vae_dir).expect("load vae");
    let seqs = vec![primer.clone()];
    let z = vae.encode(&seqs).expect("encode");
    g.bench_function("vae_encode_mel_2bar_small", |b| {
        b.iter(|| black_box(vae.encode(&seqs).expect("encode")))
    });
    g.bench_function("vae_decode_mel_2bar_small", |b| {
        b.iter(|| black_box(vae.decode(&z, 0.0, &mut rng).expect("decode")))
    });
    g.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
