//! The bundled models (`assets/models`) give exactly magenta.js's greedy outputs.
//!
//! `fixtures/bundled_models_magentajs.json` holds a job (primers for the RNN, melodies
//! and latent vectors for the VAE) and what magenta.js 1.23.1 (tfjs 2.8.6, CPU) returned
//! for it on these very checkpoints, recorded with `tests/parity/parity.mjs` by
//! `tools/train/parity_check.py`. Re-record it whenever the bundled models are retrained.

use std::path::Path;

use rand::{rngs::SmallRng, SeedableRng};
mod common;
use common::{notes_of, rust_notes};
use serde_json::Value;

use sema_live::ml::music_rnn::MusicRnn;
use sema_live::ml::music_vae::MusicVae;
use sema_live::ml::{quantize_note_sequence, NoteSequence};

fn fixture() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundled_models_magentajs.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("fixture JSON")
}

fn models() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models")
}

fn quantized(v: &Value) -> NoteSequence {
    let ns: NoteSequence = serde_json::from_value(v.clone()).expect("NoteSequence");
    if ns.quantization_info.is_some() {
        ns
    } else {
        quantize_note_sequence(&ns, 4).expect("quantize")
    }
}

#[test]
fn bundled_rnn_matches_magenta_js() {
    let f = fixture();
    let job = &f["job"]["rnn"][0];
    let want = f["magenta_js"]["rnn"][0]["outputs"].as_array().expect("outputs");
    let steps = job["steps"].as_u64().expect("steps") as usize;
    let mut m = MusicRnn::load(&models().join("basic_rnn")).expect("load bundled basic_rnn");
    let mut rng = SmallRng::seed_from_u64(0);
    let primers = job["primers"].as_array().expect("primers");
    assert_eq!(primers.len(), want.len());
    let mut with_notes = 0;
    for (p, w) in primers.iter().zip(want) {
        let got = m.continue_sequence(&quantized(p), steps, 0.0, 1, &mut rng).expect("continue");
        assert_eq!(rust_notes(&got[0]), notes_of(w), "greedy continuation differs from magenta.js");
        with_notes += !got[0].notes.is_empty() as usize;
    }
    assert!(with_notes >= primers.len() / 2, "most continuations should contain notes");
}

#[test]
fn bundled_vae_matches_magenta_js() {
    let f = fixture();
    let job = &f["job"]["vae"][0];
    let res = &f["magenta_js"]["vae"][0];
    let mut m =
        MusicVae::load(&models().join("mel_2bar_small")).expect("load bundled mel_2bar_small");
    let seqs: Vec<NoteSequence> =
        job["encode"].as_array().expect("encode").iter().map(quantized).collect();
    let z = m.encode(&seqs).expect("encode");
    let jz: Vec<Vec<f32>> = serde_json::from_value(res["z"].clone()).expect("z");
    let max_dz = z
        .iter()
        .flatten()
        .zip(jz.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_dz < 1e-4, "encoded z differs by {max_dz}");
    let dz: Vec<Vec<f32>> = serde_json::from_value(res["decodeZ"].clone()).expect("decodeZ");
    let mut rng = SmallRng::seed_from_u64(0);
    let got = m.decode(&dz, 0.0, &mut rng).expect("decode");
    let want = res["decoded"].as_array().expect("decoded");
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(rust_notes(g), notes_of(w), "greedy decode differs from magenta.js");
    }
}
