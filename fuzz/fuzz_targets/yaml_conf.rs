//! Arbitrary text into the YAML reader and the validator (positions and rendering included).
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vrrpd::config::{Sources, validate, yaml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.yaml");
    let mut sources = Sources::default();
    sources.add(path, text);
    match yaml::parse(path, text) {
        Ok((model, sites)) => {
            for d in validate::validate(&model, &sites) {
                let _ = d.render(&sources);
            }
        }
        Err(d) => {
            let _ = d.render(&sources);
        }
    }
});
