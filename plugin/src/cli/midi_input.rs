//! A Standard MIDI File played as the host's MIDI input of a render (`sema-live render
//! SESSION --midi-in FILE.mid`).
//!
//! Timing comes from the file's ticks, read at the render's tempo: a note at tick 960 of a
//! file with 480 ticks per quarter note starts on beat 2 whatever tempo events the file
//! holds (the render's `--bpm` decides how fast it plays, as a DAW plays a MIDI clip at the
//! project's tempo). Timecode files (ticks are fractions of seconds) are read in seconds
//! and converted to beats at the render's tempo.
//!
//! Bad files: what is not a MIDI file is an error; a truncated or damaged track plays
//! what could be read, with a warning; running status is MIDI's own and is read as such;
//! data bytes with their top bit set (a "note 200") are read as their low 7 bits, as
//! midly does, so every number is 0..=127; a note-off without its note-on is dropped; a
//! note-on of a note that is already held ends it first; notes still held at the end of
//! the file end there. Each of these is counted in [`MidiInputFile::warnings`].

use midly::{MetaMessage, MidiMessage, Timing, TrackEventKind};

use crate::audio::midi_in::{MidiIn, MidiInKind, MidiSource, MAX_EVENTS_PER_BLOCK};

/// One input event at a musical position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputEvent {
    /// Position in quarter-note beats from the start of the file.
    pub beats: f64,
    pub kind: MidiInKind,
    /// MIDI channel 0..=15.
    pub channel: u8,
    /// Note or controller number 0..=127 (0 where unused).
    pub key: u8,
    /// See [`MidiInKind`] for the range of each kind.
    pub value: f32,
}

/// The events of a MIDI file, in order, and what was wrong with it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MidiInputFile {
    /// Sorted by `beats` (events at the same position keep the file's order).
    pub events: Vec<InputEvent>,
    /// Problems found and how they were handled, for the console.
    pub warnings: Vec<String>,
    /// Position of the file's end (the latest end-of-track), in beats.
    pub end_beats: f64,
}

/// Reads a MIDI file's note on/off, CC, pitch bend and pressure events; `bpm` is the
/// render's tempo (used only for timecode files). See the module documentation.
pub fn read_input(bytes: &[u8], bpm: f64) -> Result<MidiInputFile, String> {
    let smf = crate::cli::midi_file::parse(bytes)?;
    let mut warnings = chunk_warnings(bytes);
    // Ticks → beats.
    let beats_per_tick = match smf.header.timing {
        Timing::Metrical(ppq) if ppq.as_int() == 0 => {
            return Err("the file's header says 0 ticks per quarter note".into())
        }
        Timing::Metrical(ppq) => 1.0 / f64::from(ppq.as_int()),
        Timing::Timecode(fps, sub) => {
            let ticks_per_second = f64::from(fps.as_f32()) * f64::from(sub.max(1));
            if !(bpm.is_finite() && bpm > 0.0) {
                return Err(format!("invalid tempo {bpm}"));
            }
            bpm / 60.0 / ticks_per_second
        }
    };
    if smf.tracks.is_empty() {
        return Err("the MIDI file has no tracks".into());
    }

    // (tick, order, kind, channel, key, value): the order keeps the file's sequence at
    // equal ticks (track by track, as written).
    let mut raw: Vec<(u64, usize, MidiInKind, u8, u8, f32)> = Vec::new();
    let mut end_tick = 0u64;
    let mut ignored = 0usize;
    for (t, track) in smf.tracks.iter().enumerate() {
        let mut tick = 0u64;
        let mut ended = false;
        for ev in track {
            tick += u64::from(ev.delta.as_int());
            let TrackEventKind::Midi { channel, message } = ev.kind else {
                ended |= matches!(ev.kind, TrackEventKind::Meta(MetaMessage::EndOfTrack));
                continue;
            };
            let ch = channel.as_int();
            let v7 = |v: midly::num::u7| f32::from(v.as_int()) / 127.0;
            let (kind, key, value) = match message {
                MidiMessage::NoteOn { key, vel } if vel.as_int() == 0 => {
                    (MidiInKind::NoteOff, key.as_int(), 0.0)
                }
                MidiMessage::NoteOn { key, vel } => (MidiInKind::NoteOn, key.as_int(), v7(vel)),
                MidiMessage::NoteOff { key, vel } => (MidiInKind::NoteOff, key.as_int(), v7(vel)),
                MidiMessage::Controller { controller, value } => {
                    (MidiInKind::Cc, controller.as_int(), v7(value))
                }
                MidiMessage::PitchBend { bend } => {
                    let centred = f32::from(bend.0.as_int()) - 8192.0;
                    let value = if centred >= 0.0 { centred / 8191.0 } else { centred / 8192.0 };
                    (MidiInKind::PitchBend, 0, value.clamp(-1.0, 1.0))
                }
                MidiMessage::ChannelAftertouch { vel } => (MidiInKind::ChannelPressure, 0, v7(vel)),
                MidiMessage::Aftertouch { key, vel } => {
                    (MidiInKind::PolyPressure, key.as_int(), v7(vel))
                }
                MidiMessage::ProgramChange { .. } => {
                    ignored += 1;
                    continue;
                }
            };
            raw.push((tick, raw.len(), kind, ch, key, value));
        }
        end_tick = end_tick.max(tick);
        if !ended {
            warnings.push(format!(
                "track {} ends without an end-of-track event (truncated or damaged): read up to \
                 beat {:.3}",
                t + 1,
                tick as f64 * beats_per_tick
            ));
        }
    }
    if ignored > 0 {
        warnings.push(format!("{ignored} program change(s) ignored"));
    }
    raw.sort_by_key(|e| (e.0, e.1));

    // Note pairing.
    let mut held = [[false; 128]; 16];
    let mut events = Vec::with_capacity(raw.len());
    let (mut orphan_offs, mut retriggers) = (0usize, 0usize);
    for (tick, _, kind, channel, key, value) in raw {
        let beats = tick as f64 * beats_per_tick;
        let slot = &mut held[usize::from(channel & 15)][usize::from(key & 127)];
        match kind {
            MidiInKind::NoteOn => {
                if *slot {
                    retriggers += 1;
                    events.push(InputEvent {
                        beats,
                        kind: MidiInKind::NoteOff,
                        channel,
                        key,
                        value: 0.0,
                    });
                }
                *slot = true;
            }
            MidiInKind::NoteOff => {
                if !*slot {
                    orphan_offs += 1;
                    continue;
                }
                *slot = false;
            }
            _ => {}
        }
        events.push(InputEvent { beats, kind, channel, key, value });
    }
    let end_beats = end_tick as f64 * beats_per_tick;
    let mut unended = 0usize;
    for (channel, keys) in held.iter().enumerate() {
        for (key, &on) in keys.iter().enumerate() {
            if on {
                unended += 1;
                events.push(InputEvent {
                    beats: end_beats,
                    kind: MidiInKind::NoteOff,
                    channel: channel as u8,
                    key: key as u8,
                    value: 0.0,
                });
            }
        }
    }
    if orphan_offs > 0 {
        warnings.push(format!("{orphan_offs} note-off(s) without a note-on ignored"));
    }
    if retriggers > 0 {
        warnings.push(format!(
            "{retriggers} note-on(s) of a note already held: the held note ends first"
        ));
    }
    if unended > 0 {
        warnings.push(format!(
            "{unended} note(s) without a note-off end at the end of the file (beat {end_beats:.3})"
        ));
    }
    Ok(MidiInputFile { events, warnings, end_beats })
}

/// Chunks that extend past the end of the file (midly reads what is there silently).
fn chunk_warnings(bytes: &[u8]) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut at = 0usize;
    let mut track = 0usize;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + 8) else {
            warnings.push(format!("{} stray byte(s) at the end of the file", bytes.len() - at));
            break;
        };
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if &head[..4] == b"MTrk" {
            track += 1;
        }
        let available = bytes.len() - at - 8;
        if len > available {
            let what = if &head[..4] == b"MTrk" {
                format!("track {track}")
            } else {
                format!("chunk {:?}", String::from_utf8_lossy(&head[..4]))
            };
            warnings.push(format!(
                "the file is truncated: {what} declares {len} bytes, only {available} are there"
            ));
            break;
        }
        at += 8 + len;
    }
    warnings
}

/// The events of a [`MidiInputFile`] at sample positions, handed out block by block.
pub struct MidiFeed {
    /// (sample position from the render's start, event with `timing` 0).
    events: Vec<(u64, MidiIn)>,
    next: usize,
    /// Events dropped because a block held more than [`MAX_EVENTS_PER_BLOCK`].
    pub dropped: usize,
}

impl MidiFeed {
    /// Places `file`'s events at `bpm` and `sample_rate` (beats × samples per beat,
    /// rounded to the nearest sample).
    pub fn new(file: &MidiInputFile, bpm: f64, sample_rate: f64) -> Self {
        let samples_per_beat = sample_rate * 60.0 / bpm;
        let events = file
            .events
            .iter()
            .filter(|e| e.beats.is_finite() && e.beats >= 0.0)
            .map(|e| {
                let at = (e.beats * samples_per_beat).round() as u64;
                let event = MidiIn {
                    timing: 0,
                    kind: e.kind,
                    channel: e.channel & 15,
                    key: e.key & 127,
                    value: e.value,
                    source: MidiSource::Host,
                };
                (at, event)
            })
            .collect();
        Self { events, next: 0, dropped: 0 }
    }

    /// An empty feed (no `--midi-in`).
    pub fn empty() -> Self {
        Self { events: Vec::new(), next: 0, dropped: 0 }
    }

    /// Replaces `out` with the events of the block of `len` samples starting at sample
    /// `start`, each with its offset in the block as `timing`. Events before `start` that
    /// were not handed out yet (blocks are asked for in order, so none) are skipped.
    pub fn block(&mut self, start: u64, len: usize, out: &mut Vec<MidiIn>) {
        out.clear();
        let end = start + len as u64;
        while let Some(&(at, event)) = self.events.get(self.next) {
            if at >= end {
                break;
            }
            self.next += 1;
            if at < start {
                continue;
            }
            if out.len() >= MAX_EVENTS_PER_BLOCK {
                self.dropped += 1;
                continue;
            }
            out.push(MidiIn { timing: (at - start) as u32, ..event });
        }
    }

    /// Events not handed out yet (after the end of the render, once it is done).
    pub fn remaining(&self) -> usize {
        self.events.len() - self.next
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use midly::num::{u15, u28, u4, u7};
    use midly::{Format, Header, Smf, TrackEvent};

    fn midi(delta: u32, channel: u8, message: MidiMessage) -> TrackEvent<'static> {
        TrackEvent {
            delta: u28::new(delta),
            kind: TrackEventKind::Midi { channel: u4::new(channel), message },
        }
    }

    fn end(delta: u32) -> TrackEvent<'static> {
        TrackEvent { delta: u28::new(delta), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) }
    }

    fn file(ppq: u16, tracks: Vec<Vec<TrackEvent<'static>>>) -> Vec<u8> {
        let format = if tracks.len() == 1 { Format::SingleTrack } else { Format::Parallel };
        let smf = Smf { header: Header::new(format, Timing::Metrical(u15::new(ppq))), tracks };
        let mut out = Vec::new();
        smf.write_std(&mut out).expect("write");
        out
    }

    fn on(key: u8, vel: u8) -> MidiMessage {
        MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(vel) }
    }

    fn off(key: u8) -> MidiMessage {
        MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(64) }
    }

    #[test]
    fn ticks_become_beats_and_every_kind_is_read() {
        let bytes = file(
            96,
            vec![vec![
                midi(0, 0, on(60, 127)),
                midi(
                    48,
                    0,
                    MidiMessage::Controller { controller: u7::new(74), value: u7::new(64) },
                ),
                midi(48, 0, off(60)),
                midi(
                    0,
                    2,
                    MidiMessage::PitchBend { bend: midly::PitchBend(midly::num::u14::new(0)) },
                ),
                midi(96, 2, MidiMessage::ChannelAftertouch { vel: u7::new(127) }),
                midi(0, 2, on(64, 0)),
                end(0),
            ]],
        );
        let f = read_input(&bytes, 120.0).expect("read");
        let got: Vec<(f64, MidiInKind, u8, u8, f32)> =
            f.events.iter().map(|e| (e.beats, e.kind, e.channel, e.key, e.value)).collect();
        assert_eq!(
            got,
            vec![
                (0.0, MidiInKind::NoteOn, 0, 60, 1.0),
                (0.5, MidiInKind::Cc, 0, 74, 64.0 / 127.0),
                (1.0, MidiInKind::NoteOff, 0, 60, 64.0 / 127.0),
                (1.0, MidiInKind::PitchBend, 2, 0, -1.0),
                (2.0, MidiInKind::ChannelPressure, 2, 0, 1.0),
            ],
            "a note-on with velocity 0 of a note not held is a stray note-off: dropped"
        );
        assert_eq!(f.end_beats, 2.0);
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert!(f.warnings[0].contains("1 note-off(s) without a note-on"), "{:?}", f.warnings);
    }

    #[test]
    fn tracks_are_merged_in_time_order_and_tempo_events_do_not_move_notes() {
        let tempo = TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(midly::num::u24::new(250_000))),
        };
        let bytes = file(
            480,
            vec![
                vec![tempo, end(0)],
                vec![midi(960, 0, on(62, 100)), midi(480, 0, off(62)), end(0)],
                vec![midi(480, 1, on(50, 100)), midi(960, 1, off(50)), end(0)],
            ],
        );
        let f = read_input(&bytes, 90.0).expect("read");
        let got: Vec<(f64, u8)> = f.events.iter().map(|e| (e.beats, e.key)).collect();
        assert_eq!(got, vec![(1.0, 50), (2.0, 62), (3.0, 62), (3.0, 50)]);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    }

    #[test]
    fn unended_and_retriggered_notes_are_closed() {
        let bytes = file(
            4,
            vec![vec![
                midi(0, 0, on(60, 100)),
                midi(4, 0, on(60, 90)),
                midi(0, 0, on(67, 90)),
                midi(4, 0, off(60)),
                end(8),
            ]],
        );
        let f = read_input(&bytes, 120.0).expect("read");
        let got: Vec<(f64, MidiInKind, u8)> =
            f.events.iter().map(|e| (e.beats, e.kind, e.key)).collect();
        assert_eq!(
            got,
            vec![
                (0.0, MidiInKind::NoteOn, 60),
                (1.0, MidiInKind::NoteOff, 60),
                (1.0, MidiInKind::NoteOn, 60),
                (1.0, MidiInKind::NoteOn, 67),
                (2.0, MidiInKind::NoteOff, 60),
                (4.0, MidiInKind::NoteOff, 67),
            ]
        );
        assert_eq!(f.warnings.len(), 2, "{:?}", f.warnings);
    }

    /// A file written byte by byte: header, one track of `body`.
    fn raw_file(ppq: u16, body: &[u8], declared_len: Option<u32>) -> Vec<u8> {
        let mut v = b"MThd\0\0\0\x06\0\0\0\x01".to_vec();
        v.extend_from_slice(&ppq.to_be_bytes());
        v.extend_from_slice(b"MTrk");
        v.extend_from_slice(&declared_len.unwrap_or(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn running_status_is_read() {
        // Note on 60, then (running status) note on 64 and two velocity-0 offs.
        let body = [
            0x00, 0x90, 60, 100, //
            0x04, 64, 100, // running status
            0x04, 60, 0, //
            0x00, 64, 0, //
            0x00, 0xFF, 0x2F, 0x00,
        ];
        let f = read_input(&raw_file(4, &body, None), 120.0).expect("read");
        let got: Vec<(f64, MidiInKind, u8)> =
            f.events.iter().map(|e| (e.beats, e.kind, e.key)).collect();
        assert_eq!(
            got,
            vec![
                (0.0, MidiInKind::NoteOn, 60),
                (1.0, MidiInKind::NoteOn, 64),
                (2.0, MidiInKind::NoteOff, 60),
                (2.0, MidiInKind::NoteOff, 64),
            ]
        );
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    }

    #[test]
    fn bad_files_give_clear_errors_or_warnings() {
        let err = read_input(b"RIFF\0\0\0\0WAVEfmt ", 120.0).unwrap_err();
        assert!(err.starts_with("not a MIDI file"), "{err}");
        assert!(read_input(b"", 120.0).unwrap_err().starts_with("not a MIDI file"));
        let err = read_input(&raw_file(0, &[0x00, 0xFF, 0x2F, 0x00], None), 120.0).unwrap_err();
        assert!(err.contains("0 ticks per quarter note"), "{err}");

        // Truncated in the middle of the track: what was read plays, with warnings.
        let body = [0x00, 0x90, 60, 100, 0x04, 0x80, 60, 0, 0x00, 0x90, 62];
        let f = read_input(&raw_file(4, &body, Some(40)), 120.0).expect("read");
        let keys: Vec<(MidiInKind, u8)> = f.events.iter().map(|e| (e.kind, e.key)).collect();
        assert_eq!(keys, vec![(MidiInKind::NoteOn, 60), (MidiInKind::NoteOff, 60)]);
        assert!(
            f.warnings.iter().any(|w| w.contains("truncated: track 1 declares 40 bytes")),
            "{:?}",
            f.warnings
        );
        assert!(
            f.warnings.iter().any(|w| w.contains("without an end-of-track")),
            "{:?}",
            f.warnings
        );

        // A "note 200": data bytes are 7 bits, whatever the file says.
        let body = [0x00, 0x90, 200, 100, 0x04, 0x80, 200, 0, 0x00, 0xFF, 0x2F, 0x00];
        if let Ok(f) = read_input(&raw_file(4, &body, None), 120.0) {
            assert!(f.events.iter().all(|e| e.key <= 127 && (0.0..=1.0).contains(&e.value)));
        }
    }

    #[test]
    fn events_land_in_the_right_block_at_the_right_offset() {
        // 120 bpm at 48 kHz: 24 000 samples per beat.
        let events = [
            (0.0, MidiInKind::NoteOn, 60),
            (1.0, MidiInKind::NoteOff, 60),
            (1.5, MidiInKind::Cc, 1),
            (4.0, MidiInKind::NoteOn, 72),
        ];
        let file = MidiInputFile {
            events: events
                .iter()
                .map(|&(beats, kind, key)| InputEvent { beats, kind, channel: 0, key, value: 0.5 })
                .collect(),
            warnings: Vec::new(),
            end_beats: 4.0,
        };
        let mut feed = MidiFeed::new(&file, 120.0, 48_000.0);
        let mut out = Vec::new();
        let mut landed = Vec::new();
        let mut pos = 0u64;
        // Four beats, as the renderer asks for them: the last block is cut at the end.
        let total = 4 * 24_000;
        while pos < total {
            let len = 512.min(total - pos);
            feed.block(pos, len as usize, &mut out);
            for e in &out {
                landed.push((pos / 512, e.timing, e.kind, e.key));
            }
            pos += len;
        }
        // 24 000 = 46 × 512 + 448; 36 000 = 70 × 512 + 160.
        assert_eq!(
            landed,
            vec![
                (0, 0, MidiInKind::NoteOn, 60),
                (46, 448, MidiInKind::NoteOff, 60),
                (70, 160, MidiInKind::Cc, 1),
            ]
        );
        assert_eq!(feed.remaining(), 1, "the note at beat 4 is after the render");
    }

    #[test]
    fn a_crowded_block_keeps_the_first_events_and_counts_the_rest() {
        let file = MidiInputFile {
            events: (0..MAX_EVENTS_PER_BLOCK + 10)
                .map(|i| InputEvent {
                    beats: 0.0,
                    kind: MidiInKind::Cc,
                    channel: 0,
                    key: (i % 128) as u8,
                    value: 0.0,
                })
                .collect(),
            ..MidiInputFile::default()
        };
        let mut feed = MidiFeed::new(&file, 120.0, 48_000.0);
        let mut out = Vec::with_capacity(MAX_EVENTS_PER_BLOCK);
        feed.block(0, 512, &mut out);
        assert_eq!(out.len(), MAX_EVENTS_PER_BLOCK);
        assert_eq!(feed.dropped, 10);
        feed.block(512, 512, &mut out);
        assert!(out.is_empty());
    }
}
