//! Fuzz harnesses: one function per input format the plugin reads from users or files,
//! each taking arbitrary bytes and returning normally whatever they hold (an error is
//! fine; a panic, a hang or an allocation sized by the input before it was checked is a
//! bug). The test suite drives them with [`Mutator`]: deterministic, seeded mutation of a
//! corpus of valid inputs (the examples, the seed session, small random checkpoints), for a
//! bounded time per target (`cargo test -p sema_live --lib fuzz`; `SEMA_LIVE_FUZZ_SECS` sets
//! the time per target, default 2 s). They take plain bytes, and the cargo-fuzz crate in
//! `plugin/fuzz/` (a workspace of its own, built only by `cargo fuzz`) calls them as they
//! are from one libFuzzer target each, with seeds and dictionaries (README, "Fuzzing").
//!
//! Inputs that once failed, in either, are kept in [`REGRESSIONS`] and run first.

use std::path::Path;
use std::sync::Arc;

/// DSL source: lexer, parser and compiler, then, when it compiles, one short bar of the
/// program in the offline engine (as the plugin plays it).
pub fn dsl(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if crate::dsl::check(src).is_err() {
        return;
    }
    let session = crate::control::state::SessionState {
        dsl: src.to_string(),
        ..crate::control::state::SessionState::default()
    };
    let settings = crate::cli::render::RenderSettings {
        bars: 1,
        bpm: 480.0,
        sample_rate: 8_000.0,
        block: 128,
        ..crate::cli::render::RenderSettings::default()
    };
    let console = Arc::new(crate::control::console::Console::new());
    let mut offline = crate::cli::render::OfflineEngine::new(session, settings, console);
    let _ = offline.render(|_| {});
}

/// JS source: block splitting, the tokenizer (as the editor highlights it), the loop
/// instrumentation and error positions.
pub fn js_blocks(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    let blocks = crate::js::blocks::split_blocks(&src);
    let lines = src.lines().count();
    for b in &blocks {
        assert!(b.first_line >= 1 && b.first_line + b.line_count <= lines + 2);
        if let Some(out) = crate::js::blocks::instrument_loops(&b.code, "T()") {
            // Line numbers are kept.
            assert_eq!(out.lines().count(), b.code.lines().count(), "{:?}", b.code);
        }
        let mut lexer = crate::js::tokenizer::Lexer::new(&b.code, crate::js::tokenizer::Mode::Code);
        let mut end = 0;
        for t in lexer.by_ref() {
            assert!(t.range.start == end && t.range.end > t.range.start, "{:?}", b.code);
            end = t.range.end;
        }
        assert_eq!(end, b.code.len());
    }
    let _ = crate::js::blocks::error_position(&src);
    let _ = crate::js::blocks::block_at_line(&src, lines / 2 + 1);
}

/// A session file (TOML).
pub fn session_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(s) = crate::cli::session::Session::parse(text) {
        // What parsed saves and parses again.
        let again = crate::cli::session::Session::parse(&s.to_toml());
        assert!(again.is_ok(), "{:?}", again.err());
    }
}

/// The plugin's saved session (the JSON nice-plug stores for the `session` field), as a
/// state load sees it; a session that parses is migrated and loaded into a controller.
pub fn plugin_state(data: &[u8]) {
    let Ok(state) = serde_json::from_slice::<crate::control::state::SessionState>(data) else {
        return;
    };
    let (ends, _audio) = crate::audio::engine::queues();
    let console = Arc::new(crate::control::console::Console::new());
    let mut c = crate::control::controller::Controller::new(
        ends,
        crate::control::state::SessionState::default(),
        console,
    );
    c.load_state(state);
}

/// A MIDI file, as the render's `--midi-in` and the summaries read it.
pub fn midi_file(data: &[u8]) {
    let _ = crate::cli::midi_input::read_input(data, 120.0);
    let _ = crate::cli::midi_file::decode_notes(data);
}

/// A checkpoint folder: `data` is split at the first two `\0\0` into `config.json`,
/// `weights_manifest.json` and one shard (`group1-shard1of1`), written to `dir`, then
/// loaded as a MusicRNN and as a MusicVAE.
pub fn checkpoint(data: &[u8], dir: &Path) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let config = parts.next().unwrap_or_default();
    let manifest = parts.next().unwrap_or_default();
    let shard = parts.next().unwrap_or_default();
    checkpoint_files(config, manifest, &[("group1-shard1of1", shard)], dir);
}

/// [`checkpoint`] with the files given apart (the structured mutations use it).
pub fn checkpoint_files(config: &[u8], manifest: &[u8], shards: &[(&str, &[u8])], dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).is_ok();
    if !write("config.json", config) || !write("weights_manifest.json", manifest) {
        return;
    }
    for (name, bytes) in shards {
        if name.contains(['/', '\\']) || name.contains("..") || !write(name, bytes) {
            return;
        }
    }
    let _ = crate::ml::music_rnn::MusicRnn::load(dir);
    let _ = crate::ml::music_vae::MusicVae::load(dir);
}

/// Inputs that once made a harness fail, by target, run before any mutation.
pub const REGRESSIONS: &[(&str, &[u8])] = &[
    // An SMPTE division with frame rate byte 0x80: midly negated -128 with overflow.
    (
        "midi_file",
        b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x80\x00MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
    ),
    // libFuzzer: the same rate in a header chunk after an unknown chunk (midly skips chunks
    // it does not know, so the header it reads need not come first).
    ("midi_file", b"XXXX\x00\x00\x00\x00MThd\x00\x00\x00\x06\x00\x00\x00\x01\x80\x28"),
    // libFuzzer: 0 ticks per quarter note, with a note: its beats were NaN and the sort by
    // time panicked.
    (
        "midi_file",
        b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00MTrk\x00\x00\x00\x0c\x00\x90\x3c\x40\x00\x80\x3c\x00\x00\xff\x2f\x00",
    ),
];

/// A deterministic mutator (xorshift): byte flips, inserts, deletions, duplications,
/// dictionary tokens and splices from the corpus.
pub struct Mutator {
    state: u64,
    dictionary: Vec<&'static [u8]>,
}

impl Mutator {
    pub fn new(seed: u64, dictionary: Vec<&'static [u8]>) -> Self {
        Mutator { state: seed.max(1), dictionary }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// A number below `n` (n ≥ 1).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `input` changed by 1 to 4 random mutations (`corpus` supplies splices).
    pub fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = v.len();
            match self.below(8) {
                0 if len > 0 => {
                    let i = self.below(len);
                    v[i] ^= 1 << self.below(8);
                }
                1 => {
                    let i = self.below(len + 1);
                    let b = self.next_u64() as u8;
                    v.insert(i, b);
                }
                2 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(16));
                    v.drain(i..i + n);
                }
                3 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(32));
                    let chunk = v[i..i + n].to_vec();
                    let at = self.below(v.len() + 1);
                    v.splice(at..at, chunk);
                }
                4 | 5 if !self.dictionary.is_empty() => {
                    let k = self.below(self.dictionary.len());
                    let word = self.dictionary[k];
                    let at = self.below(len + 1);
                    v.splice(at..at, word.iter().copied());
                }
                6 if !corpus.is_empty() => {
                    let other = &corpus[self.below(corpus.len())];
                    if !other.is_empty() {
                        let i = self.below(other.len());
                        let n = 1 + self.below((other.len() - i).min(64));
                        let at = self.below(len + 1);
                        v.splice(at..at, other[i..i + n].iter().copied());
                    }
                }
                7 if len > 0 => {
                    let n = self.below(len);
                    v.truncate(n);
                }
                _ => {}
            }
        }
        v
    }
}

/// Runs `target` on the corpus, then on mutations of it (mutants that ran are added to the
/// corpus with a small chance, so mutations stack) until `budget` is spent. Returns the
/// number of executions.
pub fn run_for(
    target: &mut dyn FnMut(&[u8]),
    corpus: &mut Vec<Vec<u8>>,
    mutator: &mut Mutator,
    budget: std::time::Duration,
    max_len: usize,
) -> u64 {
    let end = std::time::Instant::now() + budget;
    let mut execs = 0u64;
    for input in corpus.iter() {
        target(input);
        execs += 1;
    }
    while std::time::Instant::now() < end {
        let base = mutator.below(corpus.len());
        let mut input = mutator.mutate(&corpus[base], corpus);
        input.truncate(max_len);
        target(&input);
        execs += 1;
        if mutator.below(16) == 0 && corpus.len() < 512 {
            corpus.push(input);
        }
    }
    execs
}

#[cfg(test)]
mod tests;
