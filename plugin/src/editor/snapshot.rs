//! Pictures of headless editor frames (tests only): egui's tessellated meshes drawn by a
//! small CPU rasteriser into an RGBA image and written as a PNG. It draws what a GPU
//! backend draws (textured, vertex-coloured triangles with premultiplied alpha, clipped
//! to their rectangles, blended in gamma space as egui's own renderers do), without a
//! window, a GPU or an X server, so the README's Studio picture comes from the same
//! frames the editor tests check.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use egui::epaint::{ClippedPrimitive, Primitive, Vertex};
use egui::{Color32, TextureId};

/// The textures egui asked the backend to keep, as RGBA images (premultiplied).
#[derive(Default)]
pub struct Textures(HashMap<TextureId, (usize, usize, Vec<Color32>)>);

impl Textures {
    /// Applies a frame's texture changes (whole images and patches).
    pub fn apply(&mut self, delta: &egui::TexturesDelta) {
        for (id, d) in delta.set.iter().flat_map(|(id, ds)| ds.iter().map(move |d| (id, d))) {
            let egui::ImageData::Color(img) = &d.image;
            let [w, h] = img.size;
            match d.pos {
                None => {
                    self.0.insert(*id, (w, h, img.pixels.clone()));
                }
                Some([x0, y0]) => {
                    if let Some((tw, _, pixels)) = self.0.get_mut(id) {
                        for y in 0..h {
                            for x in 0..w {
                                if let Some(p) = pixels.get_mut((y0 + y) * *tw + x0 + x) {
                                    *p = img.pixels[y * w + x];
                                }
                            }
                        }
                    }
                }
            }
        }
        for id in &delta.free {
            self.0.remove(id);
        }
    }

    /// Bilinear sample at normalized `(u, v)` (white for an unknown texture).
    fn sample(&self, id: TextureId, u: f32, v: f32) -> [f32; 4] {
        let Some((w, h, px)) = self.0.get(&id) else { return [1.0; 4] };
        let (w, h) = (*w as isize, *h as isize);
        let x = u * w as f32 - 0.5;
        let y = v * h as f32 - 0.5;
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |xi: isize, yi: isize| -> [f32; 4] {
            let c = px[(yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)) as usize];
            [c.r(), c.g(), c.b(), c.a()].map(|v| v as f32 / 255.0)
        };
        let (x0, y0) = (x0 as isize, y0 as isize);
        let (a, b, c, d) = (at(x0, y0), at(x0 + 1, y0), at(x0, y0 + 1), at(x0 + 1, y0 + 1));
        std::array::from_fn(|i| {
            let top = a[i] + (b[i] - a[i]) * fx;
            let bottom = c[i] + (d[i] - c[i]) * fx;
            top + (bottom - top) * fy
        })
    }
}

/// An RGB picture of `primitives` at `pixels_per_point`, `size` points wide and high, on
/// `background`.
pub fn rasterise(
    primitives: &[ClippedPrimitive],
    textures: &Textures,
    pixels_per_point: f32,
    size: egui::Vec2,
    background: Color32,
) -> (usize, usize, Vec<[f32; 3]>) {
    let (w, h) = ((size.x * pixels_per_point) as usize, (size.y * pixels_per_point) as usize);
    let bg = [background.r(), background.g(), background.b()].map(|v| v as f32 / 255.0);
    let mut img = vec![bg; w * h];
    for p in primitives {
        let Primitive::Mesh(mesh) = &p.primitive else { continue };
        let clip = p.clip_rect;
        let cx0 = ((clip.min.x * pixels_per_point).max(0.0)) as usize;
        let cy0 = ((clip.min.y * pixels_per_point).max(0.0)) as usize;
        let cx1 = ((clip.max.x * pixels_per_point).ceil().max(0.0) as usize).min(w);
        let cy1 = ((clip.max.y * pixels_per_point).ceil().max(0.0) as usize).min(h);
        for tri in mesh.indices.chunks_exact(3) {
            let v = [0, 1, 2].map(|i| &mesh.vertices[tri[i] as usize]);
            triangle(
                &mut img,
                w,
                (cx0, cy0, cx1, cy1),
                pixels_per_point,
                v,
                mesh.texture_id,
                textures,
            );
        }
    }
    (w, h, img)
}

fn triangle(
    img: &mut [[f32; 3]],
    w: usize,
    (cx0, cy0, cx1, cy1): (usize, usize, usize, usize),
    ppp: f32,
    v: [&Vertex; 3],
    texture: TextureId,
    textures: &Textures,
) {
    let p = v.map(|v| (v.pos.x * ppp, v.pos.y * ppp));
    let area = (p[1].0 - p[0].0) * (p[2].1 - p[0].1) - (p[2].0 - p[0].0) * (p[1].1 - p[0].1);
    if area.abs() < 1e-12 {
        return;
    }
    let minx = p.iter().map(|q| q.0).fold(f32::MAX, f32::min).floor().max(cx0 as f32) as usize;
    let maxx = (p.iter().map(|q| q.0).fold(f32::MIN, f32::max).ceil() as usize).min(cx1);
    let miny = p.iter().map(|q| q.1).fold(f32::MAX, f32::min).floor().max(cy0 as f32) as usize;
    let maxy = (p.iter().map(|q| q.1).fold(f32::MIN, f32::max).ceil() as usize).min(cy1);
    let colors = v.map(|v| {
        let c = v.color;
        [c.r(), c.g(), c.b(), c.a()].map(|x| x as f32 / 255.0)
    });
    for y in miny..maxy {
        for x in minx..maxx {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let edge =
                |a: (f32, f32), b: (f32, f32)| (b.0 - a.0) * (py - a.1) - (b.1 - a.1) * (px - a.0);
            let l0 = edge(p[1], p[2]) / area;
            let l1 = edge(p[2], p[0]) / area;
            let l2 = 1.0 - l0 - l1;
            if l0 < -1e-4 || l1 < -1e-4 || l2 < -1e-4 {
                continue;
            }
            let l = [l0, l1, l2];
            let mix = |f: &dyn Fn(usize) -> f32| l[0] * f(0) + l[1] * f(1) + l[2] * f(2);
            let (u, t) = (mix(&|i| v[i].uv.x), mix(&|i| v[i].uv.y));
            let tex = textures.sample(texture, u, t);
            let src: [f32; 4] = std::array::from_fn(|c| mix(&|i| colors[i][c]) * tex[c]);
            let dst = &mut img[y * w + x];
            for c in 0..3 {
                dst[c] = src[c] + dst[c] * (1.0 - src[3]);
            }
        }
    }
}

/// Writes an RGB image as a PNG (8 bits a channel, zlib-compressed rows).
pub fn write_png(path: &Path, w: usize, h: usize, img: &[[f32; 3]]) -> std::io::Result<()> {
    let mut raw = Vec::with_capacity(h * (1 + 3 * w));
    for row in img.chunks_exact(w) {
        raw.push(0u8); // filter: none
        for px in row {
            raw.extend(px.map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8));
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&raw)?;
    let idat = z.finish()?;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend((data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        png.extend(kind);
        png.extend(data);
        png.extend(crc.finalize().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend((w as u32).to_be_bytes());
    ihdr.extend((h as u32).to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter method, no interlace
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, png)
}
