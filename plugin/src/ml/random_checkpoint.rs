//! Random-weight checkpoints in the magenta.js format: what `sema-live model
//! random-checkpoint` writes (the parity test runs magenta.js on them), and what the unit
//! tests and benches load. Deterministic for a given seed on every machine.

use std::path::Path;

use serde_json::json;

use crate::ml::core::checkpoint::{self, Storage, Var};
use crate::ml::error::ModelError;

/// Small deterministic generator (splitmix64), so test checkpoints are the same on every
/// machine and independent of `rand`'s versions.
pub struct Lcg(u64);

impl Lcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Lcg(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` values uniform in [-scale, scale].
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| ((self.uniform() * 2.0 - 1.0) as f32) * scale).collect()
    }
}

/// Sizes of a random MusicRNN checkpoint.
#[derive(Clone, Debug)]
pub struct RnnSizes {
    /// Lowest pitch of the MelodyConverter.
    pub min_pitch: i32,
    /// Highest pitch.
    pub max_pitch: i32,
    /// LSTM layer sizes (basic_rnn: [512, 512]).
    pub layers: Vec<usize>,
}

impl RnnSizes {
    /// basic_rnn's real sizes.
    pub fn basic_rnn() -> Self {
        RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![512, 512] }
    }
}

/// Sizes of a random flat MusicVAE checkpoint.
#[derive(Clone, Debug)]
pub struct VaeSizes {
    /// Lowest pitch.
    pub min_pitch: i32,
    /// Highest pitch.
    pub max_pitch: i32,
    /// Steps per sequence.
    pub num_steps: usize,
    /// Units of the bidirectional encoder layer.
    pub encoder: usize,
    /// Decoder layer sizes (all equal).
    pub decoder: Vec<usize>,
    /// Latent size.
    pub z: usize,
}

impl VaeSizes {
    /// mel_2bar_small's real sizes.
    pub fn mel_2bar_small() -> Self {
        VaeSizes {
            min_pitch: 21,
            max_pitch: 108,
            num_steps: 32,
            encoder: 512,
            decoder: vec![256, 256],
            z: 256,
        }
    }
}

/// A dense layer's random weights with a Glorot-like range, times `gain`.
fn dense(rng: &mut Lcg, rows: usize, cols: usize, gain: f32) -> (Var, Var) {
    let scale = gain * (6.0 / (rows + cols) as f32).sqrt();
    (
        Var { shape: vec![rows, cols], data: rng.vec(rows * cols, scale) },
        Var { shape: vec![cols], data: rng.vec(cols, 0.1 * gain) },
    )
}

/// Random LSTM layers of `units` on an input of `input` values, as `<cell(l)>kernel` and
/// `<cell(l)>bias`; returns the last layer's size.
fn push_lstm_stack(
    vars: &mut Vec<(String, Var)>,
    rng: &mut Lcg,
    input: usize,
    units: &[usize],
    cell: impl Fn(usize) -> String,
) -> usize {
    let mut prev = input;
    for (l, &h) in units.iter().enumerate() {
        push(vars, &cell(l), dense(rng, prev + h, 4 * h, 1.5), ("kernel", "bias"));
        prev = h;
    }
    prev
}

fn push(vars: &mut Vec<(String, Var)>, prefix: &str, kb: (Var, Var), names: (&str, &str)) {
    vars.push((format!("{prefix}{}", names.0), kb.0));
    vars.push((format!("{prefix}{}", names.1), kb.1));
}

/// Writes a random MusicRNN checkpoint (config, manifest, shards of 4 MB like the
/// converter's default).
pub fn write_rnn(
    dir: &Path,
    sizes: &RnnSizes,
    storage: Storage,
    seed: u64,
) -> Result<(), ModelError> {
    let mut rng = Lcg::new(seed);
    let d = (sizes.max_pitch - sizes.min_pitch + 3) as usize;
    let mut vars = Vec::new();
    let prev = push_lstm_stack(&mut vars, &mut rng, d, &sizes.layers, |l| {
        format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/")
    });
    push(&mut vars, "fully_connected/", dense(&mut rng, prev, d, 3.0), ("weights", "biases"));
    let config = json!({
        "type": "MusicRNN",
        "dataConverter": {"type": "MelodyConverter",
                          "args": {"minPitch": sizes.min_pitch, "maxPitch": sizes.max_pitch}}
    });
    checkpoint::write(dir, &config, &vars, storage, 4 << 20).map(|_| ())
}

/// Writes a random `attention_rnn`-style checkpoint (variables under
/// `rnn/attention_cell_wrapper/`, `attentionLength` in the config). magenta.js reads the
/// output of the third layer, so give three layers for parity runs.
pub fn write_attention_rnn(
    dir: &Path,
    sizes: &RnnSizes,
    attn_len: usize,
    storage: Storage,
    seed: u64,
) -> Result<(), ModelError> {
    let mut rng = Lcg::new(seed);
    let d = (sizes.max_pitch - sizes.min_pitch + 3) as usize;
    let a = *sizes.layers.first().ok_or_else(|| ModelError::bad_input("at least one layer"))?;
    let p = "rnn/attention_cell_wrapper/";
    let mut vars = Vec::new();
    push(&mut vars, p, dense(&mut rng, d + a, d, 1.5), ("kernel", "bias"));
    let prev = push_lstm_stack(&mut vars, &mut rng, d, &sizes.layers, |l| {
        format!("{p}multi_rnn_cell/cell_{l}/basic_lstm_cell/")
    });
    let state: usize = sizes.layers.iter().map(|h| 2 * h).sum();
    let (w, _) = dense(&mut rng, a, a, 1.5);
    vars.push((format!("{p}attention/attn_w"), Var { shape: vec![1, 1, a, a], data: w.data }));
    let (v, _) = dense(&mut rng, 1, a, 1.5);
    vars.push((format!("{p}attention/attn_v"), Var { shape: vec![a], data: v.data }));
    push(&mut vars, &format!("{p}attention/"), dense(&mut rng, state, a, 1.5), ("kernel", "bias"));
    push(
        &mut vars,
        &format!("{p}attention_output_projection/"),
        dense(&mut rng, prev + a, a, 1.5),
        ("kernel", "bias"),
    );
    push(&mut vars, "fully_connected/", dense(&mut rng, a, d, 3.0), ("weights", "biases"));
    let config = json!({
        "type": "MusicRNN",
        "dataConverter": {"type": "MelodyConverter",
                          "args": {"minPitch": sizes.min_pitch, "maxPitch": sizes.max_pitch}},
        "attentionLength": attn_len
    });
    checkpoint::write(dir, &config, &vars, storage, 4 << 20).map(|_| ())
}

/// Writes a random flat MusicVAE checkpoint (including the unused `encoder/sigma`).
pub fn write_vae(
    dir: &Path,
    sizes: &VaeSizes,
    storage: Storage,
    seed: u64,
) -> Result<(), ModelError> {
    let mut rng = Lcg::new(seed);
    let d = (sizes.max_pitch - sizes.min_pitch + 3) as usize;
    let e = sizes.encoder;
    let mut vars = Vec::new();
    for dir_name in ["fw", "bw"] {
        let prefix =
            format!("encoder/cell_0/bidirectional_rnn/{dir_name}/multi_rnn_cell/cell_0/lstm_cell/");
        push(&mut vars, &prefix, dense(&mut rng, d + e, 4 * e, 1.5), ("kernel", "bias"));
    }
    push(&mut vars, "encoder/mu/", dense(&mut rng, 2 * e, sizes.z, 1.0), ("kernel", "bias"));
    push(&mut vars, "encoder/sigma/", dense(&mut rng, 2 * e, sizes.z, 1.0), ("kernel", "bias"));
    let prev = push_lstm_stack(&mut vars, &mut rng, d + sizes.z, &sizes.decoder, |l| {
        format!("decoder/multi_rnn_cell/cell_{l}/lstm_cell/")
    });
    let total: usize = sizes.decoder.iter().sum();
    push(
        &mut vars,
        "decoder/z_to_initial_state/",
        dense(&mut rng, sizes.z, 2 * total, 1.0),
        ("kernel", "bias"),
    );
    push(
        &mut vars,
        "decoder/output_projection/",
        dense(&mut rng, prev, d, 3.0),
        ("kernel", "bias"),
    );
    let config = json!({
        "type": "MusicVAE",
        "dataConverter": {"type": "MelodyConverter",
                          "args": {"numSteps": sizes.num_steps, "minPitch": sizes.min_pitch,
                                   "maxPitch": sizes.max_pitch}}
    });
    checkpoint::write(dir, &config, &vars, storage, 4 << 20).map(|_| ())
}

/// The data a random MusicRNN models.
#[derive(Clone, Debug)]
pub enum RnnData {
    /// Melody classes of `min_pitch..=max_pitch` (`MelodyConverter`).
    Melody {
        /// Lowest pitch.
        min_pitch: i32,
        /// Highest pitch.
        max_pitch: i32,
    },
    /// The 9 default drum classes, 512 labels (`DrumsOneHotConverter`).
    Drums,
}

/// A random MusicRNN of any family: melody or drums, with chords and counters.
#[derive(Clone, Debug)]
pub struct RnnFamily {
    /// What it models.
    pub data: RnnData,
    /// LSTM layer sizes.
    pub layers: Vec<usize>,
    /// Chord-conditioned (`PitchChordEncoder`, 37 control inputs before the classes).
    pub chords: bool,
    /// Bits of a `BinaryCounter` auxiliary input after the classes (0: none).
    pub counter_bits: usize,
}

impl RnnFamily {
    /// `drum_kit_rnn`'s shape: drum labels, a 6-bit counter (real layers: 3 × 256).
    pub fn drum_kit_rnn(layers: Vec<usize>) -> Self {
        RnnFamily { data: RnnData::Drums, layers, chords: false, counter_bits: 6 }
    }

    /// `chord_pitches_improv`'s shape: melody 48..=83 conditioned on chords (real layers:
    /// 3 × 256).
    pub fn chord_pitches_improv(layers: Vec<usize>) -> Self {
        RnnFamily {
            data: RnnData::Melody { min_pitch: 48, max_pitch: 83 },
            layers,
            chords: true,
            counter_bits: 0,
        }
    }
}

/// Writes a random MusicRNN checkpoint of any family (see [`RnnFamily`]).
pub fn write_rnn_family(
    dir: &Path,
    family: &RnnFamily,
    storage: Storage,
    seed: u64,
) -> Result<(), ModelError> {
    let mut rng = Lcg::new(seed);
    let (d, converter) = match family.data {
        RnnData::Melody { min_pitch, max_pitch } => (
            (max_pitch - min_pitch + 3) as usize,
            json!({"type": "MelodyConverter", "args": {"minPitch": min_pitch, "maxPitch": max_pitch}}),
        ),
        RnnData::Drums => (512, json!({"type": "DrumsOneHotConverter", "args": {}})),
    };
    let controls = if family.chords { 37 } else { 0 };
    let mut vars = Vec::new();
    let prev = push_lstm_stack(
        &mut vars,
        &mut rng,
        controls + d + family.counter_bits,
        &family.layers,
        |l| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"),
    );
    push(&mut vars, "fully_connected/", dense(&mut rng, prev, d, 3.0), ("weights", "biases"));
    let mut config = json!({"type": "MusicRNN", "dataConverter": converter});
    if family.chords {
        config["chordEncoder"] = json!("PitchChordEncoder");
    }
    if family.counter_bits > 0 {
        config["auxInputs"] =
            json!([{"type": "BinaryCounter", "args": {"numBits": family.counter_bits}}]);
    }
    checkpoint::write(dir, &config, &vars, storage, 4 << 20).map(|_| ())
}

/// The data a random MusicVAE models.
#[derive(Clone, Debug)]
pub enum VaeData {
    /// Melodies of `min_pitch..=max_pitch`.
    Melody {
        /// Lowest pitch.
        min_pitch: i32,
        /// Highest pitch.
        max_pitch: i32,
    },
    /// Drums: drum roll in (10 columns), 512 labels out (`DrumsConverter`).
    Drums,
    /// Melody, bass and drums (`TrioConverter`), pitch ranges of melody and bass.
    Trio {
        /// Melody pitch range.
        melody: (i32, i32),
        /// Bass pitch range.
        bass: (i32, i32),
    },
    /// Drum performances (`GrooveConverter`, 9 classes): 27 values in and out a step, as
    /// the GrooVAE models.
    Groove {
        /// Input velocities and offsets left out (`groovae_2bar_humanize`).
        humanize: bool,
        /// Every input note on one class (`tap2drum_*bar`).
        tapify: bool,
    },
}

/// The conductor level of a random hierarchical MusicVAE.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    /// Segments (`numSegments`).
    pub segments: usize,
    /// Units of the level-1 encoder layer.
    pub encoder_top: usize,
    /// Conductor layer sizes (all equal).
    pub conductor: Vec<usize>,
}

/// A random MusicVAE of any family.
#[derive(Clone, Debug)]
pub struct VaeFamily {
    /// What it models.
    pub data: VaeData,
    /// Steps per sequence.
    pub num_steps: usize,
    /// Units of the (level-0) bidirectional encoder layer.
    pub encoder: usize,
    /// Decoder layer sizes (all equal), per part.
    pub decoder: Vec<usize>,
    /// Latent size.
    pub z: usize,
    /// The conductor, for hierarchical models.
    pub hierarchy: Option<Hierarchy>,
}

impl VaeFamily {
    /// Input columns and output labels per part.
    fn depths(&self) -> (usize, Vec<usize>) {
        let mel = |(lo, hi): (i32, i32)| (hi - lo + 3) as usize;
        match self.data {
            VaeData::Melody { min_pitch, max_pitch } => {
                let d = mel((min_pitch, max_pitch));
                (d, vec![d])
            }
            VaeData::Drums => (10, vec![512]),
            VaeData::Trio { melody, bass } => {
                let parts = vec![mel(melody), mel(bass), 512];
                (parts.iter().sum(), parts)
            }
            VaeData::Groove { .. } => (27, vec![27]),
        }
    }

    fn converter(&self) -> serde_json::Value {
        let mut c = match self.data {
            VaeData::Melody { min_pitch, max_pitch } => json!({"type": "MelodyConverter",
                "args": {"numSteps": self.num_steps, "minPitch": min_pitch, "maxPitch": max_pitch}}),
            VaeData::Drums => {
                json!({"type": "DrumsConverter", "args": {"numSteps": self.num_steps}})
            }
            VaeData::Trio { melody, bass } => json!({"type": "TrioConverter", "args": {
                "numSteps": self.num_steps,
                "melArgs": {"minPitch": melody.0, "maxPitch": melody.1},
                "bassArgs": {"minPitch": bass.0, "maxPitch": bass.1},
                "drumsArgs": {}}}),
            VaeData::Groove { humanize, tapify } => json!({"type": "GrooveConverter",
                "args": {"numSteps": self.num_steps, "humanize": humanize, "tapify": tapify}}),
        };
        if let Some(h) = &self.hierarchy {
            c["args"]["numSegments"] = json!(h.segments);
        }
        c
    }
}

/// Writes a random MusicVAE checkpoint of any family (see [`VaeFamily`]), with the
/// variable names magenta.js reads for it.
pub fn write_vae_family(
    dir: &Path,
    family: &VaeFamily,
    storage: Storage,
    seed: u64,
) -> Result<(), ModelError> {
    let mut rng = Lcg::new(seed);
    let (d_in, parts) = family.depths();
    let e = family.encoder;
    let mut vars = Vec::new();
    let bidi =
        |vars: &mut Vec<(String, Var)>, rng: &mut Lcg, base: &str, input: usize, units: usize| {
            for dir_name in ["fw", "bw"] {
                let prefix = format!("{base}{dir_name}/multi_rnn_cell/cell_0/lstm_cell/");
                push(vars, &prefix, dense(rng, input + units, 4 * units, 1.5), ("kernel", "bias"));
            }
        };
    let enc_out = match &family.hierarchy {
        None => {
            bidi(&mut vars, &mut rng, "encoder/cell_0/bidirectional_rnn/", d_in, e);
            2 * e
        }
        Some(h) => {
            bidi(
                &mut vars,
                &mut rng,
                "encoder/hierarchical_level_0/cell_0/bidirectional_rnn/",
                d_in,
                e,
            );
            bidi(
                &mut vars,
                &mut rng,
                "encoder/hierarchical_level_1/cell_0/bidirectional_rnn/",
                2 * e,
                h.encoder_top,
            );
            2 * h.encoder_top
        }
    };
    push(&mut vars, "encoder/mu/", dense(&mut rng, enc_out, family.z, 1.0), ("kernel", "bias"));
    push(&mut vars, "encoder/sigma/", dense(&mut rng, enc_out, family.z, 1.0), ("kernel", "bias"));
    // The core decoders read the conductor's output in place of z.
    let core_z = match &family.hierarchy {
        None => family.z,
        Some(h) => {
            let p = "decoder/hierarchical_level_0/";
            push_lstm_stack(&mut vars, &mut rng, 1, &h.conductor, |l| {
                format!("{p}cell_{l}/lstm_cell/")
            });
            let total: usize = h.conductor.iter().sum();
            push(
                &mut vars,
                &format!("{p}initial_state/"),
                dense(&mut rng, family.z, 2 * total, 1.0),
                ("kernel", "bias"),
            );
            h.conductor[h.conductor.len() - 1]
        }
    };
    let base = if family.hierarchy.is_some() { "core_decoder/" } else { "" };
    for (i, &depth) in parts.iter().enumerate() {
        let prefix = if parts.len() > 1 {
            format!("{base}core_decoder_{i}/decoder/")
        } else {
            format!("{base}decoder/")
        };
        let prev = push_lstm_stack(&mut vars, &mut rng, depth + core_z, &family.decoder, |l| {
            format!("{prefix}multi_rnn_cell/cell_{l}/lstm_cell/")
        });
        let total: usize = family.decoder.iter().sum();
        push(
            &mut vars,
            &format!("{prefix}z_to_initial_state/"),
            dense(&mut rng, core_z, 2 * total, 1.0),
            ("kernel", "bias"),
        );
        push(
            &mut vars,
            &format!("{prefix}output_projection/"),
            dense(&mut rng, prev, depth, 3.0),
            ("kernel", "bias"),
        );
    }
    let config = json!({"type": "MusicVAE", "dataConverter": family.converter()});
    checkpoint::write(dir, &config, &vars, storage, 4 << 20).map(|_| ())
}
