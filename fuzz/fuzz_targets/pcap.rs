//! Arbitrary files into `vrrpd inspect`'s capture reader.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vrrpd::{auth::Password, inspect};

fuzz_target!(|data: &[u8]| {
    if let Ok((records, _)) = inspect::inspect(data, Some(&Password::new(b"k@l"))) {
        for record in &records {
            let _ = inspect::format_record(record);
        }
    }
});
