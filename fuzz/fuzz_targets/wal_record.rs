//! WAL record payloads as replay decodes them: must return an error naming the problem,
//! never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_ingest::record::decode(data);
});
