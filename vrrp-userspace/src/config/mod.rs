//! Configuration: one model ([`model::Config`]) read from YAML (the service's native format)
//! or from keepalived.conf, validated once, with every message naming `FILE:LINE:COL`.
//!
//! - [`model`]: the types (also the YAML schema);
//! - [`yaml`] and [`keepalived`] (with its [`lexer`]): the two readers;
//! - [`defaults`]: the settings keepalived derives from each other (priority from state,
//!   state from priority, preempt settings that cannot apply), shared by both readers;
//! - [`validate`]: cross-field rules shared by both;
//! - [`diag`]: diagnostics and their rendering.
pub mod defaults;
pub mod diag;
pub mod keepalived;
pub mod lexer;
pub mod model;
pub mod validate;
pub mod yaml;

use std::{
    fmt,
    path::{Path, PathBuf},
};

pub use diag::{Diagnostic, Severity, Sites, Sources};
pub use model::Config;

/// A configuration file's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Keepalived,
}

impl Format {
    /// `.yaml` / `.yml` is YAML; anything else is keepalived syntax.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Self::Yaml,
            _ => Self::Keepalived,
        }
    }
}

/// A configuration that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
    pub sources: Sources,
    /// Where each item and field was written.
    pub sites: Sites,
}

/// A configuration that did not load: every error and warning, and the text to quote.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub path: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
}

impl LoadError {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// All diagnostics, rendered with quoted lines and carets.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.sources))
            .collect()
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<String> = self.errors().map(ToString::to_string).collect();
        write!(
            f,
            "{} is invalid: {}",
            self.path.display(),
            errors.join("; ")
        )
    }
}

impl std::error::Error for LoadError {}

/// Reads, parses and validates `path`; `format` overrides the choice by extension.
pub fn load(path: &Path, format: Option<Format>) -> Result<Loaded, LoadError> {
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    let parsed = match format.unwrap_or_else(|| Format::of(path)) {
        Format::Keepalived => keepalived::parse(path, &mut sources, &mut diagnostics),
        Format::Yaml => match std::fs::read(path) {
            Ok(bytes) => {
                sources.add_bytes(path, &bytes);
                match String::from_utf8(bytes) {
                    Ok(text) => {
                        yaml::mask_secrets(path, &text, &mut sources);
                        yaml::read(path, &text, &mut diagnostics)
                    }
                    Err(error) => {
                        // YAML is Unicode text (YAML 1.2 §5.2); say where it is not.
                        let bytes = error.as_bytes();
                        let valid = &bytes[..error.utf8_error().valid_up_to()];
                        let line_start = valid
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |at| at + 1);
                        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                        let column = String::from_utf8_lossy(&valid[line_start..])
                            .chars()
                            .count()
                            + 1;
                        diagnostics.push(Diagnostic::error(
                            "a YAML file must be UTF-8 text: this byte is not",
                            Some(diag::Span {
                                file: path.to_path_buf(),
                                line,
                                column,
                                len: 1,
                            }),
                        ));
                        None
                    }
                }
            }
            Err(error) => {
                diagnostics.push(Diagnostic::error(
                    format!("cannot read {}: {error}", path.display()),
                    None,
                ));
                None
            }
        },
    };
    if let Some((config, sites)) = &parsed {
        diagnostics.extend(validate::validate(config, sites));
    }
    match parsed {
        Some((config, sites)) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            config,
            warnings: diagnostics,
            sources,
            sites,
        }),
        _ => Err(LoadError {
            path: path.to_path_buf(),
            diagnostics,
            sources,
        }),
    }
}

/// What `vrrpd check` adds to [`load`], as `keepalived -t` does: a warning for each
/// interface the configuration names that does not exist on this system (yet). `vrrpd run`
/// needs them.
pub fn system_warnings(loaded: &Loaded) -> Vec<Diagnostic> {
    let exists = |name: &str| Path::new("/sys/class/net").join(name).exists();
    let mut out = Vec::new();
    for i in &loaded.config.instances {
        let at = |field: &str| loaded.sites.get(diag::Item::Instance, &i.name, field);
        if !exists(&i.interface) {
            out.push(Diagnostic::warning(
                format!(
                    "WARNING - interface {} for vrrp_instance {} doesn't exist",
                    i.interface, i.name
                ),
                at("interface"),
            ));
        }
        for dev in i.all_addresses().filter_map(|v| v.dev.as_deref()) {
            if dev != i.interface && !exists(dev) {
                out.push(Diagnostic::warning(
                    format!(
                        "({}) interface {dev} of a virtual address doesn't exist",
                        i.name
                    ),
                    at("virtual_addresses"),
                ));
            }
        }
        for t in &i.track_interfaces {
            if !exists(&t.name) {
                out.push(Diagnostic::warning(
                    format!("({}) tracked interface {} doesn't exist", i.name, t.name),
                    at("track_interfaces"),
                ));
            }
        }
    }
    out
}

/// The configuration as YAML (what `vrrpd convert` prints). Passwords are included: the
/// file format needs them.
pub fn to_yaml(config: &Config) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(config)
}
