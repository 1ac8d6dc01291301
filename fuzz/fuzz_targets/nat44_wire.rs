#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bng_fuzz::nat44::nat44_wire(data));
