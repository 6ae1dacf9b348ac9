//! Synthesises Sema Live's built-in sample kit: licence-clean stand-ins for the samples
//! Sema's programs name (`\909b`, `\909closed`, `\boom`, ...), written as mono 16-bit
//! 48 kHz WAV files with a README describing each one.
//!
//! Deterministic: the noise comes from a fixed-seed xorshift generator, so running it
//! again writes the same bytes.
//!
//! ```sh
//! cargo run -p samplekit -- assets/samples
//! ```

use std::f64::consts::{PI, TAU};
use std::path::{Path, PathBuf};

const SR: f64 = 48_000.0;

/// Deterministic white noise in -1..1.
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    /// Uniform in 0..1.
    fn unit(&mut self) -> f64 {
        self.next() * 0.5 + 0.5
    }
}

/// One-pole low-pass.
struct Lp {
    a: f64,
    y: f64,
}

impl Lp {
    fn new(hz: f64) -> Self {
        Self { a: 1.0 - (-TAU * hz / SR).exp(), y: 0.0 }
    }
    fn set(&mut self, hz: f64) {
        self.a = 1.0 - (-TAU * hz.clamp(1.0, SR * 0.45) / SR).exp();
    }
    fn run(&mut self, x: f64) -> f64 {
        self.y += self.a * (x - self.y);
        self.y
    }
}

/// One-pole high-pass (input minus its low-pass).
struct Hp(Lp);

impl Hp {
    fn new(hz: f64) -> Self {
        Self(Lp::new(hz))
    }
    fn run(&mut self, x: f64) -> f64 {
        x - self.0.run(x)
    }
}

/// Two-pole band-pass (RBJ cookbook, constant 0 dB peak gain).
struct Bp {
    b0: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    x1: f64,
    x2: f64,
    y1: f64,
    y2: f64,
}

impl Bp {
    fn new(hz: f64, q: f64) -> Self {
        let mut f = Self { b0: 0.0, b2: 0.0, a1: 0.0, a2: 0.0, x1: 0.0, x2: 0.0, y1: 0.0, y2: 0.0 };
        f.set(hz, q);
        f
    }
    fn set(&mut self, hz: f64, q: f64) {
        let w = TAU * hz.clamp(10.0, SR * 0.45) / SR;
        let alpha = w.sin() / (2.0 * q);
        let a0 = 1.0 + alpha;
        self.b0 = alpha / a0;
        self.b2 = -alpha / a0;
        self.a1 = -2.0 * w.cos() / a0;
        self.a2 = (1.0 - alpha) / a0;
    }
    fn run(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.b2 * self.x2 - self.a1 * self.y1 - self.a2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Exponential decay with time constant `tau` seconds at time `t`.
fn decay(t: f64, tau: f64) -> f64 {
    (-t / tau).exp()
}

fn len(secs: f64) -> usize {
    (secs * SR) as usize
}

/// 808/909-style metal: six square waves at inharmonic frequencies.
fn metal(t: f64) -> f64 {
    const F: [f64; 6] = [205.3, 304.4, 369.6, 522.7, 540.0, 800.0];
    F.iter().map(|f| if (t * f * 1.7).fract() < 0.5 { 1.0 } else { -1.0 }).sum::<f64>() / 6.0
}

/// A hi-hat with decay `tau`.
fn hat(secs: f64, tau: f64, seed: u64) -> Vec<f64> {
    let mut n = Noise::new(seed);
    let (mut hp1, mut hp2) = (Hp::new(6_000.0), Hp::new(6_000.0));
    let mut bp = Bp::new(10_000.0, 0.8);
    (0..len(secs))
        .map(|i| {
            let t = i as f64 / SR;
            let x = 0.6 * metal(t) + 0.4 * n.next();
            let y = hp2.run(hp1.run(x));
            (y + 0.5 * bp.run(x)) * decay(t, tau) * (t * 2_000.0).min(1.0)
        })
        .collect()
}

/// A pitch-swept sine from `f0` to `f1` Hz (sweep time constant `sweep`), amplitude decay
/// `tau`.
fn swept_sine(secs: f64, f0: f64, f1: f64, sweep: f64, tau: f64) -> Vec<f64> {
    let mut phase = 0.0;
    (0..len(secs))
        .map(|i| {
            let t = i as f64 / SR;
            let f = f1 + (f0 - f1) * decay(t, sweep);
            phase += f / SR;
            (TAU * phase).sin() * decay(t, tau)
        })
        .collect()
}

fn kick() -> Vec<f64> {
    let mut n = Noise::new(1);
    let mut hp = Hp::new(2_000.0);
    let body = swept_sine(0.6, 190.0, 48.0, 0.035, 0.22);
    body.iter()
        .enumerate()
        .map(|(i, b)| {
            let t = i as f64 / SR;
            let click = hp.run(n.next()) * decay(t, 0.002);
            (1.6 * b + 0.5 * click).tanh()
        })
        .collect()
}

fn snare() -> Vec<f64> {
    let mut n = Noise::new(2);
    let mut hp = Hp::new(1_200.0);
    let mut lp = Lp::new(9_000.0);
    (0..len(0.4))
        .map(|i| {
            let t = i as f64 / SR;
            let f_drop = 1.0 + 0.3 * decay(t, 0.01);
            let body = 0.6 * (TAU * 185.0 * f_drop * t).sin() * decay(t, 0.07)
                + 0.35 * (TAU * 330.0 * f_drop * t).sin() * decay(t, 0.05);
            let noise = lp.run(hp.run(n.next())) * decay(t, 0.11);
            body + 0.8 * noise
        })
        .collect()
}

fn click() -> Vec<f64> {
    (0..len(0.03))
        .map(|i| {
            let t = i as f64 / SR;
            let imp = if i < 3 { [1.0, -0.6, 0.3][i] } else { 0.0 };
            imp + 0.5 * (TAU * 3_200.0 * t).sin() * decay(t, 0.002)
        })
        .collect()
}

fn clicks() -> Vec<f64> {
    let mut n = Noise::new(3);
    let mut out = vec![0.0; len(0.4)];
    let mut t = 0.0;
    while t < 0.37 {
        let amp = 0.4 + 0.6 * n.unit();
        let f = 2_000.0 + 3_000.0 * n.unit();
        let start = len(t);
        for k in 0..len(0.01) {
            if let Some(o) = out.get_mut(start + k) {
                let tt = k as f64 / SR;
                *o += amp * (TAU * f * tt).sin() * decay(tt, 0.0015);
            }
        }
        t += 0.012 + 0.05 * n.unit();
    }
    out
}

fn tick() -> Vec<f64> {
    let mut n = Noise::new(4);
    let mut bp = Bp::new(2_500.0, 6.0);
    (0..len(0.05))
        .map(|i| {
            let t = i as f64 / SR;
            let x = if t < 0.004 { n.next() } else { 0.0 };
            3.0 * bp.run(x)
        })
        .collect()
}

fn boom(secs: f64, f0: f64, f1: f64, tau: f64, bright: f64, seed: u64) -> Vec<f64> {
    let mut n = Noise::new(seed);
    let (mut lp1, mut lp2) = (Lp::new(180.0 * bright), Lp::new(180.0 * bright));
    let body = swept_sine(secs, f0, f1, 0.12, tau);
    body.iter()
        .enumerate()
        .map(|(i, b)| {
            let t = i as f64 / SR;
            let rumble = lp2.run(lp1.run(n.next())) * 6.0 * decay(t, tau * 1.4);
            let crack = n.next() * decay(t, 0.01) * 0.3 * bright;
            (1.4 * b + rumble + crack).tanh()
        })
        .collect()
}

fn muffled_boom() -> Vec<f64> {
    let mut n = Noise::new(5);
    let (mut lp1, mut lp2, mut lp3) = (Lp::new(300.0), Lp::new(300.0), Lp::new(300.0));
    (0..len(1.0))
        .map(|i| {
            let t = i as f64 / SR;
            let noise = lp3.run(lp2.run(lp1.run(n.next()))) * 10.0 * decay(t, 0.25);
            let sub = (TAU * 58.0 * t).sin() * decay(t, 0.3);
            (noise + sub) * (t * 400.0).min(1.0)
        })
        .collect()
}

fn metal_strike() -> Vec<f64> {
    let mut n = Noise::new(6);
    let mut hp = Hp::new(3_000.0);
    const MODES: [(f64, f64, f64); 5] = [
        (1.0, 1.0, 0.5),
        (2.76, 0.6, 0.35),
        (5.40, 0.4, 0.2),
        (8.93, 0.3, 0.12),
        (13.34, 0.2, 0.08),
    ];
    (0..len(0.8))
        .map(|i| {
            let t = i as f64 / SR;
            let ring: f64 = MODES
                .iter()
                .map(|(r, a, tau)| a * (TAU * 420.0 * r * t).sin() * decay(t, *tau))
                .sum();
            ring + 0.6 * hp.run(n.next()) * decay(t, 0.008)
        })
        .collect()
}

fn machine() -> Vec<f64> {
    let mut n = Noise::new(7);
    let mut lp = Lp::new(900.0);
    let mut bp = Bp::new(3_000.0, 4.0);
    (0..len(1.5))
        .map(|i| {
            let t = i as f64 / SR;
            let saw = 2.0 * (t * 55.0).fract() - 1.0;
            let hum = lp.run(saw) * (0.6 + 0.4 * (TAU * 8.0 * t).sin());
            let tick_t = (t * 12.0).fract() / 12.0;
            let tick = bp.run(n.next() * decay(tick_t, 0.003)) * 4.0;
            let fade = (t * 50.0).min(1.0) * ((1.5 - t) * 50.0).min(1.0);
            (hum + tick) * fade
        })
        .collect()
}

fn sparks(secs: f64, seed: u64, rate: f64) -> Vec<f64> {
    let mut n = Noise::new(seed);
    let mut hp = Hp::new(2_500.0);
    let mut out = vec![0.0; len(secs)];
    let mut t = 0.0;
    while t < secs - 0.05 {
        let dur = 0.002 + 0.02 * n.unit();
        let amp = 0.3 + 0.7 * n.unit();
        let start = len(t);
        for k in 0..len(dur) {
            if let Some(o) = out.get_mut(start + k) {
                *o += amp * n.next() * decay(k as f64 / SR, dur * 0.4);
            }
        }
        t += n.unit() * 2.0 / rate;
    }
    out.iter().map(|&x| hp.run(x)).collect()
}

fn spark() -> Vec<f64> {
    let mut n = Noise::new(9);
    let mut hp = Hp::new(3_000.0);
    (0..len(0.6))
        .map(|i| {
            let t = i as f64 / SR;
            let crack = hp.run(n.next()) * decay(t, 0.012);
            let ping = 0.4 * (TAU * 3_100.0 * t).sin() * decay(t, 0.06);
            let fizz = 0.15 * n.next() * decay(t, 0.2) * (n.unit() > 0.9) as u8 as f64;
            crack + ping + fizz
        })
        .collect()
}

fn wood() -> Vec<f64> {
    let (mut a, mut b) = (Bp::new(820.0, 25.0), Bp::new(2_300.0, 20.0));
    (0..len(0.3))
        .map(|i| {
            let x = if i == 0 { 1.0 } else { 0.0 };
            let t = i as f64 / SR;
            (40.0 * a.run(x) + 18.0 * b.run(x)) * decay(t, 0.08)
        })
        .collect()
}

fn crackle() -> Vec<f64> {
    let mut n = Noise::new(10);
    let mut lp = Lp::new(7_000.0);
    (0..len(1.5))
        .map(|_| {
            let x = if n.unit() < 60.0 / SR { n.next() } else { 0.0 };
            4.0 * lp.run(x)
        })
        .collect()
}

fn scrape() -> Vec<f64> {
    let mut n = Noise::new(11);
    let mut bp = Bp::new(400.0, 8.0);
    let mut bp2 = Bp::new(400.0, 3.0);
    (0..len(1.5))
        .map(|i| {
            let t = i as f64 / SR;
            let centre = 400.0 + 2_100.0 * (PI * t / 1.5).sin().powi(2);
            bp.set(centre, 8.0);
            bp2.set(centre * 1.5, 3.0);
            let bumps = 0.5 + 0.5 * (TAU * 7.0 * t + (TAU * 1.3 * t).sin()).sin().abs();
            let x = n.next();
            (3.0 * bp.run(x) + bp2.run(x))
                * bumps
                * (t * 20.0).min(1.0)
                * ((1.5 - t) * 8.0).min(1.0)
        })
        .collect()
}

fn paper() -> Vec<f64> {
    let mut n = Noise::new(12);
    let mut bp = Bp::new(4_500.0, 1.2);
    let mut gust = Lp::new(12.0);
    (0..len(1.0))
        .map(|i| {
            let t = i as f64 / SR;
            let g = gust.run(if n.unit() < 0.002 { 400.0 } else { 0.0 }).min(1.0);
            bp.run(n.next()) * (0.15 + g) * (t * 30.0).min(1.0) * ((1.0 - t) * 10.0).min(1.0)
        })
        .collect()
}

fn drone_saws() -> Vec<f64> {
    let mut lp = Lp::new(1_200.0);
    const F: [f64; 4] = [55.0, 55.3, 82.5, 110.4];
    (0..len(3.0))
        .map(|i| {
            let t = i as f64 / SR;
            let x: f64 = F.iter().map(|f| 2.0 * (t * f).fract() - 1.0).sum::<f64>() / 4.0;
            lp.set(900.0 + 500.0 * (TAU * 0.25 * t).sin());
            lp.run(x) * (t * 10.0).min(1.0) * ((3.0 - t) * 10.0).min(1.0)
        })
        .collect()
}

fn drone_sines() -> Vec<f64> {
    const F: [(f64, f64); 4] = [(65.4, 1.0), (98.1, 0.6), (130.8, 0.5), (196.2, 0.3)];
    (0..len(3.0))
        .map(|i| {
            let t = i as f64 / SR;
            let x: f64 = F.iter().map(|(f, a)| a * (TAU * f * t).sin()).sum();
            let trem = 0.75 + 0.25 * (TAU * 0.3 * t).sin();
            x * trem * (t * 10.0).min(1.0) * ((3.0 - t) * 10.0).min(1.0)
        })
        .collect()
}

fn grains() -> Vec<f64> {
    let mut n = Noise::new(13);
    let mut bp = Bp::new(1_500.0, 5.0);
    (0..len(1.0))
        .map(|i| {
            let t = i as f64 / SR;
            bp.set(1_200.0 + 800.0 * (TAU * 0.5 * t).sin(), 5.0);
            let grain = if n.unit() < 0.05 { n.next() } else { 0.0 };
            let pulse = 0.4 + 0.6 * decay((t * 4.0).fract() / 4.0, 0.05);
            6.0 * bp.run(grain) * pulse
        })
        .collect()
}

fn bee() -> Vec<f64> {
    let mut n = Noise::new(14);
    let mut jitter = Lp::new(5.0);
    let mut bp = Bp::new(900.0, 1.5);
    let mut phase = 0.0;
    (0..len(1.5))
        .map(|i| {
            let t = i as f64 / SR;
            let f = 220.0 * (1.0 + 0.03 * (TAU * 6.0 * t).sin() + 0.5 * jitter.run(n.next()));
            phase += f / SR;
            let pulse = if phase.fract() < 0.2 { 1.0 } else { -0.25 };
            let wobble = 0.6 + 0.4 * (TAU * 1.7 * t).sin().abs();
            3.0 * bp.run(pulse) * wobble * (t * 20.0).min(1.0) * ((1.5 - t) * 20.0).min(1.0)
        })
        .collect()
}

/// The kit: Sema's name, what the stand-in is, the sound.
fn kit() -> Vec<(&'static str, &'static str, Vec<f64>)> {
    vec![
        ("909", "snare: two detuned body tones and a bright noise burst", snare()),
        ("909b", "kick: pitch-swept sine with a click", kick()),
        (
            "909closed",
            "closed hi-hat: six square partials through a high-pass, short",
            hat(0.12, 0.03, 15),
        ),
        ("909open", "open hi-hat: the same metal, long decay", hat(0.6, 0.2, 16)),
        ("click", "a 2 ms click", click()),
        ("clicks1", "a burst of irregular clicks", clicks()),
        ("auclick", "a band-passed tick", tick()),
        (
            "boom",
            "low boom: a long pitch-swept sine with rumble",
            boom(1.5, 90.0, 35.0, 0.5, 1.0, 17),
        ),
        ("boom2", "a shorter, brighter boom", boom(1.2, 140.0, 45.0, 0.3, 2.5, 18)),
        ("auboom", "a muffled boom", muffled_boom()),
        ("spade", "a metal strike: inharmonic partials ringing out", metal_strike()),
        ("machine", "a mechanical loop: pulsing motor hum and ticks", machine()),
        ("dalispark", "electric sparks: crackling noise bursts", sparks(1.0, 8, 40.0)),
        ("spark", "a single spark: a sharp noise crack", spark()),
        ("woodsamp", "a wood block: a damped resonant knock", wood()),
        ("crackle3", "crackle: sparse random impulses", crackle()),
        ("convol5", "scraping: noise through a sweeping resonant filter", scrape()),
        ("paper", "paper rustle: band-passed noise in gusts", paper()),
        ("patterndrone2", "a drone: detuned saws beating slowly", drone_saws()),
        ("drone1", "a low drone: stacked sines with slow tremolo", drone_sines()),
        ("kernel", "a textured loop: grainy filtered noise with a pulse", grains()),
        ("InsectBee", "a buzzing insect: a wavering pulse wave", bee()),
    ]
}

/// Normalises to a 0.9 peak, fades the last 5 ms out and writes 16-bit mono.
fn write(path: &Path, sound: &[f64]) -> Result<(), String> {
    let peak = sound.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if !(peak.is_finite() && peak > 0.0) {
        return Err(format!("{}: the sound is silent or not finite", path.display()));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SR as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w =
        hound::WavWriter::create(path, spec).map_err(|e| format!("{}: {e}", path.display()))?;
    let fade = len(0.005);
    for (i, x) in sound.iter().enumerate() {
        let tail = (sound.len() - i).min(fade) as f64 / fade as f64;
        let v = (x / peak * 0.9 * tail * 32767.0).round() as i16;
        w.write_sample(v).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    w.finalize().map_err(|e| format!("{}: {e}", path.display()))
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "assets/samples".into()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }
    let mut readme = String::from(
        "# The built-in sample kit\n\n\
         Stand-ins under the names of Sema's own samples, so Sema's programs play out of the box.\n\
         They are **not** Sema's recordings: each one is synthesised by `tools/samplekit`\n\
         (`cargo run -p samplekit -- assets/samples`, deterministic) and is licensed with\n\
         Sema Live. Mono, 16-bit, 48 kHz (played at other host rates by the players' interpolation). Sema's own pack is downloaded on request\n\
         (see the README).\n\n\
         | name | stand-in for | seconds |\n|---|---|---|\n",
    );
    let mut total = 0;
    for (name, what, sound) in kit() {
        let path = dir.join(format!("{name}.wav"));
        if let Err(e) = write(&path, &sound) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        total += sound.len() * 2 + 44;
        readme.push_str(&format!("| `\\{name}` | {what} | {:.2} |\n", sound.len() as f64 / SR));
    }
    if let Err(e) = std::fs::write(dir.join("README.md"), readme) {
        eprintln!("cannot write the README: {e}");
        std::process::exit(1);
    }
    println!("wrote {} KB of samples to {}", total / 1024, dir.display());
}
