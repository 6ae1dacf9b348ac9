//! MidiMe: a small VAE trained on MusicVAE latent vectors of the user's melodies, as
//! magenta.js `MidiMe` (dense ReLU encoder [1024, 256, 64] -> mu and softplus sigma,
//! z = mu + eps * sigma, dense ReLU decoder [64, 256, 1024] -> linear output; loss =
//! mean over the batch of sum(se / 2) + beta * KL; Adam with tfjs defaults, full batch,
//! one step per epoch). Samples are latent vectors for the MusicVAE decoder.
//!
//! Training is plain Rust with hand-written gradients: the network is tiny and trains on
//! a handful of vectors, so a graph engine would only add setup cost.

use rand::Rng;

use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::music_vae::normal;

/// Hidden layers of the encoder (magenta.js defaults).
pub const ENCODER_LAYERS: [usize; 3] = [1024, 256, 64];
/// Hidden layers of the decoder (magenta.js defaults).
pub const DECODER_LAYERS: [usize; 3] = [64, 256, 1024];
/// Weight of the KL term (magenta.js default `beta`).
pub const BETA: f32 = 1.0;

/// Activation of a dense layer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    Linear,
    Relu,
    Softplus,
}

/// A dense layer with its Adam moments.
#[derive(Clone, Debug)]
struct Layer {
    /// `[inp, out]` row-major.
    w: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
    act: Act,
    /// Adam first/second moments of `w` and `b`.
    mw: Vec<f32>,
    vw: Vec<f32>,
    mb: Vec<f32>,
    vb: Vec<f32>,
}

impl Layer {
    /// Glorot-uniform kernel, zero bias (the tfjs `dense` defaults).
    fn new(inp: usize, out: usize, act: Act, rng: &mut impl Rng) -> Self {
        let lim = (6.0 / (inp + out) as f64).sqrt();
        let w = (0..inp * out).map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * lim) as f32).collect();
        Layer {
            w,
            b: vec![0.0; out],
            inp,
            out,
            act,
            mw: vec![0.0; inp * out],
            vw: vec![0.0; inp * out],
            mb: vec![0.0; out],
            vb: vec![0.0; out],
        }
    }

    /// Returns (pre-activation, activation) for `n` rows.
    fn forward(&self, x: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut pre = vec![0f32; n * self.out];
        for r in 0..n {
            let row = &mut pre[r * self.out..(r + 1) * self.out];
            row.copy_from_slice(&self.b);
            for k in 0..self.inp {
                let xv = x[r * self.inp + k];
                if xv != 0.0 {
                    let wr = &self.w[k * self.out..(k + 1) * self.out];
                    row.iter_mut().zip(wr).for_each(|(a, &w)| *a += xv * w);
                }
            }
        }
        let post = pre
            .iter()
            .map(|&v| match self.act {
                Act::Linear => v,
                Act::Relu => v.max(0.0),
                Act::Softplus => softplus(v),
            })
            .collect();
        (pre, post)
    }

    /// Given dL/d(post), accumulates gradients and returns dL/dx.
    fn backward(
        &self,
        x: &[f32],
        pre: &[f32],
        dpost: &[f32],
        n: usize,
        gw: &mut [f32],
        gb: &mut [f32],
    ) -> Vec<f32> {
        let dpre: Vec<f32> = dpost
            .iter()
            .zip(pre)
            .map(|(&d, &p)| match self.act {
                Act::Linear => d,
                Act::Relu => {
                    if p > 0.0 {
                        d
                    } else {
                        0.0
                    }
                }
                Act::Softplus => d * sigmoid(p),
            })
            .collect();
        let mut dx = vec![0f32; n * self.inp];
        for r in 0..n {
            let dr = &dpre[r * self.out..(r + 1) * self.out];
            gb.iter_mut().zip(dr).for_each(|(g, &d)| *g += d);
            for k in 0..self.inp {
                let xv = x[r * self.inp + k];
                let wr = &self.w[k * self.out..(k + 1) * self.out];
                let gr = &mut gw[k * self.out..(k + 1) * self.out];
                let mut acc = 0f32;
                for j in 0..self.out {
                    gr[j] += xv * dr[j];
                    acc += wr[j] * dr[j];
                }
                dx[r * self.inp + k] = acc;
            }
        }
        dx
    }

    /// One Adam update (tfjs defaults: lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7).
    fn adam(&mut self, gw: &[f32], gb: &[f32], t: i32) {
        const LR: f32 = 0.001;
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-7;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        let upd = |p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]| {
            for i in 0..p.len() {
                m[i] = B1 * m[i] + (1.0 - B1) * g[i];
                v[i] = B2 * v[i] + (1.0 - B2) * g[i] * g[i];
                p[i] -= LR * (m[i] / c1) / ((v[i] / c2).sqrt() + EPS);
            }
        };
        upd(&mut self.w, &mut self.mw, &mut self.vw, gw);
        upd(&mut self.b, &mut self.mb, &mut self.vb, gb);
    }
}

fn softplus(v: f32) -> f32 {
    // Stable for large |v|.
    if v > 20.0 {
        v
    } else {
        v.exp().ln_1p()
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// A trained MidiMe model.
#[derive(Clone, Debug)]
pub struct MidiMe {
    /// Encoder hidden layers.
    enc: Vec<Layer>,
    /// Latent mean layer.
    mu: Layer,
    /// Latent sigma layer (softplus).
    sigma: Layer,
    /// Decoder hidden layers then the linear output layer.
    dec: Vec<Layer>,
    /// Size of MidiMe's latent space.
    pub latent: usize,
    /// Size of the MusicVAE latent vectors it models.
    pub input: usize,
    /// Loss after the last epoch (reconstruction + beta * KL).
    pub final_loss: f32,
}

impl MidiMe {
    /// Trains on MusicVAE latent vectors `z` (all the same length) for `epochs`
    /// full-batch Adam steps; `on_epoch(epoch, loss)` reports progress.
    pub fn train(
        z: &[Vec<f32>],
        latent: usize,
        epochs: usize,
        rng: &mut impl Rng,
        on_epoch: &mut dyn FnMut(usize, f32),
    ) -> Result<MidiMe, ModelError> {
        let n = z.len();
        if n == 0 {
            return Err(ModelError::bad_input("MidiMe: no training melodies"));
        }
        let input = z[0].len();
        if input == 0 || z.iter().any(|v| v.len() != input) {
            return Err(ModelError::bad_input(
                "MidiMe: training vectors must all have the same, non-zero length",
            ));
        }
        if latent == 0 || latent > 1024 {
            return Err(ModelError::bad_input(format!(
                "MidiMe: latent size {latent} must be in 1..=1024"
            )));
        }
        if epochs > 100_000 {
            return Err(ModelError::bad_input("MidiMe: at most 100000 epochs"));
        }
        let mut enc = Vec::new();
        let mut prev = input;
        for &h in &ENCODER_LAYERS {
            enc.push(Layer::new(prev, h, Act::Relu, rng));
            prev = h;
        }
        let mu = Layer::new(prev, latent, Act::Linear, rng);
        let sigma = Layer::new(prev, latent, Act::Softplus, rng);
        let mut dec = Vec::new();
        prev = latent;
        for &h in &DECODER_LAYERS {
            dec.push(Layer::new(prev, h, Act::Relu, rng));
            prev = h;
        }
        dec.push(Layer::new(prev, input, Act::Linear, rng));
        let mut m = MidiMe { enc, mu, sigma, dec, latent, input, final_loss: f32::NAN };
        let x: Vec<f32> = z.iter().flatten().copied().collect();
        for epoch in 0..epochs {
            let loss = m.step(&x, n, rng, epoch as i32 + 1);
            if !loss.is_finite() {
                return Err(ModelError::new(
                    ModelErrorKind::Training,
                    format!("MidiMe: training diverged at epoch {epoch}"),
                ));
            }
            m.final_loss = loss;
            on_epoch(epoch + 1, loss);
        }
        Ok(m)
    }

    /// One full-batch training step; returns the loss before the update.
    fn step(&mut self, x: &[f32], n: usize, rng: &mut impl Rng, t: i32) -> f32 {
        let nf = n as f32;
        // Forward, keeping every layer's input and pre-activation.
        let mut enc_io = Vec::new();
        let mut h = x.to_vec();
        for l in &self.enc {
            let (pre, post) = l.forward(&h, n);
            enc_io.push((h, pre));
            h = post;
        }
        let (mu_pre, mu) = self.mu.forward(&h, n);
        let (s_pre, sigma) = self.sigma.forward(&h, n);
        let eps: Vec<f32> = (0..n * self.latent).map(|_| normal(rng)).collect();
        let zl: Vec<f32> = (0..mu.len()).map(|i| mu[i] + eps[i] * sigma[i]).collect();
        let mut dec_io = Vec::new();
        let mut g = zl;
        for l in &self.dec {
            let (pre, post) = l.forward(&g, n);
            dec_io.push((g, pre));
            g = post;
        }
        let y = g;
        let recon: f32 = y.iter().zip(x).map(|(a, b)| (a - b) * (a - b) / 2.0).sum::<f32>() / nf;
        let kl: f32 = -(0..mu.len())
            .map(|i| {
                1.0 + (sigma[i] * sigma[i]).max(1e-30).ln() - mu[i] * mu[i] - sigma[i] * sigma[i]
            })
            .sum::<f32>()
            / (2.0 * nf);
        let loss = recon + BETA * kl;

        // Backward.
        let mut d: Vec<f32> = y.iter().zip(x).map(|(a, b)| (a - b) / nf).collect();
        let mut dec_grads: Vec<(Vec<f32>, Vec<f32>)> =
            self.dec.iter().map(|l| (vec![0.0; l.w.len()], vec![0.0; l.out])).collect();
        for (i, l) in self.dec.iter().enumerate().rev() {
            let (inp, pre) = &dec_io[i];
            let (gw, gb) = &mut dec_grads[i];
            d = l.backward(inp, pre, &d, n, gw, gb);
        }
        let dz = d;
        let dmu: Vec<f32> = (0..mu.len()).map(|i| dz[i] + BETA * mu[i] / nf).collect();
        let dsig: Vec<f32> = (0..mu.len())
            .map(|i| dz[i] * eps[i] + BETA * (sigma[i] - 1.0 / sigma[i].max(1e-15)) / nf)
            .collect();
        let (mut gmw, mut gmb) = (vec![0.0; self.mu.w.len()], vec![0.0; self.mu.out]);
        let (mut gsw, mut gsb) = (vec![0.0; self.sigma.w.len()], vec![0.0; self.sigma.out]);
        let dh1 = self.mu.backward(&h, &mu_pre, &dmu, n, &mut gmw, &mut gmb);
        let dh2 = self.sigma.backward(&h, &s_pre, &dsig, n, &mut gsw, &mut gsb);
        let mut d: Vec<f32> = dh1.iter().zip(&dh2).map(|(a, b)| a + b).collect();
        let mut enc_grads: Vec<(Vec<f32>, Vec<f32>)> =
            self.enc.iter().map(|l| (vec![0.0; l.w.len()], vec![0.0; l.out])).collect();
        for (i, l) in self.enc.iter().enumerate().rev() {
            let (inp, pre) = &enc_io[i];
            let (gw, gb) = &mut enc_grads[i];
            d = l.backward(inp, pre, &d, n, gw, gb);
        }
        for (l, (gw, gb)) in self.dec.iter_mut().zip(&dec_grads) {
            l.adam(gw, gb, t);
        }
        for (l, (gw, gb)) in self.enc.iter_mut().zip(&enc_grads) {
            l.adam(gw, gb, t);
        }
        self.mu.adam(&gmw, &gmb, t);
        self.sigma.adam(&gsw, &gsb, t);
        loss
    }

    /// Decodes MidiMe latent vectors to MusicVAE latent vectors.
    pub fn decode(&self, z: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        if let Some(v) = z.iter().find(|v| v.len() != self.latent) {
            return Err(ModelError::bad_input(format!(
                "MidiMe decode: vector of {} dims, the model has {}",
                v.len(),
                self.latent
            )));
        }
        let n = z.len();
        let mut g: Vec<f32> = z.iter().flatten().copied().collect();
        for l in &self.dec {
            g = l.forward(&g, n).1;
        }
        Ok(g.chunks(self.input.max(1)).map(|c| c.to_vec()).collect())
    }

    /// `sample(n)`: decodes `n` draws from N(0, 1) of MidiMe's latent space.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Result<Vec<Vec<f32>>, ModelError> {
        let z: Vec<Vec<f32>> =
            (0..n).map(|_| (0..self.latent).map(|_| normal(rng)).collect()).collect();
        self.decode(&z)
    }

    /// Reconstruction of MusicVAE vectors through the mean (no sampling), for tests.
    #[cfg(test)]
    pub fn reconstruct(&self, z: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let n = z.len();
        let mut h: Vec<f32> = z.iter().flatten().copied().collect();
        for l in &self.enc {
            h = l.forward(&h, n).1;
        }
        let mu = self.mu.forward(&h, n).1;
        let mus: Vec<Vec<f32>> = mu.chunks(self.latent).map(|c| c.to_vec()).collect();
        self.decode(&mus).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    #[test]
    fn training_lowers_the_loss_and_learns_the_data() {
        let mut rng = SmallRng::seed_from_u64(2);
        // Four 16-dim "latent vectors" around a common offset.
        let base: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7).sin() * 2.0).collect();
        let z: Vec<Vec<f32>> = (0..4)
            .map(|k| {
                base.iter()
                    .enumerate()
                    .map(|(i, b)| b + 0.1 * ((k * 16 + i) as f32).cos())
                    .collect()
            })
            .collect();
        let mut losses = Vec::new();
        let m = MidiMe::train(&z, 4, 200, &mut rng, &mut |_, l| losses.push(l)).unwrap();
        assert_eq!(losses.len(), 200);
        assert!(losses[199] < losses[0] * 0.3, "loss {} -> {}", losses[0], losses[199]);
        // Samples land near the training data, far closer than the origin is.
        let s = m.sample(8, &mut rng).unwrap();
        assert_eq!(s.len(), 8);
        let dist = |a: &[f32], b: &[f32]| {
            a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
        };
        let origin = dist(&base, &[0.0; 16]);
        for v in &s {
            assert!(dist(v, &base) < origin * 0.6, "{} vs {origin}", dist(v, &base));
        }
        assert_eq!(m.reconstruct(&z).len(), 4);
        assert_eq!(
            m.decode(&[vec![0.0; 3]]).err().map(|e| e.kind()),
            Some(ModelErrorKind::BadInput)
        );
    }

    #[test]
    fn rejects_bad_training_input() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut kind = |z: &[Vec<f32>], latent| {
            MidiMe::train(z, latent, 1, &mut rng, &mut |_, _| {}).err().map(|e| e.kind())
        };
        assert_eq!(kind(&[], 4), Some(ModelErrorKind::BadInput));
        assert_eq!(kind(&[vec![1.0; 3], vec![1.0; 2]], 4), Some(ModelErrorKind::BadInput));
        assert_eq!(kind(&[vec![1.0; 3]], 0), Some(ModelErrorKind::BadInput));
    }
}
