//! A streaming WAV writer for renders: 32-bit float stereo, written block by block as
//! the render goes, the sizes in the header patched at the end. The file is byte for byte
//! what `hound` writes for the same samples (its header, with the sizes filled in),
//! without hound's per-sample calls.
//!
//! The engine renders each block straight into a chunk of this writer's memory (see
//! [`BlockSink`]), left and right as they come out of it; a writer thread of its own
//! interleaves full chunks into the file's byte order and writes them. So on a machine
//! with two cores the render's thread only renders, while the last blocks are
//! interleaved and written beside it. Memory stays constant however long the render:
//! [`CHUNKS`] chunks of [`CHUNK_FLOATS`] samples go round between the two threads.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::cli::render::BlockSink;

/// Bytes of the RIFF header, `fmt ` chunk and `data` chunk header (WAVEFORMATEXTENSIBLE).
const HEADER_LEN: u64 = 68;
/// Bytes per stereo frame of 32-bit floats.
const FRAME_BYTES: u64 = 8;
/// The largest data chunk a RIFF file can describe (its sizes are 32-bit).
const MAX_DATA: u64 = u32::MAX as u64 - HEADER_LEN;
/// Samples (both channels) handed to the writer thread at a time: 1 MB.
const CHUNK_FLOATS: usize = 1 << 18;
/// The longest block a chunk takes, in frames.
pub const MAX_BLOCK: usize = CHUNK_FLOATS / 2;
/// Chunks going round: one being filled, the others queued or being written.
const CHUNKS: usize = 3;

/// Blocks of samples in the engine's layout: each block's left frames, then its right
/// frames, the blocks one after the other. Made once and reused, never cleared: a fresh
/// buffer per chunk (or zeroing it) cost a tenth of a fast render.
struct Chunk {
    samples: Box<[f32]>,
    /// Samples used.
    len: usize,
    /// The frames of each block, in order.
    blocks: Vec<usize>,
}

impl Chunk {
    fn new() -> Self {
        Chunk { samples: vec![0.0; CHUNK_FLOATS].into_boxed_slice(), len: 0, blocks: Vec::new() }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.blocks.clear();
    }

    /// Interleaves the chunk's blocks into `out` as little-endian f32 frames; returns the
    /// bytes written.
    fn interleave_into(&self, out: &mut [u8]) -> usize {
        let (mut at, mut written) = (0, 0);
        for &n in &self.blocks {
            let left = &self.samples[at..at + n];
            let right = &self.samples[at + n..at + 2 * n];
            let bytes = n * FRAME_BYTES as usize;
            interleave(&mut out[written..written + bytes], left, right);
            at += 2 * n;
            written += bytes;
        }
        written
    }
}

/// An error writing the WAV file, naming it.
#[derive(Debug)]
pub struct WavError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for WavError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for WavError {}

/// See the module documentation.
pub struct WavOut {
    path: PathBuf,
    /// The chunk the engine renders into.
    chunk: Chunk,
    /// Full chunks to the writer thread.
    full: Option<SyncSender<Chunk>>,
    /// Written chunks back from it, to be filled again.
    empty: Receiver<Chunk>,
    /// Chunks made so far (at most [`CHUNKS`]).
    made: usize,
    /// The writer thread: gives the file back when its queue closes, or the first error.
    writer: Option<JoinHandle<std::io::Result<File>>>,
    /// Whether the file is a regular file (its length is set at the end; not for a
    /// link to a device such as /dev/null).
    regular: bool,
    frames: u64,
    sample_rate: u32,
    /// The header of an empty file (see [`template`]).
    template: Vec<u8>,
}

impl WavOut {
    /// Creates (or truncates) `path` and writes the header of an empty file.
    pub fn create(path: &Path, sample_rate: u32) -> Result<Self, WavError> {
        let err = |e: std::io::Error| WavError { path: path.to_path_buf(), message: e.to_string() };
        let template = template(sample_rate)
            .map_err(|message| WavError { path: path.to_path_buf(), message })?;
        // An earlier take is written over, not truncated first: truncating a long file in
        // place frees all its blocks and cached pages before the first new byte (for a
        // 115 MB take on ext4, longer than rendering it again), while writing over them
        // reuses both. The length is set when the render ends (see `finish`).
        let mut file =
            OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(err)?;
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        let (full, queued) = mpsc::sync_channel::<Chunk>(CHUNKS);
        let (written, empty) = mpsc::sync_channel::<Chunk>(CHUNKS);
        let mut out = Self {
            path: path.to_path_buf(),
            chunk: Chunk::new(),
            full: Some(full),
            empty,
            made: 1,
            writer: None,
            regular,
            frames: 0,
            sample_rate,
            template,
        };
        file.write_all(&out.header()).map_err(err)?;
        let writer = std::thread::Builder::new()
            .name("sema-live wav writer".into())
            .spawn(move || {
                // The file's bytes of one chunk, made once.
                let mut bytes = vec![0u8; CHUNK_FLOATS * 4];
                for chunk in queued {
                    let n = chunk.interleave_into(&mut bytes);
                    // The render may have finished with its chunks: nothing to give back.
                    let _ = written.send(chunk);
                    file.write_all(&bytes[..n])?;
                }
                Ok(file)
            })
            .map_err(err)?;
        out.writer = Some(writer);
        Ok(out)
    }

    /// Frames written so far.
    #[cfg(test)]
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends `left` and `right` (the same length), copied into the chunks a block of at
    /// most [`MAX_BLOCK`] frames at a time. (A render hands its blocks over as a
    /// [`BlockSink`] instead, which the engine renders into without a copy.)
    #[cfg(test)]
    pub fn write(&mut self, left: &[f32], right: &[f32]) -> Result<(), WavError> {
        debug_assert_eq!(left.len(), right.len());
        let n = left.len().min(right.len());
        for at in (0..n).step_by(MAX_BLOCK) {
            let m = MAX_BLOCK.min(n - at);
            let [l, r] = self.block(m)?;
            l.copy_from_slice(&left[at..at + m]);
            r.copy_from_slice(&right[at..at + m]);
            self.done(m)?;
        }
        Ok(())
    }

    /// Hands the current chunk to the writer thread and takes an empty one.
    fn send_chunk(&mut self) -> Result<(), WavError> {
        let next = if self.made < CHUNKS {
            self.made += 1;
            Chunk::new()
        } else {
            // Waits while the writer is [`CHUNKS`] - 1 chunks behind; a closed channel
            // means the writer stopped on an error.
            match self.empty.recv() {
                Ok(mut c) => {
                    c.clear();
                    c
                }
                Err(_) => return Err(self.writer_error()),
            }
        };
        let chunk = std::mem::replace(&mut self.chunk, next);
        let sent = self.full.as_ref().map(|f| f.send(chunk).is_ok()).unwrap_or(false);
        if sent {
            Ok(())
        } else {
            Err(self.writer_error())
        }
    }

    /// Waits for the writer thread to end; its error (or the file, which is then closed).
    fn join_writer(&mut self) -> Result<File, WavError> {
        self.full = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Ok(file))) => Ok(file),
            Some(Ok(Err(e))) => Err(self.error(e.to_string())),
            Some(Err(_)) => Err(self.error("the WAV writer thread failed".into())),
            None => Err(self.error("the WAV writer stopped earlier".into())),
        }
    }

    /// Why the writer thread stopped.
    fn writer_error(&mut self) -> WavError {
        match self.join_writer() {
            Ok(_) => self.error("the WAV writer stopped".into()),
            Err(e) => e,
        }
    }

    /// Writes the last chunk, then the final sizes into the header, and closes the file.
    pub fn finish(mut self) -> Result<(), WavError> {
        if !self.chunk.blocks.is_empty() {
            self.send_chunk()?;
        }
        let mut file = self.join_writer()?;
        let header = self.header();
        let result = self
            .cut(&file)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&header));
        result.map_err(|e| self.error(e.to_string()))
    }

    /// Cuts the file after the frames written (an earlier, longer take's tail).
    fn cut(&self, file: &File) -> std::io::Result<()> {
        if self.regular {
            file.set_len(HEADER_LEN + self.frames * FRAME_BYTES)?;
        }
        Ok(())
    }

    fn error(&self, message: String) -> WavError {
        WavError { path: self.path.clone(), message }
    }

    /// The header for the frames written so far: hound's header of an empty file of
    /// this format, with the RIFF and data sizes filled in.
    fn header(&self) -> Vec<u8> {
        let mut h = self.template.clone();
        let data = (self.frames * FRAME_BYTES) as u32;
        let len = h.len();
        h[4..8].copy_from_slice(&(data + len as u32 - 8).to_le_bytes());
        h[len - 4..].copy_from_slice(&data.to_le_bytes());
        h
    }
}

impl BlockSink for WavOut {
    type Error = WavError;

    /// Room for the next block's `n` frames in the current chunk (a full chunk goes to the
    /// writer thread first).
    fn block(&mut self, n: usize) -> Result<[&mut [f32]; 2], WavError> {
        if n > MAX_BLOCK {
            return Err(self.error(format!("a block of {n} frames (at most {MAX_BLOCK})")));
        }
        if (self.frames + n as u64) * FRAME_BYTES > MAX_DATA {
            // The sizes in the header are 32-bit.
            return Err(self.error(format!(
                "a WAV file holds at most {} frames of 32-bit stereo ({:.1} hours at {} Hz); \
                 render fewer bars",
                MAX_DATA / FRAME_BYTES,
                (MAX_DATA / FRAME_BYTES) as f64 / f64::from(self.sample_rate) / 3600.0,
                self.sample_rate
            )));
        }
        if self.chunk.len + 2 * n > CHUNK_FLOATS {
            self.send_chunk()?;
        }
        let at = self.chunk.len;
        let (left, right) = self.chunk.samples[at..at + 2 * n].split_at_mut(n);
        Ok([left, right])
    }

    /// The block [`BlockSink::block`] gave room for is rendered.
    fn done(&mut self, n: usize) -> Result<(), WavError> {
        self.chunk.len += 2 * n;
        self.chunk.blocks.push(n);
        self.frames += n as u64;
        Ok(())
    }
}

impl Drop for WavOut {
    /// An unfinished file (the render failed) still ends its writer thread.
    fn drop(&mut self) {
        self.full = None;
        if let Some(w) = self.writer.take() {
            // A failed render still ends where its last block did (no earlier take's tail).
            if let Ok(Ok(file)) = w.join() {
                let _ = self.cut(&file);
            }
        }
    }
}

/// Writes the frames of `left` and `right` into `out` as interleaved little-endian f32.
fn interleave(out: &mut [u8], left: &[f32], right: &[f32]) {
    for ((frame, l), r) in out.chunks_exact_mut(FRAME_BYTES as usize).zip(left).zip(right) {
        frame[..4].copy_from_slice(&l.to_le_bytes());
        frame[4..].copy_from_slice(&r.to_le_bytes());
    }
}

/// The header hound writes for an empty 32-bit float stereo file (it ends with the data
/// chunk's size).
fn template(sample_rate: u32) -> Result<Vec<u8>, String> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    hound::WavWriter::new(&mut bytes, spec)
        .and_then(|w| w.finalize())
        .map_err(|e| e.to_string())?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hound_reads_what_is_streamed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.wav");
        let mut w = WavOut::create(&path, 44_100).expect("create");
        let left: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let right: Vec<f32> = left.iter().map(|x| -x).collect();
        w.write(&left[..300], &right[..300]).expect("block 1");
        w.write(&left[300..], &right[300..]).expect("block 2");
        assert_eq!(w.frames(), 1000);
        w.finish().expect("finish");
        let mut r = hound::WavReader::open(&path).expect("hound opens it");
        let spec = r.spec();
        assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 44_100, 32));
        assert_eq!(spec.sample_format, hound::SampleFormat::Float);
        assert_eq!(r.duration(), 1000);
        let s: Vec<f32> = r.samples::<f32>().map(|s| s.expect("sample")).collect();
        for i in 0..1000 {
            assert_eq!((s[2 * i], s[2 * i + 1]), (left[i], right[i]), "frame {i}");
        }
        // Byte for byte what hound writes for the same samples.
        let mut bytes = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut h = hound::WavWriter::new(&mut bytes, spec).expect("hound");
        for (l, r) in left.iter().zip(&right) {
            h.write_sample(*l).and_then(|_| h.write_sample(*r)).expect("sample");
        }
        h.finalize().expect("finalize");
        assert_eq!(std::fs::read(&path).expect("read"), bytes.into_inner());
    }

    #[test]
    fn a_render_longer_than_the_chunks_round_trips_in_order() {
        // 3.5 chunks' worth of frames in odd-sized blocks: every chunk is reused.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("long.wav");
        let frames = MAX_BLOCK * (CHUNKS + 1) + 12_345;
        let left: Vec<f32> = (0..frames).map(|i| i as f32).collect();
        let right: Vec<f32> = (0..frames).map(|i| -(i as f32) - 0.5).collect();
        let mut w = WavOut::create(&path, 48_000).expect("create");
        let mut at = 0;
        for block in [1usize, 511, 4096, 777].iter().cycle() {
            let n = (*block).min(frames - at);
            w.write(&left[at..at + n], &right[at..at + n]).expect("block");
            at += n;
            if at == frames {
                break;
            }
        }
        w.finish().expect("finish");
        let mut r = hound::WavReader::open(&path).expect("hound opens it");
        assert_eq!(r.duration() as usize, frames);
        for (i, s) in r.samples::<f32>().enumerate() {
            let want = if i % 2 == 0 { left[i / 2] } else { right[i / 2] };
            assert_eq!(s.expect("sample"), want, "sample {i}");
        }
    }

    #[test]
    fn a_long_earlier_take_is_replaced_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("take.wav");
        std::fs::write(&path, vec![7u8; 12 * CHUNK_FLOATS]).expect("an earlier take");
        let mut w = WavOut::create(&path, 48_000).expect("create");
        w.write(&[0.5; 100], &[-0.5; 100]).expect("block");
        w.finish().expect("finish");
        let r = hound::WavReader::open(&path).expect("hound opens it");
        assert_eq!(r.duration(), 100);
        // Only the new file is left.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["take.wav"]);
        // A symbolic link is written through (not replaced) and its target cut.
        #[cfg(unix)]
        {
            let target = dir.path().join("target.wav");
            std::fs::write(&target, vec![7u8; 12 * CHUNK_FLOATS]).expect("target");
            let link = dir.path().join("link.wav");
            std::os::unix::fs::symlink(&target, &link).expect("symlink");
            WavOut::create(&link, 48_000).expect("create").finish().expect("finish");
            assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
            assert_eq!(hound::WavReader::open(&target).expect("target").duration(), 0);
        }
    }

    #[test]
    fn blocks_rendered_into_the_chunks_are_written_in_order() {
        // Blocks filled in place as the engine fills them, crossing chunk boundaries.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.wav");
        let mut w = WavOut::create(&path, 48_000).expect("create");
        let mut next = 0u32;
        for _ in 0..(3 * CHUNKS * MAX_BLOCK / 1000 + 7) {
            let [l, r] = w.block(1000).expect("room");
            for (a, b) in l.iter_mut().zip(r.iter_mut()) {
                *a = next as f32;
                *b = -(next as f32);
                next += 1;
            }
            w.done(1000).expect("done");
        }
        let err = w.block(MAX_BLOCK + 1).expect_err("too long a block");
        assert!(err.to_string().contains("blocks.wav"), "{err}");
        w.finish().expect("finish");
        let mut r = hound::WavReader::open(&path).expect("hound opens it");
        assert_eq!(r.duration(), next);
        for (i, s) in r.samples::<f32>().enumerate() {
            let frame = (i / 2) as f32;
            assert_eq!(s.expect("sample"), if i % 2 == 0 { frame } else { -frame }, "{i}");
        }
    }

    #[test]
    fn an_empty_render_is_a_valid_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.wav");
        WavOut::create(&path, 48_000).expect("create").finish().expect("finish");
        let r = hound::WavReader::open(&path).expect("hound opens it");
        assert_eq!(r.duration(), 0);
    }

    #[test]
    fn an_unwritable_path_is_a_located_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no/such/dir/a.wav");
        let e = WavOut::create(&path, 48_000).err().expect("cannot create");
        assert!(e.to_string().contains("no/such/dir/a.wav"), "{e}");
    }
}
