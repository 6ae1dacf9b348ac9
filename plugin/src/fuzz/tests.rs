//! Bounded, seeded fuzzing of every harness (see the module doc of [`super`]): the corpus,
//! the regressions, then mutations for `SEMA_LIVE_FUZZ_SECS` seconds (default 2) each.

use std::time::Duration;

use super::*;
use crate::cli::midi_file::{encode, TimedEvent};
use crate::cli::session::Session;
use crate::ml::core::checkpoint::Storage;
use crate::ml::random_checkpoint::{write_rnn, write_vae, RnnSizes, VaeSizes};

const EXAMPLES: [&str; 6] = [
    include_str!("../../../assets/examples/call-and-response.sema.toml"),
    include_str!("../../../assets/examples/midime-on-your-playing.sema.toml"),
    include_str!("../../../assets/examples/onbar-temperature.sema.toml"),
    include_str!("../../../assets/examples/reich-piano-phase.sema.toml"),
    include_str!("../../../assets/examples/rnn-continuation.sema.toml"),
    include_str!("../../../assets/examples/vae-sampling.sema.toml"),
];

fn budget() -> Duration {
    let secs = std::env::var("SEMA_LIVE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn sessions() -> Vec<Session> {
    EXAMPLES.iter().map(|t| Session::parse(t).expect("the examples parse")).collect()
}

fn fuzz(
    name: &str,
    target: &mut dyn FnMut(&[u8]),
    mut corpus: Vec<Vec<u8>>,
    dict: Vec<&'static [u8]>,
    max_len: usize,
) {
    for (t, input) in REGRESSIONS {
        if *t == name {
            target(input);
        }
    }
    let mut m = Mutator::new(0x5e3a_11fe ^ name.len() as u64, dict);
    let execs = run_for(target, &mut corpus, &mut m, budget(), max_len);
    eprintln!("fuzz {name}: {execs} executions");
    assert!(execs > corpus.len() as u64 / 2);
}

#[test]
fn fuzz_dsl() {
    let mut corpus: Vec<Vec<u8>> =
        sessions().iter().map(|s| s.dsl.clone().into_bytes()).filter(|d| !d.is_empty()).collect();
    corpus.push(crate::control::state::SessionState::default().dsl.into_bytes());
    corpus.push(
        b":a:{{1}clp,[1,2,3]}rsq;\n>{{:a:}saw,{1}param}mul;\n{{4}clt,60,0.8,0.1}midi;".to_vec(),
    );
    let dict: Vec<&'static [u8]> = vec![
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b";",
        b":x:",
        b">",
        b"1e308",
        b"-1",
        b"0",
        b"1e9",
        b"NaN",
        b"clp",
        b"clt",
        b"rsq",
        b"saw",
        b"sin",
        b"mul",
        b"div",
        b"dac",
        b"midi",
        b"fromJS",
        b"toJS",
        b"clk",
        b"quantise",
        b"param",
        b"mix",
        b"lpf",
        b"dl",
        b"env",
        b"\\",
        b"|",
        b"@",
        b"//",
        b"(",
        b")",
        b"#",
        b"x=>",
        b"\n",
    ];
    fuzz("dsl", &mut |d| dsl(d), corpus, dict, 4096);
}

#[test]
fn fuzz_js_blocks() {
    let mut corpus: Vec<Vec<u8>> =
        sessions().iter().map(|s| s.js.clone().into_bytes()).filter(|d| !d.is_empty()).collect();
    corpus.push(include_bytes!("../js/seed/part2_vae.js").to_vec());
    let dict: Vec<&'static [u8]> = vec![
        b"for (",
        b"while (",
        b"do ",
        b";",
        b"{",
        b"}",
        b"(",
        b")",
        b"'",
        b"\"",
        b"`",
        b"${",
        b"/",
        b"/*",
        b"*/",
        b"//",
        b"\n___\n",
        b"of ",
        b"in ",
        b"\\",
        b"await ",
        b".for",
        b"=>",
        b"\r\n",
        b"\xe2\x80\xa8",
        b"at line 3, col 4",
        b"<anonymous>:2:5",
    ];
    fuzz("js_blocks", &mut |d| js_blocks(d), corpus, dict, 8192);
}

#[test]
fn fuzz_session_toml() {
    let corpus: Vec<Vec<u8>> = EXAMPLES.iter().map(|t| t.as_bytes().to_vec()).collect();
    let dict: Vec<&'static [u8]> = vec![
        b"[settings]\n",
        b"bpm = ",
        b"1e400",
        b"-0",
        b"nan",
        b"beats_per_bar = 0",
        b"[[channels]]\n",
        b"id = 99999999999",
        b"data = [",
        b"]",
        b"\"\"\"",
        b"'''",
        b"\n",
        b"=",
        b"inf",
    ];
    fuzz("session_toml", &mut |d| session_toml(d), corpus, dict, 16384);
}

#[test]
fn fuzz_plugin_state() {
    let mut corpus: Vec<Vec<u8>> = sessions()
        .iter()
        .map(|s| serde_json::to_vec(&s.to_state()).expect("state serialises"))
        .collect();
    corpus.push(serde_json::to_vec(&crate::control::state::SessionState::default()).unwrap());
    let dict: Vec<&'static [u8]> = vec![
        b"\"version\":",
        b"0",
        b"99",
        b"-1",
        b"1e308",
        b"null",
        b"[]",
        b"{}",
        b"\"channels\":",
        b"{\"63\":[1,2]}",
        b"{\"64\":[]}",
        b"\"js_evaluated\":",
        b"\"dsl\":\"",
        b"\"editor\":",
        b"\"split\":",
        b"NaN",
        b"\"",
    ];
    fuzz("plugin_state", &mut |d| plugin_state(d), corpus, dict, 16384);
}

#[test]
fn fuzz_midi_file() {
    let notes: Vec<TimedEvent> = (0..24)
        .flat_map(|i| {
            let b = i as f64 * 0.5;
            [
                TimedEvent {
                    beats: b,
                    on: true,
                    channel: (i % 3) as u8,
                    key: 60 + i as u8,
                    velocity: 0.8,
                },
                TimedEvent {
                    beats: b + 0.25,
                    on: false,
                    channel: (i % 3) as u8,
                    key: 60 + i as u8,
                    velocity: 0.0,
                },
            ]
        })
        .collect();
    let corpus = vec![encode(&notes, 120.0, 4), encode(&notes[..6], 97.0, 3), encode(&[], 60.0, 7)];
    let dict: Vec<&'static [u8]> = vec![
        b"MThd",
        b"MTrk",
        b"\x00\x00\x00\x06",
        b"\xff\xff\xff\xff",
        b"\x90\x3c\x7f",
        b"\x80\x3c\x00",
        b"\xff\x2f\x00",
        b"\xff\x51\x03",
        b"\xe0\x00\x40",
        b"\xb0\x07\x64",
        b"\x8f\xff\xff\x7f",
        b"\xe7\x28",
    ];
    let e = crate::cli::midi_file::decode_notes(REGRESSIONS[0].1).unwrap_err();
    assert!(e.contains("SMPTE frame rate"), "{e}");
    fuzz("midi_file", &mut |d| midi_file(d), corpus, dict, 8192);
}

/// Raw bytes into the three checkpoint files, and structured mutations of valid small
/// checkpoints: shapes (zero, wrong, huge), dtypes, quantization, shard lengths.
#[test]
fn fuzz_checkpoints() {
    let root = tempfile::tempdir().unwrap();
    let rnn = root.path().join("rnn");
    let vae = root.path().join("vae");
    write_rnn(&rnn, &RnnSizes { min_pitch: 60, max_pitch: 63, layers: vec![3] }, Storage::Uint8, 1)
        .unwrap();
    let vs =
        VaeSizes { min_pitch: 60, max_pitch: 62, num_steps: 4, encoder: 2, decoder: vec![2], z: 2 };
    write_vae(&vae, &vs, Storage::Float16, 2).unwrap();
    let read = |dir: &Path| {
        let config = std::fs::read(dir.join("config.json")).unwrap();
        let manifest = std::fs::read(dir.join("weights_manifest.json")).unwrap();
        let groups: Vec<crate::ml::core::checkpoint::ManifestGroup> =
            serde_json::from_slice(&manifest).unwrap();
        let mut shard = Vec::new();
        for p in groups.iter().flat_map(|g| g.paths.iter()) {
            shard.extend(std::fs::read(dir.join(p)).unwrap());
        }
        // One group in one shard: the manifest rewritten to say so.
        let mut v: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let all: Vec<serde_json::Value> = v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["weights"].as_array().cloned().unwrap_or_default())
            .collect();
        v = serde_json::json!([{ "paths": ["group1-shard1of1"], "weights": all }]);
        (config, v, shard)
    };
    let bases = [read(&rnn), read(&vae)];
    // Raw: the three files as one input.
    let work = root.path().join("work");
    let corpus: Vec<Vec<u8>> = bases
        .iter()
        .map(|(c, m, s)| {
            let mut v = c.clone();
            v.push(0);
            v.extend(serde_json::to_vec(m).unwrap());
            v.push(0);
            v.extend(s);
            v
        })
        .collect();
    let dict: Vec<&'static [u8]> = vec![
        b"\"shape\":[",
        b"4294967296",
        b"18446744073709551615",
        b"0",
        b"\"dtype\":\"",
        b"float32",
        b"int32",
        b"uint8",
        b"uint16",
        b"float16",
        b"\"quantization\":",
        b"\"scale\":",
        b"\"min\":",
        b"\"paths\":[\"",
        b"../",
        b"\"minPitch\":",
        b"\"maxPitch\":",
        b"1000000000",
        b"-5",
    ];
    fuzz("checkpoint", &mut |d| checkpoint(d, &work), corpus, dict, 1 << 16);
    // Structured.
    let mut m = Mutator::new(77, vec![]);
    let end = std::time::Instant::now() + budget();
    let mut execs = 0u64;
    while std::time::Instant::now() < end {
        let (config, manifest, shard) = &bases[m.below(2)];
        let mut man = manifest.clone();
        let mut config: serde_json::Value = serde_json::from_slice(config).unwrap();
        let mut shard = shard.clone();
        for _ in 0..1 + m.below(3) {
            let weights = man[0]["weights"].as_array_mut().unwrap();
            let n = weights.len();
            let w = &mut weights[m.below(n)];
            match m.below(9) {
                0 => {
                    let dims = [0u64, 1, 2, 3, 7, 1 << 20, 1 << 32, u64::MAX];
                    let shape = w["shape"].as_array_mut().unwrap();
                    let k = m.below(shape.len() + 1);
                    if k < shape.len() {
                        shape[k] = dims[m.below(dims.len())].into();
                    } else {
                        shape.push(dims[m.below(dims.len())].into());
                    }
                }
                1 => w["shape"] = serde_json::json!([]),
                2 => w["dtype"] = ["int32", "float64", "", "float32"][m.below(4)].into(),
                3 => {
                    let dtype = ["uint8", "uint16", "float16", "int4"][m.below(4)];
                    let min = [serde_json::json!(0.5), serde_json::Value::Null][m.below(2)].clone();
                    let scale = [1e-3, 1e308][m.below(2)];
                    w["quantization"] =
                        serde_json::json!({ "dtype": dtype, "min": min, "scale": scale });
                }
                4 => {
                    let len = shard.len();
                    shard.truncate(m.below(len + 1));
                }
                5 => shard.extend((0..1 + m.below(64)).map(|_| m.next_u64() as u8)),
                6 => {
                    let keys = ["minPitch", "maxPitch", "numSteps", "attentionLength"];
                    let vals = [
                        serde_json::json!(-1000),
                        serde_json::json!(1_000_000_000i64),
                        serde_json::json!(0),
                        serde_json::json!(127),
                    ];
                    let k = keys[m.below(keys.len())];
                    let val = vals[m.below(vals.len())].clone();
                    if let Some(args) = config
                        .get_mut("dataConverter")
                        .and_then(|d| d.get_mut("args"))
                        .and_then(|a| a.as_object_mut())
                    {
                        args.insert(k.to_string(), val);
                    } else if let Some(o) = config.as_object_mut() {
                        o.insert(k.to_string(), val);
                    }
                }
                7 => {
                    let name = w["name"].as_str().unwrap_or_default().to_string();
                    w["name"] = format!("{name}x").into();
                }
                _ => {
                    let k = m.below(n);
                    weights.swap(0, k);
                }
            }
        }
        checkpoint_files(
            &serde_json::to_vec(&config).unwrap(),
            &serde_json::to_vec(&man).unwrap(),
            &[("group1-shard1of1", &shard)],
            &work,
        );
        execs += 1;
    }
    eprintln!("fuzz checkpoint (structured): {execs} executions");
    assert!(execs > 0);
}
