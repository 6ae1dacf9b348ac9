//! End-to-end tests: source → compile → render with a fake clock.

use super::*;
use crate::audio::midi_in::{MidiIn, MidiInState, MidiInView};
use crate::audio::patch::{
    BlockContext, ChannelBank, ClockRun, FixedQueue, TimedNote, ToJsValue, NUM_PARAMS,
};

pub const SEED: &str = "{120, 4}clk;\n{1}quantise;\n:m:{1}fromJS;\n:seq:{{15}clp, [1], :m:}rsq;\n:tune:{:seq:}saw;\n>{{:tune:,0.08}mul}mix;\n";

pub const REICH: &str = "// Piano Phase\n{144, 3}clk;\n:piano1:{{8}clp, [1], [587,\n 659,\n 880,\n 987,\n 1046,\n 659,\n 587,\n 987,\n 880,\n 659,\n 1046,\n 987]}rsq;\n// offset for the second piano \n:phase:{0.01}clp; //< change the speed\n:piano2:{{8,:phase:}clp, [1], \n [587, 659, 880, 987, 1046, 659, 587, 987, 880, 659, 1046, 987]}rsq;\n\n>{{:piano1:}saw, {:piano2:}saw}mix;\n";

/// A fake host: a free-running clock at a tempo, JS channels, params and queues.
pub struct Harness {
    pub sr: f64,
    pub bpm: f64,
    pub beats: f64,
    /// Absolute song position in samples (drives the clock).
    pub position: f64,
    pub params: [f32; NUM_PARAMS],
    pub channels: ChannelBank,
    pub input: Vec<f32>,
    pub notes: Vec<TimedNote>,
    pub to_js: Vec<ToJsValue>,
    pub scope: Vec<f32>,
    pub clock_request: Option<(f64, f64)>,
    pub block: usize,
    /// MIDI input to play, `timing` in samples since the harness started (sorted).
    pub midi: Vec<MidiIn>,
    /// The MIDI input state at the next block's first sample.
    pub midi_state: MidiInState,
    /// Samples rendered since the harness started.
    pub rendered: u64,
    /// The samples programs compile against and play (one slot numbering).
    pub samples: Arc<SampleLibrary>,
}

impl Harness {
    pub fn new(bpm: f64, beats: f64) -> Self {
        Self {
            sr: 48_000.0,
            bpm,
            beats,
            position: 0.0,
            params: [0.0; NUM_PARAMS],
            channels: ChannelBank::new(),
            input: vec![0.0; 8192],
            notes: vec![],
            to_js: vec![],
            scope: vec![],
            clock_request: None,
            block: 512,
            midi: vec![],
            midi_state: MidiInState::new(),
            rendered: 0,
            samples: Arc::new(test_library()),
        }
    }

    pub fn env(&self) -> CompileEnv {
        CompileEnv { sample_rate: self.sr, max_block: self.block, samples: self.samples.clone() }
    }

    pub fn compile(&self, src: &str) -> Program {
        match compile(src, &self.env()) {
            Ok(p) => p,
            Err(e) => {
                panic!("{src}\n{}", e.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
            }
        }
    }

    /// Moves the song position to `bars` bars.
    pub fn relocate(&mut self, bars: f64) {
        self.position = bars * self.beats * 60.0 / self.bpm * self.sr;
    }

    /// Renders `n` samples (in blocks of `self.block`), returns the left and right outputs.
    pub fn render(&mut self, p: &mut Program, n: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut left, mut right) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let bank = self.samples.bank();
        let mut done = 0;
        while done < n {
            let len = (n - done).min(self.block);
            // Sample `position + i` of a song at a constant tempo, as the engine's clock.
            let step = self.bpm / 60.0 / self.sr;
            let whole = self.position.max(0.0).floor();
            let clocks = ClockRun::new(
                (self.position - whole) * step,
                whole as u64,
                step,
                (0.0, 0),
                self.bpm,
                self.beats,
                true,
                self.sr,
                len,
            );
            let mut l = vec![9.0f32; len];
            let mut r = vec![9.0f32; len];
            let mut notes = FixedQueue::with_capacity(64);
            let mut to_js = FixedQueue::with_capacity(4096);
            let mut scope = FixedQueue::with_capacity(4096);
            let inputs = &self.input[..len.min(self.input.len())];
            let start = self.rendered;
            let events: Vec<MidiIn> = self
                .midi
                .iter()
                .filter(|e| (start..start + len as u64).contains(&(e.timing as u64)))
                .map(|e| MidiIn { timing: (e.timing as u64 - start) as u32, ..*e })
                .collect();
            let mut ctx = BlockContext {
                len,
                clocks,
                inputs: [inputs, inputs],
                outputs: [&mut l, &mut r],
                params: &self.params,
                channels: &self.channels,
                samples: &bank,
                notes: &mut notes,
                to_js: &mut to_js,
                scope: &mut scope,
                clock_request: None,
                midi_in: MidiInView { state: &self.midi_state, events: &events },
            };
            p.process(&mut ctx);
            if ctx.clock_request.is_some() {
                self.clock_request = ctx.clock_request;
            }
            self.notes.extend(
                notes.as_slice().iter().map(|n| TimedNote { offset: n.offset + done as u32, ..*n }),
            );
            self.to_js.extend_from_slice(to_js.as_slice());
            self.scope.extend_from_slice(scope.as_slice());
            left.extend_from_slice(&l);
            right.extend_from_slice(&r);
            for e in &events {
                self.midi_state.apply(e);
            }
            self.rendered += len as u64;
            self.position += len as f64;
            done += len;
        }
        (left, right)
    }

    /// Compiles and renders `n` samples of the left output.
    pub fn run(&mut self, src: &str, n: usize) -> Vec<f32> {
        let mut p = self.compile(src);
        self.render(&mut p, n).0
    }

    pub fn send(&mut self, id: usize, data: &[f64]) {
        let _ = self.channels.replace(id, data.to_vec().into_boxed_slice());
    }
}

/// Short synthetic samples under the names Sema's docs use.
pub fn test_library() -> SampleLibrary {
    let mut lib = SampleLibrary::new();
    for (i, name) in
        ["909open", "909", "909b", "InsectBee", "kernel", "boom2", "click", "spade", "kick"]
            .iter()
            .enumerate()
    {
        let data: Vec<f32> = (0..4000)
            .map(|k| (k as f32 * 0.05 * (i + 1) as f32).sin() * (1.0 - k as f32 / 4000.0))
            .collect();
        lib.insert(name, data, 44_100.0);
    }
    lib
}

fn rms(v: &[f32]) -> f64 {
    (v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / v.len().max(1) as f64).sqrt()
}

fn errors(src: &str) -> Vec<Diagnostic> {
    let h = Harness::new(120.0, 4.0);
    match compile(src, &h.env()) {
        Ok(_) => panic!("expected an error for {src}"),
        Err(e) => e,
    }
}

/// Distinct consecutive values of a signal.
fn steps(v: &[f32]) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::new();
    for &x in v {
        if out.last() != Some(&x) {
            out.push(x);
        }
    }
    out
}

const BAR: usize = 96_000; // 120 bpm, 4/4, 48 kHz

#[test]
fn seed_patch_runs_and_follows_js_values() {
    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile(SEED);
    assert!(p.quantise());
    assert_eq!(p.initial_clock(), Some((120.0, 4.0)));
    assert!(!p.uses_midi());
    assert!(!p.is_per_sample(), "the seed needs no feedback: block mode");
    // Before JS sends anything the patch is silent (fromJS reads 0, saw at 0 Hz).
    let (l, r) = h.render(&mut p, 4800);
    assert!(rms(&l) < 1e-9);
    assert_eq!(l, r);
    let freqs: Vec<f64> = [73, 75, 80, 82, 83, 75, 73, 82, 80, 75, 83, 82]
        .iter()
        .map(|&m| crate::dsp::maps::mtof(m as f64))
        .collect();
    h.send(1, &freqs);
    let (l, _) = h.render(&mut p, BAR);
    assert!(rms(&l) > 0.02, "{}", rms(&l));
    // A naive saw overshoots 1 by one phase increment before wrapping (as in Sema).
    assert!(l.iter().all(|x| x.abs() <= 0.08 * 1.05));
    assert_eq!(h.clock_request, Some((120.0, 4.0)));
}

#[test]
fn seed_sequence_steps_15_times_per_bar_in_order() {
    let mut h = Harness::new(120.0, 4.0);
    let vals: Vec<f64> = (1..=12).map(|i| i as f64 / 100.0).collect();
    h.send(1, &vals);
    let out = h.run(":m:{1}fromJS;\n>{{15}clp, [1], :m:}rsq;", 2 * BAR);
    let s = steps(&out);
    // Sample 0 shows the last value, then one value per 1/15 bar in order, wrapping.
    assert_eq!(s[0], 0.12);
    let expect: Vec<f32> = (0..30).map(|i| ((i % 12) + 1) as f32 / 100.0).collect();
    assert_eq!(&s[1..31], &expect[..]);
    let change = out.iter().position(|&x| x == 0.02).unwrap();
    assert_eq!(change, BAR / 15 + 1);
}

#[test]
fn reich_piano_phase_renders() {
    let mut h = Harness::new(144.0, 3.0);
    let mut p = h.compile(REICH);
    assert_eq!(p.initial_clock(), Some((144.0, 3.0)));
    let (l, _) = h.render(&mut p, 48_000);
    assert!(rms(&l) > 0.1);
}

#[test]
fn program_is_send_and_survives_bad_values() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Program>();
    let mut h = Harness::new(120.0, 4.0);
    // One NaN frequency (pow of a negative base) must not silence the oscillator forever.
    let mut p =
        h.compile(":f:{{-2,{{1}clt,0.5}mul}pow,{{{1}clt,0}lt,440}mul}add;\n>{{:f:,100}add}saw;");
    let (out, _) = h.render(&mut p, 1000);
    assert!(out.iter().all(|x| x.is_finite()));
    assert!(rms(&out[10..]) > 0.1);
    // Blocks longer than max_block are rendered in chunks.
    let mut h = Harness::new(120.0, 4.0);
    h.block = 2048;
    let env = CompileEnv {
        sample_rate: 48_000.0,
        max_block: 256,
        samples: Arc::new(SampleLibrary::new()),
    };
    let mut p = compile(">{100}saw;", &env).unwrap();
    let (out, _) = h.render(&mut p, 4096);
    let wraps: Vec<usize> = (1..out.len()).filter(|&i| out[i] < out[i - 1]).collect();
    assert!(wraps.windows(2).all(|w| w[1] - w[0] == 480));
}

#[test]
fn saw_period_at_100_hz() {
    let mut h = Harness::new(120.0, 4.0);
    let out = h.run(">{100}saw;", 4800);
    let wraps: Vec<usize> = (1..out.len()).filter(|&i| out[i] < out[i - 1]).collect();
    assert!(wraps.len() >= 9);
    assert!(wraps.windows(2).all(|w| w[1] - w[0] == 480), "{wraps:?}");
}

#[test]
fn clp_cycles_per_bar_and_relocation() {
    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile(">{4}clp;");
    let (out, _) = h.render(&mut p, BAR);
    let wraps = (1..out.len()).filter(|&i| out[i] < out[i - 1]).count();
    assert_eq!(wraps, 3); // 4 ramps per bar: 3 wraps inside one bar
    assert!((out[BAR / 8] - 0.5).abs() < 1e-4);
    // Relocate to bar 10.3: the phase follows the new position at once.
    h.relocate(10.3);
    let (out, _) = h.render(&mut p, 10);
    assert!((out[0] as f64 - (10.3f64 * 4.0).fract()).abs() < 1e-4, "{}", out[0]);
    // Fractional rates keep counting across bars (0.01 cycles per bar).
    h.relocate(50.0);
    let out = h.run(">{0.01}clp;", 1);
    assert!((out[0] - 0.5).abs() < 1e-5);
    // With a phase offset.
    h.relocate(0.25);
    let out = h.run(">{1, 0.5}clp;", 1);
    assert!((out[0] - 0.75).abs() < 1e-5);
}

#[test]
fn clt_triggers_per_bar_fraction() {
    let mut h = Harness::new(120.0, 4.0);
    let out = h.run(">{4}clt;", 2 * BAR);
    let hits: Vec<usize> = (0..out.len()).filter(|&i| out[i] == 1.0).collect();
    assert_eq!(hits, (0..8).map(|i| i * BAR / 4).collect::<Vec<_>>());
    // The clock-trigger lexeme `0tN` is the same trigger.
    h.relocate(0.0);
    let lexeme = h.run(">{0t4,0}add;", BAR);
    assert_eq!(lexeme.iter().filter(|&&x| x == 1.0).count(), 4);
}

#[test]
fn variables_feedback_reads_last_sample() {
    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile(":x:{:x:,1}add;\n>{:x:,0.001}mul;");
    assert!(p.is_per_sample());
    let (out, _) = h.render(&mut p, 1000);
    for (i, v) in out.iter().enumerate() {
        assert!((*v as f64 - (i + 1) as f64 * 0.001).abs() < 1e-6);
    }
    // Read before the write in program order: one sample late.
    let out = h.run(">{:y:,0.001}mul;\n:y:{:y:,1}add;", 5);
    assert_eq!(out[0], 0.0);
    assert!((out[4] - 0.004).abs() < 1e-7);
    // An unassigned variable reads 0.
    let out = h.run(">{:nothing:,1}add;", 3);
    assert_eq!(out, vec![1.0; 3]);
}

#[test]
fn block_and_per_sample_modes_agree() {
    let body = ":a:{{2}sin,100,300}blin;\n:b:{{:a:}saw,{{0.5}pha,200,2000}uexp,2}lpz;\n:e:{{8}clt,5,50,0.3,100}env;\n:c:{{:b:,:e:}mul,300,0.4}dl;\n>{{:b:,:c:}add,0.5}mul;\n>1{{{3}sqr,{110}tri}mul,{4}clp}mix;\n";
    let mut h1 = Harness::new(120.0, 4.0);
    let mut p1 = h1.compile(body);
    assert!(!p1.is_per_sample());
    let mut h2 = Harness::new(120.0, 4.0);
    // A trailing feedback statement forces per-sample evaluation.
    let mut p2 = h2.compile(&format!("{body}:z:{{:z:,0}}add;"));
    assert!(p2.is_per_sample());
    let (l1, r1) = h1.render(&mut p1, 20_000);
    let (l2, r2) = h2.render(&mut p2, 20_000);
    assert!(rms(&l1) > 0.01 && rms(&r1) > 0.01);
    assert_eq!(l1, l2);
    assert_eq!(r1, r2);
}

#[test]
fn outputs_and_dac() {
    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile(">0 {0.5}const;\n>1 {-0.25}const;");
    let (l, r) = h.render(&mut p, 10);
    assert!(l.iter().all(|&x| x == 0.5) && r.iter().all(|&x| x == -0.25));
    // Out-of-range channels clamp to the last one; dac with a computed channel.
    let mut p = h.compile(">5 {0.5}const;\n{0.3, {0.2}const}dac;");
    let (l, r) = h.render(&mut p, 4);
    assert_eq!((l[0], r[0]), (0.3, 0.5));
    // Nothing sent to the outputs: silence (outputs are overwritten, not left alone).
    let mut p = h.compile(":x:{1}sin;");
    let (l, r) = h.render(&mut p, 4);
    assert!(l.iter().chain(r.iter()).all(|&x| x == 0.0));
    // NaN never reaches the host.
    let mut p = h.compile(">{-1, 0.5}pow;");
    let (l, _) = h.render(&mut p, 4);
    assert!(l.iter().all(|&x| x == 0.0));
}

#[test]
fn lists_at_idx_and_operators() {
    let mut h = Harness::new(120.0, 4.0);
    assert_eq!(h.run(">{[0.1,0.2,0.3],1}at;", 1)[0], 0.2);
    assert_eq!(h.run(">{[0.1,0.2,0.3],7}at;", 1)[0], 0.3);
    assert_eq!(h.run(">{[0.1,{0.5}const],1}at;", 1)[0], 0.5); // dynamic element
    assert_eq!(h.run(">{1,0.5,[0.1,0.2,0.3]}idx;", 1)[0], 0.2);
    let cases = [
        ("{0.25,0.5}add", 0.75),
        ("{0.25,0.5}sub", -0.25),
        ("{0.25,0.5}mul", 0.125),
        ("{0.25,0.5}div", 0.5),
        ("{0.25,0}div", 0.0),
        ("{0.7,0.5}mod", 0.2),
        ("{0.5,2}pow", 0.25),
        ("{0.5,0.2}gt", 1.0),
        ("{0.5,0.2}lt", 0.0),
        ("{-0.5}abs", 0.5),
        ("{0.1,0.2,0.3}sum", 0.6),
        ("{0.1,0.2,0.3}mix", 0.2),
        ("{0.5,0.5,0.5}prod", 0.125),
        ("{0,0.1,0.3}blin", 0.2),
        ("{0.5,0.1,0.3}ulin", 0.2),
        ("{0,0.1,0.4}bexp", 0.2),
        ("{1,0.1,0.4}uexp", 0.4),
        ("{5,0,10,0,1}linlin", 0.5),
        ("{5,0,10,0.1,0.4}linexp", 0.2),
        ("{{69}mtof,880}div", 0.5),
        ("{{440}ftom,100}div", 0.69),
        ("{0.5}const", 0.5),
        ("{0.5}poll", 0.5),
        ("{3}softclip", 1.0),
        ("{-3}hardclip", -1.0),
        ("{0.25,2,0.5}asymclip", 0.5),
        ("{1,10}dist", 1.0),
    ];
    for (src, want) in cases {
        let out = h.run(&format!(">{src};"), 1)[0];
        assert!((out as f64 - want).abs() < 1e-6, "{src}: {out} != {want}");
    }
}

#[test]
fn from_js_scalar_array_and_empty() {
    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile(">{{3}fromJS,0.5}mul;\n>1 {{3}fromJS,1}at;");
    let (l, _) = h.render(&mut p, 2);
    assert_eq!(l[0], 0.0);
    h.send(3, &[0.5]);
    let (l, r) = h.render(&mut p, 2);
    assert_eq!((l[0], r[0]), (0.25, 0.5));
    h.send(3, &[0.2, 0.4, 0.6]);
    let (l, r) = h.render(&mut p, 2);
    assert_eq!((l[0], r[0]), (0.1, 0.4));
}

#[test]
fn to_js_scope_midi_params_adc() {
    let mut h = Harness::new(120.0, 4.0);
    h.params[0] = 0.3;
    h.params[1] = 0.5;
    h.params[2] = 0.25;
    h.params[8] = 0.75;
    let out = h.run(">{{}mouseX,{}mouseY}add;", 1);
    assert_eq!(out[0], 0.75);
    assert!((h.run(">{0}param;", 1)[0] - 0.3).abs() < 1e-7);
    assert_eq!(h.run(">{8}param;", 1)[0], 0.75);
    h.input.iter_mut().for_each(|x| *x = 0.5);
    assert_eq!(h.run(">{0.5}adc;", 1)[0], 0.25);

    let mut h = Harness::new(120.0, 4.0);
    h.run("{{10}imp,2,{0.5}const}toJS;", 48_000);
    assert_eq!(h.to_js.len(), 10);
    assert_eq!(h.to_js[0], ToJsValue::single(2, 0.5));
    h.run("{{100}imp,0,{0.25}const}scop;", 4800);
    assert_eq!(h.scope.len(), 10);
    assert!(h.scope.iter().all(|&x| x == 0.25));

    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile("{{4}clt, {[60,62,64,65],{{4}clt,0}count}at, 0.5, 0.125, 2}midi;");
    assert!(p.uses_midi());
    h.render(&mut p, BAR);
    let pitches: Vec<u8> = h.notes.iter().map(|n| n.note.pitch).collect();
    assert_eq!(pitches, vec![62, 64, 65, 65]);
    let offsets: Vec<u32> = h.notes.iter().map(|n| n.offset).collect();
    assert_eq!(offsets, vec![0, 24_000, 48_000, 72_000]);
    assert_eq!(h.notes[0].note.velocity, 0.5);
    assert_eq!(h.notes[0].note.length_bars, 0.125);
    assert_eq!(h.notes[0].note.channel, 2);
    // mtof/ftom round trip to note numbers.
    let mut h = Harness::new(120.0, 4.0);
    h.run("{{1}clt, {{{69}mtof}ftom,12}add}midi;", 10);
    assert_eq!(h.notes.len(), 1);
    assert_eq!(h.notes[0].note.pitch, 81);
    assert_eq!(h.notes[0].note.velocity, 0.8);
    // A zero-padded JS value (0 Hz → ftom 0) is a rest, not MIDI note 0.
    let mut h = Harness::new(120.0, 4.0);
    let mut p = h.compile("{{4}clt, {{[0,440,0,220],{{4}clt,0}count}at}ftom}midi;");
    h.render(&mut p, BAR);
    let pitches: Vec<u8> = h.notes.iter().map(|n| n.note.pitch).collect();
    // `count` is 1 at the first trigger: indices 1, 2 (a rest), 3, 3.
    assert_eq!(pitches, vec![69, 57, 57]);
}

#[test]
fn envelope_line_delay_through_the_language() {
    let mut h = Harness::new(120.0, 4.0);
    // Gate from a pulse: attack 10 ms → peak within about 105 samples at 48 kHz.
    let out = h.run(">{{1}clt,10,100,0.5,100}env;", 2000);
    let peak = out.iter().position(|&x| x >= 0.999).unwrap();
    assert!((100..=106).contains(&peak), "{peak}");
    h.relocate(0.0);
    let out = h.run(">{{1}clt,100}line;", 6000);
    assert!((out[2399] - 0.5).abs() < 1e-3);
    // dl: an impulse returns after exactly 300 samples at 0.5·feedback.
    h.relocate(0.0);
    let out = h.run(">{{1}clt,300,0.8}dl;", 1000);
    let first = out.iter().position(|&x| x != 0.0).unwrap();
    assert_eq!(first, 300);
    assert!((out[300] - 0.4).abs() < 1e-6);
    assert!((out[600] - 0.32).abs() < 1e-6);
}

#[test]
fn lambdas_are_instantiated_per_call() {
    let mut h = Harness::new(120.0, 4.0);
    let out = h.run(":f:(:a:,:b:@{{:a:,:b:}add,0.5}mul);\n>{0.2,0.4}:f:;", 1);
    assert!((out[0] - 0.3).abs() < 1e-7);
    // Two calls of an oscillator lambda have independent phases.
    let out = h.run(":o:(:fr:@{:fr:}pha);\n>{{100}:o:,{100}:o:}sub;", 1000);
    assert!(out.iter().all(|&x| x == 0.0));
    let e = errors(":f:(:a:@:a:);");
    assert!(e[0].message.contains("expected"), "{}", e[0].message);
    let e = errors(":f:(:a:@{:a:}sin);\n>{1,2}:f:;");
    assert!(e[0].message.contains("takes 1 argument, got 2"), "{}", e[0].message);
}

#[test]
fn o303_plays_notes_from_a_sequence() {
    let mut h = Harness::new(120.0, 4.0);
    let src = ":t:{8}clt;\n:n:{{8}clp,[1],[36,48,36,43]}rsq;\n>{:t:, :n:, 0, {{4}clt}onzx, 0, 0, 400, 60, 50, 3, 300, 50}o303;";
    let out = h.run(src, BAR / 2);
    assert!(out.iter().all(|x| x.is_finite()));
    assert!(rms(&out) > 0.02, "{}", rms(&out));
}

#[test]
fn sample_players() {
    let mut h = Harness::new(120.0, 4.0);
    let out = h.run(">{1}\\909open;", 6000);
    assert!(rms(&out[..4000]) > 0.1);
    assert!(out[5500..].iter().all(|&x| x == 0.0), "plays once");
    let out = h.run(">{{1}imp,0.5}|kernel;", 6000);
    assert!(rms(&out[4000..]) > 0.05, "slices loop");
    let out = h.run(">{1, 'kick'}loop;", 9000);
    assert!(rms(&out[6000..]) > 0.05);
    let out = h.run(">{1, 0.5, 0.05, 4}@kick;", 9000);
    assert!(rms(&out[6000..]) > 0.05);
    // A name without a buffer compiles (its slot is empty) and plays silence.
    let mut p = h.compile(">{{1}imp}\\nosuchsample;\n>{0.5, 'nosuchloop'}loop;");
    assert_eq!(p.missing_samples(), ["nosuchloop".to_string(), "nosuchsample".to_string()]);
    assert!(h.render(&mut p, 2000).0.iter().all(|&x| x == 0.0));
    // `check` has no sample folder: names are not checked.
    assert!(check(">{1}\\nosuchsample;").is_ok());
}

#[test]
fn errors_are_located_and_specific() {
    let e = errors("{120,4}clk;\n  >{440}clfreq;");
    assert_eq!(e[0].to_string(), "line 2, col 9: unknown function 'clfreq'");
    let e = errors(">{100}sinn;");
    assert_eq!(e[0].message, "unknown function 'sinn' (did you mean 'sin'?)");
    assert!(super::functions::reference_markdown().contains("| `rsq` |"));
    let e = errors(">{1}barfreq;");
    assert!(e[0].message.contains("unknown function 'barfreq'"));
    for name in ["oscin", "oscout"] {
        let e = errors(&format!(">{{1}}{name};"));
        assert_eq!(e[0].message, format!("'{name}' is not supported yet"));
    }
    let e = errors(">{}saw;");
    assert!(e[0].message.contains("'saw' takes 1 to 2 arguments, got 0"), "{}", e[0].message);
    // Extra arguments are ignored as in Sema (but must still be valid code).
    assert!(check(">{100,0,7}saw;").is_ok());
    let e = errors(">{100,0,{1}nope}saw;");
    assert!(e[0].message.contains("unknown function 'nope'"));
    let e = errors(">{1}env;");
    assert!(e[0].message.contains("takes 5 arguments"), "{}", e[0].message);
    // Several errors are all reported.
    let e = errors(">{1}nope;\n>{2}nada;");
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].line, 2);
    // A parse error is located too.
    let e = check("{1}saw;\n{2}sin").unwrap_err();
    assert_eq!((e[0].line, e[0].col), (2, 7));
    assert!(check(SEED).is_ok());
    let e = check(":x:{[1,2]}quantise;").unwrap_err();
    assert!(e[0].message.contains("quantise"));
}

/// The valid examples from Sema's default-language documentation.
pub const DOC_EXAMPLES: &[&str] = &[
    ">{50}saw;",
    "{>{{50}saw, {51}saw}add, 500,3}hpz;",
    ">0 {40}sqr;\n>1 {40.4}sqr;",
    "//alternate noise between left and right channels\n{{1}noiz,{{{0.1}pha,10}mul}sqr}dac;",
    ">{{1}adc, {200}sin}mul;",
    ">{500}sin;", ">{500,0.2}sin;", ">{500}saw;", ">{500}tri;", ">{500}pha;", ">{500,0.3,0.8}ph2;",
    ">{500}sqr;", ">{500,0.7}pul;", ">{2}imp;", ">{500}sawn;", ">{0.8}noiz;",
    ":frequency:{{0.1}pha,40,1000}uexp;\n>{{:frequency:,500}sah}saw;",
    ">{{1}sqr,10,200,0.05,200}env;",
    ">{{500}sin,{{1}sqr,10,200,0.05,200}env}mul;",
    ">{{500}sin,{{1,0.8}pul,10,200,0.05,200}env}mul;",
    ">{{500}sin,{{{1,0.8}pul,-1}mul,10,200,0.05,200}env}mul;",
    ":line:{{1}clt, 100}line;\n>{{1}noiz, :line:}mul;",
    ">{1}\\909open;", ">{{1}imp}\\909open;", ">{{{1}sqr,{5}saw}add}\\909open;",
    ":speed:{{0.01}pha,3}mul;\n>{{1}imp, :speed:}\\InsectBee;",
    ">>{{1}imp, -1, 1}\\909;",
    ":offset:{0.2}pha;\n>{{8}imp, 1, :offset:}\\909b;",
    ">{{1}imp,0.5}|kernel;", ">{{2}imp,{{0.3}pha,0.1,0.9}ulin}|kernel;", ">{{32}imp,{0.1}pha}|kernel;",
    ">{{500}saw,0.1}lpf;", ">{{500}saw,0.1}hpf;", ">{{500}saw,800,10}lpz;", ">{{500}saw,3000,20}hpz;",
    ":osc:{50}saw;\n:lfo:{{1}tri, 100, 400}bexp;\n>{:osc:, :lfo:, 10, 0, 0.8, 1, 0.9}svf;",
    ":freqStart:{{}mouseX, 1, 3000}uexp;\n:freq:{{16}clp, [1],[50,100,200]}rsq;\n:freq:{:freqStart:, :freq:}add;\n:env:{{16}clt, 50,300,0.2,40}env;\n:osc:{:freq:}saw;\n:fenv:{:env:,100,1000}uexp;\n:fmod:{{}mouseY,1,3000}uexp;\n>{:osc:, {:fenv:, :fmod:}add, 3, 1, 0, 0, 0}svf;",
    ">{{200}saw,10}dist;", ">{{200}saw,1000}dist;",
    ":kick:{{4}clt}\\909b;\n:curvebelowzero:{{0.14}tri,0.1,3}blin;\n:curveabovezero:{{0.1}tri,0.1,3}blin;\n>{:kick:, :curvebelowzero:, :curveabovezero:}asymclip;",
    ">{{80}sqr,200,1, 0.1,0.9}flange;",
    ">{{80}sqr,400,0.9, 2,0.9}chor;",
    ">{{5}sqr,20000,0.9}dl;",
    ":click:{{1}clt,8}\\boom2;\n:verb:{:click:, 0.9, 0.1}freeverb;\n>{:click:,{:verb:,0.1}mul}add;",
    ">{{400}sin,{600}sin,{200}sin}sum;", ">{{400}sin,{600}sin,{200}sin}mix;", ">{{{400}sin,{600}sin,{200}sin}sum,3}div;",
    ">{{400}sin,{600}sin,{200}sin}prod;",
    ">{{[1,2,3],1}at, {100}sin}mul;",
    "{{10}imp,0, {1}sin}toJS;\n>{{0}fromJS}saw;",
    ":freq:{{}mouseX,100,1000}uexp;\n:freq2:{{}mouseY,1000}mul;\n:mod:{{:freq2:}sin,100}mul;\n>{{:freq:,:mod:}add}sin;",
    ":osc:{1}sqr;\n:zerocrossing:{:osc:}onzx;\n:env:{:zerocrossing:,10,500,0.1,1000}env;\n>{{50}saw,:env:}mul;",
    ":midinote:{{12}clp, [1],[32,33,34,35,36,37,38,39,40,41,42,43]}rsq;\n:freq:{{2,{{:midinote:,69}sub,12}div}pow,440}mul;\n:osc:{:freq:}saw;\n>{:osc:, 200, 1, 0, 0, 1, 0}svf;",
    "{0}quantise;\n>{100}sin;", "{1}quantise;\n>{100}sin;",
    "{140,4}clk;\n> {{4}clt}\\spade;",
    "{150,4}clk;\n:channel1: {{4}clt}\\spade;\n:channel2: {{1}clt}\\909b;\n:freq:{{3}clp, 20, 200}uexp;\n:channel3: {{:freq:}saw, 0.1}mul;\n> {:channel1:, :channel2:, :channel3:}mix;",
    ":control:{1}clp;\n:seq:{:control:, [3,3,2,1]}rsq;\n>{:seq:,0.5, 0.9}\\click;",
    ":control:{2}clp;\n:mod:{:control:, [2,4,2], [0,0.5,0.75]}rsq;\n>{{80}saw, 800, 1, 0.03, :mod:}flange;",
    ":beats:{17}const;\n>{{:beats:,10}mul}sin;",
    "{{0.1}pha}poll;\n>{{0.1}pha,{300}sin}mul;",
];

#[test]
fn documentation_examples_compile_and_sound() {
    let silent_ok = ["{{0.1}pha}poll", "toJS", "{{2}imp,{{0.3}pha"]; // need JS/input or are slow
    for src in DOC_EXAMPLES {
        let mut h = Harness::new(120.0, 4.0);
        h.params[1] = 0.5;
        h.params[2] = 0.5;
        h.input = (0..8192).map(|i| (i as f32 * 0.03).sin()).collect();
        let mut p = h.compile(src);
        let (l, r) = h.render(&mut p, 48_000);
        let level = rms(&l).max(rms(&r));
        assert!(l.iter().chain(r.iter()).all(|x| x.is_finite()), "{src}");
        if !silent_ok.iter().any(|s| src.contains(s)) {
            assert!(level > 1e-3, "silent: {src} ({level})");
        }
    }
}

#[test]
fn every_function_compiles_and_renders_finite() {
    for f in super::functions::FUNCTIONS {
        let n = f.min_args;
        let args: Vec<String> = (0..n)
            .map(|i| match (f.name, i) {
                ("rsq", 1) | ("idx", 2) => "[1,2]".to_string(),
                ("sampler" | "slice" | "stretch", i) if i == n - 1 => "'kick'".to_string(),
                ("loop", 1) => "'kick'".to_string(),
                ("quantise", _) => "1".to_string(),
                _ => "{2}imp".to_string(),
            })
            .collect();
        let src = match f.name {
            "fft" => ">{{{2}imp,64,0.5}fft,0}at;".to_string(),
            "mfcc" => ">{{{2}imp,256,128,5}mfcc,0}at;".to_string(),
            "ifft" => ">{{2}imp,[1,2],[1,2],64,0.5}ifft;".to_string(),
            "map" | "filt" | "expa" => {
                format!(":f:(:x:@{{:x:,2}}mul);\n>{{{{[1,2],:f:}}{},0}}at;", f.name)
            }
            "redu" => ":f:(:a:,:b:@{:a:,:b:}add);\n>{[1,2],:f:}redu;".to_string(),
            _ => format!(">{{{}}}{};", args.join(","), f.name),
        };
        let mut h = Harness::new(120.0, 4.0);
        let mut p = h.compile(&src);
        let (l, _) = h.render(&mut p, 2048);
        assert!(l.iter().all(|x| x.is_finite()), "{src}");
        // Usage strings show the call form (players use their prefix instead of a name).
        assert!(!f.doc.is_empty());
        assert!(
            f.usage.contains(f.name) || matches!(f.name, "sampler" | "slice" | "stretch"),
            "{}",
            f.usage
        );
    }
}

#[test]
fn oscillator_family_numeric() {
    let mut h = Harness::new(120.0, 4.0);
    // imp: 10 impulses in a second.
    let out = h.run(">{10}imp;", 48_000);
    assert_eq!(out.iter().filter(|&&x| x == 1.0).count(), 10);
    // sqr at 100 Hz: half the samples high.
    let out = h.run(">{100}sqr;", 4800);
    let high = out.iter().filter(|&&x| x == 1.0).count();
    assert!((2380..=2410).contains(&high), "{high}");
    // Band-limited oscillators: a PolyBLEP saw at 100 Hz has the same period.
    let out = h.run(">{100}sawb;", 4800);
    assert!((out[1000] - out[1480]).abs() < 1e-5);
    let out = h.run(">{100, 3}polyblep;", 4800);
    assert!((out[100] - 1.0).abs() < 1e-6 && (out[300] + 1.0).abs() < 1e-6);
    // sah holds for its period.
    let out = h.run(">{{7}pha,10}sah;", 1500);
    assert_eq!(steps(&out).len(), 4);
    // count / onzx / onchange
    let out = h.run(">{{{100}imp,0}count,0.01}mul;", 4800);
    assert!((out[4799] - 0.1).abs() < 1e-6);
    let out = h.run(">{{10}sqr}onzx;", 48_000);
    assert_eq!(out.iter().filter(|&&x| x == 1.0).count(), 10);
    // 4 steps per bar, plus the first sample (the detector starts from 1).
    let out = h.run(">{{{4}clp,[1],[0.1,0.2]}rsq,0.05}onchange;", BAR);
    assert_eq!(out.iter().filter(|&&x| x == 1.0).count(), 5);
}

#[test]
fn bits_and_clock_bits() {
    let mut h = Harness::new(120.0, 4.0);
    let cases = [
        ("{{12,10}bitAnd,16}div", 8.0 / 16.0),
        ("{{12,10}bitOr,16}div", 14.0 / 16.0),
        ("{{12,10}bitXor,16}div", 6.0 / 16.0),
        ("{{1,3}bitShl,16}div", 0.5),
        ("{{16,3}bitShr,4}div", 0.5),
        ("{5,2}bitAt", 1.0),
        ("{{5,3}bitAdd,16}div", 0.5),
        ("{{5,3}bitSub,4}div", 0.5),
        ("{{5,3}bitMul,30}div", 0.5),
        ("{{9,2}bitDiv,8}div", 0.5),
        ("{5,5}bitEq", 1.0),
        ("{5,3}bitGt", 1.0),
        ("{5,5}bitGte", 1.0),
        ("{5,3}bitLt", 0.0),
        ("{3,3}bitLte", 1.0),
        ("{0}bitToSig", -1.0),
        ("{0}bitToTrigSig", -1.0),
        ("{{{0.5}bitFromSig}bitToSig,0.5}sub", 0.0),
        ("{{7}bitInc,16}div", 0.5),
        ("{{9}bitDec,16}div", 0.5),
        ("{{{0}bitNeg}bitToSig}const", 1.0),
        ("{{176,7,4}bitr,22}div", 0.5),
    ];
    for (src, want) in cases {
        let out = h.run(&format!(">{src};"), 1)[0];
        assert!((out as f64 - want).abs() < 1e-6, "{src}: {out} != {want}");
    }
    let out = h.run(">{{}btime,1000}div;", 500);
    assert!((out[499] - 0.499).abs() < 1e-6);
    h.relocate(0.5);
    let out = h.run(">{{}bitclock,1024}div;", 1);
    assert!((out[0] - 511.0 / 1024.0).abs() < 1e-6);
    let out = h.run(">{{}bitnoise}bitToSig;", 1000);
    assert!(rms(&out) > 0.3);
}

#[test]
fn from_js_with_trigger_samples_on_edges() {
    let mut h = Harness::new(120.0, 4.0);
    h.send(0, &[0.5]);
    let mut p = h.compile(">{0,{4}clt}fromJS;");
    assert!(p.is_per_sample());
    let (out, _) = h.render(&mut p, 100);
    assert_eq!(out[99], 0.5);
    h.send(0, &[0.25]);
    let (out, _) = h.render(&mut p, BAR / 4);
    // Still the old value until the next quarter-bar trigger.
    assert_eq!(out[0], 0.5);
    assert_eq!(out[BAR / 4 - 100], 0.25);
    // One-value JS arrays can be list elements (Sema reads them as numbers).
    let out = h.run(":a:{0}fromJS;\n>{[:a:,0.1],0}at;", 1);
    assert_eq!(out[0], 0.25);
}

#[test]
fn sema_community_example_basic_generative_compiles() {
    let src = ":freq:{0,{4}clt}fromJS;\n:freq4:{3,{4}clt}fromJS;\n{{4}imp, 0, {1}saw}toJS;\n:ch1:{{4}imp,:freq:}\\909b;\n:frequency:{{16}imp, [1,2], [:freq4:,:freq4:,:freq4:,:freq4:]}rsq;\n:res:{{16}imp, [2,2], [1,10,1,15]}rsq;\n:ch6:{:ch1:, :frequency:, :res:}lpz;\n> {:ch1:, :ch6:}mix;";
    assert!(check(src).is_ok());
    let mut h = Harness::new(120.0, 4.0);
    h.send(0, &[1.0]);
    h.send(3, &[800.0]);
    let out = h.run(src, 48_000);
    assert!(rms(&out) > 0.01);
    assert_eq!(h.to_js.len(), 4, "toJS at 4 Hz for 1 s");
}

#[test]
fn fft_ifft_roundtrip_in_the_language() {
    let mut h = Harness::new(120.0, 4.0);
    let out = h
        .run(":m:{{1000}sin,256,0.25}fft;\n>{{:m:,0}at,{:m:,1}at,{:m:,2}at,256,0.25}ifft;", 48_000);
    let r = rms(&out[8000..]);
    assert!((r - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.05, "{r}");
}

#[test]
fn sema_ml_tutorials_fft_and_mfcc_stream_to_js() {
    // From Sema's tutorial "streaming both ways": analysis to JS, spectrum back from JS.
    let src = ":n:{1}noiz;\n:p:{3}imp;\n:x:{:p:,:n:}|click;\n//fft analysis\n:m:{:x:, 512, 0.25}fft;\n:trig:{:m:,0}at;\n:freqs:{:m:,1}at;\n:phases:{:m:,2}at;\n{:trig:, 0, :freqs:, 512}toJS;\n>{:trig:, {1, :trig:}fromJS, :phases:, 512, 0.25}ifft;";
    let mut h = Harness::new(120.0, 4.0);
    h.send(1, &vec![0.01; 512]);
    let mut p = h.compile(src);
    assert!(p.is_per_sample());
    let (out, _) = h.render(&mut p, 48_000);
    // One frame every 256 samples, 512 values each.
    assert_eq!(h.to_js.len(), 48_000 / 256 * 512);
    assert!(rms(&out) > 1e-4);
    // From "streaming LC to ML": MFCCs to JS, 5 values per frame.
    let src = ":n:{1}noiz;\n:p:{3}imp;\n:x:>{:p:,:n:}|click;\n:m:{:x:, 1024,512,5}mfcc;\n:trig:{:m:,0}at;\n:mfccs:{:m:,1}at;\n{:trig:, 0, :mfccs:,5}toJS;";
    let mut h = Harness::new(120.0, 4.0);
    h.run(src, 48_000);
    assert_eq!(h.to_js.len(), 48_000 / 512 * 5);
    assert!(h.to_js.iter().any(|v| v.value != 0.0));
    // From "regression 2": picking bins into a list sent to JS.
    let src = ":mic:{1}adc;\n:fftdata:{:mic:, 128, 1}fft;\n:trig:{:fftdata:,0}at;\n:f:{:fftdata:,1}at;\n{:trig:, 0, [{:f:,2}at, {:f:,8}at, {:f:,15}at, {:f:,25}at, {:f:,40}at], 5}toJS;";
    assert!(check(src).is_ok());
    // Mistakes with analysis results are explained.
    let e = errors(":m:{{1}adc,64,0.5}fft;\n>{:m:}saw;");
    assert!(e[0].message.contains("pick one with {x, index}at"), "{}", e[0].message);
    let e = errors(":m:{{1}adc,64,0.5}fft;\n>{:m:,{1}pha}at;");
    assert!(e[0].message.contains("constant index"), "{}", e[0].message);
    let e = errors(">{:m:,1}at;\n:m:{{1}adc,64,0.5}fft;");
    assert!(e[0].message.contains("before it is assigned"), "{}", e[0].message);
}

#[test]
fn sema_tutorial_and_community_programs_compile() {
    // Live-code blocks from Sema's tutorials and community layouts (samples they use
    // that are not in the test library only need `check`).
    let programs = [
        ":freq1:{{4}clt,[1],[50,100,200]}rsq;\n:osc1:{:freq1:}sawn;\n\n:freq:{0,{1}clt}fromJS;\n:osc2:{:freq:}sawn;\n\n>{:osc1:,:osc2:}mix;",
        "{{20}imp, 0, [{}mouseX], 1}toJS;\n:freq:{50}const;\n:detune1:{{0}fromJS, 0.9, 1,1}ulin;\n:detune2:{{1}fromJS, 0.9, 1.1}ulin;\n:freq2:{:freq:,:detune1:}mul;\n:freq3:{:freq:,:detune2:}mul;\n>{{:freq:}saw, {:freq2:}saw, {:freq3:}saw}mix;",
        ":freq:{0,{4}clt}fromJS;\n:freq2:{1,{4}clt}fromJS;\n:freq4:{3,{4}clt}fromJS;\n{{4}imp, 0, {1}saw}toJS;\n:ch1:{{4}imp,:freq:}\\909b;\n:ch4:{{2}imp,{10.5}pha}|drone1;\n:frequency:{{16}imp, [1,2], [:freq4:,:freq4:,:freq4:,:freq4:]}rsq;\n:res:{{16}imp, [2,2], [1,10,1,15]}rsq;\n:ch6:{:ch1:, :frequency:, :res:}lpz;\n> {:ch1:, :ch4:, :ch6:}mix;",
    ];
    for src in programs {
        if let Err(e) = check(src) {
            panic!("{src}\n{e:?}");
        }
    }
}

#[test]
fn list_functions_with_lambdas() {
    let mut h = Harness::new(120.0, 4.0);
    let run1 = |h: &mut Harness, src: &str| h.run(src, 1)[0];
    assert_eq!(run1(&mut h, ":f:(:x:@{:x:,0.1}mul);\n:l:{[1,2,3],:f:}map;\n>{:l:,2}at;"), 0.3);
    assert_eq!(
        run1(&mut h, ":f:(:x:@{:x:,1.5}gt);\n:l:{[1,2,3],:f:}filt;\n>{{:l:,0}at,0.1}mul;"),
        0.2
    );
    assert_eq!(run1(&mut h, ":f:(:a:,:b:@{:a:,:b:}add);\n>{{[1,2,3,4],:f:}redu,0.01}mul;"), 0.1);
    // expa: one oscillator per element, each with its own phase.
    let out = h.run(":f:(:x:@{:x:}pha);\n:l:{[100,200],:f:}expa;\n>{{:l:,1}at,{:l:,0}at}sub;", 200);
    assert!((out[100] as f64 - (200.0 - 100.0) * 100.0 / 48_000.0).abs() < 1e-6, "{}", out[100]);
    // Over a list from JS.
    h.send(2, &[0.1, 0.2, 0.3]);
    assert!((run1(&mut h, ":f:(:x:@{:x:,2}mul);\n>{{{2}fromJS,:f:}map,2}at;") - 0.6).abs() < 1e-6);
    // Mistakes are explained.
    let e = errors(":f:(:x:@{:x:}saw);\n>{{[1,2],:f:}map,0}at;");
    assert!(e[0].message.contains("use expa"), "{}", e[0].message);
    let e = errors(":f:(:x:@{:x:}saw);\n>{[1,2],:f:}redu;");
    assert!(e[0].message.contains("2 arguments"), "{}", e[0].message);
    let e = errors(">{{[1,2],{1}saw}map,0}at;");
    assert!(e[0].message.contains("lambda variable"), "{}", e[0].message);
}

#[test]
fn a_program_with_an_unallocated_register_is_refused() {
    use super::program::{Op, ProgramParts};
    let parts = |a| ProgramParts {
        ops: vec![Op::Copy { a, out: 0 }],
        reg_consts: vec![None, None],
        per_sample: false,
        lists: Default::default(),
        sample_rate: 48_000.0,
        max_block: 64,
        quantise: false,
        initial_clock: None,
        uses_midi: false,
        missing_samples: vec![],
    };
    assert!(Program::new(parts(1)).is_ok());
    let err = Program::new(parts(2)).err().expect("register 2 of 2 is refused");
    assert!(err.contains("register 2"), "{err}");
}

#[test]
fn midi_input_functions_follow_events_across_chunks_and_modes() {
    use crate::audio::midi_in::{MidiInKind, MidiSource};
    let ev = |timing, kind, key, value| MidiIn {
        timing,
        kind,
        channel: 0,
        key,
        value,
        source: MidiSource::Host,
    };
    let block_mode = "{{}mtrig, 0}dac;\n{{}mheld, 1}dac;";
    let per_sample = ":fb:{:fb:, 0}add;\n{{{}mtrig, :fb:}add, 0}dac;\n{{}mheld, 1}dac;";
    for (src, want_per_sample) in [(block_mode, false), (per_sample, true)] {
        let mut h = Harness::new(120.0, 4.0);
        h.midi = vec![
            ev(130, MidiInKind::NoteOn, 62, 0.5),
            ev(131, MidiInKind::NoteOn, 65, 1.0),
            ev(700, MidiInKind::NoteOff, 62, 0.0),
            ev(700, MidiInKind::NoteOff, 65, 0.0),
        ];
        // Compiled for 64-sample chunks and rendered in 512-sample blocks: the events
        // fall in later chunks of a block and in the next block.
        let env = CompileEnv { max_block: 64, ..h.env() };
        let mut p = compile(src, &env).expect("compiles");
        assert_eq!(p.is_per_sample(), want_per_sample);
        let (l, r) = h.render(&mut p, 1024);
        let trig: Vec<usize> = (0..1024).filter(|&i| l[i] != 0.0).collect();
        assert_eq!(trig, vec![130, 131], "{src}");
        assert!(r[..130].iter().all(|&x| x == 0.0));
        assert_eq!(r[130], 1.0);
        assert!(r[131..700].iter().all(|&x| x == 2.0), "{src}");
        assert!(r[700..].iter().all(|&x| x == 0.0));
    }
}

#[test]
fn midi_input_functions_check_their_arity() {
    assert!(check("{}mnote;").is_ok());
    assert!(check("{{64}mcc, {}mbend, {}mtouch, {}mvel}sum;").is_ok());
    // The README's example.
    assert!(check(">{{{{}mnote}mtof}saw, {{}mgate, 5, 200, 0.6, 300}env}mul;").is_ok());
    // Too few arguments is an error naming the function (extra ones are ignored, as
    // everywhere in Sema).
    let err = check("{}mcc;").unwrap_err();
    assert!(err[0].message.contains("mcc"), "{err:?}");
}
