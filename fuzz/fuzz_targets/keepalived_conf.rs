//! Arbitrary bytes into the keepalived.conf reader and the validator; what loads must
//! convert to YAML and load back to the same model.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vrrpd::config::{self, Sources, keepalived, validate, yaml};

fuzz_target!(|data: &[u8]| {
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    let path = Path::new("fuzz.conf");
    if let Some((model, sites)) = keepalived::parse_bytes(path, data, &mut sources, &mut diagnostics) {
        diagnostics.extend(validate::validate(&model, &sites));
        for d in &diagnostics {
            let _ = d.render(&sources);
        }
        if !diagnostics.iter().any(|d| d.is_error()) {
            let converted = config::to_yaml(&model).expect("a model serialises");
            let (again, _) = yaml::parse(Path::new("fuzz.yaml"), &converted).expect("converted YAML loads");
            assert_eq!(again, model);
        }
    }
});
