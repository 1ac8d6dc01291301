#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bng_fuzz::dataplane::dataplane_bng(data));
