"""Dataset helpers shared by the trainers and evaluate.py.

The extracted file stores absolute classes (0 NO_EVENT, 1 NOTE_OFF, 2 + midi note-on);
these helpers transpose and re-base them into a model's MelodyConverter range.
"""
import numpy as np


class Melodies:
    """Per-tune event arrays and bar lines from extract.py's .npz."""

    def __init__(self, path):
        d = np.load(path)
        ev, off = d["events"], d["offsets"]
        bars, boff = d["bars"], d["bar_offsets"]
        self.tunes = [ev[off[i]:off[i + 1]].astype(np.int32) for i in range(len(off) - 1)]
        self.bars = [bars[boff[i]:boff[i + 1]] for i in range(len(boff) - 1)]
        self.is_val = d["is_val"]
        self.train_idx = np.nonzero(~self.is_val)[0]
        self.val_idx = np.nonzero(self.is_val)[0]


def pitch_span(ev):
    """(min, max) midi pitch of note-ons in an absolute event array, or None."""
    p = ev[ev >= 2] - 2
    if len(p) == 0:
        return None
    return int(p.min()), int(p.max())


def to_model_classes(ev, shift, min_pitch):
    """Absolute events -> model classes after transposing by `shift` semitones."""
    out = ev.copy()
    m = out >= 2
    out[m] = out[m] - 2 + shift - min_pitch + 2
    return out


def allowed_shifts(span, lo, hi, max_shift=None):
    """Transpositions keeping the pitch span inside [lo, hi] (optionally |shift| <= max)."""
    a, b = lo - span[0], hi - span[1]
    if max_shift is not None:
        a, b = max(a, -max_shift), min(b, max_shift)
    return list(range(a, b + 1))


# --------------------------------------------------------------------------- RNN batches
RNN_MIN, RNN_MAX = 48, 83


def rnn_window(rng, ev, bars, length, gap_prob):
    """Cut a (length+1)-step window from a tune, optionally inserting a silent gap.

    Returns (absolute events [length+1], mask [length] over targets). Steps after the
    tune's final NOTE_OFF are masked: we do not want to teach "silence forever".
    The silent-gap augmentation (NOTE_OFF + 8..48 silent steps before a bar-line note-on)
    teaches the net to resume the melody after a rest, which is what the seed's primer
    (48 notes then 48 silent steps) asks for.
    """
    n = len(ev)
    starts = bars[bars < max(1, n - 32)] if len(bars) else np.array([0])
    start = int(rng.choice(starts)) if len(starts) and rng.random() < 0.7 else \
        int(rng.integers(0, max(1, n - 32)))
    seg = ev[start:start + length + 1].copy()
    valid = len(seg)
    if gap_prob > 0 and rng.random() < gap_prob and valid > 40:
        cands = [b - start for b in bars if 8 < b - start < valid - 8 and ev[b] >= 2]
        if cands:
            g = int(rng.choice(cands))
            gap = np.zeros(int(rng.integers(8, 49)), np.int32)
            gap[0] = 1
            seg = np.concatenate([seg[:g], gap, seg[g:]])[:length + 1]
            valid = min(len(seg), valid + len(gap))
    out = np.zeros(length + 1, np.int32)
    out[:len(seg)] = seg
    mask = np.zeros(length, np.float32)
    mask[:max(0, min(valid, length + 1) - 1)] = 1.0
    return out, mask


def rnn_batch(rng, mel, idx, batch, length, gap_prob=0.25):
    """A training batch: inputs [B, length], targets [B, length], mask [B, length]."""
    xs, ms = [], []
    while len(xs) < batch:
        t = int(rng.choice(idx))
        seg, mask = rnn_window(rng, mel.tunes[t], mel.bars[t], length, gap_prob)
        span = pitch_span(seg)
        if span is None:
            continue
        sh = allowed_shifts(span, RNN_MIN, RNN_MAX)
        if not sh:
            continue
        xs.append(to_model_classes(seg, int(rng.choice(sh)), RNN_MIN))
        ms.append(mask)
    x = np.stack(xs)
    return x[:, :-1], x[:, 1:], np.stack(ms)


def rnn_val_set(mel, length, seed=1234):
    """Deterministic validation chunks: every val tune cut into `length`+1 pieces, each
    transposed by a seeded random allowed shift (covers the whole 48..83 range)."""
    rng = np.random.default_rng(seed)
    xs, ms = [], []
    for t in mel.val_idx:
        ev = mel.tunes[t]
        for s in range(0, max(1, len(ev) - 16), length):
            seg = ev[s:s + length + 1]
            span = pitch_span(seg)
            if span is None or len(seg) < 17:
                continue
            sh = allowed_shifts(span, RNN_MIN, RNN_MAX)
            if not sh:
                continue
            out = np.zeros(length + 1, np.int32)
            out[:len(seg)] = to_model_classes(seg, int(rng.choice(sh)), RNN_MIN)
            m = np.zeros(length, np.float32)
            m[:len(seg) - 1] = 1
            xs.append(out)
            ms.append(m)
    x = np.stack(xs)
    return x[:, :-1], x[:, 1:], np.stack(ms)


# --------------------------------------------------------------------------- VAE windows
VAE_MIN, VAE_MAX, VAE_STEPS = 21, 108, 32


def vae_windows(mel, idx):
    """All distinct 32-step windows starting on bar lines with >= 3 note-ons (absolute)."""
    seen = set()
    out = []
    for t in idx:
        ev = mel.tunes[t]
        for b in mel.bars[t]:
            w = ev[b:b + VAE_STEPS]
            if len(w) < VAE_STEPS or np.count_nonzero(w >= 2) < 3:
                continue
            key = w.tobytes()
            if key in seen:
                continue
            seen.add(key)
            out.append(w.copy())
    return np.stack(out)


def vae_batch(rng, windows, batch, max_shift=12):
    """Random windows, each transposed by a random allowed shift, as model classes."""
    rows = windows[rng.integers(0, len(windows), batch)]
    out = np.empty_like(rows)
    for i, w in enumerate(rows):
        sh = allowed_shifts(pitch_span(w), VAE_MIN, VAE_MAX, max_shift)
        out[i] = to_model_classes(w, int(rng.choice(sh)), VAE_MIN)
    return out


def vae_val_set(mel, seed=4321, max_shift=6):
    rng = np.random.default_rng(seed)
    w = vae_windows(mel, mel.val_idx)
    out = np.empty_like(w)
    for i, row in enumerate(w):
        sh = allowed_shifts(pitch_span(row), VAE_MIN, VAE_MAX, max_shift)
        out[i] = to_model_classes(row, int(rng.choice(sh)), VAE_MIN)
    return out
