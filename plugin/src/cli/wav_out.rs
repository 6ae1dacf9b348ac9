//! A streaming WAV writer for renders: 32-bit float stereo, written block by block
//! through a buffered file as the render goes, the sizes in the header patched at the end.
//! The file is byte for byte what `hound` writes for the same samples (its header, with
//! the sizes filled in), without hound's per-sample calls.
//! Memory stays constant however long the render: one block of bytes and the file buffer.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of the RIFF header, `fmt ` chunk and `data` chunk header (WAVEFORMATEXTENSIBLE).
const HEADER_LEN: u64 = 68;
/// Bytes per stereo frame of 32-bit floats.
const FRAME_BYTES: u64 = 8;
/// The largest data chunk a RIFF file can describe (its sizes are 32-bit).
const MAX_DATA: u64 = u32::MAX as u64 - HEADER_LEN;
/// Size of the file buffer.
const BUFFER: usize = 1 << 20;

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
    file: BufWriter<File>,
    /// Interleaved little-endian bytes of the block being written (reused).
    bytes: Vec<u8>,
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
        let file = File::create(path).map_err(err)?;
        let mut out = Self {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(BUFFER, file),
            bytes: Vec::with_capacity(4096 * FRAME_BYTES as usize),
            frames: 0,
            sample_rate,
            template,
        };
        let header = out.header();
        out.file.write_all(&header).map_err(err)?;
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
        let n = left.len().min(right.len()) as u64;
        if (self.frames + n) * FRAME_BYTES > MAX_DATA {
            // The sizes in the header are 32-bit.
            return Err(self.error(format!(
                "a WAV file holds at most {} frames of 32-bit stereo ({:.1} hours at {} Hz); \
                 render fewer bars",
                MAX_DATA / FRAME_BYTES,
                (MAX_DATA / FRAME_BYTES) as f64 / f64::from(self.sample_rate) / 3600.0,
                self.sample_rate
            )));
        }
        self.bytes.clear();
        for (l, r) in left.iter().zip(right) {
            self.bytes.extend_from_slice(&l.to_le_bytes());
            self.bytes.extend_from_slice(&r.to_le_bytes());
        }
        self.file.write_all(&self.bytes).map_err(|e| self.error(e.to_string()))?;
        self.frames += n;
        Ok(())
    }

    /// Writes the final sizes into the header and flushes the file.
    pub fn finish(mut self) -> Result<(), WavError> {
        let header = self.header();
        let result = self
            .file
            .flush()
            .and_then(|_| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(&header))
            .and_then(|_| self.file.flush());
        result.map_err(|e| self.error(e.to_string()))
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
