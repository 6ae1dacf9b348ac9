//! A streaming WAV writer for renders: 32-bit float stereo, written block by block as
//! the render goes, the sizes in the header patched at the end. The file is byte for byte
//! what `hound` writes for the same samples (its header, with the sizes filled in),
//! without hound's per-sample calls.
//!
//! The render's thread only interleaves each block into a chunk of bytes; a writer thread
//! of its own hands full chunks to the file, so on a machine with two cores the engine
//! renders the next blocks while the last ones are written. Memory stays constant however
//! long the render: [`CHUNKS`] chunks of [`CHUNK`] bytes go round between the two threads.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes of the RIFF header, `fmt ` chunk and `data` chunk header (WAVEFORMATEXTENSIBLE).
const HEADER_LEN: u64 = 68;
/// Bytes per stereo frame of 32-bit floats.
const FRAME_BYTES: u64 = 8;
/// The largest data chunk a RIFF file can describe (its sizes are 32-bit).
const MAX_DATA: u64 = u32::MAX as u64 - HEADER_LEN;
/// Bytes handed to the writer thread at a time (a whole number of frames).
const CHUNK: usize = 1 << 20;
/// Chunks going round: one being filled, the others queued or being written.
const CHUNKS: usize = 3;

/// A buffer of [`CHUNK`] bytes, the first `len` of them filled. Made once and reused,
/// never cleared: a fresh `Vec` per chunk (or zeroing it) cost a tenth of a fast render.
struct Chunk {
    bytes: Box<[u8]>,
    len: usize,
}

impl Chunk {
    fn new() -> Self {
        Chunk { bytes: vec![0u8; CHUNK].into_boxed_slice(), len: 0 }
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
    /// The chunk being filled with interleaved little-endian bytes.
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
                for chunk in queued {
                    file.write_all(&chunk.bytes[..chunk.len])?;
                    // The render may have finished with its chunks: nothing to give back.
                    let _ = written.send(chunk);
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

    /// Appends one block: `left` and `right` have the same length.
    pub fn write(&mut self, left: &[f32], right: &[f32]) -> Result<(), WavError> {
        debug_assert_eq!(left.len(), right.len());
        let n = left.len().min(right.len());
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
        let mut done = 0;
        while done < n {
            let room = (CHUNK - self.chunk.len) / FRAME_BYTES as usize;
            let take = room.min(n - done);
            let at = self.chunk.len;
            let bytes = &mut self.chunk.bytes[at..at + take * FRAME_BYTES as usize];
            interleave(bytes, &left[done..done + take], &right[done..done + take]);
            self.chunk.len += take * FRAME_BYTES as usize;
            done += take;
            if self.chunk.len + FRAME_BYTES as usize > CHUNK {
                self.send_chunk()?;
            }
        }
        self.frames += n as u64;
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
                    c.len = 0;
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
        if self.chunk.len > 0 {
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
        let frames = (CHUNK / FRAME_BYTES as usize) * (CHUNKS + 1) + 12_345;
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
        std::fs::write(&path, vec![7u8; 3 * CHUNK]).expect("an earlier take");
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
            std::fs::write(&target, vec![7u8; 3 * CHUNK]).expect("target");
            let link = dir.path().join("link.wav");
            std::os::unix::fs::symlink(&target, &link).expect("symlink");
            WavOut::create(&link, 48_000).expect("create").finish().expect("finish");
            assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
            assert_eq!(hound::WavReader::open(&target).expect("target").duration(), 0);
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
