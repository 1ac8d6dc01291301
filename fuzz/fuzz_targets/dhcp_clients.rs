#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bng_fuzz::dhcp::dhcp_clients(data));
