//! `sema-live model ...`: run a model on a checkpoint and print JSON, for scripting,
//! the parity test and benchmarks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::ml::core::checkpoint::Storage;
use crate::ml::core::note_seq::piano_phase;
use crate::ml::core::note_seq::{quantize_note_sequence, NoteSequence};
use crate::ml::core::resolve::{
    default_bundled_dir, default_cache_dir, fetch, resolve, ResolveOptions,
};
use crate::ml::error::ModelError;
use crate::ml::music_rnn::MusicRnn;
use crate::ml::music_vae::MusicVae;
use crate::ml::random_checkpoint::{self, RnnSizes, VaeSizes};
use crate::ml::worker::ModelKind;

/// Arguments of `sema-live model`.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// What to run.
    #[command(subcommand)]
    pub command: ModelCommand,
    /// Seed of the sampling RNG (temperature > 0, `sample`), for reproducible output.
    #[arg(long, global = true)]
    pub seed: Option<u64>,
    /// Never download: use the cache, else the bundled model.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Folder of the bundled models (default: next to the executable or the source tree).
    #[arg(long, global = true)]
    pub bundled_dir: Option<PathBuf>,
}

/// Storage type of generated checkpoints.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageArg {
    /// Plain float32.
    Float32,
    /// uint8 quantised.
    Uint8,
    /// uint16 quantised.
    Uint16,
    /// float16.
    Float16,
}

impl From<StorageArg> for Storage {
    fn from(s: StorageArg) -> Self {
        match s {
            StorageArg::Float32 => Storage::Float32,
            StorageArg::Uint8 => Storage::Uint8,
            StorageArg::Uint16 => Storage::Uint16,
            StorageArg::Float16 => Storage::Float16,
        }
    }
}

/// Model kinds for `random-checkpoint`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindArg {
    /// MusicRNN melody model.
    Rnn,
    /// Flat MusicVAE melody model.
    Vae,
    /// MusicRNN drum model shaped like `drum_kit_rnn` (drum labels, a 6-bit counter).
    DrumRnn,
}

/// `sema-live model` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum ModelCommand {
    /// MusicRNN `continueSequence`: prints `{"sequences": [...]}`.
    Continue {
        /// Checkpoint URL or folder.
        checkpoint: String,
        /// NoteSequence JSON file of the primer (unquantized ones are quantized at 4
        /// steps per quarter).
        primer: PathBuf,
        /// Steps to generate.
        #[arg(long, default_value_t = 32)]
        steps: usize,
        /// Sampling temperature; 0 = greedy (magenta.js without temperature).
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Number of continuations (one batch).
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Chord progression of a chord-conditioned model (`chord_pitches_improv`),
        /// comma separated: `--chords C,Am7,F,G7`.
        #[arg(long, value_delimiter = ',')]
        chords: Vec<String>,
    },
    /// MusicVAE `encode`: prints `{"z": [[...], ...]}`.
    Encode {
        /// Checkpoint URL or folder.
        checkpoint: String,
        /// NoteSequence JSON files (each one sequence or a list of sequences).
        inputs: Vec<PathBuf>,
    },
    /// MusicVAE `decode`: prints `{"sequences": [...]}`.
    Decode {
        /// Checkpoint URL or folder.
        checkpoint: String,
        /// JSON file with a list of latent vectors.
        z: PathBuf,
        /// Sampling temperature; 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
    },
    /// MusicVAE `sample`: prints `{"sequences": [...]}`.
    Sample {
        /// Checkpoint URL or folder.
        checkpoint: String,
        /// Number of samples.
        #[arg(long, default_value_t = 1)]
        n: usize,
        /// Sampling temperature (magenta.js default 0.5).
        #[arg(long, default_value_t = 0.5)]
        temperature: f32,
    },
    /// MusicVAE `interpolate`: prints `{"sequences": [...]}`.
    Interpolate {
        /// Checkpoint URL or folder.
        checkpoint: String,
        /// NoteSequence JSON files (2 or 4 sequences in all).
        inputs: Vec<PathBuf>,
        /// Number of interpolation steps.
        #[arg(long, default_value_t = 5)]
        n: usize,
        /// Sampling temperature; 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
    },
    /// Downloads a magenta.js checkpoint URL into the model cache (the one the plugin
    /// and `continue`/... read URLs from), for offline use: prints `{"cached": folder}`.
    Fetch {
        /// Checkpoint URL, e.g.
        /// https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/drum_kit_rnn
        url: String,
        /// Cache folder (default: the user's, `<cache>/sema-live/models`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Writes a random-weight checkpoint in the magenta.js format (tests, benchmarks).
    RandomCheckpoint {
        /// Model kind.
        #[arg(value_enum)]
        kind: KindArg,
        /// Output folder.
        out: PathBuf,
        /// RNN layer sizes, or decoder layer sizes for a VAE (comma separated).
        #[arg(long, value_delimiter = ',')]
        layers: Vec<usize>,
        /// VAE encoder units.
        #[arg(long, default_value_t = 512)]
        encoder: usize,
        /// VAE latent size.
        #[arg(long, default_value_t = 256)]
        z: usize,
        /// Weight storage.
        #[arg(long, value_enum, default_value = "float32")]
        storage: StorageArg,
        /// Seed of the weights.
        #[arg(long, default_value_t = 1)]
        weights_seed: u64,
    },
    /// Times the Piano Phase continuation (96 primer + N generated steps) and a VAE
    /// encode + decode: prints milliseconds.
    Bench {
        /// MusicRNN checkpoint URL or folder.
        #[arg(long)]
        rnn: Option<String>,
        /// MusicVAE checkpoint URL or folder.
        #[arg(long)]
        vae: Option<String>,
        /// Generated steps.
        #[arg(long, default_value_t = 32)]
        steps: usize,
        /// Timed repetitions.
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
}

fn read_json(path: &Path) -> Result<Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io("read", path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::bad_input(format!("{}: invalid JSON: {e}", path.display())))
}

/// Reads NoteSequences from files holding one sequence or a list.
fn read_sequences(paths: &[PathBuf]) -> Result<Vec<NoteSequence>, ModelError> {
    let mut out = Vec::new();
    for p in paths {
        let v = read_json(p)?;
        let items = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        for (i, item) in items.into_iter().enumerate() {
            let ns: NoteSequence = serde_json::from_value(item).map_err(|e| {
                ModelError::bad_input(format!(
                    "{}: item {i} is not a NoteSequence: {e}",
                    p.display()
                ))
            })?;
            out.push(if ns.is_quantized() { ns } else { quantize_note_sequence(&ns, 4)? });
        }
    }
    Ok(out)
}

fn rng(seed: Option<u64>) -> SmallRng {
    SmallRng::seed_from_u64(seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    }))
}

/// Resolves a checkpoint argument; fallback notices go to stderr.
fn locate(args: &ModelArgs, spec: &str, kind: ModelKind) -> Result<PathBuf, ModelError> {
    let opts = ResolveOptions {
        cache_dir: default_cache_dir(),
        bundled_dir: args.bundled_dir.clone().unwrap_or_else(default_bundled_dir),
        allow_network: !args.offline,
    };
    let r = resolve(spec, kind, &opts, &mut |p| eprintln!("{}", p.message))?;
    Ok(r.dir)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ModelError> {
    serde_json::to_value(v).map_err(|e| ModelError::engine(e.to_string()))
}

/// Runs `sema-live model ...` and returns the JSON to print.
pub fn cli_model(args: ModelArgs) -> Result<String, ModelError> {
    let mut rng = rng(args.seed);
    let out = match &args.command {
        ModelCommand::Continue { checkpoint, primer, steps, temperature, count, chords } => {
            let dir = locate(&args, checkpoint, ModelKind::MusicRnn)?;
            let seqs = read_sequences(std::slice::from_ref(primer))?;
            let seq = seqs.first().ok_or_else(|| {
                ModelError::bad_input(format!("{}: no NoteSequence", primer.display()))
            })?;
            let t0 = Instant::now();
            let mut m = MusicRnn::load(&dir)?;
            let load_ms = ms(t0);
            let t1 = Instant::now();
            let chords = (!chords.is_empty()).then_some(chords.as_slice());
            let res =
                m.continue_sequence_chords(seq, *steps, *temperature, *count, chords, &mut rng)?;
            json!({"sequences": to_json(&res)?, "loadMs": load_ms, "runMs": ms(t1)})
        }
        ModelCommand::Encode { checkpoint, inputs } => {
            let dir = locate(&args, checkpoint, ModelKind::MusicVae)?;
            let seqs = read_sequences(inputs)?;
            let mut m = MusicVae::load(&dir)?;
            let t1 = Instant::now();
            let z = m.encode(&seqs)?;
            json!({"z": z, "runMs": ms(t1)})
        }
        ModelCommand::Decode { checkpoint, z, temperature } => {
            let dir = locate(&args, checkpoint, ModelKind::MusicVae)?;
            let zs: Vec<Vec<f32>> = serde_json::from_value(read_json(z)?).map_err(|e| {
                ModelError::bad_input(format!(
                    "{}: expected a list of latent vectors: {e}",
                    z.display()
                ))
            })?;
            let mut m = MusicVae::load(&dir)?;
            let t1 = Instant::now();
            let res = m.decode(&zs, *temperature, &mut rng)?;
            json!({"sequences": to_json(&res)?, "runMs": ms(t1)})
        }
        ModelCommand::Sample { checkpoint, n, temperature } => {
            let dir = locate(&args, checkpoint, ModelKind::MusicVae)?;
            let mut m = MusicVae::load(&dir)?;
            let res = m.sample(*n, *temperature, &mut rng)?;
            json!({"sequences": to_json(&res)?})
        }
        ModelCommand::Interpolate { checkpoint, inputs, n, temperature } => {
            let dir = locate(&args, checkpoint, ModelKind::MusicVae)?;
            let seqs = read_sequences(inputs)?;
            let mut m = MusicVae::load(&dir)?;
            let res = m.interpolate(&seqs, *n, *temperature, &mut rng)?;
            json!({"sequences": to_json(&res)?})
        }
        ModelCommand::Fetch { url, cache_dir } => {
            if args.offline {
                return Err(ModelError::bad_input("fetch downloads: drop --offline"));
            }
            let cache = cache_dir.clone().unwrap_or_else(default_cache_dir);
            let (dir, downloaded) = fetch(url, &cache, &mut |p| eprintln!("{}", p.message))?;
            json!({"cached": dir.display().to_string(), "downloaded": downloaded})
        }
        ModelCommand::RandomCheckpoint { kind, out, layers, encoder, z, storage, weights_seed } => {
            match kind {
                KindArg::Rnn => {
                    let mut sizes = RnnSizes::basic_rnn();
                    if !layers.is_empty() {
                        sizes.layers = layers.clone();
                    }
                    random_checkpoint::write_rnn(out, &sizes, (*storage).into(), *weights_seed)?;
                }
                KindArg::DrumRnn => {
                    let layers =
                        if layers.is_empty() { vec![256, 256, 256] } else { layers.clone() };
                    let family = random_checkpoint::RnnFamily::drum_kit_rnn(layers);
                    random_checkpoint::write_rnn_family(
                        out,
                        &family,
                        (*storage).into(),
                        *weights_seed,
                    )?;
                }
                KindArg::Vae => {
                    let mut sizes = VaeSizes::mel_2bar_small();
                    if !layers.is_empty() {
                        sizes.decoder = layers.clone();
                    }
                    sizes.encoder = *encoder;
                    sizes.z = *z;
                    random_checkpoint::write_vae(out, &sizes, (*storage).into(), *weights_seed)?;
                }
            }
            json!({"written": out.display().to_string()})
        }
        ModelCommand::Bench { rnn, vae, steps, reps } => {
            let mut result = serde_json::Map::new();
            let reps = (*reps).max(1);
            let stats = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                json!({"minMs": v[0], "medianMs": v[v.len() / 2], "runs": v.len()})
            };
            if let Some(spec) = rnn {
                let dir = locate(&args, spec, ModelKind::MusicRnn)?;
                let t0 = Instant::now();
                let mut m = MusicRnn::load(&dir)?;
                result.insert("rnnLoadMs".into(), json!(ms(t0)));
                let primer = quantize_note_sequence(&piano_phase(), 4)?;
                let mut times = Vec::new();
                let mut times4 = Vec::new();
                m.continue_sequence(&primer, *steps, 0.0, 1, &mut rng)?; // warm-up
                for _ in 0..reps {
                    let t = Instant::now();
                    m.continue_sequence(&primer, *steps, 0.0, 1, &mut rng)?;
                    times.push(ms(t));
                }
                m.continue_sequence(&primer, *steps, 1.0, 4, &mut rng)?; // builds the batch-4 net
                for _ in 0..reps {
                    let t = Instant::now();
                    m.continue_sequence(&primer, *steps, 1.0, 4, &mut rng)?;
                    times4.push(ms(t));
                }
                result.insert("rnnContinue".into(), stats(times));
                result.insert("rnnContinueBatch4".into(), stats(times4));
            }
            if let Some(spec) = vae {
                let dir = locate(&args, spec, ModelKind::MusicVae)?;
                let t0 = Instant::now();
                let mut m = MusicVae::load(&dir)?;
                result.insert("vaeLoadMs".into(), json!(ms(t0)));
                let mel = quantize_note_sequence(&piano_phase(), 4)?;
                // The VAE reads the first 32 steps (two bars) of the primer.
                let z = m.encode(std::slice::from_ref(&mel))?;
                let (mut enc, mut dec) = (Vec::new(), Vec::new());
                for _ in 0..reps {
                    let t = Instant::now();
                    m.encode(std::slice::from_ref(&mel))?;
                    enc.push(ms(t));
                    let t = Instant::now();
                    m.decode(&z, 0.0, &mut rng)?;
                    dec.push(ms(t));
                }
                result.insert("vaeEncode".into(), stats(enc));
                result.insert("vaeDecode".into(), stats(dec));
            }
            Value::Object(result)
        }
    };
    serde_json::to_string_pretty(&out).map_err(|e| ModelError::engine(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::error::ModelErrorKind;

    /// Parses and runs `sema-live model ARGS` (arguments must parse) and reads its JSON.
    fn run(args: &[&str]) -> Result<Value, ModelError> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ModelArgs,
        }
        use clap::Parser;
        let cli = Cli::try_parse_from(std::iter::once("model").chain(args.iter().copied()))
            .expect("arguments parse");
        let text = cli_model(cli.args)?;
        Ok(serde_json::from_str(&text).expect("JSON output"))
    }

    #[test]
    fn cli_round_trip_on_random_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let d = |p: &str| dir.path().join(p).display().to_string();
        let off = ["--offline", "--bundled-dir", "/nonexistent"];
        let (rnn, vae, primer, zf) = (d("rnn"), d("vae"), d("primer.json"), d("z.json"));
        let with_off = |a: &[&str]| -> Vec<String> {
            a.iter().chain(off.iter()).map(|s| s.to_string()).collect()
        };
        let run_s = |a: Vec<String>| {
            let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
            run(&refs)
        };
        run(&["random-checkpoint", "rnn", &rnn, "--layers", "16,8", "--storage", "uint8"]).unwrap();
        run(&["random-checkpoint", "vae", &vae, "--layers", "8,8", "--encoder", "12", "--z", "4"])
            .unwrap();
        std::fs::write(&primer, serde_json::to_string(&piano_phase()).unwrap()).unwrap();

        let out =
            run_s(with_off(&["continue", &rnn, &primer, "--steps", "8", "--count", "2"])).unwrap();
        let seqs = out["sequences"].as_array().unwrap();
        assert_eq!(seqs.len(), 2);
        assert_eq!(seqs[0]["totalQuantizedSteps"], 8);
        assert_eq!(seqs[0], seqs[1]); // greedy

        let out = run_s(with_off(&["encode", &vae, &primer])).unwrap();
        let z = out["z"].clone();
        assert_eq!(z[0].as_array().unwrap().len(), 4);
        std::fs::write(&zf, z.to_string()).unwrap();
        assert_eq!(
            run_s(with_off(&["decode", &vae, &zf])).unwrap()["sequences"][0]["totalQuantizedSteps"],
            32
        );
        let out = run_s(with_off(&["sample", &vae, "--n", "3", "--seed", "4"])).unwrap();
        assert_eq!(out["sequences"].as_array().unwrap().len(), 3);

        // Errors are messages, not panics.
        let e = run_s(with_off(&["decode", &vae, &primer])).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("expected a list of latent vectors"), "{e}");
        let e = run_s(with_off(&["continue", &vae, &primer])).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::WrongModel, "{e}");

        // A chord-conditioned model takes `--chords`, and needs them.
        let improv = d("improv");
        let family = random_checkpoint::RnnFamily::chord_pitches_improv(vec![8]);
        random_checkpoint::write_rnn_family(
            dir.path().join("improv").as_path(),
            &family,
            Storage::Float32,
            5,
        )
        .unwrap();
        let out = run_s(with_off(&[
            "continue",
            &improv,
            &primer,
            "--steps",
            "8",
            "--chords",
            "C,Am7,F,G7",
        ]))
        .unwrap();
        assert_eq!(out["sequences"][0]["totalQuantizedSteps"], 8);
        let e = run_s(with_off(&["continue", &improv, &primer])).unwrap_err();
        assert!(e.message().contains("needs a chord progression"), "{e}");

        // A drum model shaped like drum_kit_rnn continues a beat with drum hits.
        let drums = d("drums");
        run(&["random-checkpoint", "drum-rnn", &drums, "--layers", "12,8"]).unwrap();
        let beat = d("beat.json");
        let seq = crate::ml::studio::tests::beat();
        std::fs::write(&beat, serde_json::to_string(&seq).unwrap()).unwrap();
        let out = run_s(with_off(&[
            "continue",
            &drums,
            &beat,
            "--steps",
            "16",
            "--temperature",
            "1",
            "--seed",
            "3",
        ]))
        .unwrap();
        let hits = out["sequences"][0]["notes"].as_array().unwrap();
        assert!(!hits.is_empty());
        assert!(hits.iter().all(|n| n["isDrum"] == true), "{hits:?}");
        // `fetch` downloads, so it refuses --offline (its download is tested in resolve).
        let e =
            run_s(with_off(&["fetch", "http://127.0.0.1:9/music_rnn/drum_kit_rnn"])).unwrap_err();
        assert!(e.message().contains("--offline"), "{e}");
    }
}
