#!/usr/bin/env python3
"""Extract monophonic melodies from the public-domain ABC collections of the music21 corpus.

Reads the ABC text directly with a small tokenizer (much faster than building music21
streams) and writes, per tune, a melody event array on a 16th-note grid (4 steps per
quarter) in the MelodyConverter encoding of magenta.js, but with *absolute* pitch classes:

    0 = NO_EVENT (hold / silence continues), 1 = NOTE_OFF, 2 + midi_pitch = note-on.

Models map these to their own range (class - minPitch) after transposition.

Only collections whose terms allow redistribution in an open-source plugin are read
(see LICENSED_COLLECTIONS below and the model cards). Output: a compressed .npz with the
concatenated events, per-tune offsets, bar-line steps, collection ids and a deterministic
train/validation split (by tune, hashed title + index, ~10 % validation).

Usage: python extract.py --out /work/scratch/train/melodies.npz
"""
import argparse
import hashlib
import os
import re
import sys
import time
from fractions import Fraction

import numpy as np

# Collections used for training, with the reason they are allowed (see MODEL_CARD.md).
# The tunes are 18th/19th-century publications (public domain); the ABC encodings carry no
# licence restriction in the files, unlike `essenFolksong` (non-commercial only), which is
# deliberately excluded together with every collection whose terms are not stated.
LICENSED_COLLECTIONS = ["oneills1850", "ryansMammoth", "airdsAirs"]

NOTE_BASE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Major-key position on the circle of fifths for each tonic spelling.
MAJOR_FIFTHS = {
    "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F#": 6, "C#": 7,
    "F": -1, "Bb": -2, "Eb": -3, "Ab": -4, "Db": -5, "Gb": -6, "Cb": -7,
    "G#": 8, "D#": 9, "A#": 10, "E#": 11, "B#": 12, "Fb": -8,
}
MODE_OFFSET = {"maj": 0, "ion": 0, "": 0, "mix": -1, "dor": -2, "aeo": -3, "min": -3,
               "m": -3, "phr": -4, "loc": -5, "lyd": 1}
SHARP_ORDER = "FCGDAEB"
FLAT_ORDER = "BEADGCF"


def key_signature(kstr):
    """Return {letter: semitone alteration} for an ABC K: field value."""
    k = kstr.split("%")[0].strip()
    # Drop clef= / other key=value words.
    k = " ".join(w for w in k.split() if "=" not in w or re.match(r"^[=^_]+[a-gA-G]$", w))
    if not k or k.lower().startswith("none"):
        return {}
    if k.startswith("HP"):
        return {}
    if k.startswith("Hp"):
        return {"F": 1, "C": 1}
    m = re.match(r"^([A-G])([#b]?)\s*([A-Za-z]*)\s*(.*)$", k)
    if not m:
        return {}
    tonic = m.group(1) + m.group(2)
    mode = m.group(3).lower()[:3]
    if mode.startswith("m") and mode not in ("mix", "maj", "min"):
        mode = "m"
    fifths = MAJOR_FIFTHS.get(tonic, 0) + MODE_OFFSET.get(mode, 0)
    sig = {}
    if fifths > 0:
        for ch in SHARP_ORDER[:min(fifths, 7)]:
            sig[ch] = 1
    elif fifths < 0:
        for ch in FLAT_ORDER[:min(-fifths, 7)]:
            sig[ch] = -1
    # Explicit accidentals after the mode, e.g. "K:Dmix =c" or "K:D ^g".
    for acc, letter in re.findall(r"(\^\^|__|\^|_|=)([a-gA-G])", m.group(4) + " " +
                                  ("" if m.group(3).lower()[:3] in MODE_OFFSET else m.group(3))):
        sig[letter.upper()] = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}[acc]
    return sig


def parse_meter(mstr):
    m = mstr.split("%")[0].strip()
    if m.startswith("C|"):
        return Fraction(2, 2)
    if m.startswith("C"):
        return Fraction(4, 4)
    mm = re.match(r"^\(?([\d+]+)\)?\s*/\s*(\d+)", m)
    if not mm:
        return None
    num = sum(int(x) for x in mm.group(1).split("+") if x)
    return Fraction(num, int(mm.group(2)))


def parse_length(s):
    mm = re.match(r"^\s*(\d+)\s*/\s*(\d+)", s)
    return Fraction(int(mm.group(1)), int(mm.group(2))) if mm else None


DECOR_CHARS = set(".~HLMOPSTuvRJ")
LEN_RE = re.compile(r"(\d*)(/*)(\d*)")


class Tune:
    """One tune while it is being read: header state and the list of emitted notes."""

    def __init__(self, title):
        self.title = title
        self.meter = None
        self.unit = None
        self.key = {}
        self.notes = []        # [start(Fraction whole notes), dur, midi or None for rest]
        self.bars = []         # bar-line times (Fraction whole notes)
        self.t = Fraction(0)
        self.bar_acc = {}      # (letter, octave) -> alteration inside the current bar
        self.tie_pending = False
        self.broken = None     # multiplier for the next note from > / <
        self.tuplet = None     # [notes_left, multiplier]
        self.voice = None      # first voice id seen; other voices are skipped
        self.skip_voice = False
        self.bad = False

    def unit_len(self):
        if self.unit is not None:
            return self.unit
        if self.meter is not None and self.meter < Fraction(3, 4):
            return Fraction(1, 16)
        return Fraction(1, 8)

    def compound(self):
        return self.meter is not None and self.meter.numerator % 3 == 0 and \
            self.meter.numerator > 3

    def emit(self, pitch, dur):
        """Append a note (pitch) or rest (None) of `dur` units of L."""
        mult = Fraction(1)
        if self.broken is not None:
            mult *= self.broken
            self.broken = None
        if self.tuplet is not None:
            mult *= self.tuplet[1]
            self.tuplet[0] -= 1
            if self.tuplet[0] <= 0:
                self.tuplet = None
        length = dur * self.unit_len() * mult
        if self.tie_pending and pitch is not None and self.notes and \
                self.notes[-1][2] == pitch and self.notes[-1][0] + self.notes[-1][1] == self.t:
            self.notes[-1][1] += length
        else:
            self.notes.append([self.t, length, pitch])
        self.tie_pending = False
        self.t += length
        return mult


def read_len(s, i):
    """Parse an ABC length multiplier at s[i:], return (Fraction, new_i)."""
    m = LEN_RE.match(s, i)
    num, slashes, den = m.group(1), m.group(2), m.group(3)
    if not num and not slashes:
        return Fraction(1), i
    n = int(num) if num else 1
    if slashes:
        if den:
            d = int(den) * (2 ** (len(slashes) - 1))
        else:
            d = 2 ** len(slashes)
    else:
        d = 1
        if den:
            # digits only (cannot happen: den needs slashes), keep safe
            n = int(num + den)
    return Fraction(n, d), m.end()


def read_pitch(tune, s, i):
    """Parse accidentals + letter + octave marks at s[i:]. Returns (midi, new_i) or None."""
    j = i
    acc = None
    while j < len(s) and s[j] in "^_=":
        j += 1
    if j > i:
        acc_str = s[i:j]
        acc = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}.get(acc_str)
        if acc is None:
            acc = 0
    if j >= len(s) or s[j] not in "ABCDEFGabcdefg":
        return None
    letter = s[j]
    octave = 4 if letter.isupper() else 5
    j += 1
    while j < len(s) and s[j] in "',":
        octave += 1 if s[j] == "'" else -1
        j += 1
    up = letter.upper()
    key = (up, octave)
    if acc is not None:
        tune.bar_acc[key] = acc
        alt = acc
    elif key in tune.bar_acc:
        alt = tune.bar_acc[key]
    else:
        alt = tune.key.get(up, 0)
    midi = 12 * (octave + 1) + NOTE_BASE[up] + alt
    return midi, j


def parse_inline_field(tune, field, value):
    if field == "K":
        tune.key = key_signature(value)
    elif field == "M":
        mt = parse_meter(value)
        if mt is not None:
            tune.meter = mt
    elif field == "L":
        ln = parse_length(value)
        if ln is not None:
            tune.unit = ln
    elif field == "V":
        vid = value.split()[0] if value.split() else ""
        if tune.voice is None:
            tune.voice = vid
        tune.skip_voice = vid != tune.voice


def parse_body_line(tune, s):
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%":
            break
        if c in " \t\\`y\r":
            i += 1
            continue
        if c == '"':
            j = s.find('"', i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == "!" or c == "+":
            j = s.find(c, i + 1)
            i = i + 1 if j < 0 else j + 1
            continue
        if c == "{":
            j = s.find("}", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == "[" and i + 2 < n and s[i + 1].isalpha() and s[i + 2] == ":":
            j = s.find("]", i)
            j = n if j < 0 else j
            parse_inline_field(tune, s[i + 1], s[i + 3:j])
            i = j + 1
            continue
        if tune.skip_voice:
            i += 1
            continue
        if c in "|:" or (c == "[" and i + 1 < n and (s[i + 1] in "|" or s[i + 1].isdigit())):
            # bar line / repeat / variant ending
            j = i
            while j < n and s[j] in "|:[]":
                j += 1
            while j < n and (s[j].isdigit() or s[j] in ",-"):
                j += 1
            if "|" in s[i:j] or "::" in s[i:j]:
                tune.bar_acc = {}
                if not tune.bars or tune.bars[-1] != tune.t:
                    tune.bars.append(tune.t)
            i = j
            continue
        if c == "]":
            i += 1
            continue
        if c == "(":
            if i + 1 < n and s[i + 1].isdigit():
                m = re.match(r"\((\d)(?::(\d?))?(?::(\d?))?", s[i:])
                p = int(m.group(1))
                q = m.group(2)
                r = m.group(3)
                if q:
                    q = int(q)
                else:
                    q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if tune.compound() else 2)
                r = int(r) if r else p
                if p > 0:
                    tune.tuplet = [r, Fraction(q, p)]
                i += len(m.group(0))
            else:
                i += 1
            continue
        if c == ")":
            i += 1
            continue
        if c == "-":
            tune.tie_pending = True
            i += 1
            continue
        if c in "><":
            j = i
            while j < n and s[j] == c:
                j += 1
            k = j - i
            big = 2 - Fraction(1, 2 ** k)
            small = Fraction(1, 2 ** k)
            if tune.notes:
                last = tune.notes[-1]
                prev_mult = big if c == ">" else small
                # Rescale the previous note/rest (and the running time).
                newlen = last[1] * prev_mult
                tune.t += newlen - last[1]
                last[1] = newlen
                tune.broken = small if c == ">" else big
            i = j
            continue
        if c in "zxZX":
            d, j = read_len(s, i + 1)
            if c in "ZX":
                bar = tune.meter if tune.meter is not None else Fraction(1)
                tune.emit(None, d * bar / tune.unit_len())
            else:
                tune.emit(None, d)
            tune.tie_pending = False
            i = j
            continue
        if c == "[":
            # chord: keep the highest note, length from the first note x outer length
            j = s.find("]", i)
            if j < 0:
                tune.bad = True
                return
            inner = s[i + 1:j]
            k = 0
            best = None
            first_len = None
            while k < len(inner):
                r = read_pitch(tune, inner, k)
                if r is None:
                    k += 1
                    continue
                midi, k = r
                d, k = read_len(inner, k)
                if first_len is None:
                    first_len = d
                if best is None or midi > best:
                    best = midi
                while k < len(inner) and inner[k] == "-":
                    k += 1
            outer, j2 = read_len(s, j + 1)
            if best is not None:
                tune.emit(best, (first_len or Fraction(1)) * outer)
            i = j2
            continue
        if c in "^_=" or c in "ABCDEFGabcdefg":
            r = read_pitch(tune, s, i)
            if r is None:
                i += 1
                continue
            midi, j = r
            d, j = read_len(s, j)
            tune.emit(midi, d)
            i = j
            continue
        # decorations, spacers, anything else: skip one char
        i += 1


def parse_abc_file(path):
    """Yield Tune objects from one ABC file."""
    with open(path, encoding="latin-1") as f:
        text = f.read()
    tune = None
    in_header = False
    file_meter = None
    file_unit = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("X:"):
            if tune is not None:
                yield tune
            tune = Tune(None)
            in_header = True
            continue
        if tune is None:
            continue
        if not line.strip():
            if not in_header:
                yield tune
                tune = None
            continue
        if line.startswith("%"):
            continue
        m = re.match(r"^([A-Za-z]):(.*)$", line)
        if m:
            field, value = m.group(1), m.group(2)
            if field == "T" and tune.title is None:
                tune.title = value.strip()
            if field == "K" and in_header:
                tune.key = key_signature(value)
                in_header = False
                continue
            if field in "KMLV":
                parse_inline_field(tune, field, value)
            continue
        if in_header:
            # body text before K: (malformed); treat the header as finished
            in_header = False
        parse_body_line(tune, line)
    if tune is not None:
        yield tune


def tune_events(tune):
    """Quantise a parsed tune to 16th steps -> (events int16 absolute classes, bar steps)."""
    notes = [(int(round(st * 16)), int(round((st + d) * 16)), p) for st, d, p in tune.notes]
    total = int(round(tune.t * 16))
    if total <= 0:
        return None, None
    ev = np.zeros(total + 1, dtype=np.int16)
    last_start = -1
    for st, en, p in notes:
        if p is None or en <= st:
            continue
        if st == last_start:
            continue  # polyphony artefact: keep the first
        last_start = st
        ev[st] = p + 2
        if en < len(ev):
            ev[en] = 1
    bars = sorted(set(int(round(b * 16)) for b in tune.bars))
    return ev, np.array(bars, dtype=np.int32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    args = ap.parse_args()
    import music21
    corpus_dir = os.path.join(os.path.dirname(music21.__file__), "corpus")
    t0 = time.time()
    all_ev, offsets, bars_all, bar_off, coll_ids, is_val, titles = [], [0], [], [0], [], [], []
    stats = {}
    for ci, coll in enumerate(LICENSED_COLLECTIONS):
        d = os.path.join(corpus_dir, coll)
        kept = total = 0
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".abc"):
                continue
            for ti, tune in enumerate(parse_abc_file(os.path.join(d, fn))):
                total += 1
                if tune.bad:
                    continue
                try:
                    ev, bars = tune_events(tune)
                except Exception as e:  # malformed tune: skip, counted below
                    print(f"skip {coll}/{fn} #{ti}: {e}", file=sys.stderr)
                    continue
                if ev is None:
                    continue
                pitches = ev[ev >= 2] - 2
                if len(pitches) < 8 or pitches.max() - pitches.min() > 35:
                    continue
                kept += 1
                all_ev.append(ev)
                offsets.append(offsets[-1] + len(ev))
                bars_all.append(bars)
                bar_off.append(bar_off[-1] + len(bars))
                coll_ids.append(ci)
                title = f"{coll}/{fn}/{ti}/{tune.title}"
                titles.append(title)
                h = int(hashlib.sha1(title.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
                is_val.append(h < args.val_fraction)
        stats[coll] = (kept, total)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(
        args.out, events=np.concatenate(all_ev), offsets=np.array(offsets, np.int64),
        bars=np.concatenate(bars_all), bar_offsets=np.array(bar_off, np.int64),
        collection=np.array(coll_ids, np.int8), is_val=np.array(is_val, bool),
        collections=np.array(LICENSED_COLLECTIONS), titles=np.array(titles))
    ev = np.concatenate(all_ev)
    p = ev[ev >= 2] - 2
    print(f"extracted in {time.time() - t0:.1f}s: " +
          ", ".join(f"{k} {v[0]}/{v[1]} tunes" for k, v in stats.items()))
    print(f"tunes {len(all_ev)} (val {sum(is_val)}), steps {len(ev)}, notes {len(p)}, "
          f"pitch range {p.min()}..{p.max()}")


if __name__ == "__main__":
    main()
