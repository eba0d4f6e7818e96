//! The YAML reader: `yaml_serde` straight into the model (unknown keys rejected), plus a
//! scan of the text for where each item and field was written, so the validator's
//! cross-field messages carry positions too, and keepalived's derived defaults
//! ([`defaults`](super::defaults)) applied to what the file left out.
//!
//! Before the YAML parser sees the text, one linear pass ([`structure`]) refuses what would
//! make it slow or deep (flow collections nested more than [`MAX_DEPTH`] deep: the parser's
//! time grows with the square of that depth) and a second document, each at its position.
//! Error messages never quote a string value (a keepalived file read as YAML is one long
//! string, password included), and passwords are masked in the quoted lines.
use std::path::Path;

use serde::Deserialize;

use super::{
    defaults::{self, Written},
    diag::Sources,
    diag::{Diagnostic, Item, Sites, Span},
    model::{Config, InitialState, Priority, Version},
};

/// Flow collections (`[`, `{`) nested deeper than this are an error.
pub const MAX_DEPTH: usize = 32;

/// Reads YAML `text` from `file` as the daemon runs it: [`parse`], then keepalived's
/// derived defaults, whose warnings go to `diagnostics` (with the parse error, if any).
pub fn read(file: &Path, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<(Config, Sites)> {
    if let Err(error) = structure(file, text) {
        diagnostics.push(error);
        return None;
    }
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
    #[serde(default)]
    version: Option<Version>,
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
            version: k.version,
        })
        .collect())
}

/// Parses YAML `text` read from `file`: the model as written, with serde's defaults for
/// missing keys (priority 100, state BACKUP) — [`read`] applies keepalived's instead.
pub fn parse(file: &Path, text: &str) -> Result<(Config, Sites), Diagnostic> {
    structure(file, text)?;
    let config: Config = serde_yaml::from_str(text).map_err(|error| {
        let full = error.to_string();
        // yaml_serde appends " at line L column C"; the position goes into the span instead.
        let message = match full.rfind(" at line ") {
            Some(at) => &full[..at],
            None => &full,
        };
        let message = without_strings(message);
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

/// Checks, in one pass, what the YAML parser would take long over or cannot read: flow
/// collections nested more than [`MAX_DEPTH`] deep, and a second document.
pub fn structure(file: &Path, text: &str) -> Result<(), Diagnostic> {
    let at = |line: usize, column: usize| Span {
        file: file.to_path_buf(),
        line,
        column,
        len: 1,
    };
    let mut depth = 0usize;
    // Inside a quoted scalar (they may span lines): its quote character.
    let mut quote: Option<char> = None;
    // A document's content was seen, and whether a `...` ended it.
    let mut content = false;
    let mut ended = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if quote.is_none() && depth == 0 {
            let marker = |m: &str| {
                line.strip_prefix(m)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
            };
            if marker("---") {
                if content {
                    return Err(Diagnostic::error(
                        "a second YAML document starts here: vrrpd reads one document",
                        Some(Span {
                            len: 3,
                            ..at(number, 1)
                        }),
                    )
                    .with_help("keep one configuration per file"));
                }
                ended = false;
                continue;
            }
            if marker("...") {
                ended = content;
                continue;
            }
            if line.starts_with('%') {
                continue;
            }
        }
        let mut previous: Option<char> = None;
        for (column, c) in line.chars().enumerate() {
            let column = column + 1;
            match (quote, c) {
                (Some('"'), '\\') if previous == Some('\\') => {
                    previous = None;
                    continue;
                }
                (Some(q), c) if c == q && !(q == '"' && previous == Some('\\')) => quote = None,
                (Some(_), _) => {}
                (None, '#') if previous.is_none_or(char::is_whitespace) => break,
                (None, c) if c.is_whitespace() => {}
                (None, c) => {
                    if ended {
                        return Err(Diagnostic::error(
                            "a second YAML document starts here: vrrpd reads one document",
                            Some(at(number, column)),
                        ));
                    }
                    content = true;
                    let starts_scalar =
                        previous.is_none_or(|p| p.is_whitespace() || matches!(p, '[' | '{' | ','));
                    match c {
                        '"' | '\'' if starts_scalar => quote = Some(c),
                        '[' | '{' => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return Err(Diagnostic::error(
                                    format!("collections nested more than {MAX_DEPTH} deep"),
                                    Some(at(number, column)),
                                ));
                            }
                        }
                        ']' | '}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            previous = Some(c);
        }
    }
    Ok(())
}

/// `message` without the strings yaml_serde quotes in it (`invalid type: string "..."`):
/// the string can be a whole file, password included.
fn without_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        out.push_str("a string");
        let quoted = &rest[at + "string \"".len()..];
        let mut escaped = false;
        let mut end = quoted.len();
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &quoted[end..];
    }
    out.push_str(rest);
    out
}

/// Masks every `password:` value of `text` in `sources` (block or flow style).
pub fn mask_secrets(file: &Path, text: &str, sources: &mut Sources) {
    for (index, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(found) = line[from..].find("password") {
            let start = from + found;
            from = start + "password".len();
            let before = line[..start].chars().next_back();
            if !before.is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-')) {
                continue;
            }
            let after = line[from..].trim_start_matches([' ', '\t', '"', '\'']);
            let Some(value) = after.strip_prefix(':') else {
                continue;
            };
            let value_at = line.len() - value.len();
            let value = value.trim_start();
            let value_at = value_at + (line.len() - value_at - value.len());
            let in_flow = line[..start].contains('{');
            let end = value
                .char_indices()
                .find(|&(i, c)| {
                    (in_flow && matches!(c, ',' | '}'))
                        || (c == '#' && value[..i].ends_with(char::is_whitespace))
                })
                .map_or(value.len(), |(i, _)| i);
            let secret = value[..end].trim_end();
            if !secret.is_empty() {
                sources.mask(&Span {
                    file: file.to_path_buf(),
                    line: index + 1,
                    column: line[..value_at].chars().count() + 1,
                    len: secret.chars().count(),
                });
            }
        }
    }
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
    let mut pending: Vec<(String, Span, Option<String>)> = Vec::new();
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
        let item_at_zero = section.is_some() && (trimmed.starts_with("- ") || trimmed == "-");
        if indent == 0 && !item_at_zero {
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
                pending.push((String::new(), span(indent, 1), None));
                in_members = false;
                column += 2;
                rest = after.trim_start();
            } else if in_members {
                let member = after.trim().trim_matches(|c| c == '"' || c == '\'');
                pending.push((
                    format!("member:{member}"),
                    span(indent + 2, member.len()),
                    None,
                ));
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
                pending.push((format!("member:{m}"), span(offset + lead, m.len()), None));
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
        let written = value.trim().trim_matches(|c| c == '"' || c == '\'');
        let written = (!written.is_empty() && !matches!(key, "password" | "authentication"))
            .then(|| written.to_owned());
        pending.push((key.to_owned(), span(column, key.len()), written));
    }
    flush(&mut sites, section, name, &mut pending);
    sites
}

/// Files the keys read for one item under its name.
fn flush(
    sites: &mut Sites,
    section: Option<Item>,
    name: Option<String>,
    pending: &mut Vec<(String, Span, Option<String>)>,
) {
    if let (Some(item), Some(name)) = (section, name) {
        for (field, span, value) in pending.drain(..) {
            if let Some(value) = value {
                sites.insert_value(item, &name, &field, &value);
            }
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
