//! `sema-live`: the command line of Sema Live, sharing the plugin's engine (the binary
//! `src/main.rs` only calls [`main`]).

use clap::{Parser, Subcommand};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::lockstep::{LockstepJs, LockstepOptions};
use crate::cli::midi_input::{read_input, MidiFeed};
use crate::cli::render::{OfflineEngine, RenderSettings};
use crate::cli::session::Session;
use crate::cli::wav_out::WavOut;
use crate::control::console::Console;
use crate::control::samples::SampleSources;
use crate::js;
use crate::ml::cli::ModelArgs;
use crate::ml::core::resolve::{default_bundled_dir, default_cache_dir};
use crate::ml::worker::WorkerConfig;

#[derive(Parser)]
#[command(name = "sema-live", version, about = "Sema Live: live coding with machine learning")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and compile a DSL program without playing it; prints located errors.
    Check {
        /// The DSL file (Sema's default language).
        file: PathBuf,
    },
    /// Render a session as a host bounces offline: play N bars through the realtime
    /// engine with the session's JS running in step (bar callbacks, timers, model calls and
    /// toJS input are waited for before the render goes past them); writes audio.wav,
    /// notes.mid and summary.txt.
    Render {
        /// The session file (.sema.toml), or a bare live-code file (.sem/.sema, as `check`
        /// reads) rendered with the session defaults (120 bpm, 4/4, 8 bars, no JS).
        session: PathBuf,
        /// Number of bars (default: the session's).
        #[arg(long)]
        bars: Option<u32>,
        /// Tempo in bpm (default: the session's).
        #[arg(long)]
        bpm: Option<f64>,
        /// Output folder.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Seed for model sampling (default: the session's).
        #[arg(long)]
        seed: Option<u64>,
        /// Never download checkpoints (use the cache, else the bundled models) nor samples
        /// of Sema's pack (use the cache, else silence). (A render
        /// always runs the JS in lockstep with the audio, as a host's offline bounce: this
        /// flag only decides where models come from.)
        #[arg(long)]
        offline: bool,
        /// A MIDI file played as the host's MIDI input, from the first bar: its ticks are
        /// read at the render's tempo (the file's tempo events are ignored).
        #[arg(long, value_name = "FILE.mid")]
        midi_in: Option<PathBuf>,
        /// Longest wait for the JS work of one step (set-up of a block, a bar, a toJS
        /// tick): model loads and results, in seconds. A step that takes longer is
        /// reported and the render goes on.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// JavaScript: run a file block by block as the editor would.
    Js(crate::js::cli::JsArgs),
    /// Samples for `\\name` players: list them, or import a folder of WAV files (such as
    /// a Sema checkout's assets/samples) into the sample folder.
    Samples {
        #[command(subcommand)]
        command: SamplesCommand,
    },
    /// Run a model on a checkpoint and print JSON.
    Model(ModelArgs),
}

#[derive(Subcommand)]
enum SamplesCommand {
    /// Copy the WAV files of DIR (recursively) into the sample folder
    /// ($SEMA_LIVE_SAMPLES, else <data>/samples), named as they play (`my-kick.wav` →
    /// `\\mykick`). A running plugin picks them up within seconds.
    Import {
        /// The folder to import.
        dir: PathBuf,
    },
    /// List every sample a program can play now and where it comes from.
    List,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Each area's error type; printed as its message.
    let result: Result<(), Box<dyn Error>> = match cli.command {
        Command::Check { file } => return check(&file),
        Command::Render { session, bars, bpm, out, seed, offline, midi_in, timeout } => {
            let opts = RenderArgs { bars, bpm, seed, offline, midi_in, timeout };
            render(&session, &out, opts)
        }
        Command::Js(args) => crate::js::cli::cli_js(args).map_err(Into::into),
        Command::Samples { command } => samples(command),
        Command::Model(args) => {
            crate::ml::cli::cli_model(args).map(|json| println!("{json}")).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(file: &Path) -> ExitCode {
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match crate::dsl::check(&src) {
        Ok(()) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{}:{}:{}: {}", file.display(), e.line, e.col, e.message);
            }
            ExitCode::FAILURE
        }
    }
}

fn samples(command: SamplesCommand) -> Result<(), Box<dyn Error>> {
    use crate::control::samples as src;
    let sources = src::SampleSources::from_env();
    match command {
        SamplesCommand::Import { dir } => {
            let (names, warnings) = src::import_dir(&dir, &sources.folder)?;
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "imported {} sample(s) into {}: {}",
                names.len(),
                sources.folder.display(),
                names.iter().map(|n| format!("\\{n}")).collect::<Vec<_>>().join(" ")
            );
            if names.is_empty() {
                return Err(format!("no readable WAV files in {}", dir.display()).into());
            }
        }
        SamplesCommand::List => {
            let console = Console::new();
            let (lib, _) = src::load_library(&sources, 48_000.0, &console);
            for line in console.snapshot() {
                eprintln!("warning: {}", line.text);
            }
            for (name, e) in lib.entries() {
                let secs = e.buffer.data.len() as f64 / e.buffer.rate;
                println!("\\{name:<16} {secs:6.2} s  {}", e.origin);
            }
            let pack = src::SEMA_PACK
                .iter()
                .filter(|f| !lib.contains(&crate::dsl::samples::sample_name(f)))
                .count();
            match &sources.pack_url {
                Some(url) => println!(
                    "{} sample(s); {pack} more of Sema's pack download on first use from {url}",
                    lib.len()
                ),
                None => println!("{} sample(s); downloads from Sema's pack are off", lib.len()),
            }
        }
    }
    Ok(())
}

/// Options of `sema-live render` besides the session and the output folder.
struct RenderArgs {
    bars: Option<u32>,
    bpm: Option<f64>,
    seed: Option<u64>,
    offline: bool,
    midi_in: Option<PathBuf>,
    timeout: u64,
}

fn render(path: &Path, out: &Path, args: RenderArgs) -> Result<(), Box<dyn Error>> {
    let session = Session::load_any(path)?;
    let settings = RenderSettings {
        bars: args.bars.unwrap_or(session.settings.bars).max(1),
        bpm: args.bpm.unwrap_or(session.settings.bpm),
        beats_per_bar: session.settings.beats_per_bar,
        ..RenderSettings::default()
    };
    if !(settings.bpm.is_finite() && settings.bpm > 0.0 && settings.bpm <= 1000.0) {
        return Err(format!("invalid tempo {} (0 to 1000 bpm)", settings.bpm).into());
    }
    if args.timeout == 0 {
        return Err("--timeout must be at least 1 second".into());
    }
    let mut feed = match &args.midi_in {
        Some(file) => {
            let bytes =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let input =
                read_input(&bytes, settings.bpm).map_err(|e| format!("{}: {e}", file.display()))?;
            for w in &input.warnings {
                eprintln!("warning: {}: {w}", file.display());
            }
            let feed = MidiFeed::new(&input, settings.bpm, settings.sample_rate);
            println!("MIDI input: {} events from {}", feed.len(), file.display());
            feed
        }
        None => MidiFeed::empty(),
    };
    let console = Arc::new(Console::new());
    let mut samples = SampleSources::from_env();
    if session.js.trim().is_empty() {
        // Without JS the code cannot change during the render: only the samples it plays
        // are loaded (a bare patch starts without decoding the kit and the folders).
        if let Ok(names) = crate::dsl::sample_names(&session.dsl) {
            samples = samples.only(names);
        }
    }
    let mut offline_engine =
        OfflineEngine::with_samples(session.to_state(), settings.clone(), console.clone(), samples);
    // Compile errors are reported once, here, with the file name (not also echoed by the
    // console while the engine is set up).
    if let Err(errors) = offline_engine.controller.lock().compile(&session.dsl) {
        let list: Vec<String> =
            errors.iter().map(|e| format!("  {}: {e}", path.display())).collect();
        return Err(format!("the session's DSL does not compile:\n{}", list.join("\n")).into());
    }
    // Warnings from the set-up (e.g. an unreadable WAV in the sample folder) still show.
    for line in
        console.snapshot().iter().filter(|l| l.level == crate::control::console::Level::Warn)
    {
        eprintln!("warning: {}", line.text);
    }
    console.set_echo(true);
    // Names of Sema's pack the program plays are fetched now (a render cannot wait for
    // the background thread), unless --offline.
    if !args.offline {
        let missing = offline_engine.controller.lock().missing_samples(&session.dsl);
        crate::control::samples::fetch_now(&offline_engine.controller, &missing);
    }

    let mut js = None;
    if !session.js.trim().is_empty() {
        println!(
            "running the session's JS ({} blocks) in step with the render…",
            js::blocks::split_blocks(&session.js).len()
        );
        let seed = args.seed.or(session.settings.seed);
        let models = WorkerConfig {
            cache_dir: default_cache_dir(),
            bundled_dir: default_bundled_dir(),
            allow_network: !args.offline,
            seed,
            // Replaced by the runtime with `host.temperature`.
            temperature: Arc::new(|| 1.0),
            // Replaced by the runtime with the host view's key (none in a render).
            scale: Arc::new(|| None),
            status: Default::default(),
            saved_models: Default::default(),
        };
        let opts = LockstepOptions {
            models,
            step_timeout: Duration::from_secs(args.timeout),
            print: true,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        js = Some(LockstepJs::start(
            &session.js,
            base,
            offline_engine.controller.clone(),
            settings.params,
            settings.bpm,
            opts,
        )?);
    }
    // What the set-up sent goes in directly, before the first block.
    offline_engine.resync();

    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rendering [{bar:40}] {percent}% ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if js.is_some() {
        // The script prints as it runs: no progress bar drawn over its lines.
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // The WAV is written block by block as the render goes: memory stays flat however
    // long the render.
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut wav = WavOut::create(&out.join("audio.wav"), settings.sample_rate as u32)?;
    let started = std::time::Instant::now();
    let rendered = offline_engine
        .render_to(js.as_mut(), &mut feed, &mut wav, |f| bar.set_position((f * 1000.0) as u64))?;
    wav.finish()?;
    let took = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let dropped = feed.dropped as u64 + rendered.midi_in_dropped;
    if dropped > 0 {
        eprintln!(
            "warning: {dropped} MIDI input event(s) dropped (more than {} in one block)",
            crate::audio::midi_in::MAX_EVENTS_PER_BLOCK
        );
    }
    if feed.remaining() > 0 {
        eprintln!(
            "note: {} MIDI input event(s) come after the end of the render and were not played",
            feed.remaining()
        );
    }
    let channels = offline_engine.controller.lock().session().channels.clone();
    let summary = rendered.write_notes(out, &channels)?;
    print!("{summary}");
    let secs = rendered.levels.frames as f64 / settings.sample_rate;
    let memory = match crate::cli::render::peak_memory_bytes() {
        Some(b) => format!(", peak memory {:.1} MB", b as f64 / 1e6),
        None => String::new(),
    };
    println!(
        "rendered {secs:.2} s of audio in {took:.2} s ({:.0}x realtime){memory}",
        secs / took.max(1e-9)
    );
    if let Some(js) = &js {
        let r = &js.report;
        if !r.errors.is_empty() || !r.stalls.is_empty() {
            eprintln!(
                "warning: during the render the JS raised {} uncaught error(s) and {} step(s) did \
                 not settle in time (see above)",
                r.errors.len(),
                r.stalls.len()
            );
        }
    }
    println!(
        "wrote {0}/audio.wav, {0}/notes.mid and {0}/summary.txt ({1} bars at {2} bpm)",
        out.display(),
        settings.bars,
        settings.bpm
    );
    Ok(())
}
