// Peer benchmark against Glicol (the `glicol` crate, engine loop only), in the same run:
// 10 s of 48 kHz audio of three patches written in both languages.
//
//   cargo bench -p glicol-peer   (its own crate: glicol would otherwise unify features
//   into tract/boa and force rebuilds of the plugin's tests)
//
// Ours runs through the plugin's realtime engine as a render drives it (`OfflineEngine`:
// the host clock, the program, gain and the safety clip, 512-sample blocks, stereo f32
// out), Glicol through `Engine::next_block` (mono graph to its stereo destination) at
// its own block sizes of 128 and 512 frames; the faster Glicol is the reference. Before
// criterion's runs it prints the medians of 15 direct timings and the ratios
// (Glicol time / ours: above 1 means ours is faster), and the seed patch's multiple of
// realtime.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sema_live::cli::ProgramRender;

const SR: usize = 48_000;
const SECONDS: usize = 10;
/// 10 s at 120 bpm in 4/4.
const BARS: u32 = 5;
const RUNS: usize = 15;

/// (name, Sema Live's live code, Glicol's code)
const PATCHES: [(&str, &str, &str); 3] = [
    ("saw_gain", "{120,4}clk;\n>{{554.37}saw,0.08}mul;\n", "o: saw 554.37 >> mul 0.08"),
    (
        "additive_4",
        "{120,4}clk;\n>{{{220}sin,0.4}mul,{{440}sin,0.2}mul,{{660}sin,0.1}mul,{{880}sin,0.1}mul}sum;\n",
        "a: sin 220 >> mul 0.4\nb: sin 440 >> mul 0.2\nc: sin 660 >> mul 0.1\nd: sin 880 >> mul 0.1",
    ),
    (
        "filter_env",
        "{120,4}clk;\n>{{{110}saw,1200,2}lpz,{{2}imp,10,200,0,100}env}mul;\n",
        "o: saw 110 >> lpf 1200.0 0.5 >> mul ~env\n~env: imp 2 >> envperc 0.01 0.2",
    ),
];

/// The seed patch (the tutorial's live code) with its JS channel's Piano Phase data.
const SEED: &str = "{120, 4}clk;\n{1}quantise;\n:m:{1}fromJS;\n:seq:{{15}clp, [1], :m:}rsq;\n:tune:{:seq:}saw;\n>{{:tune:,0.08}mul}mix;\n";

struct Ours {
    render: ProgramRender,
}

impl Ours {
    fn new(dsl: &str) -> Self {
        let mut channels = Vec::new();
        if dsl == SEED {
            // The tutorial's Piano Phase figure, as the seed session's channel 1 holds it.
            let freqs = [587.33, 659.26, 880.0, 987.77, 1046.5, 659.26, 587.33, 987.77, 880.0];
            channels.push((1, freqs.to_vec()));
        }
        Self { render: ProgramRender::new(dsl, &channels, BARS).expect("the patch compiles") }
    }

    /// Renders the 10 s; returns a checksum.
    fn render(&mut self) -> f32 {
        let mut sum = 0.0f32;
        let r = self.render.render_into(|l: &[f32], r: &[f32]| {
            sum += l[0] + r[0];
            Ok::<(), std::convert::Infallible>(())
        });
        assert_eq!(r, Ok((SR * SECONDS) as u64));
        sum
    }
}

struct Glicol<const N: usize> {
    engine: glicol::Engine<N>,
}

impl<const N: usize> Glicol<N> {
    fn new(code: &str) -> Self {
        let mut engine = glicol::Engine::<N>::new();
        engine.set_sr(SR);
        engine.livecoding = false;
        engine.update_with_code(code);
        // The first block builds the graph.
        let (_, err) = engine.next_block(vec![]);
        assert_eq!(err[0], 0, "glicol rejected {code:?}");
        Self { engine }
    }

    fn render(&mut self) -> f32 {
        let mut sum = 0.0f32;
        for _ in 0..(SR * SECONDS).div_ceil(N) {
            let (bufs, _) = self.engine.next_block(vec![]);
            sum += bufs[0][0] + bufs[1][0];
        }
        sum
    }
}

fn median(mut f: impl FnMut() -> f32) -> f64 {
    let mut v: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            black_box(f());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[RUNS / 2]
}

/// `PEER_PROFILE=<patch name or "seed">`: renders only that patch, ours, for about 5 s
/// and exits (for `perf record`).
fn profile_only() -> bool {
    let Ok(name) = std::env::var("PEER_PROFILE") else { return false };
    let code = match PATCHES.iter().find(|p| p.0 == name) {
        Some(p) => p.1,
        None if name == "seed" => SEED,
        None => panic!("PEER_PROFILE: no patch {name:?}"),
    };
    let mut ours = Ours::new(code);
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed().as_secs_f64() < 5.0 {
        black_box(ours.render());
        n += 1;
    }
    eprintln!("{name}: {:.3} ms per 10 s", t0.elapsed().as_secs_f64() * 1e3 / n as f64);
    true
}

fn peers(c: &mut Criterion) {
    if profile_only() {
        return;
    }
    let realtime = |t: f64| SECONDS as f64 / t;
    for (name, ours_code, glicol_code) in PATCHES {
        let mut ours = Ours::new(ours_code);
        let mut g128 = Glicol::<128>::new(glicol_code);
        let mut g512 = Glicol::<512>::new(glicol_code);
        // Both make sound (a patch one side rejected silently would win for free).
        assert!(ours.render().is_finite());
        let t_ours = median(|| ours.render());
        let t128 = median(|| g128.render());
        let t512 = median(|| g512.render());
        let t_glicol = t128.min(t512);
        eprintln!(
            "{name}: ours {:.2} ms ({:.0}x realtime), glicol {:.2} ms at 128 / {:.2} ms at 512 \
             ({:.0}x realtime): ours/glicol speed = {:.2}x",
            t_ours * 1e3,
            realtime(t_ours),
            t128 * 1e3,
            t512 * 1e3,
            realtime(t_glicol),
            t_glicol / t_ours
        );
        let mut g = c.benchmark_group(format!("peer_{name}"));
        g.sample_size(20);
        g.throughput(Throughput::Elements((SR * SECONDS) as u64));
        g.bench_function("sema_live", |b| b.iter(|| black_box(ours.render())));
        g.bench_function("glicol_128", |b| b.iter(|| black_box(g128.render())));
        g.bench_function("glicol_512", |b| b.iter(|| black_box(g512.render())));
        g.finish();
    }
    let mut seed = Ours::new(SEED);
    let t = median(|| seed.render());
    eprintln!(
        "seed patch through the engine: {:.2} ms for 10 s ({:.0}x realtime)",
        t * 1e3,
        realtime(t)
    );
}

criterion_group!(benches, peers);
criterion_main!(benches);
