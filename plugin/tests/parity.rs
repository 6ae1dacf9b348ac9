// Parity with the real magenta.js: random-weight checkpoints (several sizes, float32 and
// uint8) are run by `tests/parity/parity.mjs` in Node and by Sema Live's models; greedy
// RNN continuations and VAE decodes must give exactly the same notes, and encoded z must
// agree within 1e-4.
//
// Needs Node and `npm install` in `tests/parity/` (or `PARITY_NODE_DIR` pointing at a
// folder with those node_modules). Without them the test prints why and passes, unless
// `SEMA_LIVE_PARITY=1` demands it (CI). `PARITY_BENCH=1` also times the real-size jobs
// in both implementations and prints the ratio.

use std::time::Instant;

use rand::{rngs::SmallRng, SeedableRng};
mod common;
use common::parity::{node_dir_or_skip, run_node, vae_round_trip};
use common::{notes_of, rust_notes};
use serde_json::json;

use sema_live::ml::music_rnn::MusicRnn;
use sema_live::ml::music_vae::MusicVae;
use sema_live::ml::random_checkpoint::{
    write_attention_rnn, write_rnn, write_vae, Lcg, RnnSizes, VaeSizes,
};
use sema_live::ml::Storage;
use sema_live::ml::{piano_phase, quantize_note_sequence, Note, NoteSequence, QuantizationInfo};

/// A random monophonic melody of `steps` steps in `lo..=hi`, quantized at 4 steps/quarter.
fn random_melody(rng: &mut Lcg, steps: i64, lo: i32, hi: i32) -> NoteSequence {
    let mut notes = Vec::new();
    let mut s = (rng.next_u64() % 3) as i64;
    while s < steps {
        let len = 1 + (rng.next_u64() % 4) as i64;
        let pitch = lo + (rng.next_u64() % (hi - lo + 1) as u64) as i32;
        notes.push(Note {
            pitch,
            velocity: Some(100),
            quantized_start_step: Some(s),
            quantized_end_step: Some((s + len).min(steps)),
            ..Default::default()
        });
        s += len + (rng.next_u64() % 3) as i64;
    }
    NoteSequence {
        notes,
        total_quantized_steps: Some(steps),
        quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
        ..Default::default()
    }
}

#[test]
fn magenta_js_parity() {
    let Some(node) = node_dir_or_skip() else { return };
    let root = tempfile::tempdir().unwrap();
    let mut rng = Lcg::new(2024);

    let rnn_cases = [
        ("rnn_32_f32", vec![32usize], Storage::Float32, None),
        ("rnn_64x48_f32", vec![64, 48], Storage::Float32, None),
        ("rnn_96x96_u8", vec![96, 96], Storage::Uint8, None),
        // Quantised checkpoints run on the native kernels with the weights kept as codes.
        ("rnn_200x136x72_u8", vec![200, 136, 72], Storage::Uint8, None),
        ("rnn_80x64_u16", vec![80, 64], Storage::Uint16, None),
        ("rnn_40_f16", vec![40], Storage::Float16, None),
        // attention_rnn: magenta.js reads the third layer's output, so three layers.
        ("rnn_attention_3x32_f32", vec![32, 32, 32], Storage::Float32, Some(8usize)),
        ("rnn_attention_48x40x32_f16", vec![48, 40, 32], Storage::Float16, Some(5)),
    ];
    let mut primers = vec![piano_phase()];
    for _ in 0..3 {
        primers.push(random_melody(&mut rng, 24, 48, 83));
    }
    let mut rnn_jobs = Vec::new();
    for (i, (name, layers, storage, attention)) in rnn_cases.iter().enumerate() {
        let sizes = RnnSizes { min_pitch: 48, max_pitch: 83, layers: layers.clone() };
        let dir = root.path().join(name);
        match attention {
            Some(len) => write_attention_rnn(&dir, &sizes, *len, *storage, 100 + i as u64).unwrap(),
            None => write_rnn(&dir, &sizes, *storage, 100 + i as u64).unwrap(),
        }
        rnn_jobs.push(json!({"name": name, "dir": name, "primers": primers, "steps": 32}));
    }

    let vae_cases = [
        (
            "vae_small_f32",
            VaeSizes {
                min_pitch: 21,
                max_pitch: 108,
                num_steps: 32,
                encoder: 32,
                decoder: vec![24, 24],
                z: 8,
            },
            Storage::Float32,
        ),
        (
            "vae_mid_u8",
            VaeSizes {
                min_pitch: 21,
                max_pitch: 108,
                num_steps: 32,
                encoder: 96,
                decoder: vec![64, 64],
                z: 32,
            },
            Storage::Uint8,
        ),
        (
            "vae_1layer_f32",
            VaeSizes {
                min_pitch: 48,
                max_pitch: 83,
                num_steps: 16,
                encoder: 24,
                decoder: vec![32],
                z: 16,
            },
            Storage::Float32,
        ),
    ];
    let mut vae_jobs = Vec::new();
    let mut vae_inputs = Vec::new();
    for (i, (name, sizes, storage)) in vae_cases.iter().enumerate() {
        write_vae(&root.path().join(name), sizes, *storage, 200 + i as u64).unwrap();
        let mut seqs = vec![];
        if sizes.min_pitch <= 73 {
            seqs.push(quantize_note_sequence(&piano_phase(), 4).unwrap());
        }
        for _ in 0..3 {
            seqs.push(random_melody(
                &mut rng,
                sizes.num_steps as i64,
                sizes.min_pitch.max(50),
                sizes.max_pitch.min(90),
            ));
        }
        let extra_z: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(sizes.z, 2.0)).collect();
        vae_jobs.push(json!({"name": name, "dir": name, "encode": seqs, "decode": extra_z}));
        vae_inputs.push(seqs);
    }

    let bench = std::env::var("PARITY_BENCH").map(|v| v == "1").unwrap_or(false);
    let mut job = json!({"root": root.path(), "rnn": rnn_jobs, "vae": vae_jobs});
    if bench {
        write_rnn(&root.path().join("basic_rnn"), &RnnSizes::basic_rnn(), Storage::Float32, 7)
            .unwrap();
        write_rnn(&root.path().join("basic_rnn_u8"), &RnnSizes::basic_rnn(), Storage::Uint8, 7)
            .unwrap();
        write_vae(
            &root.path().join("mel_2bar_small"),
            &VaeSizes::mel_2bar_small(),
            Storage::Float32,
            8,
        )
        .unwrap();
        job["bench"] = json!({"rnn": "basic_rnn", "vae": "mel_2bar_small", "steps": 32, "reps": 3, "primer": piano_phase()});
    }
    let t = Instant::now();
    let js = run_node(&node, &job, root.path());
    eprintln!(
        "magenta.js ran in {:.1} s (backend {})",
        t.elapsed().as_secs_f64(),
        js["tfjsBackend"]
    );

    let mut srng = SmallRng::seed_from_u64(0);
    let mut compared = 0;
    let mut pitches = std::collections::BTreeSet::new();
    for (i, (name, _, _, _)) in rnn_cases.iter().enumerate() {
        let mut m = MusicRnn::load(&root.path().join(name)).unwrap();
        let quantised = matches!(rnn_cases[i].2, Storage::Uint8 | Storage::Uint16);
        assert_eq!(m.is_native(), quantised, "{name}");
        let outs = js["rnn"][i]["outputs"].as_array().expect("rnn outputs");
        for (p, want) in primers.iter().zip(outs) {
            let q =
                if p.is_quantized() { p.clone() } else { quantize_note_sequence(p, 4).unwrap() };
            let got = m.continue_sequence(&q, 32, 0.0, 1, &mut srng).unwrap();
            assert_eq!(rust_notes(&got[0]), notes_of(want), "{name}: continuation differs");
            assert_eq!(got[0].total_quantized_steps, want["totalQuantizedSteps"].as_i64());
            pitches.extend(got[0].notes.iter().map(|n| n.pitch));
            compared += 1;
        }
    }
    let mut max_dz = 0f32;
    for (i, (name, _, _)) in vae_cases.iter().enumerate() {
        let mut m = MusicVae::load(&root.path().join(name)).unwrap();
        let (dz, got, want) = vae_round_trip(&mut m, &vae_inputs[i], &js["vae"][i], &mut srng);
        max_dz = max_dz.max(dz);
        assert!(max_dz < 1e-4, "{name}: encoded z differs by {max_dz}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(rust_notes(g), notes_of(w), "{name}: decode differs");
            pitches.extend(g.notes.iter().map(|n| n.pitch));
            compared += 1;
        }
    }
    // Guard against a vacuous comparison (e.g. every model emitting silence).
    assert!(pitches.len() >= 8, "outputs use only pitches {pitches:?}");
    eprintln!(
        "parity: {compared} sequences identical, {} distinct pitches, max |dz| = {max_dz:e}",
        pitches.len()
    );

    if bench {
        let primer = quantize_note_sequence(&piano_phase(), 4).unwrap();
        let mut m = MusicRnn::load(&root.path().join("basic_rnn")).unwrap();
        m.continue_sequence(&primer, 32, 0.0, 1, &mut srng).unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            m.continue_sequence(&primer, 32, 0.0, 1, &mut srng).unwrap();
        }
        let rust_rnn = t.elapsed().as_secs_f64() * 1000.0 / 3.0;
        let mut m8 = MusicRnn::load(&root.path().join("basic_rnn_u8")).unwrap();
        assert!(m8.is_native());
        m8.continue_sequence(&primer, 32, 0.0, 1, &mut srng).unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            m8.continue_sequence(&primer, 32, 0.0, 1, &mut srng).unwrap();
        }
        let rust_rnn_u8 = t.elapsed().as_secs_f64() * 1000.0 / 3.0;
        let mut v = MusicVae::load(&root.path().join("mel_2bar_small")).unwrap();
        let z = v.encode(std::slice::from_ref(&primer)).unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            v.encode(std::slice::from_ref(&primer)).unwrap();
        }
        let rust_enc = t.elapsed().as_secs_f64() * 1000.0 / 3.0;
        let t = Instant::now();
        for _ in 0..3 {
            v.decode(&z, 0.0, &mut srng).unwrap();
        }
        let rust_dec = t.elapsed().as_secs_f64() * 1000.0 / 3.0;
        let b = &js["bench"];
        let f = |k: &str| b[k].as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "bench: RNN {rust_rnn:.1} ms vs magenta.js {:.1} ms ({:.0}x); VAE encode {rust_enc:.1} vs {:.1} ms ({:.0}x), decode {rust_dec:.1} vs {:.1} ms ({:.0}x)",
            f("rnnContinueMs"),
            f("rnnContinueMs") / rust_rnn,
            f("vaeEncodeMs"),
            f("vaeEncodeMs") / rust_enc,
            f("vaeDecodeMs"),
            f("vaeDecodeMs") / rust_dec
        );
        eprintln!(
            "bench: RNN on the uint8 checkpoint (kept quantised) {rust_rnn_u8:.1} ms vs magenta.js {:.1} ms ({:.0}x)",
            f("rnnContinueMs"),
            f("rnnContinueMs") / rust_rnn_u8
        );
    }
}
