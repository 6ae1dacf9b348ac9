// Magenta Studio's batched variations at the real model sizes with random weights: N
// variations run as one batch must cost at most 1.5x one (issue 15). Continue: basic_rnn
// [512, 512] continuing a 2-bar primer (32 steps) by 2 bars (32 steps); Generate:
// mel_2bar_small (decoder [256, 256], z 256) sampling 2-bar melodies; Interpolate: the
// same VAE, 2 encodes + the decode; Drumify: a 2-bar GrooVAE (tap2drum_2bar's sizes:
// encoder 512, decoder [256, 256], z 256), one encode + the decode. Each at 1 and 4
// variations (and 8 for Continue).
//
// cargo bench -p sema_live --bench studio   (release; CARGO_TARGET_DIR=…/target-release)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use sema_live::ml::music_rnn::MusicRnn;
use sema_live::ml::music_vae::MusicVae;
use sema_live::ml::random_checkpoint::{
    write_rnn, write_vae, write_vae_family, RnnSizes, VaeData, VaeFamily, VaeSizes,
};
use sema_live::ml::studio::{
    continue_variations, generate_variations, groove_variations, interpolate_variations, streams,
};
use sema_live::ml::{piano_phase, quantize_note_sequence, NoteSequence, Storage};

/// The first two bars (32 steps) of the Piano Phase primer.
fn two_bars() -> NoteSequence {
    let mut p = quantize_note_sequence(&piano_phase(), 4).expect("quantize");
    p.notes.retain(|n| n.quantized_start_step.unwrap_or(0) < 32);
    p.total_quantized_steps = Some(32);
    p
}

fn studio(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rnn_dir = dir.path().join("basic_rnn");
    let vae_dir = dir.path().join("mel_2bar_small");
    write_rnn(&rnn_dir, &RnnSizes::basic_rnn(), Storage::Float32, 1).expect("write rnn");
    write_vae(&vae_dir, &VaeSizes::mel_2bar_small(), Storage::Float32, 2).expect("write vae");
    let primer = two_bars();
    let mut rnn = MusicRnn::load(&rnn_dir).expect("load rnn");
    let mut vae = MusicVae::load(&vae_dir).expect("load vae");

    let mut g = c.benchmark_group("studio");
    g.sample_size(20);
    for n in [1usize, 4, 8] {
        // Builds the batch-n networks before timing.
        continue_variations(&mut rnn, &primer, 32, 1.0, None, &mut streams(1, n)).expect("warm");
        g.bench_function(format!("continue_2+2_bars_x{n}"), |b| {
            b.iter(|| {
                let mut rngs = streams(7, n);
                black_box(
                    continue_variations(&mut rnn, &primer, 32, 1.0, None, &mut rngs)
                        .expect("continue"),
                )
            })
        });
    }
    for n in [1usize, 4] {
        generate_variations(&mut vae, 0.5, None, &mut streams(1, n)).expect("warm");
        g.bench_function(format!("generate_2_bars_x{n}"), |b| {
            b.iter(|| {
                let mut rngs = streams(7, n);
                black_box(generate_variations(&mut vae, 0.5, None, &mut rngs).expect("generate"))
            })
        });
    }
    let other = {
        let mut o = primer.clone();
        o.notes.iter_mut().for_each(|n| n.pitch -= 5);
        o
    };
    for n in [2usize, 4] {
        interpolate_variations(&mut vae, &primer, &other, 0.5, None, &mut streams(1, n))
            .expect("warm");
        g.bench_function(format!("interpolate_x{n}"), |b| {
            b.iter(|| {
                let mut rngs = streams(7, n);
                black_box(
                    interpolate_variations(&mut vae, &primer, &other, 0.5, None, &mut rngs)
                        .expect("interpolate"),
                )
            })
        });
    }
    // Drumify: a tapped 2-bar rhythm (eighths with a few sixteenths).
    let groove_dir = dir.path().join("tap2drum_2bar");
    let family = VaeFamily {
        data: VaeData::Groove { humanize: false, tapify: true },
        num_steps: 32,
        encoder: 512,
        decoder: vec![256, 256],
        z: 256,
        hierarchy: None,
    };
    write_vae_family(&groove_dir, &family, Storage::Float32, 3).expect("write groove");
    let mut groove = MusicVae::load(&groove_dir).expect("load groove");
    let mut taps = primer.clone();
    for (i, n) in taps.notes.iter_mut().enumerate() {
        n.quantized_start_step = Some((i as i64 * 2 + i as i64 % 3) % 32);
        n.quantized_end_step = n.quantized_start_step.map(|s| s + 1);
    }
    for n in [1usize, 4] {
        groove_variations("Drumify", &mut groove, &taps, 120.0, 1.0, &mut streams(1, n))
            .expect("warm");
        g.bench_function(format!("drumify_2_bars_x{n}"), |b| {
            b.iter(|| {
                let mut rngs = streams(7, n);
                black_box(
                    groove_variations("Drumify", &mut groove, &taps, 120.0, 1.0, &mut rngs)
                        .expect("drumify"),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, studio);
criterion_main!(benches);
