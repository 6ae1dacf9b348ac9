// Runs tests/parity/layers_cases.js with the real TensorFlow.js (tfjs 2.8.6, CPU
// backend) on the cases of a JSON job file and prints the results as JSON, for
// tests/layers_parity.rs to compare with Sema Live's Layers API.
//
// Usage: node layers.mjs job.json > result.json
//   job = { cases: [...] }              (see layers_cases.js)
//   or  { bench: { epochs, samples } }  (times the FM tutorial's training, prints ms)
// Packages are resolved from $PARITY_NODE_DIR (a folder with node_modules) or from this
// script's folder.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.PARITY_NODE_DIR || here;
const require = createRequire(join(resolve(base), 'package.json'));

// tfjs greets on stdout; keep stdout for the JSON result.
console.log = (...a) => console.error(...a);
const tf = require('@tensorflow/tfjs');
const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const report = r => process.stdout.write(JSON.stringify(r));

if (job.bench) {
  await tf.setBackend('cpu');
  const { code, reps } = job.bench;
  const run = new Function('tf', 'report', 'return (async () => {' + code + '})();');
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run(tf, () => {});
    times.push(performance.now() - t0);
  }
  report({ ms: times });
} else {
  await tf.setBackend('cpu');
  const code = readFileSync(join(here, 'layers_cases.js'), 'utf8');
  new Function('tf', 'JOB', 'report', code)(tf, job, report);
}
