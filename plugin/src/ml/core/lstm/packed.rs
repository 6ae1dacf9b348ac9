//! Matrices stored for the native mat-vec kernels: float32, or kept quantised (uint8 /
//! uint16, as the checkpoint stores them) and dequantised inside the loop.
//!
//! A step of an LSTM at batch 1 reads every weight once, so its time is the weight bytes
//! over the cache bandwidth; a quantised checkpoint read as its codes reads 4× (uint8) or
//! 2× (uint16) fewer bytes. Every weight the kernels multiply is exactly the float32 value
//! tfjs computes at load (`Float32Array` of `q * scale + min`, the product and sum in
//! float64): for uint8 a 256-entry table per tensor holds them, for uint16 the kernels
//! evaluate that expression in float64 and round once.
//!
//! Layout: columns in blocks of [`BLOCK`]; a block's rows are contiguous (`[block][row][64]`),
//! so a block's 64 accumulators stay in registers while its rows stream past. Every output
//! is the chain `acc = fma(x[k], w[k][j], acc)` over `k` in order from 0, whichever kernel
//! runs (AVX-512 VBMI, AVX-512, AVX2 + FMA or portable): results are the same bit for bit
//! on every machine, and a matrix times many rows gives each row what a mat-vec gives it.

use std::sync::Arc;

/// Columns per block.
pub(crate) const BLOCK: usize = 64;

/// A tensor's stored values, as the checkpoint holds them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    /// float32 values, row-major.
    F32(&'a [f32]),
    /// uint8 codes, `value = f32(q * scale + min)`.
    U8 { codes: &'a [u8], min: f64, scale: f64 },
    /// uint16 codes, `value = f32(q * scale + min)`.
    U16 { codes: &'a [u16], min: f64, scale: f64 },
}

/// The float32 value tfjs gives a quantised code (`Float32Array.from(q, v => v * s + m)`).
#[inline(always)]
pub(crate) fn dequantise(q: f64, min: f64, scale: f64) -> f32 {
    (q * scale + min) as f32
}

/// The 256 values of a uint8 tensor's codes.
pub(crate) fn table_u8(min: f64, scale: f64) -> Box<[f32; 256]> {
    let mut t = Box::new([0f32; 256]);
    for (q, v) in t.iter_mut().enumerate() {
        *v = dequantise(q as f64, min, scale);
    }
    t
}

/// Position in a uint8 block of column `c` (0..64): the VBMI kernel looks up the four
/// bytes of 64 values as four byte planes and interleaves them with in-lane unpacks,
/// which yields column `16i + 4L + d` from byte `16L + 4i + d`; storing the codes at those
/// positions makes the accumulators come out in column order.
#[inline(always)]
const fn u8_pos(c: usize) -> usize {
    let (i, l, d) = (c / 16, (c / 4) % 4, c % 4);
    16 * l + 4 * i + d
}

enum Codes {
    F32(Vec<f32>),
    /// float32 rows `offset / stride ..` of a row-major tensor shared with other matrices
    /// (a large checkpoint's kernel, used in place: never copied), `stride % BLOCK == 0`.
    Shared {
        data: Arc<Vec<f32>>,
        offset: usize,
        stride: usize,
    },
    /// Codes, their values, and the values' four byte planes (for the VBMI kernel).
    U8 {
        codes: Vec<u8>,
        table: Box<[f32; 256]>,
        planes: Box<[[u8; 256]; 4]>,
    },
    U16 {
        codes: Vec<u16>,
        min: f64,
        scale: f64,
    },
}

/// The four byte planes of a uint8 tensor's 256 values (little endian: plane 0 holds the
/// lowest byte of each).
fn byte_planes(table: &[f32; 256]) -> Box<[[u8; 256]; 4]> {
    let mut planes = Box::new([[0u8; 256]; 4]);
    for (q, v) in table.iter().enumerate() {
        for (p, byte) in planes.iter_mut().zip(v.to_le_bytes()) {
            p[q] = byte;
        }
    }
    planes
}

/// A `[rows, cols]` matrix in the kernels' block layout (or, for [`PackedMatrix::shared`],
/// rows of a row-major tensor used in place).
pub(crate) struct PackedMatrix {
    rows: usize,
    cols: usize,
    codes: Codes,
}

impl PackedMatrix {
    /// Rows `row0..row0 + rows` of a row-major `[.., cols]` tensor. Padding columns of the
    /// last block hold code 0 (their outputs are never read).
    pub(crate) fn from_rows(src: Source<'_>, cols: usize, row0: usize, rows: usize) -> Self {
        let blocks = cols.div_ceil(BLOCK);
        let n = blocks * rows * BLOCK;
        let idx = |k: usize, j: usize| (row0 + k) * cols + j;
        let codes = match src {
            Source::F32(v) => {
                let mut out = vec![0f32; n];
                for b in 0..blocks {
                    for k in 0..rows {
                        for c in 0..BLOCK.min(cols - b * BLOCK) {
                            out[(b * rows + k) * BLOCK + c] = v[idx(k, b * BLOCK + c)];
                        }
                    }
                }
                Codes::F32(out)
            }
            Source::U8 { codes, min, scale } => {
                let mut out = vec![0u8; n];
                for b in 0..blocks {
                    for k in 0..rows {
                        for c in 0..BLOCK.min(cols - b * BLOCK) {
                            out[(b * rows + k) * BLOCK + u8_pos(c)] = codes[idx(k, b * BLOCK + c)];
                        }
                    }
                }
                let table = table_u8(min, scale);
                let planes = byte_planes(&table);
                Codes::U8 { codes: out, table, planes }
            }
            Source::U16 { codes, min, scale } => {
                let mut out = vec![0u16; n];
                for b in 0..blocks {
                    for k in 0..rows {
                        for c in 0..BLOCK.min(cols - b * BLOCK) {
                            out[(b * rows + k) * BLOCK + c] = codes[idx(k, b * BLOCK + c)];
                        }
                    }
                }
                Codes::U16 { codes: out, min, scale }
            }
        };
        PackedMatrix { rows, cols, codes }
    }

    #[cfg(test)]
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Rows `row0..row0 + rows` of the row-major `[.., cols]` float32 tensor `data`, used
    /// where it is (no copy) when `cols` is a multiple of [`BLOCK`], else copied.
    pub(crate) fn shared(data: &Arc<Vec<f32>>, cols: usize, row0: usize, rows: usize) -> Self {
        if !cols.is_multiple_of(BLOCK) {
            return Self::from_rows(Source::F32(data), cols, row0, rows);
        }
        let codes = Codes::Shared { data: data.clone(), offset: row0 * cols, stride: cols };
        PackedMatrix { rows, cols, codes }
    }

    #[cfg(test)]
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes the weights take (what a mat-vec reads).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        match &self.codes {
            Codes::F32(v) => 4 * v.len(),
            Codes::Shared { .. } => 4 * self.rows * self.cols,
            Codes::U8 { codes, .. } => codes.len() + 1024,
            Codes::U16 { codes, .. } => 2 * codes.len(),
        }
    }

    /// The weight at row `k`, column `j` (as the kernels multiply it).
    #[cfg(test)]
    pub(crate) fn get(&self, k: usize, j: usize) -> f32 {
        let (b, c) = (j / BLOCK, j % BLOCK);
        let at = (b * self.rows + k) * BLOCK;
        match &self.codes {
            Codes::F32(v) => v[at + c],
            Codes::Shared { data, offset, stride } => data[offset + k * stride + j],
            Codes::U8 { codes, table, .. } => table[codes[at + u8_pos(c)] as usize],
            Codes::U16 { codes, min, scale } => dequantise(codes[at + c] as f64, *min, *scale),
        }
    }

    /// `y[j] = sum_k x[k] * W[k][j]` (fma chain over `k` from 0). `x.len() == rows`,
    /// `y.len() == cols`.
    pub(crate) fn matvec(&self, x: &[f32], y: &mut [f32]) {
        assert!(x.len() == self.rows && y.len() == self.cols, "matvec: sizes");
        let mut acc = [0f32; BLOCK];
        for b in 0..self.cols.div_ceil(BLOCK) {
            self.block(b, x, &mut acc);
            let c0 = b * BLOCK;
            let n = BLOCK.min(self.cols - c0);
            y[c0..c0 + n].copy_from_slice(&acc[..n]);
        }
    }

    /// `Y = X @ W` for `n` rows of `X` (`[n, rows]` → `[n, cols]`), each row exactly what
    /// `matvec` gives it. Quantised blocks are dequantised once into `scratch` and shared
    /// by all rows.
    pub(crate) fn matmul_rows(&self, x: &[f32], n: usize, y: &mut [f32], scratch: &mut Vec<f32>) {
        assert!(x.len() == n * self.rows && y.len() == n * self.cols, "matmul_rows: sizes");
        let (rows, cols) = (self.rows, self.cols);
        for b in 0..cols.div_ceil(BLOCK) {
            let tile: &[f32] = match &self.codes {
                Codes::F32(v) => &v[b * rows * BLOCK..(b + 1) * rows * BLOCK],
                Codes::Shared { data, offset, stride } => {
                    scratch.clear();
                    for k in 0..rows {
                        let at = offset + k * stride + b * BLOCK;
                        scratch.extend_from_slice(&data[at..at + BLOCK]);
                    }
                    scratch
                }
                Codes::U8 { codes, table, .. } => {
                    let src = &codes[b * rows * BLOCK..(b + 1) * rows * BLOCK];
                    scratch.clear();
                    scratch.resize(rows * BLOCK, 0.0);
                    for (dst, row) in scratch.chunks_exact_mut(BLOCK).zip(src.chunks_exact(BLOCK)) {
                        for (c, d) in dst.iter_mut().enumerate() {
                            *d = table[row[u8_pos(c)] as usize];
                        }
                    }
                    scratch
                }
                Codes::U16 { codes, min, scale } => {
                    let src = &codes[b * rows * BLOCK..(b + 1) * rows * BLOCK];
                    scratch.clear();
                    scratch.extend(src.iter().map(|&q| dequantise(q as f64, *min, *scale)));
                    scratch
                }
            };
            let c0 = b * BLOCK;
            let width = BLOCK.min(cols - c0);
            let mut r = 0;
            while r < n {
                let m = (n - r).min(4);
                let mut acc = [[0f32; BLOCK]; 4];
                tile_rows(tile, &x[r * rows..(r + m) * rows], rows, m, &mut acc);
                for (i, a) in acc.iter().enumerate().take(m) {
                    y[(r + i) * cols + c0..(r + i) * cols + c0 + width]
                        .copy_from_slice(&a[..width]);
                }
                r += m;
            }
        }
    }

    /// One block's 64 outputs for `x`.
    fn block(&self, b: usize, x: &[f32], acc: &mut [f32; BLOCK]) {
        let rows = self.rows;
        let range = b * rows * BLOCK..(b + 1) * rows * BLOCK;
        match &self.codes {
            Codes::F32(v) => block_f32(&v[range], BLOCK, x, acc),
            Codes::Shared { data, offset, stride } => {
                let start = offset + b * BLOCK;
                let end = start + (rows - 1) * stride + BLOCK;
                block_f32(&data[start..end], *stride, x, acc)
            }
            Codes::U8 { codes, table, planes } => block_u8(&codes[range], table, planes, x, acc),
            Codes::U16 { codes, min, scale } => block_u16(&codes[range], *min, *scale, x, acc),
        }
    }
}

/// `m` (≤ 4) rows of `x` (`[m, rows]`) times a float32 tile `[rows][64]`.
fn tile_rows(tile: &[f32], x: &[f32], rows: usize, m: usize, acc: &mut [[f32; BLOCK]; 4]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above).
        return unsafe { tile_rows_avx512(tile, x, rows, m, acc) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        return unsafe { tile_rows_avx2(tile, x, rows, m, acc) };
    }
    tile_rows_portable(tile, x, rows, m, acc)
}

#[inline(always)]
fn tile_rows_portable(tile: &[f32], x: &[f32], rows: usize, m: usize, acc: &mut [[f32; BLOCK]; 4]) {
    for (k, w) in tile.chunks_exact(BLOCK).enumerate().take(rows) {
        for (i, a) in acc.iter_mut().enumerate().take(m) {
            let xk = x[i * rows + k];
            for (a, &w) in a.iter_mut().zip(w) {
                *a = xk.mul_add(w, *a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn tile_rows_avx512(tile: &[f32], x: &[f32], rows: usize, m: usize, acc: &mut [[f32; BLOCK]; 4]) {
    tile_rows_portable(tile, x, rows, m, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_rows_avx2(tile: &[f32], x: &[f32], rows: usize, m: usize, acc: &mut [[f32; BLOCK]; 4]) {
    tile_rows_portable(tile, x, rows, m, acc)
}

/// A float32 block: row `k`'s 64 weights start at `w[k * stride]`.
fn block_f32(w: &[f32], stride: usize, x: &[f32], acc: &mut [f32; BLOCK]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above).
        return unsafe { x86::block_f32_avx512(w, stride, x, acc) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        return unsafe { block_f32_avx2(w, stride, x, acc) };
    }
    block_f32_portable(w, stride, x, acc)
}

#[inline(always)]
fn block_f32_portable(w: &[f32], stride: usize, x: &[f32], acc: &mut [f32; BLOCK]) {
    let mut a = [0f32; BLOCK];
    for (k, &xk) in x.iter().enumerate() {
        let row = &w[k * stride..k * stride + BLOCK];
        for (a, &w) in a.iter_mut().zip(row) {
            *a = xk.mul_add(w, *a);
        }
    }
    *acc = a;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_f32_avx2(w: &[f32], stride: usize, x: &[f32], acc: &mut [f32; BLOCK]) {
    block_f32_portable(w, stride, x, acc)
}

fn block_u8(
    codes: &[u8],
    table: &[f32; 256],
    planes: &[[u8; 256]; 4],
    x: &[f32],
    acc: &mut [f32; BLOCK],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        // SAFETY: the CPU has AVX-512 VBMI and BW (checked above); `codes` holds
        // `x.len()` rows of 64.
        return unsafe { x86::block_u8_vbmi(codes, planes, x, acc) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        return unsafe { block_u8_avx2(codes, table, x, acc) };
    }
    block_u8_portable(codes, table, x, acc)
}

#[inline(always)]
fn block_u8_portable(codes: &[u8], table: &[f32; 256], x: &[f32], acc: &mut [f32; BLOCK]) {
    let mut a = [0f32; BLOCK];
    for (row, &xk) in codes.chunks_exact(BLOCK).zip(x) {
        for (c, a) in a.iter_mut().enumerate() {
            *a = xk.mul_add(table[row[u8_pos(c)] as usize], *a);
        }
    }
    *acc = a;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_u8_avx2(codes: &[u8], table: &[f32; 256], x: &[f32], acc: &mut [f32; BLOCK]) {
    block_u8_portable(codes, table, x, acc)
}

fn block_u16(codes: &[u16], min: f64, scale: f64, x: &[f32], acc: &mut [f32; BLOCK]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above).
        return unsafe { block_u16_avx512(codes, min, scale, x, acc) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        return unsafe { block_u16_avx2(codes, min, scale, x, acc) };
    }
    block_u16_portable(codes, min, scale, x, acc)
}

#[inline(always)]
fn block_u16_portable(codes: &[u16], min: f64, scale: f64, x: &[f32], acc: &mut [f32; BLOCK]) {
    let mut a = [0f32; BLOCK];
    for (row, &xk) in codes.chunks_exact(BLOCK).zip(x) {
        for (a, &q) in a.iter_mut().zip(row) {
            *a = xk.mul_add(dequantise(q as f64, min, scale), *a);
        }
    }
    *acc = a;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn block_u16_avx512(codes: &[u16], min: f64, scale: f64, x: &[f32], acc: &mut [f32; BLOCK]) {
    block_u16_portable(codes, min, scale, x, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_u16_avx2(codes: &[u16], min: f64, scale: f64, x: &[f32], acc: &mut [f32; BLOCK]) {
    block_u16_portable(codes, min, scale, x, acc)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::BLOCK;
    use std::arch::x86_64::*;

    /// float32 block: four 16-lane accumulators, one FMA each per row.
    #[target_feature(enable = "avx512f")]
    pub(super) fn block_f32_avx512(w: &[f32], stride: usize, x: &[f32], acc: &mut [f32; BLOCK]) {
        assert!(x.is_empty() || w.len() >= (x.len() - 1) * stride + BLOCK);
        let z = _mm512_setzero_ps();
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        for (k, &xk) in x.iter().enumerate() {
            let xv = _mm512_set1_ps(xk);
            // SAFETY: row k lies inside `w` (asserted above); unaligned loads.
            unsafe {
                let p = w.as_ptr().add(k * stride);
                a0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(p), a0);
                a1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(p.add(16)), a1);
                a2 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(p.add(32)), a2);
                a3 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(p.add(48)), a3);
            }
        }
        // SAFETY: `acc` holds 64 floats.
        unsafe {
            let o = acc.as_mut_ptr();
            _mm512_storeu_ps(o, a0);
            _mm512_storeu_ps(o.add(16), a1);
            _mm512_storeu_ps(o.add(32), a2);
            _mm512_storeu_ps(o.add(48), a3);
        }
    }

    /// uint8 block: the 64 codes of a row look up the four bytes of their values in the
    /// table's four byte planes (`vpermi2b` over 128 entries, twice, picked by the top
    /// bit), and in-lane unpacks put the bytes together (see `u8_pos`).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) fn block_u8_vbmi(
        codes: &[u8],
        planes: &[[u8; 256]; 4],
        x: &[f32],
        acc: &mut [f32; BLOCK],
    ) {
        assert!(codes.len() >= x.len() * BLOCK);
        // SAFETY: each plane holds 256 bytes = four 64-byte loads.
        let t = |p: usize, h: usize| unsafe {
            _mm512_loadu_si512(planes[p].as_ptr().add(64 * h) as *const __m512i)
        };
        let (t00, t01, t02, t03) = (t(0, 0), t(0, 1), t(0, 2), t(0, 3));
        let (t10, t11, t12, t13) = (t(1, 0), t(1, 1), t(1, 2), t(1, 3));
        let (t20, t21, t22, t23) = (t(2, 0), t(2, 1), t(2, 2), t(2, 3));
        let (t30, t31, t32, t33) = (t(3, 0), t(3, 1), t(3, 2), t(3, 3));
        let z = _mm512_setzero_ps();
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        for (k, &xk) in x.iter().enumerate() {
            let xv = _mm512_set1_ps(xk);
            // SAFETY: row k lies inside `codes` (asserted above).
            let q = unsafe { _mm512_loadu_si512(codes.as_ptr().add(k * BLOCK) as *const __m512i) };
            let hi = _mm512_movepi8_mask(q);
            let look = |lo0, lo1, hi0, hi1| {
                _mm512_mask_blend_epi8(
                    hi,
                    _mm512_permutex2var_epi8(lo0, q, lo1),
                    _mm512_permutex2var_epi8(hi0, q, hi1),
                )
            };
            let p0 = look(t00, t01, t02, t03);
            let p1 = look(t10, t11, t12, t13);
            let p2 = look(t20, t21, t22, t23);
            let p3 = look(t30, t31, t32, t33);
            let (lo01, hi01) = (_mm512_unpacklo_epi8(p0, p1), _mm512_unpackhi_epi8(p0, p1));
            let (lo23, hi23) = (_mm512_unpacklo_epi8(p2, p3), _mm512_unpackhi_epi8(p2, p3));
            let w0 = _mm512_castsi512_ps(_mm512_unpacklo_epi16(lo01, lo23));
            let w1 = _mm512_castsi512_ps(_mm512_unpackhi_epi16(lo01, lo23));
            let w2 = _mm512_castsi512_ps(_mm512_unpacklo_epi16(hi01, hi23));
            let w3 = _mm512_castsi512_ps(_mm512_unpackhi_epi16(hi01, hi23));
            a0 = _mm512_fmadd_ps(xv, w0, a0);
            a1 = _mm512_fmadd_ps(xv, w1, a1);
            a2 = _mm512_fmadd_ps(xv, w2, a2);
            a3 = _mm512_fmadd_ps(xv, w3, a3);
        }
        // SAFETY: `acc` holds 64 floats.
        unsafe {
            let o = acc.as_mut_ptr();
            _mm512_storeu_ps(o, a0);
            _mm512_storeu_ps(o.add(16), a1);
            _mm512_storeu_ps(o.add(32), a2);
            _mm512_storeu_ps(o.add(48), a3);
        }
    }
}

/// Forces the portable kernels (tests compare them with the SIMD ones bit for bit).
#[cfg(test)]
pub(crate) fn matvec_portable(m: &PackedMatrix, x: &[f32], y: &mut [f32]) {
    let rows = m.rows;
    for b in 0..m.cols.div_ceil(BLOCK) {
        let mut acc = [0f32; BLOCK];
        let range = b * rows * BLOCK..(b + 1) * rows * BLOCK;
        match &m.codes {
            Codes::F32(v) => block_f32_portable(&v[range], BLOCK, x, &mut acc),
            Codes::Shared { data, offset, stride } => {
                let start = offset + b * BLOCK;
                let end = start + (rows - 1) * stride + BLOCK;
                block_f32_portable(&data[start..end], *stride, x, &mut acc)
            }
            Codes::U8 { codes, table, .. } => block_u8_portable(&codes[range], table, x, &mut acc),
            Codes::U16 { codes, min, scale } => {
                block_u16_portable(&codes[range], *min, *scale, x, &mut acc)
            }
        }
        let n = BLOCK.min(m.cols - b * BLOCK);
        y[b * BLOCK..b * BLOCK + n].copy_from_slice(&acc[..n]);
    }
}

impl Source<'_> {
    /// Element `i` (row-major) as the kernels multiply it.
    pub(crate) fn value(&self, i: usize) -> f32 {
        match *self {
            Source::F32(v) => v[i],
            Source::U8 { codes, min, scale } => dequantise(codes[i] as f64, min, scale),
            Source::U16 { codes, min, scale } => dequantise(codes[i] as f64, min, scale),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::random_checkpoint::Lcg;

    /// Every kernel gives the fma chain over `k` in order, bit for bit, with the weights
    /// tfjs computes; `matmul_rows` gives each row what `matvec` gives it.
    #[test]
    fn kernels_are_the_exact_fma_chain_over_tfjs_values() {
        let mut rng = Lcg::new(31);
        let (all_rows, cols) = (150usize, 200usize);
        let f = rng.vec(all_rows * cols, 0.5);
        let q8: Vec<u8> = (0..all_rows * cols).map(|_| rng.next_u64() as u8).collect();
        let q16: Vec<u16> = (0..all_rows * cols).map(|_| rng.next_u64() as u16).collect();
        let (min, scale) = (-0.312_345_678_9, 0.612_345_67 / 255.0);
        for src in [
            Source::F32(&f),
            Source::U8 { codes: &q8, min, scale },
            Source::U16 { codes: &q16, min, scale: scale / 257.0 },
        ] {
            let (row0, rows) = (17, 130);
            let m = PackedMatrix::from_rows(src, cols, row0, rows);
            assert_eq!((m.rows(), m.cols()), (rows, cols));
            let x = rng.vec(rows, 2.0);
            let mut want = vec![0f32; cols];
            for (j, w) in want.iter_mut().enumerate() {
                let v = |k: usize| src.value((row0 + k) * cols + j);
                *w = (0..rows).fold(0f32, |a, k| x[k].mul_add(v(k), a));
                assert_eq!(m.get(5, j).to_bits(), v(5).to_bits());
            }
            let same =
                |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            let mut y = vec![0f32; cols];
            m.matvec(&x, &mut y);
            assert!(same(&y, &want), "{src:?}");
            let mut yp = vec![1f32; cols];
            matvec_portable(&m, &x, &mut yp);
            assert!(same(&yp, &want), "portable {src:?}");
            let n = 6;
            let xs = rng.vec(n * rows, 1.0);
            let mut ys = vec![0f32; n * cols];
            m.matmul_rows(&xs, n, &mut ys, &mut Vec::new());
            for r in 0..n {
                m.matvec(&xs[r * rows..(r + 1) * rows], &mut y);
                assert!(same(&y, &ys[r * cols..(r + 1) * cols]), "row {r} {src:?}");
            }
        }
        // The table holds tfjs's values: q * scale + min in f64, rounded once.
        let t = table_u8(-1.0, 0.1);
        assert_eq!(t[1], (0.1f64 - 1.0) as f32);
        assert_eq!(t[255], (255.0 * 0.1f64 - 1.0) as f32);
        let m = PackedMatrix::from_rows(Source::U8 { codes: &q8, min, scale }, cols, 0, 4);
        assert_eq!(m.bytes(), 4 * 256 + 1024);
    }
}
