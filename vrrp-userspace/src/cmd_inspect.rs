//! `vrrpd inspect --pcap FILE [--password PW] [--json]`.
//!
//! Exit status 1 when the capture cannot be read, when it is cut short (after printing its
//! complete frames), or when a password is given and any advert fails to verify with it.
use std::{
    fs::File,
    io::{self, Write as _},
    path::Path,
};

use anyhow::Context as _;
use vrrpd::{auth::Password, inspect};

pub fn run(path: &Path, password: Option<&str>, json: bool) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let password = password.map(|pw| Password::new(pw.as_bytes()));
    if password.as_ref().is_some_and(Password::was_truncated) {
        let _ = writeln!(
            io::stderr(),
            "warning: password longer than 8 bytes; keepalived uses only the first 8"
        );
    }
    let (records, summary) = inspect::inspect(file, password.as_ref())
        .with_context(|| format!("reading {}", path.display()))?;
    // A closed pipe (`| head`) ends here; main exits quietly on it.
    print(&records, &summary, json).context("writing to stdout")?;
    if let Some(cut) = &summary.truncated {
        anyhow::bail!("{}: {cut}", path.display());
    }
    if summary.invalid > 0 {
        anyhow::bail!(
            "{}: {} of {} advert{} failed to verify with the given password",
            path.display(),
            summary.invalid,
            summary.adverts,
            if summary.adverts == 1 { "" } else { "s" }
        );
    }
    Ok(())
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
            "{} frames, {} VRRP adverts ({} valid, {} invalid, {} unauthenticated), {} malformed",
            summary.frames,
            summary.adverts,
            summary.valid,
            summary.invalid,
            summary.unauthenticated,
            summary.malformed
        )?;
    }
    out.flush()
}
