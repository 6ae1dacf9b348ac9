#!/usr/bin/env python3
"""Train a MelodyRNN (`basic_rnn` architecture / converter) with JAX on the CPU.

The cell is exactly magenta.js's: g = [x, h] @ K + b, gates (i, j, f, o), forget bias 1.0
added at run time (not a variable). Input is the one-hot of the current event; the target
is the next event; loss is mean cross-entropy over unmasked steps.

Every --eval-every steps: validation CE / accuracy / note-on accuracy are logged, params
saved to --work, and when validation CE improves the model is exported (magenta.js
format) to --out, so a usable model exists whenever the run is stopped.

Example (see README.md):
    OMP_NUM_THREADS=1 python train_rnn.py --data /work/scratch/train/melodies.npz \
        --work /work/scratch/train/rnn --out ../../assets/models/basic_rnn --minutes 75
"""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import data
import export

D = data.RNN_MAX - data.RNN_MIN + 3  # 38


def lstm_layer(kernel, bias, xproj, h0, c0):
    """Run one LSTM layer over time. xproj [T, B, 4H] = x @ K[:in] (precomputed)."""
    H = h0.shape[-1]
    kh = kernel[-H:]

    def step(carry, xp):
        h, c = carry
        g = xp + h @ kh + bias
        i, j, f, o = jnp.split(g, 4, axis=-1)
        c = jax.nn.sigmoid(i) * jnp.tanh(j) + c * jax.nn.sigmoid(f + 1.0)
        h = jnp.tanh(c) * jax.nn.sigmoid(o)
        return (h, c), h

    _, hs = jax.lax.scan(step, (h0, c0), xproj)
    return hs


def forward(params, x, n_layers):
    """x [B, T] int classes -> logits [B, T, D] (prediction of the next event)."""
    B = x.shape[0]
    xt = x.T  # [T, B]
    inp = None
    for l in range(n_layers):
        K, b = params[f"kernel_{l}"], params[f"bias_{l}"]
        H = b.shape[0] // 4
        if l == 0:
            xproj = K[:D][xt]  # one-hot @ K == row gather
        else:
            xproj = inp @ K[:-H]
        z = jnp.zeros((B, H), jnp.float32)
        inp = lstm_layer(K, b, xproj, z, z)
    logits = inp @ params["out_w"] + params["out_b"]
    return jnp.transpose(logits, (1, 0, 2))


def loss_fn(params, x, y, m, n_layers):
    logits = forward(params, x, n_layers)
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    return jnp.sum(nll * m) / jnp.maximum(jnp.sum(m), 1.0)


def init_params(rng, sizes):
    params = {}
    inp = D
    for l, H in enumerate(sizes):
        rng, k = jax.random.split(rng)
        lim = np.sqrt(6.0 / (inp + H + 4 * H))  # glorot uniform, as TF's default
        params[f"kernel_{l}"] = jax.random.uniform(k, (inp + H, 4 * H), jnp.float32, -lim, lim)
        params[f"bias_{l}"] = jnp.zeros((4 * H,), jnp.float32)
        inp = H
    rng, k = jax.random.split(rng)
    lim = np.sqrt(6.0 / (inp + D))
    params["out_w"] = jax.random.uniform(k, (inp, D), jnp.float32, -lim, lim)
    params["out_b"] = jnp.zeros((D,), jnp.float32)
    return params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", default="128,128")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--minutes", type=float, default=75)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default=None,
                    help="continue from a saved params .npz (exports only on improvement)")
    ap.add_argument("--step0", type=int, default=0,
                    help="step count already done by --init (for the log and lr decay)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    sizes = [int(s) for s in a.layers.split(",")]
    n_layers = len(sizes)

    mel = data.Melodies(a.data)
    vx, vy, vm = data.rnn_val_set(mel, a.length)
    print(f"train tunes {len(mel.train_idx)}, val chunks {len(vx)}, "
          f"val target steps {int(vm.sum())}", flush=True)

    params = init_params(jax.random.PRNGKey(a.seed), sizes)
    if a.init:
        params = {k: jnp.asarray(v) for k, v in np.load(a.init).items()}
    sched = optax.exponential_decay(a.lr * 0.9 ** (a.step0 / 1000), transition_steps=1000,
                                    decay_rate=0.9, end_value=1e-4)
    opt = optax.chain(optax.clip_by_global_norm(3.0), optax.adam(sched))
    opt_state = opt.init(params)

    @jax.jit
    def train_step(params, opt_state, x, y, m):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, m, n_layers)
        upd, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, upd), opt_state, loss

    @jax.jit
    def eval_batch(params, x, y, m):
        logits = forward(params, x, n_layers)
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
        pred = jnp.argmax(logits, -1)
        ok = (pred == y).astype(jnp.float32)
        non = (y >= 2).astype(jnp.float32) * m
        return (jnp.sum(nll * m), jnp.sum(ok * m), jnp.sum(m),
                jnp.sum(ok * non), jnp.sum(non))

    def evaluate(params):
        tot = np.zeros(5)
        for s in range(0, len(vx), 256):
            tot += np.array([float(v) for v in eval_batch(
                params, vx[s:s + 256], vy[s:s + 256], vm[s:s + 256])])
        return {"val_ce": tot[0] / tot[2], "val_acc": tot[1] / tot[2],
                "val_noteon_acc": tot[3] / tot[4]}

    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    best = evaluate(params)["val_ce"] if a.init else float("inf")
    print(f"initial val CE {best:.4f}", flush=True)
    log = open(os.path.join(a.work, "log.jsonl"), "a")
    step = 0
    run_loss = []
    while True:
        x, y, m = data.rnn_batch(rng, mel, mel.train_idx, a.batch, a.length)
        params, opt_state, loss = train_step(params, opt_state, x, y, m)
        step += 1
        run_loss.append(float(loss))
        elapsed = time.time() - t0
        done = elapsed > a.minutes * 60 or step >= a.max_steps
        if step % a.eval_every == 0 or done or step == 20:
            ev = evaluate(params)
            rec = {"step": step + a.step0, "minutes": round(elapsed / 60, 2),
                   "train_ce": float(np.mean(run_loss)), **ev}
            run_loss = []
            np_params = {k: np.asarray(v) for k, v in params.items()}
            np.savez(os.path.join(a.work, "last_params.npz"), **np_params)
            if ev["val_ce"] < best:
                best = ev["val_ce"]
                np.savez(os.path.join(a.work, "best_params.npz"), **np_params)
                export.export("rnn", np_params, a.out)
                rec["exported"] = True
            rec["sizes"] = sizes
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if done:
            break
    print(f"done: {step} steps in {(time.time() - t0) / 60:.1f} min, best val CE {best:.4f}",
          flush=True)


if __name__ == "__main__":
    main()
