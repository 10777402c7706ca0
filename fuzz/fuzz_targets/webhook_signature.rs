//! Fuzz target: see `properties::webhook_signature`.
#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::webhook_signature(data));
