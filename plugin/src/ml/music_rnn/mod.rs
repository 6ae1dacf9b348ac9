//! MusicRNN: `continueSequence` as magenta.js does it, for melody RNNs (`basic_rnn`,
//! `melody_rnn`, `attention_rnn`), drum RNNs (`drum_kit_rnn`: drum labels and a binary
//! step counter as auxiliary input) and chord-conditioned RNNs (`chord_pitches_improv`:
//! the chord of each step as control input).
//!
//! Layer 0 of a step reads `[chord of the next step, input one-hot, counter]` (the parts
//! the model has), as magenta.js concatenates them. The controls and counters of every
//! step are known before the loop starts, so their part of layer 0's gates is computed
//! for all steps in one matrix product.

pub(crate) mod attention;

use std::path::Path;

use rand::Rng;

use crate::ml::core::checkpoint::{self, Checkpoint};
use crate::ml::core::chords::ChordEncoder;
use crate::ml::core::data::DataConverter;
use crate::ml::core::lstm::{Dense, LstmWeights, OneHotStack, PackedStack};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::music_rnn::attention::{AttentionStack, PREFIX as ATTENTION_PREFIX};

/// Upper bound on generated steps per request, to refuse runaway requests clearly.
pub const MAX_STEPS: usize = 16_384;
/// Upper bound on the batch of one request.
pub const MAX_BATCH: usize = 64;
/// Most binary counter bits (magenta.js `BinaryCounter`) a model may ask for.
const MAX_COUNTER_BITS: usize = 32;

/// Picks a class from logits: argmax (first maximum, as tfjs) when `temperature` is 0,
/// else a sample of `softmax(logits / temperature)`.
pub fn sample_class(logits: &[f32], temperature: f32, rng: &mut impl Rng) -> usize {
    if temperature <= 0.0 || !temperature.is_finite() {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            // Strict `>` keeps the first maximum; NaN never wins.
            if v > logits[best] || logits[best].is_nan() {
                best = i;
            }
        }
        return best;
    }
    let t = temperature as f64;
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64 / t));
    let weights: Vec<f64> = logits.iter().map(|&v| (v as f64 / t - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return sample_class(logits, 0.0, rng);
    }
    let mut r = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        r -= w;
        if r < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

/// A loaded MusicRNN.
pub struct MusicRnn {
    /// The model's data converter (melody or drum labels).
    pub converter: DataConverter,
    /// The chord encoder of a chord-conditioned model.
    chords: Option<ChordEncoder>,
    /// Bits of each binary counter input (magenta.js `auxInputs`), in order.
    counters: Vec<usize>,
    /// The network.
    net: Net,
}

/// The two MusicRNN variants magenta.js runs.
// One per loaded model, built once and never moved in a hot path: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Net {
    /// `basic_rnn`, `melody_rnn`, `drum_kit_rnn`, `chord_pitches_improv`, ...: the LSTM
    /// stack and output projection as tract networks.
    Plain(OneHotStack),
    /// `attention_rnn`: the attention-wrapped stack.
    Attention(AttentionStack),
    /// A quantised (or very large) plain stack, run by the native kernels with its
    /// weights as stored.
    Packed(PackedStack),
}

/// float32 LSTM kernels above this many bytes run natively: tract would hold a second,
/// packed copy of them.
pub const NATIVE_F32_BYTES: usize = 256 << 20;

/// Whether the plain stack at `prefix(l)` runs on the native kernels: any of its kernels
/// is kept quantised, or its float32 kernels are larger than [`NATIVE_F32_BYTES`].
fn runs_native(ck: &Checkpoint, prefix: impl Fn(usize) -> String) -> bool {
    let mut bytes = 0usize;
    for l in 0.. {
        let k = format!("{}kernel", prefix(l));
        if !ck.has(&k) {
            break;
        }
        if ck.is_quantised(&k) {
            return true;
        }
        let n: usize = ck.shape(&k).map(|s| s.iter().product()).unwrap_or(0);
        bytes = bytes.saturating_add(n.saturating_mul(4));
    }
    bytes > NATIVE_F32_BYTES
}

/// The `auxInputs` of a config: binary counters only (what magenta.js knows).
fn counters_of(spec: &Option<Vec<serde_json::Value>>) -> Result<Vec<usize>, ModelError> {
    let Some(list) = spec else { return Ok(Vec::new()) };
    list.iter()
        .map(|a| {
            let kind = a.get("type").and_then(|t| t.as_str()).unwrap_or("");
            if kind != "BinaryCounter" {
                return Err(ModelError::unsupported(format!(
                    "auxiliary input {kind:?} is not supported (only BinaryCounter)"
                )));
            }
            match a.pointer("/args/numBits").and_then(|n| n.as_u64()) {
                Some(n) if (1..=MAX_COUNTER_BITS as u64).contains(&n) => Ok(n as usize),
                _ => Err(ModelError::bad_checkpoint(format!(
                    "BinaryCounter needs args.numBits in 1..={MAX_COUNTER_BITS}"
                ))),
            }
        })
        .collect()
}

impl MusicRnn {
    /// Loads a checkpoint folder.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        Self::load_with(dir, &mut |_, _| {})
    }

    /// Loads a checkpoint folder, telling `progress(done, total)` the weight bytes read so
    /// far. Quantised weights stay as stored; float32 kernels of a native stack move from
    /// the checkpoint into the model (one copy of the weights, at most one shard piece more).
    pub fn load_with(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Self, ModelError> {
        let mut ck = checkpoint::load_with(dir, progress)?;
        Self::build(&mut ck)
    }

    /// Builds the model from a loaded checkpoint (and compiles the batch-1 network).
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self, ModelError> {
        Self::build(&mut ck.clone())
    }

    /// Builds the model; the float32 kernels of a native stack move out of `ck`.
    fn build(ck: &mut Checkpoint) -> Result<Self, ModelError> {
        let dir = ck.dir.clone();
        let at = |e: ModelError| e.context(format_args!("MusicRNN checkpoint {}", dir.display()));
        if ck.config.kind != "MusicRNN" {
            return Err(at(ModelError::new(
                ModelErrorKind::WrongModel,
                format!("config type is {:?}, expected \"MusicRNN\"", ck.config.kind),
            )));
        }
        let converter = DataConverter::from_spec(&ck.config.data_converter).map_err(at)?;
        if !matches!(converter, DataConverter::Melody(_) | DataConverter::DrumsOneHot(_)) {
            return Err(at(ModelError::unsupported(format!(
                "a MusicRNN needs a MelodyConverter or DrumsOneHotConverter, not {}",
                converter.name()
            ))));
        }
        let chords = match &ck.config.chord_encoder {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(name)) => {
                Some(ChordEncoder::from_name(name).map_err(at)?)
            }
            Some(other) => {
                return Err(at(ModelError::bad_checkpoint(format!(
                    "chordEncoder must be a name, got {other}"
                ))))
            }
        };
        let counters = counters_of(&ck.config.aux_inputs).map_err(at)?;
        let d = converter.input_depth();
        if ck.has(&format!("{ATTENTION_PREFIX}kernel")) {
            if chords.is_some() || !counters.is_empty() {
                return Err(at(ModelError::unsupported(
                    "attention models with chord or auxiliary inputs are not supported",
                )));
            }
            let len = ck.config.attention_length.ok_or_else(|| {
                at(ModelError::bad_checkpoint(
                    "attention variables present but config.json has no attentionLength",
                ))
            })?;
            let att = AttentionStack::from_checkpoint(ck, d, len).map_err(at)?;
            return Ok(MusicRnn { converter, chords, counters, net: Net::Attention(att) });
        }
        let prefix = |l: usize| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/");
        if matches!(converter, DataConverter::Melody(_))
            && chords.is_none()
            && counters.is_empty()
            && runs_native(ck, prefix)
        {
            let projection =
                Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")
                    .map_err(at)?;
            if projection.output() != d {
                return Err(at(ModelError::bad_checkpoint(format!(
                    "fully_connected has {} outputs but the converter has {d} classes",
                    projection.output()
                ))));
            }
            let stack =
                PackedStack::from_checkpoint_taking(ck, prefix, d, projection).map_err(at)?;
            return Ok(MusicRnn { converter, chords, counters, net: Net::Packed(stack) });
        }
        let layers = LstmWeights::discover(ck, prefix).map_err(at)?;
        if layers.is_empty() {
            return Err(at(ModelError::bad_checkpoint(
                "no LSTM layers (rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel missing)",
            )));
        }
        let projection =
            Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")
                .map_err(at)?;
        if projection.output() != d {
            return Err(at(ModelError::bad_checkpoint(format!(
                "fully_connected has {} outputs but the converter has {d} classes",
                projection.output()
            ))));
        }
        let before = chords.map(|c| c.depth()).unwrap_or(0);
        let after: usize = counters.iter().sum();
        let stack =
            OneHotStack::new_split(layers, Some(&projection), before, d, after).map_err(at)?;
        Ok(MusicRnn { converter, chords, counters, net: Net::Plain(stack) })
    }

    /// LSTM layer sizes.
    pub fn layer_sizes(&self) -> Vec<usize> {
        match &self.net {
            Net::Plain(s) => s.layer_sizes(),
            Net::Attention(a) => a.layer_sizes(),
            Net::Packed(p) => p.layer_sizes(),
        }
    }

    /// Whether the model runs on the native kernels with its weights as stored (a
    /// quantised checkpoint stays quantised in memory).
    pub fn is_native(&self) -> bool {
        matches!(self.net, Net::Packed(_))
    }

    /// Whether `continueSequence` needs a chord progression.
    pub fn needs_chords(&self) -> bool {
        self.chords.is_some()
    }

    /// One line about the model's kind, for load messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{} MusicRNN {:?}", self.converter.name(), self.layer_sizes());
        if self.chords.is_some() {
            s.push_str(", chord-conditioned");
        }
        if matches!(self.net, Net::Attention(_)) {
            s.push_str(", attention");
        }
        s
    }

    /// The control and counter inputs of LSTM steps `0..n` (step `i` reads the chord of
    /// step `i + 1` and the counter of step `i`), `[n, before + after]`; None when the
    /// model has neither.
    fn step_inputs(
        &self,
        n: usize,
        chords: Option<&[String]>,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        let controls = match (self.chords, chords) {
            (Some(enc), Some(c)) => Some((enc.depth(), enc.encode_progression(c, n + 1)?)),
            (Some(_), None) => {
                return Err(ModelError::bad_input(
                    "continueSequence: this model needs a chord progression",
                ))
            }
            (None, Some(_)) => {
                return Err(ModelError::bad_input(
                    "continueSequence: unexpected chord progression (the model is not chord-conditioned)",
                ))
            }
            (None, None) => None,
        };
        if controls.is_none() && self.counters.is_empty() {
            return Ok(None);
        }
        let width =
            controls.as_ref().map(|c| c.0).unwrap_or(0) + self.counters.iter().sum::<usize>();
        let mut out = Vec::with_capacity(n * width);
        for i in 0..n {
            if let Some((w, c)) = &controls {
                out.extend_from_slice(&c[(i + 1) * w..(i + 2) * w]);
            }
            // magenta.js BinaryCounter: bit k of step i is 1 when floor((i + 1) / 2^k) is
            // odd, else -1.
            for &bits in &self.counters {
                out.extend(
                    (0..bits).map(|k| if ((i as u64 + 1) >> k) & 1 == 1 { 1.0 } else { -1.0 }),
                );
            }
        }
        Ok(Some(out))
    }

    /// Runs the magenta.js sampling loop on classes (`None`: an all-zero input row): all
    /// primer frames, then `steps` samples each fed back; returns `count` class sequences
    /// (one batch). `chords` is the progression of a chord-conditioned model.
    pub fn continue_classes(
        &mut self,
        primer: &[Option<usize>],
        steps: usize,
        temperature: f32,
        count: usize,
        chords: Option<&[String]>,
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        self.continue_classes_with(primer, steps, count, chords, &mut |_, logits| {
            sample_class(logits, temperature, rng)
        })
    }

    /// The sampling loop with the pick of each class left to `pick(row, logits)`, which
    /// may change the row's logits (a key's mask) and returns the class fed back: the
    /// Studio's per-variation random streams and key constraint, and teacher forcing in
    /// evaluations. `count` rows run as one batch.
    pub fn continue_events_with(
        &mut self,
        primer: &[usize],
        steps: usize,
        count: usize,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        let primer: Vec<Option<usize>> = primer.iter().map(|&k| Some(k)).collect();
        self.continue_classes_with(&primer, steps, count, None, pick)
    }

    /// [`continue_classes`](Self::continue_classes) with the pick of each class left to
    /// `pick` (see [`continue_events_with`](Self::continue_events_with)).
    pub fn continue_classes_with(
        &mut self,
        primer: &[Option<usize>],
        steps: usize,
        count: usize,
        chords: Option<&[String]>,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        let d = self.converter.input_depth();
        let b = count.max(1);
        if b > MAX_BATCH {
            return Err(ModelError::bad_input(format!(
                "continueSequence: at most {MAX_BATCH} outputs per call"
            )));
        }
        if steps > MAX_STEPS {
            return Err(ModelError::bad_input(format!(
                "continueSequence: at most {MAX_STEPS} steps per call"
            )));
        }
        if primer.is_empty() {
            return Err(ModelError::bad_input(
                "continueSequence: the primer has no steps (totalQuantizedSteps is 0)",
            ));
        }
        if let Some(bad) = primer.iter().flatten().find(|&&k| k >= d) {
            return Err(ModelError::bad_input(format!(
                "continueSequence: primer class {bad} out of range (depth {d})"
            )));
        }
        // LSTM steps: every primer frame, then every sample but the last.
        let lstm_steps = primer.len() + steps.max(1) - 1;
        let inputs = self.step_inputs(lstm_steps, chords)?;
        if steps == 0 {
            return Ok(vec![Vec::new(); b]);
        }
        let stack = match &mut self.net {
            Net::Plain(s) => s,
            Net::Attention(att) => {
                let primer: Vec<usize> = primer.iter().map(|k| k.unwrap_or(0)).collect();
                return continue_attention(att, &primer, steps, b, d, pick);
            }
            Net::Packed(p) => {
                // Only melody models without extra inputs run natively: every primer row
                // is a class.
                let primer: Vec<usize> = primer.iter().map(|k| k.unwrap_or(0)).collect();
                return continue_packed(p, &primer, steps, b, pick);
            }
        };
        let gates = inputs.map(|x| stack.context_gates(&x, lstm_steps)).transpose()?;
        let cols = gates.as_ref().map(|g| g.len() / lstm_steps).unwrap_or(0);
        // The primer is the same for every variation and known in advance: run it once,
        // layer by layer, then fan the state and logits out to the batch.
        let (state1, logits1) =
            stack.prime_with(primer, gates.as_deref().map(|g| &g[..primer.len() * cols]))?;
        let mut state = if b == 1 { state1 } else { state1.repeat_rows(b)? };
        let mut logits = logits1.repeat(b);
        let mut samples = vec![Vec::with_capacity(steps); b];
        let mut classes: Vec<Option<usize>> = vec![None; b];
        for i in 0..steps {
            for r in 0..b {
                let k = pick(r, &mut logits[r * d..(r + 1) * d]);
                if k >= d {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {d})"
                    )));
                }
                samples[r].push(k);
                classes[r] = Some(k);
            }
            // No LSTM step after the last sample, as magenta.js.
            if i + 1 == steps {
                break;
            }
            if let Some(g) = &gates {
                let t = primer.len() + i;
                stack.set_context_gates(&mut state, g[t * cols..(t + 1) * cols].repeat(b))?;
            }
            logits = stack.step(&classes, &mut state)?;
        }
        Ok(samples)
    }

    /// [`continue_classes`](Self::continue_classes) for a primer of classes.
    pub fn continue_events(
        &mut self,
        primer: &[usize],
        steps: usize,
        temperature: f32,
        count: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<usize>>, ModelError> {
        let primer: Vec<Option<usize>> = primer.iter().map(|&k| Some(k)).collect();
        self.continue_classes(&primer, steps, temperature, count, None, rng)
    }

    /// `continueSequence(seq, steps, temperature)` for `count` variations. The primer
    /// must be quantized (the worker quantizes unquantized primers first).
    pub fn continue_sequence(
        &mut self,
        seq: &NoteSequence,
        steps: usize,
        temperature: f32,
        count: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.continue_sequence_with(seq, steps, count, &mut |_, logits| {
            sample_class(logits, temperature, rng)
        })
    }

    /// `continueSequence(seq, steps, temperature, chordProgression)` for `count`
    /// variations (the chords are needed by, and only accepted by, chord-conditioned
    /// models).
    pub fn continue_sequence_chords(
        &mut self,
        seq: &NoteSequence,
        steps: usize,
        temperature: f32,
        count: usize,
        chords: Option<&[String]>,
        rng: &mut impl Rng,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.continue_sequence_picking(seq, steps, count, chords, &mut |_, logits| {
            sample_class(logits, temperature, rng)
        })
    }

    /// [`MusicRnn::continue_sequence`] with the pick of each class left to `pick` (see
    /// [`MusicRnn::continue_events_with`]).
    pub fn continue_sequence_with(
        &mut self,
        seq: &NoteSequence,
        steps: usize,
        count: usize,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        self.continue_sequence_picking(seq, steps, count, None, pick)
    }

    /// The sequence loop every `continue_sequence*` runs: chords (for chord-conditioned
    /// models) and the pick of each class given.
    pub fn continue_sequence_picking(
        &mut self,
        seq: &NoteSequence,
        steps: usize,
        count: usize,
        chords: Option<&[String]>,
        pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
    ) -> Result<Vec<NoteSequence>, ModelError> {
        let spq = seq.steps_per_quarter().ok_or_else(|| {
            ModelError::new(
                ModelErrorKind::NotQuantized,
                "continueSequence: the primer must be quantized (stepsPerQuarter > 0)",
            )
        })?;
        let primer: Vec<Option<usize>> =
            self.converter.to_input(seq)?.into_iter().map(|row| row.first().copied()).collect();
        let outs = self.continue_classes_with(&primer, steps, count, chords, pick)?;
        outs.into_iter().map(|ev| self.converter.to_note_sequence(&[ev], spq, None)).collect()
    }
}

/// The magenta.js loop on the native stack: the primer once, layer by layer, then the
/// `count` rows sample and feed back together.
fn continue_packed(
    stack: &PackedStack,
    primer: &[usize],
    steps: usize,
    count: usize,
    pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
) -> Result<Vec<Vec<usize>>, ModelError> {
    let (state1, logits1) = stack.prime(primer)?;
    let d = logits1.len();
    let mut state = if count == 1 { state1 } else { state1.repeat_rows(count) };
    let mut logits = logits1.repeat(count);
    let mut samples = vec![Vec::with_capacity(steps); count];
    let mut classes: Vec<Option<usize>> = vec![None; count];
    for i in 0..steps {
        for r in 0..count {
            let k = pick(r, &mut logits[r * d..(r + 1) * d]);
            if k >= d {
                return Err(ModelError::bad_input(format!("class {k} out of range (depth {d})")));
            }
            samples[r].push(k);
            classes[r] = Some(k);
        }
        // No LSTM step after the last sample, as magenta.js.
        if i + 1 == steps {
            break;
        }
        logits = stack.step(&classes, &mut state)?;
    }
    Ok(samples)
}

/// The magenta.js loop for `attention_rnn`: the primer once, then each of the `count`
/// variations samples and feeds back from a copy of the primed state.
fn continue_attention(
    att: &AttentionStack,
    primer: &[usize],
    steps: usize,
    count: usize,
    d: usize,
    pick: &mut dyn FnMut(usize, &mut [f32]) -> usize,
) -> Result<Vec<Vec<usize>>, ModelError> {
    let mut primed = att.zero_state();
    let mut primed_logits = Vec::new();
    for &k in primer {
        primed_logits = att.step(k, &mut primed);
    }
    (0..count)
        .map(|row| {
            let (mut st, mut logits) = (primed.clone(), primed_logits.clone());
            let mut out = Vec::with_capacity(steps);
            for i in 0..steps {
                let k = pick(row, &mut logits);
                if k >= d {
                    return Err(ModelError::bad_input(format!(
                        "class {k} out of range (depth {d})"
                    )));
                }
                out.push(k);
                if i + 1 == steps {
                    break;
                }
                logits = att.step(k, &mut st);
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::core::lstm::reference_step;
    use crate::ml::random_checkpoint::{write_rnn, RnnSizes};
    use rand::{rngs::SmallRng, SeedableRng};

    /// Greedy continuation in plain Rust (f64 cells), the reference for the tract model.
    fn reference_continue(ck: &Checkpoint, primer: &[usize], steps: usize) -> Vec<usize> {
        let layers =
            LstmWeights::discover(ck, |l| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"))
                .unwrap();
        let proj = Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")
            .unwrap();
        let d = proj.output();
        let mut st: Vec<(Vec<f32>, Vec<f32>)> =
            layers.iter().map(|l| (vec![0.0; l.units], vec![0.0; l.units])).collect();
        let mut out = Vec::new();
        let mut rng = SmallRng::seed_from_u64(0);
        for i in 0..primer.len() + steps {
            let mut x = vec![0f32; d];
            if i < primer.len() {
                x[primer[i]] = 1.0;
            } else {
                let top = &st.last().unwrap().1;
                let k = sample_class(&proj.apply(top, 1), 0.0, &mut rng);
                out.push(k);
                x[k] = 1.0;
            }
            if i == primer.len() + steps - 1 {
                break;
            }
            for (l, w) in layers.iter().enumerate() {
                let (c, h) = &mut st[l];
                reference_step(w, &x, c, h);
                x = h.clone();
            }
        }
        out
    }

    #[test]
    fn greedy_continuation_matches_reference_float32_and_quantised() {
        for (layers, storage, seed) in [
            (vec![16usize, 24], Storage::Float32, 3u64),
            (vec![32], Storage::Uint8, 4),
            (vec![40, 24, 72], Storage::Uint8, 5),
            (vec![24, 30], Storage::Uint16, 6),
        ] {
            let dir = tempfile::tempdir().unwrap();
            write_rnn(
                dir.path(),
                &RnnSizes { min_pitch: 48, max_pitch: 83, layers: layers.clone() },
                storage,
                seed,
            )
            .unwrap();
            let ck = checkpoint::load(dir.path()).unwrap();
            let mut m = MusicRnn::from_checkpoint(&ck).unwrap();
            assert_eq!(m.layer_sizes(), layers);
            // Quantised checkpoints stay quantised and run on the native kernels.
            assert_eq!(m.is_native(), storage != Storage::Float32, "{storage:?}");
            assert_eq!(ck.is_quantised("fully_connected/weights"), storage != Storage::Float32);
            let primer = vec![27, 0, 0, 0, 29, 0, 1, 0, 34, 0, 0, 0];
            let want = reference_continue(&ck, &primer, 20);
            let mut rng = SmallRng::seed_from_u64(1);
            let got = m.continue_events(&primer, 20, 0.0, 3, &mut rng).unwrap();
            assert_eq!(got.len(), 3);
            for g in &got {
                assert_eq!(g, &want);
            }
            // Temperature sampling stays in range and gives the requested length.
            let hot = m.continue_events(&primer, 20, 1.5, 2, &mut rng).unwrap();
            assert!(hot.iter().all(|s| s.len() == 20 && s.iter().all(|&k| k < 38)));
        }
    }

    /// The native stack gives the tract stack's logits on the same (dequantised) weights,
    /// through a primer and batched steps.
    #[test]
    fn native_stack_matches_tract_stack() {
        use crate::ml::core::lstm::PackedStack;
        let dir = tempfile::tempdir().unwrap();
        let sizes = RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![48, 80] };
        write_rnn(dir.path(), &sizes, Storage::Uint8, 12).unwrap();
        let ck = checkpoint::load(dir.path()).unwrap();
        let prefix = |l: usize| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/");
        let proj = Dense::from_checkpoint(&ck, "fully_connected/weights", "fully_connected/biases")
            .unwrap();
        let native = PackedStack::from_checkpoint(&ck, prefix, 38, proj.clone()).unwrap();
        // u8 codes, plus the one-hot rows of layer 0 and tables, not four bytes a weight.
        let f32_bytes = 4 * ((38 + 48) * 192 + (48 + 80) * 320);
        assert!(native.weight_bytes() < f32_bytes / 2, "{}", native.weight_bytes());
        let layers = LstmWeights::discover(&ck, prefix).unwrap();
        let mut tract = OneHotStack::new(layers, Some(&proj), 38, 0).unwrap();
        let primer: Vec<usize> = (0..40).map(|i| (i * 7 + 3) % 38).collect();
        let (mut ts, tl) = tract.prime(&primer).unwrap();
        let (mut ns, nl) = native.prime(&primer).unwrap();
        let close = |a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(d < 2e-5, "differ by {d}");
        };
        close(&nl, &tl);
        close(ns.h(1).unwrap(), &tract_h(&ts, 1));
        ts = ts.repeat_rows(3).unwrap();
        ns = ns.repeat_rows(3);
        for s in 0..5 {
            let classes = [Some(s), None, Some(37 - s)];
            let a = tract.step(&classes, &mut ts).unwrap();
            let b = native.step(&classes, &mut ns).unwrap();
            close(&b, &a);
        }
        let e = native.step(&[Some(38), None, None], &mut ns).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(native.prime(&[]).is_err());
    }

    fn tract_h(st: &crate::ml::core::lstm::StackState, l: usize) -> Vec<f32> {
        st.h(l).unwrap()
    }

    /// Greedy continuation of any RNN family in plain Rust: layer 0 reads
    /// `[controls[i + 1], one-hot, counter[i]]` at LSTM step `i`.
    fn reference_family(
        ck: &Checkpoint,
        primer: &[Option<usize>],
        steps: usize,
        controls: Option<&[f32]>,
        counter_bits: usize,
    ) -> Vec<usize> {
        let layers =
            LstmWeights::discover(ck, |l| format!("rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"))
                .unwrap();
        let proj = Dense::from_checkpoint(ck, "fully_connected/weights", "fully_connected/biases")
            .unwrap();
        let d = proj.output();
        let cw = if controls.is_some() { 37 } else { 0 };
        let mut st: Vec<(Vec<f32>, Vec<f32>)> =
            layers.iter().map(|l| (vec![0.0; l.units], vec![0.0; l.units])).collect();
        let mut out = Vec::new();
        let mut rng = SmallRng::seed_from_u64(0);
        let mut k_in: Option<usize>;
        for i in 0..primer.len() + steps {
            if i < primer.len() {
                k_in = primer[i];
            } else {
                let k = sample_class(&proj.apply(&st.last().unwrap().1, 1), 0.0, &mut rng);
                out.push(k);
                k_in = Some(k);
            }
            if i == primer.len() + steps - 1 {
                break;
            }
            let mut x = Vec::new();
            if let Some(c) = controls {
                x.extend_from_slice(&c[(i + 1) * cw..(i + 2) * cw]);
            }
            let mut oh = vec![0f32; d];
            if let Some(k) = k_in {
                oh[k] = 1.0;
            }
            x.extend(oh);
            x.extend((0..counter_bits).map(|b| if ((i + 1) >> b) & 1 == 1 { 1.0 } else { -1.0 }));
            for (l, w) in layers.iter().enumerate() {
                let (c, h) = &mut st[l];
                reference_step(w, &x, c, h);
                x = h.clone();
            }
        }
        out
    }

    #[test]
    fn drum_and_chord_families_match_reference() {
        use crate::ml::core::chords::ChordEncoder;
        use crate::ml::random_checkpoint::{write_rnn_family, RnnFamily};
        let chords: Vec<String> = ["C", "Am7", "F", "G7"].iter().map(|s| s.to_string()).collect();
        for (family, seed) in [
            (RnnFamily::drum_kit_rnn(vec![16, 12]), 21u64),
            (RnnFamily::chord_pitches_improv(vec![16, 16, 12]), 22),
        ] {
            let dir = tempfile::tempdir().unwrap();
            write_rnn_family(dir.path(), &family, Storage::Float32, seed).unwrap();
            let ck = checkpoint::load(dir.path()).unwrap();
            let mut m = MusicRnn::from_checkpoint(&ck).unwrap();
            assert_eq!(m.needs_chords(), family.chords);
            let primer: Vec<Option<usize>> = if family.chords {
                [27, 0, 0, 1, 29, 0, 34, 0].iter().map(|&k| Some(k)).collect()
            } else {
                vec![Some(1), None, Some(5), Some(0), Some(300), Some(1), Some(0), Some(4)]
            };
            let steps = 20;
            let given = family.chords.then_some(chords.as_slice());
            let controls = given
                .map(|c| ChordEncoder::Pitch.encode_progression(c, primer.len() + steps).unwrap());
            let want =
                reference_family(&ck, &primer, steps, controls.as_deref(), family.counter_bits);
            let mut rng = SmallRng::seed_from_u64(1);
            let got = m.continue_classes(&primer, steps, 0.0, 3, given, &mut rng).unwrap();
            for g in &got {
                assert_eq!(g, &want);
            }
            // Chords only for chord models, and always for them.
            let wrong = if family.chords { None } else { Some(chords.as_slice()) };
            let e = m.continue_classes(&primer, 4, 0.0, 1, wrong, &mut rng).unwrap_err();
            assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
            assert!(e.message().contains("chord progression"), "{e}");
        }
        // A bad chord symbol is named with its position.
        let dir = tempfile::tempdir().unwrap();
        write_rnn_family(
            dir.path(),
            &RnnFamily::chord_pitches_improv(vec![8]),
            Storage::Float32,
            3,
        )
        .unwrap();
        let mut m = MusicRnn::load(dir.path()).unwrap();
        let bad: Vec<String> = vec!["C".into(), "Q7".into()];
        let seq = m.converter.to_note_sequence(&[vec![20, 0, 1, 0]], 4, None).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let e = m.continue_sequence_chords(&seq, 8, 0.0, 1, Some(&bad), &mut rng).unwrap_err();
        assert!(e.message().contains("chord 2") && e.message().contains("Q7"), "{e}");
    }

    #[test]
    fn sequences_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_rnn(
            dir.path(),
            &RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![8] },
            Storage::Float32,
            9,
        )
        .unwrap();
        let mut m = MusicRnn::load(dir.path()).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let primer = m.converter.to_note_sequence(&[vec![20, 0, 1, 0]], 4, None).unwrap();
        let out = m.continue_sequence(&primer, 16, 0.0, 1, &mut rng).unwrap();
        assert_eq!(out[0].total_quantized_steps, Some(16));
        assert_eq!(out[0].steps_per_quarter(), Some(4));
        let mut unq = primer.clone();
        unq.quantization_info = None;
        let e = m.continue_sequence(&unq, 4, 0.0, 1, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NotQuantized, "{e}");
        let e = m.continue_events(&[], 4, 0.0, 1, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        let e = m.continue_events(&[40], 4, 0.0, 1, &mut rng).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::BadInput, "{e}");
        assert!(e.message().contains("out of range"), "{e}");
        // A VAE config is refused with a clear message.
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        std::fs::write(dir.path().join("config.json"), text.replace("MusicRNN", "MusicVAE"))
            .unwrap();
        assert_eq!(
            MusicRnn::load(dir.path()).err().map(|e| e.kind()),
            Some(ModelErrorKind::WrongModel)
        );
    }

    #[test]
    fn sampling_rules() {
        let mut rng = SmallRng::seed_from_u64(5);
        assert_eq!(sample_class(&[1.0, 3.0, 3.0, 2.0], 0.0, &mut rng), 1);
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[sample_class(&[0.0, (2.0f32).ln(), f32::NEG_INFINITY], 1.0, &mut rng)] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!(counts[1] > counts[0] * 3 / 2 && counts[1] < counts[0] * 5 / 2, "{counts:?}");
    }
}
