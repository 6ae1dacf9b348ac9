//! Standard MIDI files (midly) of the notes Sema Live generated: for the editor's export
//! button and the offline renderer.

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// Ticks per quarter note in the files we write.
pub const PPQ: u16 = 480;

/// A note event at a musical time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedEvent {
    /// Position in quarter-note beats from the start of the file.
    pub beats: f64,
    pub on: bool,
    pub channel: u8,
    pub key: u8,
    /// 0..=1
    pub velocity: f32,
}

/// Encodes `events` as a type-0 SMF at `bpm` and `num`/4 time. Events need not be
/// sorted; note-offs sort before note-ons at the same tick. Notes still held at the end
/// are closed at the last event's tick.
pub fn encode(events: &[TimedEvent], bpm: f64, beats_per_bar: u8) -> Vec<u8> {
    encode_until(events, bpm, beats_per_bar, None)
}

/// As [`encode`], with the end of the track at `end_beats` (when later than the last
/// event), so an export of N bars that ends in silence still lasts N bars.
pub fn encode_until(
    events: &[TimedEvent],
    bpm: f64,
    beats_per_bar: u8,
    end_beats: Option<f64>,
) -> Vec<u8> {
    let mut evs: Vec<TimedEvent> =
        events.iter().copied().filter(|e| e.beats.is_finite() && e.beats >= 0.0).collect();
    evs.sort_by(|a, b| {
        let ta = (a.beats * PPQ as f64).round() as u64;
        let tb = (b.beats * PPQ as f64).round() as u64;
        (ta, a.on, a.channel, a.key).cmp(&(tb, b.on, b.channel, b.key))
    });
    // Close notes left open.
    let mut held = std::collections::BTreeSet::new();
    for e in &evs {
        if e.on {
            held.insert((e.channel, e.key));
        } else {
            held.remove(&(e.channel, e.key));
        }
    }
    let end = evs.last().map(|e| e.beats).unwrap_or(0.0);
    for (channel, key) in held {
        evs.push(TimedEvent { beats: end, on: false, channel, key, velocity: 0.0 });
    }

    let mpq = (60_000_000.0 / bpm.clamp(1.0, 1000.0)).round() as u32;
    let mut track = vec![
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(mpq.min(0xFF_FFFF)))),
        },
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TimeSignature(beats_per_bar.max(1), 2, 24, 8)),
        },
    ];
    let mut last_tick = 0u64;
    for e in &evs {
        let tick = (e.beats * PPQ as f64).round() as u64;
        let delta = tick.saturating_sub(last_tick).min(0x0FFF_FFFF) as u32;
        last_tick = tick;
        let key = u7::new(e.key.min(127));
        let vel = u7::new(((e.velocity.clamp(0.0, 1.0) * 127.0).round() as u8).max(if e.on {
            1
        } else {
            0
        }));
        let message = if e.on {
            MidiMessage::NoteOn { key, vel }
        } else {
            MidiMessage::NoteOff { key, vel: u7::new(0) }
        };
        track.push(TrackEvent {
            delta: u28::new(delta),
            kind: TrackEventKind::Midi { channel: u4::new(e.channel.min(15)), message },
        });
    }
    let end_tick = end_beats
        .filter(|b| b.is_finite() && *b > 0.0)
        .map_or(0, |b| (b * PPQ as f64).round() as u64);
    let end_delta = end_tick.saturating_sub(last_tick).min(0x0FFF_FFFF) as u32;
    track.push(TrackEvent {
        delta: u28::new(end_delta),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(PPQ))),
        tracks: vec![track],
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = smf.write_std(&mut out);
    out
}

/// Parses a MIDI file for reading; errors say "not a MIDI file: …". The parser's own
/// panics on malformed input are caught: midly 0.5 negates an SMPTE frame rate of -128
/// with overflow (a panic in builds with overflow checks), found by fuzzing.
pub fn parse(bytes: &[u8]) -> Result<Smf<'_>, String> {
    // Division word with the SMPTE bit set and a frame-rate byte of 0x80 (-128), in any
    // header chunk: midly skips chunks it does not know, so the header it reads need not
    // be the first bytes of the file.
    let smpte_128 = bytes.windows(14).any(|w| w.starts_with(b"MThd") && w[12] == 0x80);
    if smpte_128 {
        return Err("not a MIDI file: invalid SMPTE frame rate -128".into());
    }
    match std::panic::catch_unwind(|| Smf::parse(bytes)) {
        Ok(Ok(smf)) => Ok(smf),
        Ok(Err(e)) => Err(format!("not a MIDI file: {e}")),
        Err(_) => Err("not a MIDI file: the MIDI parser failed on it".into()),
    }
}

/// Notes of a MIDI file as (start beat, end beat, key), for tests and summaries.
pub fn decode_notes(bytes: &[u8]) -> Result<Vec<(f64, f64, u8)>, String> {
    let smf = parse(bytes)?;
    let ppq = match smf.header.timing {
        Timing::Metrical(t) if t.as_int() == 0 => {
            return Err("not a MIDI file: 0 ticks per quarter note".into())
        }
        Timing::Metrical(t) => t.as_int() as f64,
        Timing::Timecode(..) => return Err("timecode MIDI files are not supported".into()),
    };
    let mut notes = Vec::new();
    for track in &smf.tracks {
        let mut tick = 0u64;
        let mut open: std::collections::HashMap<(u8, u8), u64> = Default::default();
        for ev in track {
            tick += ev.delta.as_int() as u64;
            if let TrackEventKind::Midi { channel, message } = ev.kind {
                let ch = channel.as_int();
                match message {
                    MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                        open.insert((ch, key.as_int()), tick);
                    }
                    MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                        if let Some(start) = open.remove(&(ch, key.as_int())) {
                            notes.push((start as f64 / ppq, tick as f64 / ppq, key.as_int()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // A total order: a comparator that is not one may panic in the standard sort.
    notes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_through_a_file() {
        let ev = |beats, on, key| TimedEvent { beats, on, channel: 0, key, velocity: 0.8 };
        let bytes = encode(
            &[
                ev(1.0, false, 60),
                ev(0.0, true, 60),
                ev(1.0, true, 62),
                ev(1.5, false, 62),
                ev(2.0, true, 64),
            ],
            120.0,
            4,
        );
        let notes = decode_notes(&bytes).expect("parse");
        assert_eq!(notes, vec![(0.0, 1.0, 60), (1.0, 1.5, 62), (2.0, 2.0, 64)]);
    }

    #[test]
    fn garbage_is_not_a_midi_file() {
        assert!(decode_notes(b"RIFF....").is_err());
    }

    /// Two inputs found by libFuzzer (plugin/fuzz): an SMPTE rate of -128 in a header chunk
    /// after an unknown chunk, and a file of 0 ticks per quarter note.
    #[test]
    fn fuzzer_found_headers_are_errors() {
        let mut late = b"XXXX\0\0\0\0".to_vec();
        late.extend_from_slice(b"MThd\0\0\0\x06\0\0\0\x01\x80\x28");
        let err = decode_notes(&late).expect_err("SMPTE -128");
        assert!(err.starts_with("not a MIDI file"), "{err}");
        let mut ppq0 = b"MThd\0\0\0\x06\0\0\0\x01\0\0".to_vec();
        ppq0.extend_from_slice(b"MTrk\0\0\0\x0c\0\x90\x3c\x40\0\x80\x3c\0\0\xff\x2f\0");
        let err = decode_notes(&ppq0).expect_err("ppq 0");
        assert!(err.contains("0 ticks"), "{err}");
    }

    #[test]
    fn the_track_ends_at_the_requested_beat() {
        let events = [
            TimedEvent { beats: 0.0, on: true, channel: 0, key: 60, velocity: 0.8 },
            TimedEvent { beats: 1.0, on: false, channel: 0, key: 60, velocity: 0.0 },
        ];
        let length = |bytes: &[u8]| -> u64 {
            let smf = Smf::parse(bytes).expect("parse");
            smf.tracks[0].iter().map(|e| u64::from(e.delta.as_int())).sum()
        };
        assert_eq!(length(&encode(&events, 120.0, 4)), u64::from(PPQ));
        // Eight bars of 4/4 although the last note ends after one beat.
        assert_eq!(length(&encode_until(&events, 120.0, 4, Some(32.0))), 32 * u64::from(PPQ));
        // An end before the last event does not cut it.
        assert_eq!(length(&encode_until(&events, 120.0, 4, Some(0.5))), u64::from(PPQ));
    }
}
