//! Links every bngkit protocol crate into a `#![no_std]` staticlib with no global
//! allocator. An unused dependency is not linked, so each crate is named below.

#![no_std]

extern crate bng_dhcp as _;
extern crate bng_esp as _;
extern crate bng_ikev2 as _;
extern crate bng_nat44 as _;
extern crate bng_pppoe as _;
extern crate bng_radius as _;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
