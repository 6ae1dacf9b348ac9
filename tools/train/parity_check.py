#!/usr/bin/env python3
"""Check that magenta.js itself loads the exported checkpoints and agrees with evaluate.py.

Runs the project's Node harness (plugin/tests/parity/parity.mjs, real @magenta/music
1.23.1 + tfjs 2.8.6) on the exported folders and compares, greedily (temperature 0):
RNN continuations of a few primers (incl. the seed's Piano Phase), VAE encode z of
held-out melodies and VAE decodes of those z and of random z.

    PARITY_NODE_DIR=<folder with node_modules> python parity_check.py \
        --rnn ../../assets/models/basic_rnn --vae ../../assets/models/mel_2bar_small \
        --data /work/scratch/train/melodies.npz
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import data
import evaluate as ev

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "../../plugin/tests/parity/parity.mjs")


def ns_from_events(events, min_pitch):
    notes = ev.events_to_notes(events, min_pitch)
    return {"notes": [{"pitch": p, "quantizedStartStep": s, "quantizedEndStep": e}
                      for p, s, e in notes],
            "totalQuantizedSteps": len(events),
            "quantizationInfo": {"stepsPerQuarter": 4}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rnn", required=True)
    ap.add_argument("--vae", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--save", default=None,
                    help="write the job and magenta.js's outputs to this JSON file (a fixture "
                    "for Rust-side tests that cannot run Node)")
    a = ap.parse_args()
    mel = data.Melodies(a.data)
    rng = np.random.default_rng(3)

    root = tempfile.mkdtemp(prefix="parity_")
    shutil.copytree(a.rnn, os.path.join(root, "rnn"))
    shutil.copytree(a.vae, os.path.join(root, "vae"))
    rnn = ev.RNN(os.path.join(root, "rnn"))
    vae = ev.VAE(os.path.join(root, "vae"))

    # RNN primers: Piano Phase (unquantized, as in the seed) + held-out tune openings.
    primers = [{"notes": [{"pitch": p, "startTime": s, "endTime": e}
                          for p, s, e in ev.PIANO_PHASE], "totalTime": ev.PIANO_PHASE_TOTAL}]
    primer_events = []
    qn, total = ev.quantize(ev.PIANO_PHASE, ev.PIANO_PHASE_TOTAL)
    primer_events.append(ev.melody_events(qn, total, rnn.min_pitch))
    vx, _, _ = data.rnn_val_set(mel, 32)
    for i in rng.choice(len(vx), a.n - 1, replace=False):
        e = vx[i]
        if (e >= 2).sum() == 0:
            continue
        primers.append(ns_from_events(e, rnn.min_pitch))
        # Re-encode through the converter so both sides see identical events.
        primer_events.append(ev.melody_events(ev.events_to_notes(e, rnn.min_pitch),
                                              len(e), rnn.min_pitch))
    val = data.vae_val_set(mel)
    val = val[rng.choice(len(val), a.n, replace=False)]
    z_rand = rng.standard_normal((a.n, vae.Z))
    job = {"root": root,
           "rnn": [{"name": "bundled", "dir": "rnn", "primers": primers, "steps": a.steps}],
           "vae": [{"name": "bundled", "dir": "vae",
                    "encode": [ns_from_events(w, vae.min_pitch) for w in val],
                    "decode": z_rand.tolist()}]}
    jpath = os.path.join(root, "job.json")
    with open(jpath, "w") as f:
        json.dump(job, f)
    r = subprocess.run(["node", HARNESS, jpath], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        sys.exit(1)
    out = json.loads(r.stdout)
    if a.save:
        with open(a.save, "w") as f:
            json.dump({"job": {k: v for k, v in job.items() if k != "root"},
                       "magenta_js": out}, f)

    ok = True
    js_rnn = out["rnn"][0]["outputs"]
    same = 0
    for pe, js in zip(primer_events, js_rnn):
        mine = [(p, s, e) for p, s, e in ev.events_to_notes(
            rnn.continue_sequence(pe, a.steps, 0, rng), rnn.min_pitch)]
        theirs = [(n["pitch"], n.get("quantizedStartStep", 0), n["quantizedEndStep"])
                  for n in js["notes"]]
        same += mine == theirs
        if mine != theirs:
            print("RNN mismatch:", mine, theirs)
    print(f"RNN greedy continuations identical: {same}/{len(js_rnn)}")
    ok &= same == len(js_rnn)

    js = out["vae"][0]
    z_js = np.array(js["z"])
    # Same round trip as magenta.js: events -> notes -> events (a leading NOTE_OFF with
    # no open note disappears).
    val_rt = np.stack([ev.melody_events(ev.events_to_notes(w, vae.min_pitch), len(w),
                                        vae.min_pitch) for w in val])
    z_np = vae.encode(val_rt)
    zerr = float(np.abs(z_js - z_np).max())
    print(f"VAE encode max |z_js - z_np| = {zerr:.2e}")
    ok &= zerr < 1e-4
    dz = np.array(js["decodeZ"])
    dec_np = vae.decode(dz, 0, rng)
    same = 0
    for row, d in zip(dec_np, js["decoded"]):
        mine = ev.events_to_notes(row, vae.min_pitch)
        theirs = [(n["pitch"], n.get("quantizedStartStep", 0), n["quantizedEndStep"])
                  for n in d["notes"]]
        same += mine == theirs
        if mine != theirs:
            print("VAE mismatch:", mine, theirs)
    print(f"VAE greedy decodes identical: {same}/{len(dec_np)}")
    ok &= same == len(dec_np)
    shutil.rmtree(root)
    print("PARITY OK" if ok else "PARITY FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
