//! `sema-live js ...`: the JS runtime from the command line.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::error::{ScriptError, ScriptErrorKind};
use super::headless::{run_file, RunOptions};

/// Arguments of `sema-live js`.
#[derive(Args, Debug, Clone)]
pub struct JsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: JsCommand,
}

/// `sema-live js` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum JsCommand {
    /// Evaluates a JS file block by block (blocks separated by lines of `___`), waits for
    /// model loads, Promises and timers, prints the console; fails on an uncaught error.
    Run {
        /// The JS file.
        file: PathBuf,
        /// Longest wait for pending work, in seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
        /// Never download checkpoints: use the cache, else the bundled models.
        #[arg(long)]
        offline: bool,
        /// Folder of the bundled models (default: next to the executable or the source tree).
        #[arg(long)]
        bundled_dir: Option<PathBuf>,
        /// Seed of the models' sampling RNG, for reproducible output.
        #[arg(long)]
        seed: Option<u64>,
        /// Value of `host.temperature` (and the default temperature of model calls).
        #[arg(long, default_value_t = 1.0)]
        temperature: f32,
        /// Evaluate the next block right away instead of waiting for model work first.
        #[arg(long)]
        no_settle: bool,
        /// Longest a block, timer, Promise chain or onBar call may run, in seconds.
        #[arg(long, value_parser = super::runtime::JsLimits::parse_seconds)]
        time_limit: Option<Duration>,
        /// Most memory the scripts may hold, in megabytes.
        #[arg(long, value_parser = super::runtime::JsLimits::parse_megabytes)]
        heap_limit_mb: Option<usize>,
    },
    /// The cache of libraries loaded with `importScripts(url)` (other than the built-in
    /// tfjs and @magenta/music).
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

/// `sema-live js cache` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum CacheCommand {
    /// Seeds the cache with a local copy of a script, so `importScripts(URL)` works
    /// offline: `sema-live js cache add https://.../lodash.js ./lodash.js`.
    Add {
        /// The URL scripts import.
        url: String,
        /// The local file with its code.
        file: PathBuf,
        /// Cache folder (default: the user cache's `sema-live/models/scripts`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

/// Runs `sema-live js ...`; the console goes to stdout as it is produced. Err (for a
/// non-zero exit) on an uncaught error or a timeout.
pub fn cli_js(args: JsArgs) -> Result<(), ScriptError> {
    match args.command {
        JsCommand::Cache { command: CacheCommand::Add { url, file, cache_dir } } => {
            let dir = cache_dir.unwrap_or_else(|| {
                super::script_cache::scripts_dir(&crate::ml::core::resolve::default_cache_dir())
            });
            let path = super::script_cache::add_to_cache(&dir, &url, &file)
                .map_err(|e| ScriptError::new(ScriptErrorKind::Import, e))?;
            println!("cached {url} as {}", path.display());
            Ok(())
        }
        JsCommand::Run {
            file,
            timeout,
            offline,
            bundled_dir,
            seed,
            temperature,
            no_settle,
            time_limit,
            heap_limit_mb,
        } => {
            let mut opts = match bundled_dir {
                Some(dir) => RunOptions::new(dir),
                None => RunOptions::default(),
            };
            if !(timeout.is_finite() && timeout > 0.0) {
                return Err(ScriptError::new(
                    ScriptErrorKind::BadOptions,
                    format!("--timeout must be a positive number of seconds, got {timeout}"),
                ));
            }
            opts.timeout = Duration::from_secs_f64(timeout);
            opts.models.allow_network = !offline;
            opts.models.seed = seed;
            opts.settle_between_blocks = !no_settle;
            opts.limits.time = time_limit.unwrap_or(opts.limits.time);
            opts.limits.heap_bytes = heap_limit_mb.unwrap_or(opts.limits.heap_bytes);
            opts.host.temperature.store(temperature, Ordering::Relaxed);
            let report = run_file(&file, opts)?;
            if report.timed_out {
                return Err(ScriptError::new(
                    ScriptErrorKind::Pending,
                    format!("{}: timed out waiting for pending work", file.display()),
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        js: Top,
    }
    #[derive(clap::Subcommand)]
    enum Top {
        Js(JsArgs),
    }

    #[test]
    fn parses_and_runs_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.js");
        std::fs::write(&file, "var x = 2;\n___\nconsole.log('x is', x * host.temperature);\n")
            .unwrap();
        let bundled = dir.path().join("none");
        let cli = Cli::try_parse_from([
            "sema-live",
            "js",
            "run",
            file.to_str().unwrap(),
            "--offline",
            "--temperature",
            "0.5",
            "--bundled-dir",
            bundled.to_str().unwrap(),
        ])
        .expect("parses");
        let Top::Js(args) = cli.js;
        assert!(cli_js(args).is_ok());

        std::fs::write(&file, "throw new Error('bad');\n").unwrap();
        let cli =
            Cli::try_parse_from(["sema-live", "js", "run", file.to_str().unwrap(), "--offline"])
                .unwrap();
        let Top::Js(args) = cli.js;
        let err = cli_js(args).unwrap_err();
        assert_eq!(err.kind(), ScriptErrorKind::Uncaught, "{err}");
        assert_eq!(err.first().map(ScriptError::kind), Some(ScriptErrorKind::Exception));
        assert!(err.to_string().contains("bad"), "{err}");

        let cli = Cli::try_parse_from([
            "sema-live",
            "js",
            "run",
            file.to_str().unwrap(),
            "--timeout",
            "0",
        ])
        .unwrap();
        let Top::Js(args) = cli.js;
        assert_eq!(cli_js(args).err().map(|e| e.kind()), Some(ScriptErrorKind::BadOptions));
    }

    #[test]
    fn cache_add_seeds_import_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib.js");
        std::fs::write(&lib, "var libValue = 7;").unwrap();
        let cache = dir.path().join("cache");
        let url = "https://example.com/lib/1.0/lib.js";
        let cli = Cli::try_parse_from([
            "sema-live",
            "js",
            "cache",
            "add",
            url,
            lib.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .expect("parses");
        let Top::Js(args) = cli.js;
        assert!(cli_js(args).is_ok());
        let (code, _) =
            crate::js::script_cache::fetch_script(&cache, url, false, &mut |_| {}).unwrap();
        assert_eq!(code, "var libValue = 7;");
        let missing = dir.path().join("missing.js");
        let cli = Cli::try_parse_from([
            "sema-live",
            "js",
            "cache",
            "add",
            url,
            missing.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .unwrap();
        let Top::Js(args) = cli.js;
        let err = cli_js(args).unwrap_err();
        assert!(err.to_string().contains("missing.js"), "{err}");
    }
}
