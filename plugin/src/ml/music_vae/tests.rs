//! MusicVAE against plain-Rust references (f64 cells) on random checkpoints of each
//! family: flat melody, drums (roll in, labels out), hierarchical melody and trio.

use super::*;
use crate::ml::core::checkpoint::Storage;
use crate::ml::core::groove::tests::note;
use crate::ml::core::lstm::{reference_step, Dense, LstmWeights};
use crate::ml::core::note_seq::{Note, QuantizationInfo};
use crate::ml::music_rnn::sample_class;
use crate::ml::random_checkpoint::{
    write_vae, write_vae_family, Hierarchy, VaeData, VaeFamily, VaeSizes,
};
use rand::{rngs::SmallRng, SeedableRng};

fn small() -> VaeSizes {
    VaeSizes {
        min_pitch: 48,
        max_pitch: 59,
        num_steps: 8,
        encoder: 16,
        decoder: vec![12, 12],
        z: 6,
    }
}

fn melody(pitches: &[(i32, i64, i64)], steps: i64) -> NoteSequence {
    NoteSequence {
        notes: pitches
            .iter()
            .map(|&(p, s, e)| Note {
                pitch: p,
                quantized_start_step: Some(s),
                quantized_end_step: Some(e),
                ..Default::default()
            })
            .collect(),
        total_quantized_steps: Some(steps),
        quantization_info: Some(QuantizationInfo { steps_per_quarter: 4 }),
        ..Default::default()
    }
}

/// `[h_fw, h_bw]` of one bidirectional layer over dense rows, in plain Rust.
fn reference_bidi(ck: &Checkpoint, base: &str, rows: &[Vec<f32>]) -> Vec<f32> {
    let mut out = Vec::new();
    for (dir, rev) in [("fw", false), ("bw", true)] {
        let w = LstmWeights::from_checkpoint(
            ck,
            &format!("{base}{dir}/multi_rnn_cell/cell_0/lstm_cell/"),
        )
        .unwrap();
        let (mut c, mut h) = (vec![0f32; w.units], vec![0f32; w.units]);
        for s in 0..rows.len() {
            let t = if rev { rows.len() - 1 - s } else { s };
            reference_step(&w, &rows[t], &mut c, &mut h);
        }
        out.extend(h);
    }
    out
}

/// Dense input rows of set columns.
fn dense_rows(rows: &[Vec<usize>], d: usize) -> Vec<Vec<f32>> {
    rows.iter()
        .map(|r| {
            let mut x = vec![0f32; d];
            r.iter().for_each(|&k| x[k] = 1.0);
            x
        })
        .collect()
}

/// Encoder reference (flat or hierarchical).
fn reference_encode(ck: &Checkpoint, rows: &[Vec<f32>], segments: Option<usize>) -> Vec<f32> {
    let h = match segments {
        None => reference_bidi(ck, "encoder/cell_0/bidirectional_rnn/", rows),
        Some(s) => {
            let len = rows.len() / s;
            let emb: Vec<Vec<f32>> = rows
                .chunks(len)
                .map(|seg| {
                    reference_bidi(
                        ck,
                        "encoder/hierarchical_level_0/cell_0/bidirectional_rnn/",
                        seg,
                    )
                })
                .collect();
            reference_bidi(ck, "encoder/hierarchical_level_1/cell_0/bidirectional_rnn/", &emb)
        }
    };
    Dense::from_checkpoint(ck, "encoder/mu/kernel", "encoder/mu/bias").unwrap().apply(&h, 1)
}

/// Runs a stack from the initial state `tanh(z @ init)` (split c0, h0, c1, h1...).
fn init_state(
    ck: &Checkpoint,
    init: &str,
    z: &[f32],
    layers: &[LstmWeights],
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let d = Dense::from_checkpoint(ck, &format!("{init}kernel"), &format!("{init}bias")).unwrap();
    let v: Vec<f32> = d.apply(z, 1).iter().map(|x| x.tanh()).collect();
    let h = layers[0].units;
    (0..layers.len())
        .map(|l| {
            (v[2 * l * h..(2 * l + 1) * h].to_vec(), v[(2 * l + 1) * h..(2 * l + 2) * h].to_vec())
        })
        .collect()
}

/// A core decoder in plain Rust: from `tanh(z @ z_to_initial_state)`, `len` steps fed
/// `[input, z]` (the first input `first`); `next` turns each step's projection into the
/// next input.
fn reference_run(
    ck: &Checkpoint,
    prefix: &str,
    z: &[f32],
    len: usize,
    first: Vec<f32>,
    next: &mut dyn FnMut(Vec<f32>) -> Vec<f32>,
) {
    let layers =
        LstmWeights::discover(ck, |l| format!("{prefix}multi_rnn_cell/cell_{l}/lstm_cell/"))
            .unwrap();
    let proj = Dense::from_checkpoint(
        ck,
        &format!("{prefix}output_projection/kernel"),
        &format!("{prefix}output_projection/bias"),
    )
    .unwrap();
    let mut st = init_state(ck, &format!("{prefix}z_to_initial_state/"), z, &layers);
    let mut p = first;
    for _ in 0..len {
        let mut x: Vec<f32> = p.iter().chain(z.iter()).copied().collect();
        for (l, w) in layers.iter().enumerate() {
            let (c, hh) = &mut st[l];
            reference_step(w, &x, c, hh);
            x = hh.clone();
        }
        p = next(proj.apply(&x, 1));
    }
}

/// Greedy core decoder in plain Rust from `prev` (None: zeros).
fn reference_core(
    ck: &Checkpoint,
    prefix: &str,
    z: &[f32],
    len: usize,
    prev: Option<usize>,
) -> Vec<usize> {
    let d = Dense::from_checkpoint(
        ck,
        &format!("{prefix}output_projection/kernel"),
        &format!("{prefix}output_projection/bias"),
    )
    .unwrap()
    .output();
    let one_hot = |k: usize| {
        let mut p = vec![0f32; d];
        p[k] = 1.0;
        p
    };
    let mut out = Vec::new();
    let mut rng = SmallRng::seed_from_u64(0);
    let first = prev.map(one_hot).unwrap_or_else(|| vec![0f32; d]);
    reference_run(ck, prefix, z, len, first, &mut |logits| {
        let k = sample_class(&logits, 0.0, &mut rng);
        out.push(k);
        one_hot(k)
    });
    out
}

/// Greedy decode reference: labels per part.
fn reference_decode(
    ck: &Checkpoint,
    z: &[f32],
    steps: usize,
    parts: usize,
    segments: Option<usize>,
) -> Vec<Vec<usize>> {
    let base = if segments.is_some() { "core_decoder/" } else { "" };
    let prefix = |i: usize| {
        if parts > 1 {
            format!("{base}core_decoder_{i}/decoder/")
        } else {
            format!("{base}decoder/")
        }
    };
    let Some(s) = segments else {
        return (0..parts).map(|i| reference_core(ck, &prefix(i), z, steps, None)).collect();
    };
    let p = "decoder/hierarchical_level_0/";
    let layers = LstmWeights::discover(ck, |l| format!("{p}cell_{l}/lstm_cell/")).unwrap();
    let mut st = init_state(ck, &format!("{p}initial_state/"), z, &layers);
    let mut out = vec![Vec::new(); parts];
    for _ in 0..s {
        let mut x = vec![0f32];
        for (l, w) in layers.iter().enumerate() {
            let (c, hh) = &mut st[l];
            reference_step(w, &x, c, hh);
            x = hh.clone();
        }
        for (i, o) in out.iter_mut().enumerate() {
            let seg = reference_core(ck, &prefix(i), &x, steps / s, o.last().copied());
            o.extend(seg);
        }
    }
    out
}

/// Checks encode and greedy decode of `m` against the references for `seqs`.
fn check_against_reference(dir: &Path, seqs: &[NoteSequence]) -> MusicVae {
    let ck = checkpoint::load(dir).unwrap();
    let mut m = MusicVae::from_checkpoint(&ck).unwrap();
    let z = m.encode(seqs).unwrap();
    let d = m.converter.input_depth();
    for (s, zv) in seqs.iter().zip(&z) {
        let rows = dense_rows(&m.converter.to_input(s).unwrap(), d);
        let want = reference_encode(&ck, &rows, m.segments);
        for (a, b) in zv.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4, "z {a} vs {b}");
        }
    }
    let mut rng = SmallRng::seed_from_u64(3);
    let labels = m.decode_labels(&z, 0.0, &mut rng).unwrap();
    let parts = m.converter.output_depths().len();
    for (zv, l) in z.iter().zip(&labels) {
        assert_eq!(l, &reference_decode(&ck, zv, m.num_steps, parts, m.segments));
    }
    m
}

#[test]
fn flat_melody_matches_reference() {
    for (storage, seed) in [(Storage::Float32, 11u64), (Storage::Uint8, 12)] {
        let dir = tempfile::tempdir().unwrap();
        write_vae(dir.path(), &small(), storage, seed).unwrap();
        let seqs = vec![melody(&[(50, 0, 2), (55, 2, 7)], 8), melody(&[(59, 1, 8)], 8)];
        let mut m = check_against_reference(dir.path(), &seqs);
        assert_eq!(m.z_dims(), 6);
        let mut rng = SmallRng::seed_from_u64(3);
        let z = m.encode(&seqs).unwrap();
        let out = m.decode(&z, 0.0, &mut rng).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].total_quantized_steps, Some(8));
        assert_eq!(m.sample(3, 0.5, &mut rng).unwrap().len(), 3);
        let i = m.interpolate(&seqs, 4, 0.0, &mut rng).unwrap();
        assert_eq!(i.len(), 4);
        // The first point of a greedy interpolation is the first input's own code.
        assert_eq!(i[0], out[0]);
        let e = m.decode(&[vec![0.0; 5]], 0.0, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("dims"), "{e}");
        assert_eq!(
            m.interpolate(&seqs[..1], 3, 0.0, &mut rng).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadInput)
        );
    }
}

fn drum_seq(hits: &[(i32, i64)], steps: i64) -> NoteSequence {
    let mut ns = melody(&hits.iter().map(|&(p, s)| (p, s, s + 1)).collect::<Vec<_>>(), steps);
    ns.notes.iter_mut().for_each(|n| n.is_drum = Some(true));
    ns
}

#[test]
fn drums_and_hierarchical_models_match_reference() {
    let cases = [
        (VaeData::Drums, None),
        (VaeData::Melody { min_pitch: 48, max_pitch: 59 }, Some(4)),
        (VaeData::Trio { melody: (48, 59), bass: (36, 47) }, Some(2)),
    ];
    for (i, (data, segments)) in cases.into_iter().enumerate() {
        let family = VaeFamily {
            data: data.clone(),
            num_steps: 8,
            encoder: 12,
            decoder: vec![10, 10],
            z: 6,
            hierarchy: segments.map(|s| Hierarchy {
                segments: s,
                encoder_top: 8,
                conductor: vec![7, 7],
            }),
        };
        let dir = tempfile::tempdir().unwrap();
        write_vae_family(dir.path(), &family, Storage::Float32, 30 + i as u64).unwrap();
        let seqs = match data {
            VaeData::Drums => {
                vec![drum_seq(&[(36, 0), (42, 0), (38, 4), (46, 6)], 8), drum_seq(&[(51, 2)], 8)]
            }
            VaeData::Melody { .. } => vec![melody(&[(50, 0, 3), (57, 3, 8)], 8)],
            VaeData::Trio { .. } => {
                let mut s = melody(&[(50, 0, 3), (57, 3, 8)], 8);
                let mut bass = melody(&[(40, 0, 8)], 8).notes;
                bass[0].program = Some(33);
                s.notes.extend(bass);
                s.notes.extend(drum_seq(&[(36, 0), (38, 4)], 8).notes);
                vec![s]
            }
            VaeData::Groove { .. } => unreachable!("groove_models_match_reference"),
        };
        let m = check_against_reference(dir.path(), &seqs);
        assert_eq!(m.segments, segments);
        assert!(m.describe().contains(m.converter.name()), "{}", m.describe());
    }
}

#[test]
fn grid_interpolation_corners() {
    let zs = vec![vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
    let g = interpolated_zs(&zs, 3).unwrap();
    assert_eq!(g.len(), 9);
    assert_eq!(g[0], vec![0.0, 0.0]);
    assert_eq!(g[2], vec![0.0, 1.0]); // x = 1 on row 0 is z2
    assert_eq!(g[6], vec![1.0, 0.0]); // y = 1, x = 0 is z1
    assert_eq!(g[8], vec![1.0, 1.0]);
    assert_eq!(g[4], vec![0.5, 0.5]);
}

#[test]
fn wrong_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = small();
    sizes.decoder = vec![12, 10];
    write_vae(dir.path(), &sizes, Storage::Float32, 1).unwrap();
    let e = MusicVae::load(dir.path()).err().unwrap();
    assert_eq!(e.kind(), ModelErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("same size"), "{e}");
    // A hierarchical checkpoint whose config lost numSegments.
    let family = VaeFamily {
        data: VaeData::Melody { min_pitch: 48, max_pitch: 59 },
        num_steps: 8,
        encoder: 8,
        decoder: vec![6],
        z: 4,
        hierarchy: Some(Hierarchy { segments: 2, encoder_top: 6, conductor: vec![5] }),
    };
    write_vae_family(dir.path(), &family, Storage::Float32, 2).unwrap();
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), text.replace("numSegments", "segs")).unwrap();
    let e = MusicVae::load(dir.path()).err().unwrap();
    assert_eq!(e.kind(), ModelErrorKind::BadCheckpoint, "{e}");
    assert!(e.message().contains("numSegments"), "{e}");
}

/// A greedy groove decode in plain Rust: the step output's values (after
/// `groove_sample`) fed back with `z`, from zeros; `[steps * depth]`.
fn reference_groove(ck: &Checkpoint, z: &[f32], steps: usize, depth: usize) -> Vec<f32> {
    let mut out = Vec::new();
    let mut rng = SmallRng::seed_from_u64(0);
    reference_run(ck, "decoder/", z, steps, vec![0f32; depth], &mut |mut p| {
        groove_sample(&mut p, 0.0, &mut rng);
        out.extend_from_slice(&p);
        p
    });
    out
}

#[test]
fn groove_models_match_reference() {
    let cases = [
        VaeData::Groove { humanize: false, tapify: false },
        VaeData::Groove { humanize: true, tapify: false },
        VaeData::Groove { humanize: false, tapify: true },
    ];
    // Two bars at 120 qpm would be 32 steps; 8 steps (one half bar) keep this quick.
    let seqs = vec![
        NoteSequence {
            notes: vec![
                note(36, 110, 0.01),
                note(42, 70, 0.12),
                note(38, 96, 0.51),
                note(46, 40, 0.74),
            ],
            total_time: Some(1.0),
            ..Default::default()
        },
        NoteSequence {
            notes: vec![note(51, 80, 0.0), note(49, 127, 0.37)],
            total_time: Some(1.0),
            ..Default::default()
        },
    ];
    for (i, data) in cases.into_iter().enumerate() {
        let family = VaeFamily {
            data: data.clone(),
            num_steps: 8,
            encoder: 12,
            decoder: vec![10, 10],
            z: 6,
            hierarchy: None,
        };
        let dir = tempfile::tempdir().unwrap();
        write_vae_family(dir.path(), &family, Storage::Float32, 50 + i as u64).unwrap();
        let ck = checkpoint::load(dir.path()).unwrap();
        let mut m = MusicVae::from_checkpoint(&ck).unwrap();
        assert!(m.is_groove() && m.describe().contains("GrooveConverter"));
        let DataConverter::Groove(g) = m.converter.clone() else { unreachable!() };
        let z = m.encode(&seqs).unwrap();
        for (s, zv) in seqs.iter().zip(&z) {
            let t = g.to_tensor(s).unwrap();
            let rows: Vec<Vec<f32>> = t.chunks(g.depth()).map(|r| r.to_vec()).collect();
            let want = reference_encode(&ck, &rows, None);
            for (a, b) in zv.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "case {i}: z {a} vs {b}");
            }
        }
        // Greedy decode: the same hits, and velocities and offsets to float rounding.
        let mut rng = SmallRng::seed_from_u64(1);
        let mut zs = z.clone();
        zs.push(vec![1.5, -2.0, 0.3, 2.2, -0.7, 1.1]);
        let mut values = Vec::new();
        let got = m
            .decode_with(&zs, &mut |r: usize, v: &mut [f32]| {
                groove_sample(v, 0.0, &mut rng);
                values.push((r, v.to_vec()));
            })
            .unwrap();
        let mut hits = 0;
        for (r, zv) in zs.iter().enumerate() {
            let want = reference_groove(&ck, zv, g.num_steps, g.depth());
            let mine: Vec<f32> =
                values.iter().filter(|(k, _)| *k == r).flat_map(|(_, v)| v.clone()).collect();
            assert_eq!(mine.len(), want.len());
            for (k, (a, b)) in mine.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-4, "case {i} row {r} value {k}: {a} vs {b}");
            }
            // The notes are those of the values drawn; the reference's to the microsecond.
            assert_eq!(got[r], g.to_note_sequence(&mine, 120.0).unwrap(), "case {i} row {r}");
            let ns = g.to_note_sequence(&want, 120.0).unwrap();
            assert_eq!(got[r].notes.len(), ns.notes.len(), "case {i} row {r}");
            for (a, b) in got[r].notes.iter().zip(&ns.notes) {
                assert_eq!((a.pitch, a.velocity), (b.pitch, b.velocity), "case {i} row {r}");
                let dt = (a.start_time.unwrap() - b.start_time.unwrap()).abs();
                assert!(dt < 1e-6, "case {i} row {r}: start times {dt} apart");
            }
            hits += ns.notes.len();
        }
        assert!(hits > 0, "case {i}: no hits at all");
        // Sampling at a temperature draws hits (0 or 1) and may differ from greedy.
        let warm = m.decode(&zs, 1.0, &mut rng).unwrap();
        assert_eq!(warm.len(), 3);
        assert!(warm.iter().flat_map(|s| &s.notes).all(|n| n.is_drum == Some(true)));
        // Labels are not what a groove decodes to.
        let e = m.decode_labels(&zs, 0.0, &mut rng).unwrap_err();
        assert!(e.message().contains("GrooVAE"), "{e}");
    }
}

/// A closure draws a groove's values (the tests' probe); labels are not asked of it.
impl<F: FnMut(usize, &mut [f32])> Draw for F {
    fn label(&mut self, _: usize, _: &mut [f32]) -> usize {
        panic!("a groove model asked for a label")
    }
    fn values(&mut self, row: usize, values: &mut [f32]) {
        self(row, values)
    }
}
