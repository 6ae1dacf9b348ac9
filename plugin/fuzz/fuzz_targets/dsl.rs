//! libFuzzer target for [`sema_live::fuzz::dsl`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sema_live::fuzz::dsl(data);
});
