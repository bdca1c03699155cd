#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::query_string(data));
