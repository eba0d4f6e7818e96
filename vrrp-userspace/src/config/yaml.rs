//! The YAML reader: `yaml_serde` straight into the model (unknown keys rejected), plus a
//! scan of the text for where each item and field was written, so the validator's
//! cross-field messages carry positions too, and keepalived's derived defaults
//! ([`defaults`](super::defaults)) applied to what the file left out.
use std::path::Path;

use serde::Deserialize;

use super::{
    defaults::{self, Written},
    diag::{Diagnostic, Item, Sites, Span},
    model::{Config, InitialState, Priority},
};

/// Reads YAML `text` from `file` as the daemon runs it: [`parse`], then keepalived's
/// derived defaults, whose warnings go to `diagnostics` (with the parse error, if any).
pub fn read(file: &Path, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<(Config, Sites)> {
    let (mut config, sites) = match parse(file, text) {
        Ok(parsed) => parsed,
        Err(error) => {
            diagnostics.push(error);
            return None;
        }
    };
    let written = match written(text) {
        Ok(written) => written,
        Err(error) => {
            diagnostics.push(Diagnostic::error(error.to_string(), None));
            return None;
        }
    };
    for (instance, written) in config.instances.iter_mut().zip(written) {
        diagnostics.extend(defaults::complete(instance, written, &sites));
    }
    Some((config, sites))
}

/// The instance keys keepalived derives defaults for, as written (a missing key is `None`).
#[derive(Deserialize)]
struct WrittenKeys {
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    state: Option<InitialState>,
}

#[derive(Deserialize)]
struct WrittenInstances {
    #[serde(default)]
    instances: Vec<WrittenKeys>,
}

/// What each instance of `text` wrote of its priority and state, in order. (The model fills
/// missing keys with serde defaults; this second, narrow reading of the same text tells an
/// unset priority from an explicit 100.)
fn written(text: &str) -> Result<Vec<Written>, serde_yaml::Error> {
    let keys: WrittenInstances = serde_yaml::from_str(text)?;
    Ok(keys
        .instances
        .into_iter()
        .map(|k| Written {
            priority: k.priority,
            state: k.state,
        })
        .collect())
}

/// Parses YAML `text` read from `file`: the model as written, with serde's defaults for
/// missing keys (priority 100, state BACKUP) — [`read`] applies keepalived's instead.
pub fn parse(file: &Path, text: &str) -> Result<(Config, Sites), Diagnostic> {
    let config: Config = serde_yaml::from_str(text).map_err(|error| {
        let full = error.to_string();
        // yaml_serde appends " at line L column C"; the position goes into the span instead.
        let message = match full.rfind(" at line ") {
            Some(at) => full[..at].to_owned(),
            None => full,
        };
        let span = error.location().map(|l| Span {
            file: file.to_path_buf(),
            line: l.line(),
            column: l.column(),
            len: token_len(text, l.line(), l.column()),
        });
        Diagnostic::error(message, span)
    })?;
    Ok((config, sites(file, text)))
}

/// The length of the token at a position, for the caret.
fn token_len(text: &str, line: usize, column: usize) -> usize {
    text.lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.get(column.saturating_sub(1)..))
        .map_or(1, |rest| {
            rest.split(|c: char| c.is_whitespace() || c == ',')
                .next()
                .map_or(1, str::len)
        })
        .max(1)
}

/// Finds, for block-style YAML, the line of each list item under `instances`,
/// `sync_groups` and `scripts`, and of each of its keys (and sync group members).
fn sites(file: &Path, text: &str) -> Sites {
    let mut sites = Sites::default();
    let mut section: Option<Item> = None;
    // The column of the section's list dashes, set by its first item.
    let mut list_indent: Option<usize> = None;
    // The item being read: its name once known, and its keys so far.
    let mut name: Option<String> = None;
    let mut pending: Vec<(String, Span)> = Vec::new();
    let mut in_members = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = strip_comment(raw);
        let trimmed = content.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let indent = content.len() - trimmed.len();
        let span = |column: usize, len: usize| Span {
            file: file.to_path_buf(),
            line,
            column: column + 1,
            len: len.max(1),
        };
        if indent == 0 {
            flush(&mut sites, section, name.take(), &mut pending);
            list_indent = None;
            section = match trimmed.split(':').next() {
                Some("instances") => Some(Item::Instance),
                Some("sync_groups") => Some(Item::SyncGroup),
                Some("scripts") => Some(Item::Script),
                _ => None,
            };
            continue;
        }
        if section.is_none() {
            continue;
        }
        let (mut column, mut rest) = (indent, trimmed);
        if let Some(after) = trimmed.strip_prefix("- ") {
            let level = *list_indent.get_or_insert(indent);
            if indent == level {
                // A new item of the section.
                flush(&mut sites, section, name.take(), &mut pending);
                pending.push((String::new(), span(indent, 1)));
                in_members = false;
                column += 2;
                rest = after.trim_start();
            } else if in_members {
                let member = after.trim().trim_matches(|c| c == '"' || c == '\'');
                pending.push((format!("member:{member}"), span(indent + 2, member.len())));
                continue;
            } else {
                continue;
            }
        }
        let Some((key, value)) = rest.split_once(':') else {
            continue;
        };
        let key = key.trim();
        // Only the item's own keys, one level below the dash.
        if Some(column) != list_indent.map(|l| l + 2) {
            continue;
        }
        in_members = key == "members";
        if let Some(list) = value.trim().strip_prefix('[').filter(|_| in_members) {
            // Flow list: `members: [VI_1, VI_2]`.
            let mut offset = column + key.len() + 1 + (value.len() - value.trim_start().len()) + 1;
            for member in list.trim_end_matches(']').split(',') {
                let lead = member.len() - member.trim_start().len();
                let m = member.trim().trim_matches(|c| c == '"' || c == '\'');
                pending.push((format!("member:{m}"), span(offset + lead, m.len())));
                offset += member.len() + 1;
            }
        }
        if key == "name" {
            name = Some(
                value
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_owned(),
            );
        }
        pending.push((key.to_owned(), span(column, key.len())));
    }
    flush(&mut sites, section, name, &mut pending);
    sites
}

/// Files the keys read for one item under its name.
fn flush(
    sites: &mut Sites,
    section: Option<Item>,
    name: Option<String>,
    pending: &mut Vec<(String, Span)>,
) {
    if let (Some(item), Some(name)) = (section, name) {
        for (field, span) in pending.drain(..) {
            sites.insert(item, &name, &field, span);
        }
    }
    pending.clear();
}

/// A line without its `#` comment (a `#` starts one at the line start or after a space,
/// outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
instances:
  - name: VI_1   # the first
    interface: eth0
    vrid: 51
  - name: VI_2
    interface: eth1
    vrid: 52
sync_groups:
  - name: VG1
    members: [VI_1, VI_2]
  - name: VG2
    members:
      - VI_3
";

    #[test]
    fn sites_point_at_keys_and_members() {
        let sites = sites(Path::new("x.yaml"), TEXT);
        let at = |item, name, field| sites.get(item, name, field).map(|s| (s.line, s.column));
        assert_eq!(at(Item::Instance, "VI_1", "vrid"), Some((4, 5)));
        assert_eq!(at(Item::Instance, "VI_2", "interface"), Some((6, 5)));
        assert_eq!(at(Item::Instance, "VI_2", "nothing"), Some((5, 3)));
        assert_eq!(at(Item::SyncGroup, "VG1", "member:VI_2"), Some((10, 21)));
        assert_eq!(at(Item::SyncGroup, "VG2", "member:VI_3"), Some((13, 9)));
    }

    #[test]
    fn yaml_errors_carry_their_position() {
        let text = "instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 300\n";
        let error = parse(Path::new("x.yaml"), text).unwrap_err();
        assert_eq!(error.location().as_deref(), Some("x.yaml:4:11"));
        assert!(error.message.contains("1-255"), "{}", error.message);
        let text =
            "instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 3\n    colour: blue\n";
        let error = parse(Path::new("x.yaml"), text).unwrap_err();
        assert_eq!(error.location().as_deref(), Some("x.yaml:5:5"));
        assert!(
            error.message.contains("unknown field `colour`"),
            "{}",
            error.message
        );
    }
}
