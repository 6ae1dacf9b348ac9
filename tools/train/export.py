#!/usr/bin/env python3
"""Write / read magenta.js checkpoints: config.json + weights_manifest.json + one shard.

Layout (see magenta-checkpoint-format.md section 1): one weight group, float32 little
endian, tensors back to back in manifest order, shard named `group1-shard1of1.bin`.
Optional uint8 quantisation (`--quantize uint8`) uses tfjs' affine scheme
value = q * scale + min, per tensor.

CLI: re-export a saved parameter file (the .npz the trainers write next to their logs):
    python export.py --params /work/scratch/train/rnn/best_params.npz --kind rnn \
        --out ../../assets/models/basic_rnn
"""
import argparse
import json
import os

import numpy as np

RNN_CONFIG = {"type": "MusicRNN",
              "dataConverter": {"type": "MelodyConverter",
                                "args": {"minPitch": 48, "maxPitch": 83}}}
VAE_CONFIG = {"type": "MusicVAE",
              "dataConverter": {"type": "MelodyConverter",
                                "args": {"numSteps": 32, "minPitch": 21, "maxPitch": 108}}}
SHARD = "group1-shard1of1.bin"


def write_checkpoint(out_dir, config, named, quantize=None):
    """Write `named` (list of (name, float array)) as a magenta.js checkpoint in out_dir.

    Files are written to temporaries and renamed so a reader never sees a half-written
    checkpoint (the trainers re-export while someone may be loading it).
    """
    os.makedirs(out_dir, exist_ok=True)
    entries, blobs = [], []
    for name, arr in named:
        a = np.asarray(arr, dtype=np.float32)
        entry = {"name": name, "shape": [int(s) for s in a.shape], "dtype": "float32"}
        if quantize == "uint8":
            lo, hi = float(a.min()), float(a.max())
            scale = (hi - lo) / 255.0 if hi > lo else 1.0
            q = np.clip(np.round((a.astype(np.float64) - lo) / scale), 0, 255).astype(np.uint8)
            entry["quantization"] = {"dtype": "uint8", "min": lo, "scale": scale}
            blobs.append(q.tobytes())
        else:
            blobs.append(a.astype("<f4").tobytes())
        entries.append(entry)
    manifest = [{"paths": [SHARD], "weights": entries}]
    for fname, data, mode in [(SHARD, b"".join(blobs), "wb"),
                              ("weights_manifest.json", json.dumps(manifest, indent=1), "w"),
                              ("config.json", json.dumps(config, indent=2) + "\n", "w")]:
        tmp = os.path.join(out_dir, fname + ".tmp")
        with open(tmp, mode) as f:
            f.write(data)
        os.replace(tmp, os.path.join(out_dir, fname))


def read_checkpoint(ckpt_dir):
    """Load a magenta.js checkpoint directory -> (config dict, {name: float32 array}).

    Follows tfjs' loader: shards of a group concatenated in order, tensors back to back,
    uint8/uint16 dequantised as float32(q * scale + min) computed in float64.
    """
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(ckpt_dir, "weights_manifest.json")) as f:
        manifest = json.load(f)
    out = {}
    for group in manifest:
        buf = b"".join(open(os.path.join(ckpt_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = tuple(w["shape"])
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                dt = {"uint8": "<u1", "uint16": "<u2", "float16": "<f2"}[q["dtype"]]
                size = np.dtype(dt).itemsize
                raw = np.frombuffer(buf, dtype=dt, count=n, offset=off)
                if q["dtype"] == "float16":
                    val = raw.astype(np.float32)
                else:
                    val = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                size = 4
                val = np.frombuffer(buf, dtype="<f4", count=n, offset=off).astype(np.float32)
            off += n * size
            out[w["name"]] = val.reshape(shape)
    return config, out


def rnn_named(params):
    """Map trainer parameter dict (numpy) -> magenta basic_rnn variable names."""
    named = []
    for l in range(len([k for k in params if k.startswith("kernel_")])):
        pre = f"rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/"
        named.append((pre + "kernel", params[f"kernel_{l}"]))
        named.append((pre + "bias", params[f"bias_{l}"]))
    named.append(("fully_connected/weights", params["out_w"]))
    named.append(("fully_connected/biases", params["out_b"]))
    return named


def vae_named(params):
    """Map trainer parameter dict (numpy) -> magenta MusicVAE (flat, categorical) names."""
    enc = "encoder/cell_0/bidirectional_rnn/"
    named = [
        (enc + "fw/multi_rnn_cell/cell_0/lstm_cell/kernel", params["enc_fw_kernel"]),
        (enc + "fw/multi_rnn_cell/cell_0/lstm_cell/bias", params["enc_fw_bias"]),
        (enc + "bw/multi_rnn_cell/cell_0/lstm_cell/kernel", params["enc_bw_kernel"]),
        (enc + "bw/multi_rnn_cell/cell_0/lstm_cell/bias", params["enc_bw_bias"]),
        ("encoder/mu/kernel", params["mu_w"]),
        ("encoder/mu/bias", params["mu_b"]),
        ("encoder/sigma/kernel", params["sigma_w"]),
        ("encoder/sigma/bias", params["sigma_b"]),
    ]
    for l in range(len([k for k in params if k.startswith("dec_kernel_")])):
        pre = f"decoder/multi_rnn_cell/cell_{l}/lstm_cell/"
        named.append((pre + "kernel", params[f"dec_kernel_{l}"]))
        named.append((pre + "bias", params[f"dec_bias_{l}"]))
    named += [
        ("decoder/z_to_initial_state/kernel", params["z_init_w"]),
        ("decoder/z_to_initial_state/bias", params["z_init_b"]),
        ("decoder/output_projection/kernel", params["out_w"]),
        ("decoder/output_projection/bias", params["out_b"]),
    ]
    return named


def export(kind, params, out_dir, quantize=None):
    """Export a trainer parameter dict of `kind` ('rnn' or 'vae') to out_dir."""
    params = {k: np.asarray(v, np.float32) for k, v in params.items()}
    if kind == "rnn":
        write_checkpoint(out_dir, RNN_CONFIG, rnn_named(params), quantize)
    else:
        write_checkpoint(out_dir, VAE_CONFIG, vae_named(params), quantize)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", required=True)
    ap.add_argument("--kind", choices=["rnn", "vae"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quantize", choices=["uint8"], default=None)
    a = ap.parse_args()
    export(a.kind, dict(np.load(a.params)), a.out, a.quantize)
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"exported {a.kind} to {a.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
