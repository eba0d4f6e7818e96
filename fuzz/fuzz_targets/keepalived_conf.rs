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
            // keepalived reads a password as bytes; one that is not UTF-8 has no YAML form
            // and `convert` refuses it: the only model that may not serialise.
            let binary_password = model.instances.iter().any(|i| {
                i.authentication
                    .as_ref()
                    .is_some_and(|a| std::str::from_utf8(a.password.as_bytes()).is_err())
            });
            match config::to_yaml(&model) {
                Ok(converted) => {
                    let (again, _) = yaml::parse(Path::new("fuzz.yaml"), &converted).expect("converted YAML loads");
                    assert_eq!(again, model);
                }
                Err(e) => assert!(binary_password, "a model does not serialise: {e}"),
            }
        }
    }
});
