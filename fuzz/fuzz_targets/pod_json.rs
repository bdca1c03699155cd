#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::pod_json(data));
