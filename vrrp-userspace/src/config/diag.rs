//! Configuration diagnostics: what is wrong, where (`FILE:LINE:COL`), the offending line
//! with a caret under the spot, and what would be valid.
use std::{
    collections::HashMap,
    fmt::{self, Write as _},
    path::{Path, PathBuf},
};

/// A position in a configuration file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Characters to underline (at least one caret is drawn).
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One message about a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    /// What would be valid, when that is not already in the message.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            span,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Warning,
            message: message.into(),
            span,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `FILE:LINE:COL`, when the message has a position.
    pub fn location(&self) -> Option<String> {
        self.span
            .as_ref()
            .map(|s| format!("{}:{}:{}", s.file.display(), s.line, s.column))
    }

    /// The full rendering: message, location, quoted line with a caret, help.
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}: {}", self.message);
        if let Some(span) = &self.span {
            let _ = writeln!(
                out,
                "  --> {}:{}:{}",
                span.file.display(),
                span.line,
                span.column
            );
            if let Some(line) = sources.line(&span.file, span.line) {
                let number = span.line.to_string();
                let pad = " ".repeat(number.len());
                let (text, column) = excerpt(line, span.column);
                let indent: String = text
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{number} | {text}");
                let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(span.len.max(1)));
            }
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// How much of a long line [`Diagnostic::render`] quotes: a window around the column.
const QUOTE_BEFORE: usize = 40;
const QUOTE_WIDTH: usize = 100;

/// `line`, or for a line longer than [`QUOTE_WIDTH`] characters a window of it around
/// `column` (with `…` where it was cut), and the column within what is returned: a 6 MB
/// line is quoted as a hundred characters, not echoed whole.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    let chars = line.chars().count();
    if chars <= QUOTE_WIDTH {
        return (line.to_owned(), column);
    }
    let start = column
        .saturating_sub(1)
        .saturating_sub(QUOTE_BEFORE)
        .min(chars - QUOTE_WIDTH);
    let end = (start + QUOTE_WIDTH).min(chars);
    let mut text: String = line.chars().skip(start).take(end - start).collect();
    let mut column = column - start;
    if start > 0 {
        text.insert(0, '…');
        column += 1;
    }
    if end < chars {
        text.push('…');
    }
    (text, column)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The lines of every file read, to quote them in diagnostics (looked up in constant time,
/// so rendering many diagnostics stays linear). Secrets are masked before they are stored.
#[derive(Clone, Default)]
pub struct Sources {
    files: HashMap<PathBuf, Vec<String>>,
}

/// The files and their sizes, never their text (which can hold a secret no reader masked,
/// such as a keepalived file read as YAML).
impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.files.iter().map(|(path, lines)| (path, lines.len())))
            .finish()
    }
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: &str) {
        self.files.insert(
            path.to_path_buf(),
            text.lines().map(str::to_owned).collect(),
        );
    }

    /// Adds a file read as bytes (bytes that are not UTF-8 are shown as U+FFFD).
    pub fn add_bytes(&mut self, path: &Path, bytes: &[u8]) {
        self.add(path, &String::from_utf8_lossy(bytes));
    }

    pub fn line(&self, path: &Path, line: usize) -> Option<&str> {
        self.files
            .get(path)?
            .get(line.checked_sub(1)?)
            .map(String::as_str)
    }

    /// Replaces the characters under `span` with `*` (a secret is never quoted).
    pub fn mask(&mut self, span: &Span) {
        let Some(text) = self
            .files
            .get_mut(&span.file)
            .and_then(|lines| lines.get_mut(span.line.checked_sub(1)?))
        else {
            return;
        };
        let start = span.column.saturating_sub(1);
        *text = text
            .chars()
            .enumerate()
            .map(|(at, c)| {
                if (start..start + span.len).contains(&at) {
                    '*'
                } else {
                    c
                }
            })
            .collect();
    }
}

/// What a cross-field rule points at: an item (instance, sync group, script) by name and
/// one of its fields by its YAML name (`""` for the item itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Item {
    Instance,
    SyncGroup,
    Script,
}

/// Where each item and field was written, filled by the readers for the validator.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    map: HashMap<(Item, String, String), Span>,
    /// Values as written (`advert_int 0.001`), for messages that quote them.
    values: HashMap<(Item, String, String), String>,
}

impl Sites {
    pub fn insert(&mut self, item: Item, name: &str, field: &str, span: Span) {
        self.map
            .entry((item, name.to_owned(), field.to_owned()))
            .or_insert(span);
    }

    /// Records the value of a field as written (a later writing replaces it, as it
    /// replaces the value).
    pub fn insert_value(&mut self, item: Item, name: &str, field: &str, text: &str) {
        self.values
            .insert((item, name.to_owned(), field.to_owned()), text.to_owned());
    }

    /// The value of a field as written, if known.
    pub fn value(&self, item: Item, name: &str, field: &str) -> Option<&str> {
        self.values
            .get(&(item, name.to_owned(), field.to_owned()))
            .map(String::as_str)
    }

    /// The field's position, else the item's.
    pub fn get(&self, item: Item, name: &str, field: &str) -> Option<Span> {
        self.map
            .get(&(item, name.to_owned(), field.to_owned()))
            .or_else(|| self.map.get(&(item, name.to_owned(), String::new())))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_quoted_as_a_window_around_the_column() {
        let line = "a { ".repeat(5000);
        let (text, column) = excerpt(&line, 10_001);
        assert_eq!(text.chars().count(), QUOTE_WIDTH + 2);
        assert!(text.starts_with('…') && text.ends_with('…'));
        // The caret still points at the same character.
        assert_eq!(text.chars().nth(column - 1), line.chars().nth(10_000));
        // Near either end, and past the end.
        assert_eq!(excerpt(&line, 1), (format!("{}…", &line[..QUOTE_WIDTH]), 1));
        let (tail, column) = excerpt(&line, line.len() + 1);
        assert!(tail.starts_with('…') && !tail.ends_with('…'));
        assert_eq!(column, QUOTE_WIDTH + 2);
        assert_eq!(excerpt("short", 3), ("short".to_owned(), 3));
    }
}
