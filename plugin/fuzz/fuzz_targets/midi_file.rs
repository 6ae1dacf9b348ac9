//! libFuzzer target for [`sema_live::fuzz::midi_file`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sema_live::fuzz::midi_file(data);
});
