//! Fuzz target: see `properties::signed_url`.
#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::signed_url(data));
