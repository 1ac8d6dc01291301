#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bng_fuzz::ikev2::ikev2_fragments(data));
