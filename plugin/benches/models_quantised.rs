// basic_rnn [512, 512] at its real size from a uint8 and a uint16 checkpoint, whose weights
// stay quantised in memory and are dequantised inside the mat-vec loop (to exactly tfjs's
// values), against the same weights stored as float32 (tract), in one run: continuing the
// seed's Piano Phase primer (96 primer steps + 32 generated), greedy. magenta.js on the same
// job: `PARITY_BENCH=1 cargo test --release --test parity` (README, Benchmarks).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{rngs::SmallRng, SeedableRng};

use sema_live::ml::music_rnn::MusicRnn;
use sema_live::ml::random_checkpoint::{write_rnn, RnnSizes};
use sema_live::ml::{piano_phase, quantize_note_sequence, Storage};

fn quantised(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let primer = quantize_note_sequence(&piano_phase(), 4).expect("quantize");
    let mut rng = SmallRng::seed_from_u64(1);
    let mut g = c.benchmark_group("models_quantised");
    g.sample_size(20);
    for (name, storage) in
        [("f32", Storage::Float32), ("u8", Storage::Uint8), ("u16", Storage::Uint16)]
    {
        let path = dir.path().join(name);
        write_rnn(&path, &RnnSizes::basic_rnn(), storage, 1).expect("write rnn");
        let mut rnn = MusicRnn::load(&path).expect("load rnn");
        assert_eq!(rnn.is_native(), storage != Storage::Float32);
        g.bench_function(format!("rnn_continue_piano_phase_96+32_{name}"), |b| {
            b.iter(|| {
                black_box(rnn.continue_sequence(&primer, 32, 0.0, 1, &mut rng).expect("continue"))
            })
        });
    }
    let path = dir.path().join("u8");
    g.bench_function("rnn_load_basic_rnn_u8", |b| {
        b.iter(|| black_box(MusicRnn::load(&path).expect("load")))
    });
    g.finish();
}

criterion_group!(benches, quantised);
criterion_main!(benches);
