#!/usr/bin/env python3
"""Write MODEL_CARD.md for the exported models from the training logs and evaluate.py's JSON.

    python model_card.py --eval /work/scratch/train/eval.json --data /work/scratch/train/melodies.npz \
        --rnn-log /work/scratch/train/rnn/log.jsonl --vae-log /work/scratch/train/vae/log.jsonl \
        --rnn ../../assets/models/basic_rnn --vae ../../assets/models/mel_2bar_small
"""
import argparse
import json
import os

import numpy as np

import data
import export

DATA_SECTION = """## Training data and licence

Monophonic melodies read from three collections of the corpus shipped inside the
`music21` Python package (v{m21}), chosen because both the music and the encodings can be
used in an open-source (and commercially distributable) plugin:

| collection | source | tunes used |
|---|---|---|
| `oneills1850` | Francis O'Neill, *The Music of Ireland* (Chicago, 1903; the "1850 melodies"), ABC transcriptions by the volunteers of the O'Neill's Project | {n0} |
| `ryansMammoth` | William Bradbury Ryan, *Ryan's Mammoth Collection* (Boston, 1883), ABC by Ray Davies, John Chambers, Bob Puckette, John Walsh and others | {n1} |
| `airdsAirs` | James Aird, *A Selection of Scotch, English, Irish and Foreign Airs* (Glasgow, 1778–1803), ABC by Jack Campin | {n2} |

- The tunes were published 1778–1903: public domain. The ABC files carry no licence
  restriction (only transcriber credits); music21 distributes them under its corpus
  licence, which says restrictions, where any, are given per collection or piece — these
  three have none. The models contain no score text, only weights learned from pitch /
  rhythm sequences.
- Deliberately **not** used: `essenFolksong` (its licence file allows non-commercial use
  only), `nottingham-dataset`, `miscFolk`, the Bach chorales and every other collection
  whose terms are not stated in the package.
- Extraction (`tools/train/extract.py`): own ABC tokenizer; key signatures and modes,
  bar-scoped accidentals, broken rhythms, tuplets, ties; chords reduced to their top note,
  grace notes dropped, first voice only, repeats read linearly. Quantised to 16th notes
  (4 steps per quarter). {tunes} tunes, {steps} steps, {notes} notes; split by tune:
  {ntrain} training / {nval} validation tunes (validation never trained on).
"""


def last_and_best(log_paths, key, higher=False):
    """Read one or more jsonl logs (a run and its continuations, comma-separated).

    Returns (last record with total minutes, last exported record, all records)."""
    recs, minutes = [], 0.0
    for p in log_paths.split(","):
        rs = [json.loads(l) for l in open(p) if l.strip()]
        minutes += rs[-1]["minutes"]
        recs += rs
    exp = [r for r in recs if r.get("exported")]
    best = exp[-1] if exp else None
    last = dict(recs[-1], minutes=minutes)
    return last, best, recs


def history(recs, keys, every=1000):
    """Markdown table of validation metrics roughly every `every` steps."""
    rows, nxt = [], 0
    for r in recs:
        if r["step"] >= nxt or r is recs[-1]:
            rows.append(r)
            nxt = r["step"] // every * every + every
    head = "| step | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys) + "\n"
    return head + "".join("| " + str(r["step"]) + " | " + " | ".join(
        f"{r[k]:.3f}" for k in keys) + " |\n" for r in rows)


def sizes(d):
    cfg, v = export.read_checkpoint(d)
    nparams = int(sum(a.size for a in v.values()))
    nbytes = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                 if f != "MODEL_CARD.md")
    return v, nparams, nbytes


def fmt(x, n=3):
    return "n/a" if x is None else f"{x:.{n}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rnn-log", required=True)
    ap.add_argument("--vae-log", required=True)
    ap.add_argument("--rnn", required=True)
    ap.add_argument("--vae", required=True)
    ap.add_argument("--rnn-args", default="")
    ap.add_argument("--vae-args", default="")
    a = ap.parse_args()
    import music21
    ev = json.load(open(a.eval))
    d = np.load(a.data)
    counts = np.bincount(d["collection"], minlength=3)
    evs = d["events"]
    common = dict(m21=music21.__version__, n0=counts[0], n1=counts[1], n2=counts[2],
                  tunes=len(d["is_val"]), steps=len(evs), notes=int((evs >= 2).sum()),
                  ntrain=int((~d["is_val"]).sum()), nval=int(d["is_val"].sum()))
    data_md = DATA_SECTION.format(**common)

    # ---------------------------------------------------------------- RNN
    last, best, recs = last_and_best(a.rnn_log, "val_ce")
    v, nparams, nbytes = sizes(a.rnn)
    layers = [v[f"rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/bias"].shape[0] // 4
              for l in range(8) if f"rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/bias" in v]
    r = ev["basic_rnn"]
    md = f"""# Sema Live bundled model: `basic_rnn` (MusicRNN)

Melody continuation model used by `MusicRNN` when the requested checkpoint is not cached
and cannot be downloaded. Same architecture family, converter and file format as
magenta's `basic_rnn`, trained from scratch, much smaller.

## Format and size

- magenta.js checkpoint: `config.json` (`MusicRNN`, `MelodyConverter` minPitch 48,
  maxPitch 83: 38 classes), `weights_manifest.json`, `group1-shard1of1.bin` (float32).
- Stacked LSTM {layers} (magenta's is [512, 512]), cell `basic_lstm_cell`, gate order
  i, j, f, o, forget bias 1.0; `fully_connected` output layer. No attention.
- {nparams:,} parameters, {nbytes / 1e6:.2f} MB on disk.
- Loads in magenta.js 1.23.1 (checked with `tools/train/parity_check.py`: greedy
  continuations identical to the Python re-implementation, `evaluate.py`) and in Sema
  Live's checkpoint reader (`plugin/src/ml/checkpoint.rs`: all variables, shapes and
  values read).

{data_md}
## Training

- JAX/optax on 1 CPU thread (2-core machine shared with a Rust build), {last['step']} steps
  of batch 64 × 128-step windows in {last['minutes']:.0f} min wall clock (an 85-min run, then
  a continuation from its best snapshot with a fresh optimiser). Exported snapshot:
  step {best['step']} (best validation CE).
- Windows transposed by a random shift that keeps them inside 48..83; 25 % of windows get
  a silent gap (NOTE_OFF + 8–48 silent steps) so the model resumes after rests; steps
  after a tune's end are not trained on. Adam (lr 2e-3, ×0.9 per 1000 steps; the
  continuation restarted at 1.2e-3 with the decay resumed), clip 3.
- Command line: see `tools/train/README.md`. {a.rnn_args}

## Validation (held-out tunes, computed on the exported files by `evaluate.py`)

| metric | value |
|---|---|
| cross-entropy per step (nats) | {fmt(r['val_ce'])} |
| next-step accuracy (all events) | {fmt(r['val_acc'])} |
| next-step accuracy on note-on targets | {fmt(r['val_noteon_acc'])} |

Seed "Piano Phase" primer (pitches 73 75 80 82 83 75 73 82 80 75 83 82, quantised at
4 steps per quarter: {r['primer_steps']} steps incl. trailing silence), continued for
{r['continuation_steps']} steps at temperature {r['temperature']}, {r['samples']} samples:

| metric | value |
|---|---|
| notes generated (mean per sample) | {fmt(r['notes_per_sample'], 1)} |
| samples without any note | {r['silent_samples']} / {r['samples']} |
| fraction of notes in the primer's scale (G♯ minor / B major pitch classes) | {fmt(r['in_scale_fraction'])} |
| same over 200 samples: notes per sample / in-scale fraction | {fmt(r.get('notes_per_sample_200_samples'), 2)} / {fmt(r.get('in_scale_fraction_200_samples'))} |
| greedy continuation of the primer cut at its last note (totalTime 6.5 s) | {r.get('greedy_pitches_primer_without_trailing_silence')} |
| greedy continuation (temperature 0) | {r['greedy_pitches'] or 'no notes (greedy keeps resting after the 43 silent primer steps)'} |

Examples (temperature 1.0): {r['example_pitches']}

Validation during training (from the training log):

{history(recs, ['val_ce', 'val_acc', 'val_noteon_acc'])}
## Limitations

Trained on ~4k Irish/Scottish/English fiddle and pipe tunes: it favours diatonic,
dance-like lines (jigs, reels, hornpipes, airs) and knows little else. Small model:
phrases are locally plausible but long-range structure is weak.
"""
    open(os.path.join(a.rnn, "MODEL_CARD.md"), "w").write(md)

    # ---------------------------------------------------------------- VAE
    last, best, recs = last_and_best(a.vae_log, "val_recon_noteon_acc")
    v, nparams, nbytes = sizes(a.vae)
    enc = v["encoder/mu/kernel"].shape[0] // 2
    z = v["encoder/mu/kernel"].shape[1]
    dec = [v[f"decoder/multi_rnn_cell/cell_{l}/lstm_cell/bias"].shape[0] // 4
           for l in range(8) if f"decoder/multi_rnn_cell/cell_{l}/lstm_cell/bias" in v]
    r = ev["mel_2bar_small"]
    md = f"""# Sema Live bundled model: `mel_2bar_small` (MusicVAE)

2-bar melody VAE used by `MusicVAE` (and as the base of `MidiMe`) when the requested
checkpoint is not cached and cannot be downloaded. Same architecture family, converter
and file format as magenta's `mel_2bar_small`, trained from scratch, smaller.

## Format and size

- magenta.js checkpoint: `config.json` (`MusicVAE`, `MelodyConverter` numSteps 32,
  minPitch 21, maxPitch 108: 90 classes; flat model, categorical decoder, no chords),
  `weights_manifest.json`, `group1-shard1of1.bin` (float32).
- Encoder: one bidirectional LSTM layer, {enc} units per direction (magenta: 512);
  `encoder/mu` (and `encoder/sigma`, unused at inference) → z of {z} dims (magenta: 256).
- Decoder: LSTM {dec} (magenta: [256, 256]) with input [previous one-hot, z], initial
  state tanh(z·W+b); `output_projection` to 90 classes. Cells `lstm_cell`, gates i, j, f, o,
  forget bias 1.0.
- {nparams:,} parameters, {nbytes / 1e6:.2f} MB on disk.
- Loads in magenta.js 1.23.1 (checked with `tools/train/parity_check.py`: encode z within
  1e-6 and greedy decodes identical to the Python re-implementation, `evaluate.py`) and in
  Sema Live's checkpoint reader (`plugin/src/ml/checkpoint.rs`).

{data_md}
- VAE examples: every distinct 32-step window that starts on a bar line and has ≥ 3
  note-ons, each transposed by a random shift within ±12 semitones.

## Training

- JAX/optax on 1 CPU thread, {last['step']} steps of batch 128 in
  {last['minutes']:.0f} min wall clock. Exported snapshot: step {best['step']} (best
  held-out note-on reconstruction once the KL weight had ramped up).
- Loss: per-sequence cross-entropy + β·max(KL − free nats, 0) with 32 free bits
  (22.2 nats) and β annealed to 0.5 (β = 0.5·(1 − 0.999^step)); teacher forcing.
  Adam (lr 1e-3, ×0.9 per 1000 steps), clip 1. {a.vae_args}

## Validation (held-out tunes, exported files, `evaluate.py`)

Reconstruction = magenta.js `encode` (mean z) then greedy `decode`, {r['val_windows']}
held-out 2-bar windows:

| metric | value |
|---|---|
| note-level reconstruction accuracy (same pitch, start and end) | {fmt(r['recon_note_acc'])} |
| step accuracy (all 32 event classes per window) | {fmt(r['recon_step_acc'])} |
| note-on step accuracy | {fmt(r['recon_noteon_acc'])} |
| windows reconstructed exactly | {fmt(r['recon_exact'])} |

Samples: z ~ N(0, I), decoded at temperature {r['temperature']}, {r['samples']} samples:

| metric | value |
|---|---|
| mean distinct pitches per 2-bar sample | {fmt(r['mean_distinct_pitches'], 2)} |
| mean notes per sample | {fmt(r['mean_notes'], 2)} |
| fraction all-silent or single-note | {fmt(r['silent_or_single_note_fraction'])} |
| mean share of a sample's notes in its best-fitting major/minor scale (random pitches: ~0.78) | {fmt(r.get('mean_best_major_scale_fit'))} |

Examples: {r['example_pitches']}

Validation during training (teacher-forced NLL per 2-bar sequence, KL in nats, greedy
reconstruction accuracies; from the training log):

{history(recs, ['val_nll_per_seq', 'val_kl', 'val_recon_step_acc', 'val_recon_noteon_acc'])}
## Limitations

Trained on fiddle/pipe dance tunes and airs in 2/4, 4/4, 6/8, 9/8 and 3/4 (windows are 32
16th steps whatever the metre), so it writes diatonic folk-like figures. Smaller than
magenta's model and trained for under two hours: z carries only ~24 nats (the free-bits
  budget), so reconstructions of held-out melodies are approximate (about a quarter of
  the notes come back exactly); random samples are tonal and varied.
"""
    open(os.path.join(a.vae, "MODEL_CARD.md"), "w").write(md)
    print("model cards written")


if __name__ == "__main__":
    main()
