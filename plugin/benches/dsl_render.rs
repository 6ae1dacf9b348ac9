// Renders the seed patch (the DSL program of /work/shared/seed's tutorial) for 10 s of
// audio at 48 kHz in 512-sample blocks with a fake clock at 120 bpm 4/4, the JS channel
// holding the tutorial's 12 Piano Phase frequencies. Throughput is in samples: divide
// the reported elements/s by 48 000 for the multiple of realtime (target ≥ 2000×).
// A second case renders Sema's reich-piano-phase example, a third a feedback patch that
// runs sample by sample.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sema_live::audio::MidiInView;
use sema_live::audio::{BlockContext, ChannelBank, ClockRun, FixedQueue, SampleBank, NUM_PARAMS};
use sema_live::dsl::mtof;
use sema_live::dsl::{compile, CompileEnv, Program, SampleLibrary};
use sema_live::ml::PIANO_PHASE;

const SR: f64 = 48_000.0;
const BLOCK: usize = 512;
const SECONDS: usize = 10;

const SEED: &str = "{120, 4}clk;\n{1}quantise;\n:m:{1}fromJS;\n:seq:{{15}clp, [1], :m:}rsq;\n:tune:{:seq:}saw;\n>{{:tune:,0.08}mul}mix;\n";

const REICH: &str = "{144, 3}clk;\n:piano1:{{8}clp, [1], [587,659,880,987,1046,659,587,987,880,659,1046,987]}rsq;\n:phase:{0.01}clp;\n:piano2:{{8,:phase:}clp, [1], [587,659,880,987,1046,659,587,987,880,659,1046,987]}rsq;\n>{{:piano1:}saw, {:piano2:}saw}mix;\n";

const FEEDBACK: &str = ":fb:{{{:out:,0.6}mul,{{4}clt,5,100,0.1,50}env}add,4000,0.7}dl;\n:out:{{{110}sawn,{:fb:,0.5}mul}add,1200,3}lpz;\n>{:out:,0.2}mul;\n";

/// The fake host: a playing clock at a constant tempo from the song's start.
struct Host {
    bpm: f64,
    beats: f64,
    channels: ChannelBank,
    samples: SampleBank,
    params: [f32; NUM_PARAMS],
    input: Vec<f32>,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Host {
    fn new(bpm: f64, beats: f64) -> Self {
        let mut channels = ChannelBank::new();
        let freqs: Vec<f64> = PIANO_PHASE.iter().map(|&m| mtof(m.into())).collect();
        let _ = channels.replace(1, freqs.into_boxed_slice());
        Self {
            bpm,
            beats,
            channels,
            samples: SampleBank::default(),
            params: [0.0; NUM_PARAMS],
            input: vec![0.0; BLOCK],
            left: vec![0.0; BLOCK],
            right: vec![0.0; BLOCK],
        }
    }

    /// Renders the 10 s; returns a checksum so the work cannot be optimised away.
    fn render(&mut self, p: &mut Program) -> f32 {
        let mut notes = FixedQueue::with_capacity(256);
        let mut to_js = FixedQueue::with_capacity(256);
        let mut scope = FixedQueue::with_capacity(256);
        let mut sum = 0.0;
        let total = SR as usize * SECONDS;
        for start in (0..total).step_by(BLOCK) {
            let len = BLOCK.min(total - start);
            let clocks = ClockRun::from_song_start(start as u64, len, self.bpm, self.beats, SR);
            notes.clear();
            to_js.clear();
            scope.clear();
            let mut ctx = BlockContext {
                len,
                clocks,
                inputs: [&self.input, &self.input],
                outputs: [&mut self.left, &mut self.right],
                params: &self.params,
                channels: &self.channels,
                samples: &self.samples,
                notes: &mut notes,
                to_js: &mut to_js,
                scope: &mut scope,
                clock_request: None,
                midi_in: MidiInView::none(),
            };
            p.process(&mut ctx);
            sum += self.left[0];
        }
        sum
    }
}

fn program(src: &str) -> Program {
    let env =
        CompileEnv { sample_rate: SR, max_block: BLOCK, samples: Arc::new(SampleLibrary::new()) };
    compile(src, &env).expect("the bench patches compile")
}

fn dsl_render(c: &mut Criterion) {
    let mut g = c.benchmark_group("dsl_render");
    g.sample_size(20);
    g.throughput(Throughput::Elements((SR as usize * SECONDS) as u64));
    for (name, src, bpm, beats) in [
        ("seed_10s", SEED, 120.0, 4.0),
        ("reich_10s", REICH, 144.0, 3.0),
        ("feedback_10s", FEEDBACK, 120.0, 4.0),
    ] {
        let mut host = Host::new(bpm, beats);
        let mut p = program(src);
        // A direct measurement printed as a multiple of realtime, for the report.
        let t0 = Instant::now();
        black_box(host.render(&mut p));
        let dt = t0.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {:.0}x realtime (one run, {:.2} ms for {SECONDS} s)",
            SECONDS as f64 / dt,
            dt * 1e3
        );
        g.bench_function(name, |b| b.iter(|| black_box(host.render(&mut p))));
    }
    g.finish();
}

criterion_group!(benches, dsl_render);
criterion_main!(benches);
