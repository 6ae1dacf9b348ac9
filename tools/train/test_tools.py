#!/usr/bin/env python3
"""Self-checks for the training tools: `python test_tools.py` (or `pytest test_tools.py`).

Covers the ABC reader, the magenta.js encodings, the checkpoint writer/reader and that
the JAX training graphs compute exactly what the numpy magenta.js re-implementation
(evaluate.py) computes from the exported files.
"""
import os
import tempfile
from fractions import Fraction

import numpy as np

import evaluate as ev
import export
import extract


def test_key_signatures():
    assert extract.key_signature("G") == {"F": 1}
    assert extract.key_signature("Gm") == {"B": -1, "E": -1}
    assert extract.key_signature("A Dorian") == {"F": 1}
    assert extract.key_signature("E Dorian") == {"F": 1, "C": 1}
    assert extract.key_signature("Dmix") == {"F": 1}
    assert extract.key_signature("Bb") == {"B": -1, "E": -1}
    assert extract.key_signature("none") == {}


def _parse(body, header="M:4/4\nL:1/8\nK:G\n"):
    path = os.path.join(tempfile.mkdtemp(), "t.abc")
    with open(path, "w") as f:
        f.write("X:1\nT:t\n" + header + body + "\n")
    (tune,) = list(extract.parse_abc_file(path))
    return tune


def test_abc_rhythm_pitch_and_accidentals():
    t = _parse("G>A B/c/d (3efg | ^c2 c2 z2 [ceg]2 | F2-F2 =F4 |")
    notes = [(st * 16, d * 16, p) for st, d, p in t.notes]
    # G dotted eighth (3 steps), A sixteenth, B and c sixteenths, d eighth
    assert notes[0] == (0, 3, 67) and notes[1] == (3, 1, 69)
    assert notes[2] == (4, 1, 71) and notes[3] == (5, 1, 72) and notes[4] == (6, 2, 74)
    # triplet: three notes in the time of two eighths
    assert notes[5][1] == Fraction(4, 3) and notes[5][2] == 76
    assert notes[7][2] == 79  # g
    # ^c then c in the same bar stays sharp; rest; chord keeps its top note (g = 79)
    assert [n[2] for n in notes[8:12]] == [73, 73, None, 79]
    # tie merges, F is F# from the key, =F natural
    assert notes[12] == (28, 8, 66) and notes[13] == (36, 8, 65)
    ev_, bars = extract.tune_events(t)
    assert list(bars[:3]) == [12, 28, 44]
    assert ev_[0] == 67 + 2 and ev_[3] == 69 + 2 and ev_[1] == 0


def test_melody_encoding_matches_reference_example():
    qn, total = ev.quantize(ev.PIANO_PHASE, ev.PIANO_PHASE_TOTAL)
    assert total == 96
    e = ev.melody_events(qn, total, 48)
    assert list(e[:5]) == [27, 0, 0, 0, 29]
    assert e[52] == 1 and not e[53:].any()
    notes = ev.events_to_notes(e, 48)
    assert [p for p, _, _ in notes] == [p for p, _, _ in ev.PIANO_PHASE]
    assert notes[6] == (73, 24, 32)


def test_checkpoint_round_trip_float32_and_uint8():
    rng = np.random.default_rng(0)
    named = [("a/kernel", rng.standard_normal((5, 8)).astype(np.float32)),
             ("a/bias", rng.standard_normal(8).astype(np.float32))]
    for q in (None, "uint8"):
        d = tempfile.mkdtemp()
        export.write_checkpoint(d, export.RNN_CONFIG, named, q)
        cfg, v = export.read_checkpoint(d)
        assert cfg["type"] == "MusicRNN"
        for name, arr in named:
            tol = 0 if q is None else (arr.max() - arr.min()) / 255 / 2 + 1e-6
            assert v[name].shape == arr.shape
            assert np.abs(v[name] - arr).max() <= tol


def test_jax_graphs_match_numpy_inference_on_exported_files():
    import jax
    import train_rnn
    import train_vae
    rng = np.random.default_rng(1)
    # RNN: teacher-forced logits of the JAX model == numpy magenta.js step by step.
    p = train_rnn.init_params(jax.random.PRNGKey(0), [16, 12])
    p = {k: np.asarray(v) + 0.1 * rng.standard_normal(v.shape).astype(np.float32)
         for k, v in p.items()}
    d = tempfile.mkdtemp()
    export.export("rnn", p, d)
    rnn = ev.RNN(d)
    x = rng.integers(0, 38, (2, 10))
    lj = np.asarray(train_rnn.forward(p, x, 2))
    st = rnn.zero_state(2)
    for t in range(10):
        st = rnn.step(np.eye(38)[x[:, t]], st)
        assert np.abs(rnn.logits(st) - lj[:, t]).max() < 1e-4
    # VAE: encoder mean and greedy decode agree.
    p = train_vae.init_params(jax.random.PRNGKey(1), 8, 12, 6, 1)
    p = {k: np.asarray(v) + 0.1 * rng.standard_normal(v.shape).astype(np.float32)
         for k, v in p.items()}
    d = tempfile.mkdtemp()
    export.export("vae", p, d)
    vae = ev.VAE(d)
    x = rng.integers(0, 90, (3, 32))
    mu, _ = train_vae.encode(p, x)
    z = vae.encode(x)
    assert np.abs(np.asarray(mu) - z).max() < 1e-4
    kj = np.asarray(train_vae.decode_greedy(p, np.asarray(mu), 1))
    assert (kj == vae.decode(z, 0, rng)).all()


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)
