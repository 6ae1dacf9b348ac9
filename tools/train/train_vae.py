#!/usr/bin/env python3
"""Train a 2-bar melody MusicVAE (`mel_2bar_small` architecture / converter) with JAX.

Structure (= magenta.js's flat categorical MusicVAE, magenta-checkpoint-format.md s.4):
- encoder: one bidirectional LSTM layer over the 32 one-hot frames; z inputs are the
  final fw h and final bw h; mu = [h_fw, h_bw] @ W_mu + b; sigma = softplus(. @ W_s + b).
- decoder: initial states tanh(z @ W + b) split [c0, h0, c1, h1, ...]; step input is
  [previous event one-hot (zeros at t=0), z]; teacher forcing during training;
  logits = h_last @ W_out + b.
- loss (as magenta's MusicVAE): sum-over-time CE + beta * max(KL - free_nats, 0),
  beta = max_beta * (1 - beta_rate^step), free_nats = free_bits * ln 2.

Every --eval-every steps: held-out reconstruction (greedy decode of the encoder mean,
exactly as magenta.js encode/decode) accuracy, teacher-forced CE and KL are logged and the
model is exported to --out when the validation objective improves.
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

D = data.VAE_MAX - data.VAE_MIN + 3  # 90
T = data.VAE_STEPS


def cell(kh, b, xp, h, c):
    g = xp + h @ kh + b
    i, j, f, o = jnp.split(g, 4, axis=-1)
    c = jax.nn.sigmoid(i) * jnp.tanh(j) + c * jax.nn.sigmoid(f + 1.0)
    return jnp.tanh(c) * jax.nn.sigmoid(o), c


def run_layer(K, b, xproj, h0, c0, reverse=False):
    H = h0.shape[-1]
    kh = K[-H:]

    def step(carry, xp):
        h, c = cell(kh, b, xp, *carry)
        return (h, c), h

    (h, c), hs = jax.lax.scan(step, (h0, c0), xproj, reverse=reverse)
    return hs, h


def encode(params, x):
    """x [B, T] classes -> (mu, sigma) [B, Z]."""
    B = x.shape[0]
    xt = x.T
    outs = []
    for d, rev in (("fw", False), ("bw", True)):
        K, b = params[f"enc_{d}_kernel"], params[f"enc_{d}_bias"]
        E = b.shape[0] // 4
        z0 = jnp.zeros((B, E), jnp.float32)
        _, h = run_layer(K, b, K[:D][xt], z0, z0, reverse=rev)
        outs.append(h)
    hcat = jnp.concatenate(outs, axis=1)
    mu = hcat @ params["mu_w"] + params["mu_b"]
    sigma = jax.nn.softplus(hcat @ params["sigma_w"] + params["sigma_b"])
    return mu, sigma


def decode_teacher(params, z, x, n_layers):
    """Teacher-forced decoder logits [B, T, D] for targets x [B, T]."""
    B = x.shape[0]
    Zd = z.shape[1]
    init = jnp.tanh(z @ params["z_init_w"] + params["z_init_b"])
    states = jnp.split(init, 2 * n_layers, axis=1)
    prev = jnp.concatenate([jnp.full((B, 1), -1, x.dtype), x[:, :-1]], axis=1).T  # [T, B]
    inp = None
    for l in range(n_layers):
        K, b = params[f"dec_kernel_{l}"], params[f"dec_bias_{l}"]
        H = b.shape[0] // 4
        if l == 0:
            # one-hot(prev) @ K[:D] (zero row for t=0) + z @ K[D:D+Z]
            kx = jnp.concatenate([K[:D], jnp.zeros((1, 4 * H), K.dtype)], axis=0)
            xproj = kx[prev] + (z @ K[D:D + Zd])[None]
        else:
            xproj = inp @ K[:-H]
        inp, _ = run_layer(K, b, xproj, states[2 * l + 1], states[2 * l])
    logits = inp @ params["out_w"] + params["out_b"]
    return jnp.transpose(logits, (1, 0, 2))


def decode_greedy(params, z, n_layers):
    """magenta.js decode(z) with temperature 0: argmax fed back. Returns [B, T] classes."""
    B = z.shape[0]
    init = jnp.tanh(z @ params["z_init_w"] + params["z_init_b"])
    st = jnp.split(init, 2 * n_layers, axis=1)
    hs = [st[2 * l + 1] for l in range(n_layers)]
    cs = [st[2 * l] for l in range(n_layers)]
    zproj = z @ params["dec_kernel_0"][D:D + z.shape[1]]

    def step(carry, _):
        prev, hs, cs = carry
        hs, cs = list(hs), list(cs)
        for l in range(n_layers):
            K, b = params[f"dec_kernel_{l}"], params[f"dec_bias_{l}"]
            H = b.shape[0] // 4
            if l == 0:
                xp = prev @ K[:D] + zproj
            else:
                xp = hs[l - 1] @ K[:-H]
            hs[l], cs[l] = cell(K[-H:], b, xp, hs[l], cs[l])
        logits = hs[-1] @ params["out_w"] + params["out_b"]
        k = jnp.argmax(logits, -1)
        return (jax.nn.one_hot(k, D), hs, cs), k

    _, ks = jax.lax.scan(step, (jnp.zeros((B, D)), hs, cs), None, length=T)
    return ks.T


def init_params(rng, enc, dec, zdim, n_layers):
    def glorot(k, shape):
        lim = np.sqrt(6.0 / (shape[0] + shape[1]))
        return jax.random.uniform(k, shape, jnp.float32, -lim, lim)

    ks = iter(jax.random.split(rng, 16))
    p = {}
    for d in ("fw", "bw"):
        p[f"enc_{d}_kernel"] = glorot(next(ks), (D + enc, 4 * enc))
        p[f"enc_{d}_bias"] = jnp.zeros((4 * enc,), jnp.float32)
    p["mu_w"] = glorot(next(ks), (2 * enc, zdim))
    p["mu_b"] = jnp.zeros((zdim,), jnp.float32)
    p["sigma_w"] = glorot(next(ks), (2 * enc, zdim))
    p["sigma_b"] = jnp.zeros((zdim,), jnp.float32)
    inp = D + zdim
    for l in range(n_layers):
        p[f"dec_kernel_{l}"] = glorot(next(ks), (inp + dec, 4 * dec))
        p[f"dec_bias_{l}"] = jnp.zeros((4 * dec,), jnp.float32)
        inp = dec
    p["z_init_w"] = glorot(next(ks), (zdim, 2 * dec * n_layers))
    p["z_init_b"] = jnp.zeros((2 * dec * n_layers,), jnp.float32)
    p["out_w"] = glorot(next(ks), (dec, D))
    p["out_b"] = jnp.zeros((D,), jnp.float32)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--enc", type=int, default=256)
    ap.add_argument("--dec", type=int, default=256)
    ap.add_argument("--dec-layers", type=int, default=1)
    ap.add_argument("--z", type=int, default=128)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--free-bits", type=float, default=32.0)
    ap.add_argument("--max-beta", type=float, default=0.5)
    ap.add_argument("--beta-rate", type=float, default=0.999)
    ap.add_argument("--minutes", type=float, default=75)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    L = a.dec_layers

    mel = data.Melodies(a.data)
    train_w = data.vae_windows(mel, mel.train_idx)
    val = data.vae_val_set(mel)
    val = val[np.random.default_rng(7).permutation(len(val))[:2048]]
    print(f"train windows {len(train_w)}, val windows {len(val)}", flush=True)

    params = init_params(jax.random.PRNGKey(a.seed), a.enc, a.dec, a.z, L)
    sched = optax.exponential_decay(a.lr, transition_steps=1000, decay_rate=0.9,
                                    end_value=1e-4)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(sched))
    opt_state = opt.init(params)
    free_nats = a.free_bits * np.log(2.0)

    def losses(params, x, eps, beta):
        mu, sigma = encode(params, x)
        z = mu + sigma * eps
        logits = decode_teacher(params, z, x, L)
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, x[..., None], axis=-1)[..., 0].sum(1)
        kl = jnp.sum(0.5 * (mu ** 2 + sigma ** 2 - 1.0) - jnp.log(sigma + 1e-8), axis=1)
        loss = jnp.mean(nll + beta * jnp.maximum(kl - free_nats, 0.0))
        acc = jnp.mean(jnp.argmax(logits, -1) == x)
        return loss, (jnp.mean(nll), jnp.mean(kl), acc)

    @jax.jit
    def train_step(params, opt_state, x, eps, beta):
        (loss, aux), grads = jax.value_and_grad(losses, has_aux=True)(params, x, eps, beta)
        upd, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, upd), opt_state, loss, aux

    @jax.jit
    def eval_batch(params, x):
        mu, sigma = encode(params, x)
        logits = decode_teacher(params, mu, x, L)
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, x[..., None], axis=-1)[..., 0].sum(1)
        kl = jnp.sum(0.5 * (mu ** 2 + sigma ** 2 - 1.0) - jnp.log(sigma + 1e-8), axis=1)
        rec = decode_greedy(params, mu, L)
        ok = rec == x
        non = x >= 2
        return (jnp.sum(nll), jnp.sum(kl), jnp.sum(ok), jnp.sum(ok & non), jnp.sum(non),
                jnp.sum(jnp.all(ok, axis=1)))

    def evaluate(params):
        tot = np.zeros(6)
        for s in range(0, len(val), 512):
            tot += np.array([float(v) for v in eval_batch(params, val[s:s + 512])])
        n = len(val)
        return {"val_nll_per_seq": tot[0] / n, "val_kl": tot[1] / n,
                "val_recon_step_acc": tot[2] / (n * T), "val_recon_noteon_acc": tot[3] / tot[4],
                "val_recon_exact": tot[5] / n}

    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    best = -1.0
    log = open(os.path.join(a.work, "log.jsonl"), "a")
    step = 0
    run = []
    while True:
        x = data.vae_batch(rng, train_w, a.batch)
        eps = rng.standard_normal((a.batch, a.z)).astype(np.float32)
        beta = a.max_beta * (1.0 - a.beta_rate ** step)
        params, opt_state, loss, aux = train_step(params, opt_state, x, eps, np.float32(beta))
        step += 1
        run.append([float(loss)] + [float(v) for v in aux])
        elapsed = time.time() - t0
        done = elapsed > a.minutes * 60 or step >= a.max_steps
        if step % a.eval_every == 0 or done or step == 20:
            ev = evaluate(params)
            r = np.mean(run, axis=0)
            rec = {"step": step, "minutes": round(elapsed / 60, 2), "beta": round(beta, 4),
                   "train_loss": r[0], "train_nll": r[1], "train_kl": r[2],
                   "train_tf_acc": r[3], **ev}
            run = []
            np_params = {k: np.asarray(v) for k, v in params.items()}
            np.savez(os.path.join(a.work, "last_params.npz"), **np_params)
            # Select on note-on reconstruction once beta has mostly ramped up, so the
            # exported model is one trained with the KL term active (musical samples).
            score = ev["val_recon_noteon_acc"] if beta > 0.8 * a.max_beta else -1.0
            if score > best or (best < 0 and score < 0):
                best = max(best, score)
                np.savez(os.path.join(a.work, "best_params.npz"), **np_params)
                export.export("vae", np_params, a.out)
                rec["exported"] = True
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if done:
            break
    print(f"done: {step} steps in {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
