//! libFuzzer target for [`sema_live::fuzz::js_blocks`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sema_live::fuzz::js_blocks(data);
});
