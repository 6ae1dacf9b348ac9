// Runs the real magenta.js (@magenta/music 1.23.1, tfjs 2.8.6 CPU backend) on the jobs
// in a JSON file and prints the results as JSON, for tests/parity.rs to compare with
// Sema Live's models.
//
// Usage: node parity.mjs job.json > result.json
//   job = { root: "<folder served over HTTP>",
//           rnn: [{ name, dir, primers: [NoteSequence], steps, chords?: [[symbol]] }],
//           vae: [{ name, dir, encode: [NoteSequence], decode: [[z...]] }],
//           chordSymbols: [symbol] (optional: how magenta.js reads each chord symbol),
//           bench: { rnn: dir, vae: dir, steps, reps } (optional) }
// magenta.js cannot load file:// checkpoints in Node, so `root` is served on 127.0.0.1.
// Packages are resolved from $PARITY_NODE_DIR (a folder with node_modules) or from
// this script's folder.

import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.PARITY_NODE_DIR || here;
const require = createRequire(join(resolve(base), 'package.json'));

// magenta.js logs to stdout; keep stdout for the JSON result.
const log = console.log;
console.log = (...a) => console.error(...a);

const tf = require('@tensorflow/tfjs');
const mm = require('@magenta/music/node/music_rnn');
const mvae = require('@magenta/music/node/music_vae');
const core = require('@magenta/music/node/core');

function serve(root) {
  const server = createServer(async (req, res) => {
    try {
      const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
      const file = resolve(root, '.' + path);
      if (!file.startsWith(resolve(root))) throw new Error('outside root');
      const data = await readFile(file);
      // No keep-alive: node-fetch reuses idle sockets the server has already dropped
      // after long model runs (ECONNRESET).
      res.writeHead(200, {
        'Content-Type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        Connection: 'close',
      });
      res.end(data);
    } catch (e) {
      res.writeHead(404, { Connection: 'close' });
      res.end(String(e));
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

function quantized(ns) {
  const spq = ns.quantizationInfo && ns.quantizationInfo.stepsPerQuarter;
  return spq ? ns : core.sequences.quantizeNoteSequence(ns, 4);
}

function plain(ns) {
  return {
    // Unquantized results (GrooVAE) carry times and velocities instead of steps.
    notes: ns.notes.map((n) => ({ pitch: n.pitch, quantizedStartStep: n.quantizedStartStep, quantizedEndStep: n.quantizedEndStep, instrument: n.instrument || 0, startTime: n.startTime, endTime: n.endTime, velocity: n.velocity })),
    totalQuantizedSteps: ns.totalQuantizedSteps,
    totalTime: ns.totalTime,
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const job = JSON.parse(await readFile(process.argv[2], 'utf8'));
  await tf.setBackend('cpu');
  const server = await serve(job.root);
  const url = (dir) => `http://127.0.0.1:${server.address().port}/${dir}`;
  const out = { rnn: [], vae: [], tfjsBackend: tf.getBackend() };
  try {
    for (const r of job.rnn || []) {
      const model = new mm.MusicRNN(url(r.dir));
      await model.initialize();
      const outputs = [];
      for (const [k, p] of r.primers.entries()) {
        // Chord-conditioned models get the k-th progression (continueSequence's 4th argument).
        const chords = r.chords ? r.chords[k] : undefined;
        outputs.push(plain(await model.continueSequence(quantized(p), r.steps, undefined, chords)));
      }
      model.dispose();
      out.rnn.push({ name: r.name, outputs });
    }
    for (const v of job.vae || []) {
      const model = new mvae.MusicVAE(url(v.dir));
      await model.initialize();
      const zt = await model.encode(v.encode.map(quantized));
      const z = zt.arraySync();
      zt.dispose();
      const decodeZ = [...z, ...(v.decode || [])];
      const decoded = (await model.decode(tf.tensor2d(decodeZ))).map(plain);
      model.dispose();
      out.vae.push({ name: v.name, z, decodeZ, decoded });
    }
    if (job.chordSymbols) {
      const cs = core.chords.ChordSymbols;
      out.chords = job.chordSymbols.map((s) => {
        try {
          const pitches = [...new Set(cs.pitches(s))].sort((a, b) => a - b);
          return { root: cs.root(s), pitches };
        } catch (e) {
          return { error: String(e && e.message) };
        }
      });
    }
    if (job.bench) {
      const b = job.bench;
      const reps = b.reps || 3;
      out.bench = {};
      if (b.rnn) {
        const model = new mm.MusicRNN(url(b.rnn));
        await model.initialize();
        const primer = quantized(b.primer);
        await model.continueSequence(primer, b.steps);
        const times = [];
        for (let i = 0; i < reps; i++) {
          const t = performance.now();
          const res = await model.continueSequence(primer, b.steps);
          times.push(performance.now() - t);
          out.bench.rnnOutput = plain(res);
        }
        out.bench.rnnContinueMs = median(times);
        out.bench.rnnContinueRuns = times;
        model.dispose();
      }
      if (b.vae) {
        const model = new mvae.MusicVAE(url(b.vae));
        await model.initialize();
        const mel = [quantized(b.primer)];
        const z0 = await model.encode(mel);
        out.bench.vaeZ = z0.arraySync();
        out.bench.vaeDecoded = (await model.decode(z0)).map(plain);
        const enc = [];
        const dec = [];
        for (let i = 0; i < reps; i++) {
          let t = performance.now();
          const z = await model.encode(mel);
          enc.push(performance.now() - t);
          z.dispose();
          t = performance.now();
          await model.decode(z0);
          dec.push(performance.now() - t);
        }
        out.bench.vaeEncodeMs = median(enc);
        out.bench.vaeDecodeMs = median(dec);
        model.dispose();
      }
    }
  } finally {
    server.close();
  }
  log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
