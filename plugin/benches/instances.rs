// Many instances in one host process: 16 Sema Live instances holding the default session
// (the tutorial's live code, the Piano Phase primer on JS channel 1), loaded with the CLAP
// test host (clack-host), activated at 48 kHz with blocks of 256 frames and playing, paced
// in real time as a DAW's audio thread calls them. Reports the whole process's CPU time
// (every thread: audio, control, samples) as a share of one core, the memory each extra
// instance costs, and the threads each instance starts while idle.
//
// `cargo bench -p sema_live --bench instances` (release). Options through the environment:
// `INSTANCES` (16), `SECONDS` of audio to play (10).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use clack_host::prelude::*;

const RATE: f64 = 48_000.0;
const BLOCK: usize = 256;

/// A field of `/proc/self/status` in kB (VmRSS, VmHWM), or 0 where there is none.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of the whole process (all threads), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // After it: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt,
    // cmajflt, utime, stime (fields 3..=15 of proc(5)).
    let field = |i: usize| rest.split_whitespace().nth(i).and_then(|v| v.parse::<u64>().ok());
    let ticks = field(11).unwrap_or(0) + field(12).unwrap_or(0);
    // Clock ticks: USER_HZ, which Linux fixes at 100 for user space on every architecture
    // it reports to `/proc`.
    Duration::from_millis(ticks * 10)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

struct Running {
    // Kept alive: dropping the instance would end it.
    _instance: PluginInstance<common::TestHost>,
    processor: StartedPluginAudioProcessor<common::TestHost>,
}

fn start() -> Running {
    let mut instance = common::instantiate();
    let config = PluginAudioConfiguration {
        sample_rate: RATE,
        min_frames_count: 1,
        max_frames_count: BLOCK as u32,
    };
    let stopped = instance.activate(|_, _| (), config).expect("activate");
    let processor = stopped.start_processing().expect("start processing");
    Running { _instance: instance, processor }
}

/// Plays `blocks` blocks on every instance from sample `now`; returns the new position and
/// whether any instance made sound.
fn play(all: &mut [Running], now: &mut u64, blocks: usize, pace: bool) -> bool {
    let t0 = Instant::now();
    let mut sound = false;
    let none = EventBuffer::new();
    for b in 0..blocks {
        let pos = *now as f64 / RATE * 2.0; // 120 bpm: 2 beats a second
        let t = common::HostTransport::four_four(pos, 120.0, true);
        for r in all.iter_mut() {
            let (out, _) = common::process_block(&mut r.processor, *now, BLOCK, &t, &none);
            sound |= out[0].iter().any(|x| x.abs() > 1e-4);
        }
        *now += BLOCK as u64;
        if pace {
            // In real time, as a DAW's audio callback: wait for the next block's deadline.
            let due = t0 + Duration::from_secs_f64((b + 1) as f64 * BLOCK as f64 / RATE);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
    }
    sound
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n: usize = std::env::var("INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let secs: f64 = std::env::var("SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10.0);
    let base_threads = threads();
    let mut now = 0u64;
    let mut all = vec![start()];
    // Warm up the first one (kit written and read, first blocks) before measuring.
    assert!(play(&mut all, &mut now, 400, false), "the default session plays");
    std::thread::sleep(Duration::from_millis(300));
    let rss1 = status_kb("VmRSS:");
    let threads1 = threads();
    for _ in 1..n {
        all.push(start());
    }
    play(&mut all, &mut now, 400, false);
    std::thread::sleep(Duration::from_millis(300));
    let rss_n = status_kb("VmRSS:");
    let threads_n = threads();
    let per_instance_mb = (rss_n.saturating_sub(rss1)) as f64 / 1024.0 / (n - 1).max(1) as f64;

    let blocks = (secs * RATE / BLOCK as f64) as usize;
    let (c0, w0) = (cpu_time(), Instant::now());
    let sound = play(&mut all, &mut now, blocks, true);
    let (cpu, wall) = (cpu_time() - c0, w0.elapsed());
    assert!(sound, "the instances play");
    println!(
        "instances: {n} × default session, 48 kHz, {BLOCK}-frame blocks, playing {secs} s in real time"
    );
    println!(
        "  CPU (whole process, all threads): {:.2} s over {:.2} s = {:.1} % of one core",
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
    println!(
        "  memory: {:.1} MB with 1 instance, {:.1} MB with {n}: {per_instance_mb:.1} MB per extra instance (peak {:.1} MB)",
        rss1 as f64 / 1024.0,
        rss_n as f64 / 1024.0,
        status_kb("VmHWM:") as f64 / 1024.0
    );
    println!(
        "  threads: {base_threads} before, {threads1} with 1 instance, {threads_n} with {n} ({:.1} per extra instance)",
        (threads_n as f64 - threads1 as f64) / (n - 1).max(1) as f64
    );
}
