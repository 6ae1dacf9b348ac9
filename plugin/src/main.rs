//! `sema-live`: the command line of Sema Live, sharing the plugin's engine.

use clap::{Parser, Subcommand};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sema_live::cli::render::{OfflineEngine, RenderSettings};
use sema_live::cli::session::Session;
use sema_live::control::console::Console;
use sema_live::js::{self, HostView, RunOptions};
use sema_live::ml::cli::ModelArgs;
use sema_live::ml::core::resolve::{default_bundled_dir, default_cache_dir};
use sema_live::ml::worker::WorkerConfig;

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
    /// Render a session: run its JS blocks (waiting for model results), then play N bars
    /// through the realtime engine; writes audio.wav, notes.mid and summary.txt.
    Render {
        /// The session file (.sema.toml).
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
        /// Never download checkpoints: use the cache, else the bundled models.
        #[arg(long)]
        offline: bool,
        /// Longest wait for JS work (model loads, promises, timers), in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// JavaScript: run a file block by block as the editor would.
    Js(sema_live::js::cli::JsArgs),
    /// Run a model on a checkpoint and print JSON.
    Model(ModelArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Each area's error type; printed as its message.
    let result: Result<(), Box<dyn Error>> = match cli.command {
        Command::Check { file } => return check(&file),
        Command::Render { session, bars, bpm, out, seed, offline, timeout } => {
            render(&session, bars, bpm, &out, seed, offline, timeout)
        }
        Command::Js(args) => sema_live::js::cli::cli_js(args).map_err(Into::into),
        Command::Model(args) => {
            sema_live::ml::cli::cli_model(args).map(|json| println!("{json}")).map_err(Into::into)
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
    match sema_live::dsl::check(&src) {
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

fn run_options(host: Arc<HostView>, seed: Option<u64>, offline: bool, timeout: u64) -> RunOptions {
    let temp_host = host.clone();
    RunOptions {
        models: WorkerConfig {
            cache_dir: default_cache_dir(),
            bundled_dir: default_bundled_dir(),
            allow_network: !offline,
            seed,
            temperature: Arc::new(move || {
                temp_host.temperature.load(std::sync::atomic::Ordering::Relaxed)
            }),
            status: Default::default(),
        },
        host,
        timeout: Duration::from_secs(timeout),
        settle_between_blocks: true,
        print: true,
    }
}

fn render(
    path: &Path,
    bars: Option<u32>,
    bpm: Option<f64>,
    out: &Path,
    seed: Option<u64>,
    offline: bool,
    timeout: u64,
) -> Result<(), Box<dyn Error>> {
    let session = Session::load(path)?;
    let mut settings = RenderSettings {
        bars: bars.unwrap_or(session.settings.bars).max(1),
        bpm: bpm.unwrap_or(session.settings.bpm),
        beats_per_bar: session.settings.beats_per_bar,
        ..RenderSettings::default()
    };
    if !(settings.bpm.is_finite() && settings.bpm > 0.0) {
        return Err(format!("invalid tempo {}", settings.bpm).into());
    }
    let console = Arc::new(Console::new());
    let mut offline_engine =
        OfflineEngine::new(session.to_state(), settings.clone(), console.clone());
    // Compile errors are reported once, here, with the file name (not also echoed by the
    // console while the engine is set up).
    if let Err(errors) = offline_engine.controller.lock().compile(&session.dsl) {
        let list: Vec<String> =
            errors.iter().map(|e| format!("  {}: {e}", path.display())).collect();
        return Err(format!("the session's DSL does not compile:\n{}", list.join("\n")).into());
    }
    // Warnings from the set-up (e.g. an unreadable WAV in the sample folder) still show.
    for line in
        console.snapshot().iter().filter(|l| l.level == sema_live::control::console::Level::Warn)
    {
        eprintln!("warning: {}", line.text);
    }
    console.set_echo(true);

    if !session.js.trim().is_empty() {
        println!(
            "running the session's JS ({} blocks)…",
            js::blocks::split_blocks(&session.js).len()
        );
        let host = Arc::new(HostView::default());
        host.bpm.store(settings.bpm, std::sync::atomic::Ordering::Relaxed);
        host.temperature.store(settings.params[0], std::sync::atomic::Ordering::Relaxed);
        let base = path.parent().unwrap_or(Path::new("."));
        let report = js::run_source(
            &session.js,
            base,
            run_options(host, seed.or(session.settings.seed), offline, timeout),
        )?;
        if !report.errors.is_empty() {
            return Err(format!(
                "the session's JS raised {} uncaught error(s)",
                report.errors.len()
            )
            .into());
        }
        if report.timed_out {
            return Err(format!("the session's JS did not finish within {timeout} s").into());
        }
        let mut controller = offline_engine.controller.lock();
        for (id, data) in report.sends {
            controller.send_channel(id, data).map_err(|e| e.to_string())?;
        }
    }
    offline_engine.resync();

    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rendering [{bar:40}] {percent}% ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    settings = offline_engine.settings().clone();
    let rendered = offline_engine.render(|f| bar.set_position((f * 1000.0) as u64));
    bar.finish_and_clear();
    let channels = offline_engine.controller.lock().session().channels.clone();
    let summary = rendered.write(out, &channels)?;
    print!("{summary}");
    println!(
        "wrote {0}/audio.wav, {0}/notes.mid and {0}/summary.txt ({1} bars at {2} bpm)",
        out.display(),
        settings.bars,
        settings.bpm
    );
    Ok(())
}
