//! `vrrpd inspect --pcap FILE [--password PW] [--json]`.
use std::{fs::File, io::BufReader, path::Path};

use anyhow::Context as _;
use vrrpd::{auth::Password, inspect};

pub fn run(path: &Path, password: Option<&str>, json: bool) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let password = password.map(|pw| Password::new(pw.as_bytes()));
    if password.as_ref().is_some_and(Password::was_truncated) {
        eprintln!("warning: password longer than 8 bytes; keepalived uses only the first 8");
    }
    let (records, summary) = inspect::inspect(BufReader::new(file), password.as_ref())
        .with_context(|| format!("reading {}", path.display()))?;
    for record in &records {
        if json {
            println!("{}", serde_json::to_string(record).context("encoding JSON")?);
        } else {
            println!("{}", inspect::format_record(record));
        }
    }
    if !json {
        println!(
            "{} frames, {} VRRP adverts ({} valid, {} invalid), {} malformed",
            summary.frames, summary.adverts, summary.valid, summary.invalid, summary.malformed
        );
    }
    Ok(())
}
