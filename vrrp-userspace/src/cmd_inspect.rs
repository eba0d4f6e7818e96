//! `vrrpd inspect --pcap FILE [--password PW] [--json]`.
use std::{
    fs::File,
    io::{self, BufReader, Write as _},
    path::Path,
};

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
    match print(&records, &summary, json) {
        // `vrrpd inspect ... | head` closes the pipe early: that is not an error.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

fn print(records: &[inspect::Record], summary: &inspect::Summary, json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for record in records {
        if json {
            serde_json::to_writer(&mut out, record)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", inspect::format_record(record))?;
        }
    }
    if !json {
        writeln!(
            out,
            "{} frames, {} VRRP adverts ({} valid, {} invalid), {} malformed",
            summary.frames, summary.adverts, summary.valid, summary.invalid, summary.malformed
        )?;
    }
    out.flush()
}
