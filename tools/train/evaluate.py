#!/usr/bin/env python3
"""Evaluate exported checkpoints with a numpy re-implementation of magenta.js inference.

Everything here reads the *exported* files (config.json + weights_manifest.json + shard)
through export.read_checkpoint, so it also checks the export. The math follows
magenta-checkpoint-format.md: basicLSTMCell (i, j, f, o; forget bias 1.0),
MelodyConverter encodings, MusicRNN.continueSequence and MusicVAE.encode/decode.
Computation is float64 (the reference notes show this reproduces tfjs' argmax choices).

    python evaluate.py --data /work/scratch/train/melodies.npz \
        --rnn ../../assets/models/basic_rnn --vae ../../assets/models/mel_2bar_small \
        --json /work/scratch/train/eval.json
"""
import argparse
import json
import re
import math

import numpy as np

import data
import export

# The seed's "Piano Phase" primer (pitch, startTime, endTime), totalTime 12 s.
PIANO_PHASE = [(73, 0.0, 0.5), (75, 0.5, 1.0), (80, 1.0, 1.5), (82, 1.5, 2.0),
               (83, 2.0, 2.5), (75, 2.5, 3.0), (73, 3.0, 4.0), (82, 4.0, 4.5),
               (80, 4.5, 5.0), (75, 5.0, 5.5), (83, 5.5, 6.0), (82, 6.0, 6.5)]
PIANO_PHASE_TOTAL = 12.0
# Pitch classes of the primer's scale: G# natural minor = B major (C#, D#, E, F#, G#, A#, B).
PRIMER_SCALE = {11, 1, 3, 4, 6, 8, 10}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm(K, b, x, h, c):
    """tf.basicLSTMCell with forget bias 1.0 (gate order i, j, f, o)."""
    g = np.concatenate([x, h], axis=1) @ K + b
    i, j, f, o = np.split(g, 4, axis=1)
    c = sigmoid(i) * np.tanh(j) + c * sigmoid(f + 1.0)
    return np.tanh(c) * sigmoid(o), c


def quantize(notes, total_time, spq=4, qpm=120.0):
    """sequences.quantizeNoteSequence -> ([(pitch, qstart, qend)], totalQuantizedSteps)."""
    sps = spq * qpm / 60.0
    q = lambda t: int(math.floor(t * sps + 0.5))
    out = []
    for p, s, e in notes:
        qs, qe = q(s), q(e)
        if qe == qs:
            qe += 1
        out.append((p, qs, qe))
    total = max([q(total_time)] + [e for _, _, e in out])
    return out, total


def melody_events(qnotes, length, min_pitch):
    """Melody.fromNoteSequence (ignorePolyphony): -> int array of classes."""
    ev = np.zeros(length, np.int64)
    last = None
    for p, s, e in sorted(qnotes, key=lambda n: (n[1], -n[0])):
        if s == last:
            continue
        last = s
        if s < length:
            ev[s] = p - min_pitch + 2
        if e < length:
            ev[e] = 1
    return ev


def events_to_notes(ev, min_pitch):
    """Melody.toNoteSequence: classes -> [(pitch, start, end)]."""
    notes, cur = [], None
    for s, k in enumerate(ev):
        if k >= 1 and cur is not None:
            notes.append((cur[0], cur[1], s))
            cur = None
        if k >= 2:
            cur = (int(k) - 2 + min_pitch, s)
    if cur is not None:
        notes.append((cur[0], cur[1], len(ev)))
    return notes


def pick(logits, temperature, rng):
    """argmax (first max) when temperature is falsy, else softmax(logits/T) sampling."""
    if not temperature:
        return np.argmax(logits, axis=-1)
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(len(row), p=row) for row in p])


# ------------------------------------------------------------------------------ MusicRNN
class RNN:
    def __init__(self, ckpt):
        self.config, v = export.read_checkpoint(ckpt)
        args = self.config["dataConverter"]["args"]
        self.min_pitch, self.max_pitch = args["minPitch"], args["maxPitch"]
        self.D = self.max_pitch - self.min_pitch + 3
        self.layers = []
        l = 0
        while f"rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/kernel" in v:
            pre = f"rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"
            self.layers.append((v[pre + "kernel"].astype(np.float64),
                                v[pre + "bias"].astype(np.float64)))
            l += 1
        self.W = v["fully_connected/weights"].astype(np.float64)
        self.bo = v["fully_connected/biases"].astype(np.float64)

    def zero_state(self, B):
        return [(np.zeros((B, b.shape[0] // 4)), np.zeros((B, b.shape[0] // 4)))
                for _, b in self.layers]

    def step(self, x, state):
        new = []
        for (K, b), (h, c) in zip(self.layers, state):
            h, c = lstm(K, b, x, h, c)
            new.append((h, c))
            x = h
        return new

    def logits(self, state):
        return state[-1][0] @ self.W + self.bo

    def continue_sequence(self, primer_events, steps, temperature, rng):
        """MusicRNN.continueSequence on one primer -> list of `steps` sampled classes."""
        eye = np.eye(self.D)
        st = self.zero_state(1)
        L = len(primer_events)
        out = []
        for i in range(L + steps):
            if i < L:
                x = eye[primer_events[i]][None]
            else:
                k = int(pick(self.logits(st), temperature, rng)[0])
                out.append(k)
                x = eye[k][None]
            if i == L + steps - 1:
                break
            st = self.step(x, st)
        return out

    def teacher_forced(self, x, y, m):
        """Batched validation: CE, accuracy, note-on accuracy over masked targets."""
        eye = np.eye(self.D)
        B, T = x.shape
        st = self.zero_state(B)
        nll = ok = tot = ok_on = n_on = 0.0
        for t in range(T):
            st = self.step(eye[x[:, t]], st)
            lg = self.logits(st)
            lg = lg - lg.max(1, keepdims=True)
            logp = lg - np.log(np.exp(lg).sum(1, keepdims=True))
            yt, mt = y[:, t], m[:, t]
            nll += float(-(logp[np.arange(B), yt] * mt).sum())
            hit = (np.argmax(lg, 1) == yt) * mt
            ok += float(hit.sum())
            tot += float(mt.sum())
            on = (yt >= 2) * mt
            ok_on += float((hit * on).sum())
            n_on += float(on.sum())
        return {"val_ce": nll / tot, "val_acc": ok / tot, "val_noteon_acc": ok_on / n_on}


def eval_rnn(ckpt, mel, n_samples=20, steps=32, temperature=1.0, seed=0):
    rnn = RNN(ckpt)
    res = {}
    if mel is not None:
        x, y, m = data.rnn_val_set(mel, 128)
        res.update(rnn.teacher_forced(x, y, m))
    qn, total = quantize(PIANO_PHASE, PIANO_PHASE_TOTAL)
    primer = melody_events(qn, total, rnn.min_pitch)
    qs, ts = quantize(PIANO_PHASE, PIANO_PHASE[-1][2])
    short = melody_events(qs, ts, rnn.min_pitch)
    rng = np.random.default_rng(seed)
    all_notes, samples = [], []
    for _ in range(n_samples):
        ev = rnn.continue_sequence(primer, steps, temperature, rng)
        notes = events_to_notes(ev, rnn.min_pitch)
        samples.append([p for p, _, _ in notes])
        all_notes += notes
    in_scale = [p % 12 in PRIMER_SCALE for p, _, _ in all_notes]
    # The 20-sample figure is noisy (~100 notes); a 200-sample run gives a stable estimate.
    big = []
    for _ in range(200):
        big += events_to_notes(rnn.continue_sequence(primer, steps, temperature, rng),
                               rnn.min_pitch)
    big_scale = sum(p % 12 in PRIMER_SCALE for p, _, _ in big) / max(1, len(big))
    big_notes = len(big) / 200
    res.update({
        "primer_steps": int(total), "continuation_steps": steps,
        "temperature": temperature, "samples": n_samples,
        "notes_total": len(all_notes),
        "notes_per_sample": len(all_notes) / n_samples,
        "silent_samples": sum(1 for s in samples if not s),
        "in_scale_fraction": (sum(in_scale) / len(in_scale)) if in_scale else None,
        "example_pitches": samples[:3],
        "in_scale_fraction_200_samples": big_scale,
        "notes_per_sample_200_samples": big_notes,
        "greedy_pitches": [p for p, _, _ in events_to_notes(
            rnn.continue_sequence(primer, steps, 0, rng), rnn.min_pitch)],
        # Same primer cut at its last note (totalTime 6.5 s): shows the melodic
        # continuation without the 43 silent steps the seed appends.
        "greedy_pitches_primer_without_trailing_silence": [p for p, _, _ in events_to_notes(
            rnn.continue_sequence(short, steps, 0, rng), rnn.min_pitch)],
    })
    return res


# ------------------------------------------------------------------------------ MusicVAE
class VAE:
    def __init__(self, ckpt):
        self.config, v = export.read_checkpoint(ckpt)
        args = self.config["dataConverter"]["args"]
        self.min_pitch, self.T = args["minPitch"], args["numSteps"]
        self.D = args["maxPitch"] - args["minPitch"] + 3
        f = lambda n: v[n].astype(np.float64)
        enc = "encoder/cell_0/bidirectional_rnn/"
        self.fw = (f(enc + "fw/multi_rnn_cell/cell_0/lstm_cell/kernel"),
                   f(enc + "fw/multi_rnn_cell/cell_0/lstm_cell/bias"))
        self.bw = (f(enc + "bw/multi_rnn_cell/cell_0/lstm_cell/kernel"),
                   f(enc + "bw/multi_rnn_cell/cell_0/lstm_cell/bias"))
        self.mu = (f("encoder/mu/kernel"), f("encoder/mu/bias"))
        self.dec = []
        l = 0
        while f"decoder/multi_rnn_cell/cell_{l}/lstm_cell/kernel" in v:
            pre = f"decoder/multi_rnn_cell/cell_{l}/lstm_cell/"
            self.dec.append((f(pre + "kernel"), f(pre + "bias")))
            l += 1
        self.zinit = (f("decoder/z_to_initial_state/kernel"),
                      f("decoder/z_to_initial_state/bias"))
        self.out = (f("decoder/output_projection/kernel"), f("decoder/output_projection/bias"))
        self.Z = self.zinit[0].shape[0]

    def encode(self, ev):
        """ev [B, T] classes -> z mean [B, Z] (no sampling, as magenta.js encode)."""
        eye = np.eye(self.D)
        B = ev.shape[0]
        hs = []
        for (K, b), order in ((self.fw, range(self.T)), (self.bw, range(self.T - 1, -1, -1))):
            H = b.shape[0] // 4
            h, c = np.zeros((B, H)), np.zeros((B, H))
            for t in order:
                h, c = lstm(K, b, eye[ev[:, t]], h, c)
            hs.append(h)
        return np.concatenate(hs, 1) @ self.mu[0] + self.mu[1]

    def decode(self, z, temperature, rng):
        """z [B, Z] -> sampled classes [B, T] (argmax when temperature falsy)."""
        B = z.shape[0]
        n = len(self.dec)
        s = np.tanh(z @ self.zinit[0] + self.zinit[1])
        parts = np.split(s, 2 * n, axis=1)
        state = [(parts[2 * l + 1], parts[2 * l]) for l in range(n)]  # (h, c)
        prev = np.zeros((B, self.D))
        eye = np.eye(self.D)
        out = np.zeros((B, self.T), np.int64)
        for t in range(self.T):
            x = np.concatenate([prev, z], 1)
            new = []
            for (K, b), (h, c) in zip(self.dec, state):
                h, c = lstm(K, b, x, h, c)
                new.append((h, c))
                x = h
            state = new
            k = pick(x @ self.out[0] + self.out[1], temperature, rng)
            out[:, t] = k
            prev = eye[k]
        return out


def eval_vae(ckpt, mel, n_samples=50, temperature=0.5, seed=0, max_val=2048):
    vae = VAE(ckpt)
    res = {}
    rng = np.random.default_rng(seed)
    if mel is not None:
        val = data.vae_val_set(mel)
        val = val[np.random.default_rng(7).permutation(len(val))[:max_val]]
        rec = vae.decode(vae.encode(val), 0, rng)
        ok = rec == val
        on = val >= 2
        # Note-level: a held-out note counts as reconstructed when the decoded melody has
        # a note with the same pitch, start and end step.
        hit = total = 0
        for a, b in zip(val, rec):
            na = set(events_to_notes(a, vae.min_pitch))
            nb = set(events_to_notes(b, vae.min_pitch))
            hit += len(na & nb)
            total += len(na)
        res.update({"val_windows": int(len(val)),
                    "recon_step_acc": float(ok.mean()),
                    "recon_noteon_acc": float(ok[on].mean()),
                    "recon_note_acc": hit / total,
                    "recon_exact": float(ok.all(1).mean())})
    z = rng.standard_normal((n_samples, vae.Z))
    smp = vae.decode(z, temperature, rng)
    distinct, degenerate, nnotes, keyfit = [], 0, [], []
    major = {0, 2, 4, 5, 7, 9, 11}
    for row in smp:
        notes = events_to_notes(row, vae.min_pitch)
        if notes:
            # Diatonic fit: share of notes inside the best-fitting major (= relative minor)
            # scale; uniformly random pitch classes score ~0.78 on 15 notes, tonal melodies ~1.
            keyfit.append(max(sum((p - k) % 12 in major for p, _, _ in notes)
                              for k in range(12)) / len(notes))
        ps = {p for p, _, _ in notes}
        distinct.append(len(ps))
        nnotes.append(len(notes))
        if len(notes) <= 1:
            degenerate += 1
    res.update({"samples": n_samples, "temperature": temperature,
                "mean_distinct_pitches": float(np.mean(distinct)),
                "mean_notes": float(np.mean(nnotes)),
                "silent_or_single_note_fraction": degenerate / n_samples,
                "mean_best_major_scale_fit": float(np.mean(keyfit)) if keyfit else None,
                "example_pitches": [[p for p, _, _ in events_to_notes(r, vae.min_pitch)]
                                    for r in smp[:3]]})
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="melodies.npz (validation metrics)")
    ap.add_argument("--rnn", default=None)
    ap.add_argument("--vae", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    mel = data.Melodies(a.data) if a.data else None
    res = {}
    if a.rnn:
        res["basic_rnn"] = eval_rnn(a.rnn, mel, seed=a.seed)
    if a.vae:
        res["mel_2bar_small"] = eval_vae(a.vae, mel, seed=a.seed)
    s = json.dumps(res, indent=1)
    s = re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", s)
    print(s)
    if a.json:
        with open(a.json, "w") as f:
            f.write(s + "\n")


if __name__ == "__main__":
    main()
