#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::group_json(data));
