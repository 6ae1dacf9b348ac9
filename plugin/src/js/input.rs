//! Values from the DSL's `toJS`, on their way to JS `input(value, channel)`.
//!
//! The audio thread pushes [`ToJsValue`]s into a lock-free ring buffer (see
//! [`crate::control::status`]); the JS thread owns the other end ([`ToJsReceiver`]) and
//! drains it on every pump of its event loop, turning the values back into what JS
//! receives with a [`ListAssembler`]. No thread or lock sits in between.

use crate::audio::patch::ToJsValue;

/// The JS thread's end of the audio thread's `toJS` ring buffer.
pub type ToJsReceiver = rtrb::Consumer<ToJsValue>;

/// A value from the DSL's `toJS` for JS `input(value, channel)`.
#[derive(Clone, Debug, PartialEq)]
pub enum JsInput {
    /// `{trig, ch, signal}toJS`: a number.
    Value(f64),
    /// `{trig, ch, [a, b, ...], n}toJS`: an array of n numbers, as Sema delivers it.
    List(Vec<f64>),
}

impl From<f64> for JsInput {
    fn from(v: f64) -> Self {
        JsInput::Value(v)
    }
}

impl JsInput {
    /// The values the audio thread sends for this input on `channel`: one value, or a
    /// list as consecutive indexed values (what [`ListAssembler`] reassembles).
    pub fn to_values(&self, channel: u32) -> Vec<ToJsValue> {
        match self {
            JsInput::Value(v) => vec![ToJsValue::single(channel, *v)],
            JsInput::List(values) => {
                let len = values.len().min(usize::from(u16::MAX)) as u16;
                values
                    .iter()
                    .take(usize::from(len))
                    .enumerate()
                    .map(|(i, &value)| ToJsValue { channel, value, index: i as u16, len })
                    .collect()
            }
        }
    }
}

/// Turns the audio thread's `toJS` values back into what JS receives: single numbers, or
/// the lists that `{trig, ch, [..], n}toJS` sent as `n` consecutive values.
#[derive(Default)]
pub struct ListAssembler {
    /// The list being collected: its channel, length and the values so far.
    partial: Option<(u32, usize, Vec<f64>)>,
}

impl ListAssembler {
    /// Takes the next value; returns an input for JS when one is complete. A list whose
    /// values were lost (the ring buffer was full) is dropped rather than delivered short.
    pub fn push(&mut self, v: ToJsValue) -> Option<(u32, JsInput)> {
        if v.len == 0 {
            return Some((v.channel, JsInput::Value(v.value)));
        }
        let len = usize::from(v.len);
        if v.index == 0 {
            self.partial = Some((v.channel, len, Vec::with_capacity(len)));
        }
        let (channel, want, values) = self.partial.as_mut()?;
        if *channel != v.channel || *want != len || values.len() != usize::from(v.index) {
            self.partial = None;
            return None;
        }
        values.push(v.value);
        if values.len() == len {
            let (channel, _, values) = self.partial.take()?;
            return Some((channel, JsInput::List(values)));
        }
        None
    }

    /// The next complete input from `rx`, if one is there. Values of a list that is not
    /// complete yet stay collected here until the next call.
    pub fn next_from(&mut self, rx: &mut ToJsReceiver) -> Option<(u32, JsInput)> {
        while let Ok(v) = rx.pop() {
            if let Some(input) = self.push(v) {
                return Some(input);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(channel: u32, value: f64, index: u16, len: u16) -> ToJsValue {
        ToJsValue { channel, value, index, len }
    }

    #[test]
    fn lists_are_reassembled_and_broken_ones_dropped() {
        let mut a = ListAssembler::default();
        assert_eq!(a.push(ToJsValue::single(4, 0.5)), Some((4, JsInput::Value(0.5))));
        assert_eq!(a.push(part(1, 1.0, 0, 3)), None);
        assert_eq!(a.push(part(1, 2.0, 1, 3)), None);
        // A single value between the parts of a list does not disturb it.
        assert_eq!(a.push(ToJsValue::single(0, 9.0)), Some((0, JsInput::Value(9.0))));
        assert_eq!(a.push(part(1, 3.0, 2, 3)), Some((1, JsInput::List(vec![1.0, 2.0, 3.0]))));
        // A list missing its middle (ring buffer overflow) is dropped, the next one arrives.
        assert_eq!(a.push(part(2, 1.0, 0, 3)), None);
        assert_eq!(a.push(part(2, 3.0, 2, 3)), None);
        assert_eq!(a.push(part(2, 5.0, 0, 2)), None);
        assert_eq!(a.push(part(2, 6.0, 1, 2)), Some((2, JsInput::List(vec![5.0, 6.0]))));
        // A tail without its head is ignored.
        assert_eq!(a.push(part(3, 1.0, 1, 2)), None);
    }

    #[test]
    fn inputs_round_trip_through_the_ring_buffer() {
        let (mut tx, mut rx) = rtrb::RingBuffer::new(16);
        let inputs = [
            (3, JsInput::Value(0.25)),
            (2, JsInput::List(vec![0.5, -1.0, 2.0])),
            (1, JsInput::Value(1.0)),
        ];
        for (ch, input) in &inputs {
            for v in input.to_values(*ch) {
                tx.push(v).expect("room");
            }
        }
        // Half a list: nothing yet, and the part is kept for the next call.
        for v in JsInput::List(vec![7.0, 8.0]).to_values(5).into_iter().take(1) {
            tx.push(v).expect("room");
        }
        let mut a = ListAssembler::default();
        for expected in &inputs {
            assert_eq!(a.next_from(&mut rx).as_ref(), Some(expected));
        }
        assert_eq!(a.next_from(&mut rx), None);
        tx.push(JsInput::List(vec![7.0, 8.0]).to_values(5)[1]).expect("room");
        assert_eq!(a.next_from(&mut rx), Some((5, JsInput::List(vec![7.0, 8.0]))));
    }
}
