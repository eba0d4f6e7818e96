//! keepalived.conf tokens: words, `{`, `}` and line ends, with keepalived's rules:
//! `!` and `#` start a comment anywhere outside double quotes (so `auth_pass k@l!ve1` is
//! the key `k@l`), a backslash escapes the next character, double quotes group words (a
//! quote left open at the end of the line is an error, as in keepalived), and
//! `include GLOB` splices in the matching files (relative to the including file's folder).
//!
//! The file is read as bytes, like keepalived reads it: a Latin-1 byte in a comment or a
//! password is fine. Each word keeps its bytes; the reader asks for text only where a value
//! must be text, and points at the word when it is not. Lexing is one pass over the bytes
//! (columns are counted as it goes), so its time is linear in the file's size.
//!
//! Words after `auth_pass` are secrets: their characters are masked in the copy of the line
//! kept for quoting in diagnostics.
use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, Sources, Span};

/// `include` nesting deeper than this is an error (it is almost certainly a loop).
const MAX_INCLUDE_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Word,
    Open,
    Close,
    EndOfLine,
}

#[derive(Clone)]
pub struct Token {
    pub kind: Kind,
    /// The word as text (bytes that are not UTF-8 shown as U+FFFD).
    pub text: String,
    /// The word's bytes as keepalived reads them (quotes and escapes resolved).
    pub bytes: Vec<u8>,
    pub span: Span,
}

/// Words can be secrets: `Debug` shows the position only.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}@{}:{}", self.kind, self.span.line, self.span.column)
    }
}

impl Token {
    /// The word as text, or `None` when its bytes are not UTF-8.
    pub fn utf8(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// Reads `path` and everything it includes into one token stream.
pub fn lex_file(
    path: &Path,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<Token>, Diagnostic> {
    let mut out = Vec::new();
    lex_into(path, None, 0, sources, diagnostics, &mut out)?;
    Ok(out)
}

fn lex_into(
    path: &Path,
    included_at: Option<&Span>,
    depth: usize,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
    out: &mut Vec<Token>,
) -> Result<(), Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostic::error(
            format!("cannot read {}: {e}", path.display()),
            included_at.cloned(),
        )
    })?;
    lex_bytes(path, &bytes, depth, sources, diagnostics, out)
}

/// Lexes `text` as if read from `path` (includes resolve relative to its folder).
pub fn lex_str(
    path: &Path,
    text: &[u8],
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<Token>, Diagnostic> {
    let mut out = Vec::new();
    lex_bytes(path, text, 0, sources, diagnostics, &mut out)?;
    Ok(out)
}

fn lex_bytes(
    path: &Path,
    text: &[u8],
    depth: usize,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
    out: &mut Vec<Token>,
) -> Result<(), Diagnostic> {
    sources.add_bytes(path, text);
    let mut lines = text.split(|&b| b == b'\n').peekable();
    let mut index = 0;
    while let Some(raw) = lines.next() {
        index += 1;
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let (words, end_column) = match lex_line(path, index, line) {
            Ok(lexed) => lexed,
            Err(error) => {
                // An open quote after `auth_pass`: the rest of the line is the secret.
                if let Some(span) = &error.span
                    && line.windows(9).any(|w| w == b"auth_pass")
                {
                    sources.mask(&Span {
                        len: usize::MAX / 2,
                        ..span.clone()
                    });
                }
                return Err(error);
            }
        };
        mask_secrets(&words, sources);
        if words
            .first()
            .is_some_and(|t| t.kind == Kind::Word && t.bytes == b"include")
        {
            let Some(pattern) = words.get(1) else {
                return Err(Diagnostic::error(
                    "`include` needs a file or glob pattern",
                    Some(words[0].span.clone()),
                ));
            };
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(Diagnostic::error(
                    format!(
                        "includes nested more than {MAX_INCLUDE_DEPTH} deep (an include loop?)"
                    ),
                    Some(pattern.span.clone()),
                ));
            }
            for file in expand(path, pattern, diagnostics)? {
                lex_into(
                    &file,
                    Some(&pattern.span),
                    depth + 1,
                    sources,
                    diagnostics,
                    out,
                )?;
            }
            continue;
        }
        let had_words = !words.is_empty();
        out.extend(words);
        if had_words {
            out.push(Token {
                kind: Kind::EndOfLine,
                text: String::new(),
                bytes: Vec::new(),
                span: Span {
                    file: path.to_path_buf(),
                    line: index,
                    column: end_column,
                    len: 1,
                },
            });
        }
    }
    Ok(())
}

/// Masks the words after each `auth_pass` (up to the line's end or a brace) in `sources`.
fn mask_secrets(words: &[Token], sources: &mut Sources) {
    let mut secret = false;
    for token in words {
        match token.kind {
            Kind::Word if secret => sources.mask(&token.span),
            Kind::Word => secret = token.bytes == b"auth_pass",
            _ => secret = false,
        }
    }
}

/// The files an `include` pattern names, sorted; relative patterns start at `from`'s folder.
fn expand(
    from: &Path,
    pattern: &Token,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>, Diagnostic> {
    if cfg!(fuzzing) {
        // Fuzzed input must not walk the file system.
        return Ok(Vec::new());
    }
    let Some(text) = pattern.utf8() else {
        return Err(Diagnostic::error(
            "this include pattern is not UTF-8 text",
            Some(pattern.span.clone()),
        ));
    };
    let base = from.parent().unwrap_or(Path::new("."));
    let full = if Path::new(text).is_absolute() {
        PathBuf::from(text)
    } else {
        base.join(text)
    };
    let paths = glob::glob(&full.to_string_lossy()).map_err(|e| {
        Diagnostic::error(
            format!("bad include pattern `{text}`: {e}"),
            Some(pattern.span.clone()),
        )
    })?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        diagnostics.push(Diagnostic::warning(
            format!("include `{text}` matches no file"),
            Some(pattern.span.clone()),
        ));
    }
    Ok(files)
}

/// Whether `b` starts a character (is not a UTF-8 continuation byte): columns count these.
fn starts_char(b: u8) -> bool {
    b & 0xC0 != 0x80
}

/// Splits one line into tokens (comments dropped, quotes and escapes resolved); also returns
/// the column where its tokens end (its comment, or just past its last character). One
/// pass: columns are counted as it goes.
pub fn lex_line(
    file: &Path,
    line_number: usize,
    line: &[u8],
) -> Result<(Vec<Token>, usize), Diagnostic> {
    let mut tokens = Vec::new();
    // Byte index and the 1-based column of the byte at `at`.
    let mut at = 0;
    let mut column = 1;
    let span = |column: usize, len: usize| Span {
        file: file.to_path_buf(),
        line: line_number,
        column,
        len: len.max(1),
    };
    let advance = |at: &mut usize, column: &mut usize| {
        if starts_char(line[*at]) {
            *column += 1;
        }
        *at += 1;
    };
    while at < line.len() {
        let b = line[at];
        match b {
            b if b.is_ascii_whitespace() => advance(&mut at, &mut column),
            b'!' | b'#' => break,
            b'{' | b'}' => {
                tokens.push(Token {
                    kind: if b == b'{' { Kind::Open } else { Kind::Close },
                    text: char::from(b).to_string(),
                    bytes: vec![b],
                    span: span(column, 1),
                });
                advance(&mut at, &mut column);
            }
            _ => {
                let start_column = column;
                let mut bytes = Vec::new();
                let mut quote_column = None;
                while at < line.len() {
                    let c = line[at];
                    if quote_column.is_none()
                        && (c.is_ascii_whitespace() || matches!(c, b'{' | b'}' | b'!' | b'#'))
                    {
                        break;
                    }
                    match c {
                        b'"' => {
                            quote_column = match quote_column {
                                None => Some(column),
                                Some(_) => None,
                            }
                        }
                        b'\\' if at + 1 < line.len() => {
                            advance(&mut at, &mut column);
                            bytes.push(line[at]);
                        }
                        c => bytes.push(c),
                    }
                    advance(&mut at, &mut column);
                }
                if let Some(open) = quote_column {
                    return Err(Diagnostic::error(
                        "this `\"` is never closed on its line",
                        Some(span(open, 1)),
                    )
                    .with_help(
                        "keepalived quotes end on the line they start on: add the closing `\"`",
                    ));
                }
                tokens.push(Token {
                    kind: Kind::Word,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    bytes,
                    span: span(start_column, column - start_column),
                });
            }
        }
    }
    Ok((tokens, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        lex_line(Path::new("t.conf"), 1, line.as_bytes())
            .unwrap()
            .0
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn keepalived_comment_and_quote_rules() {
        assert_eq!(words("    auth_pass k@l!ve1"), ["auth_pass", "k@l"]);
        assert_eq!(words("auth_pass \"k@l!ve1\""), ["auth_pass", "k@l!ve1"]);
        assert_eq!(
            words("auth_pass k@l\\!ve1 # comment"),
            ["auth_pass", "k@l!ve1"]
        );
        assert_eq!(
            words("group { VI_1 VI_2 }"),
            ["group", "{", "VI_1", "VI_2", "}"]
        );
        assert_eq!(words("vrrp_instance VI_1{"), ["vrrp_instance", "VI_1", "{"]);
        assert_eq!(
            words("notify \"/bin/echo a b\""),
            ["notify", "/bin/echo a b"]
        );
        assert_eq!(words("! all comment"), Vec::<String>::new());
    }

    #[test]
    fn an_unterminated_quote_is_an_error_at_the_quote() {
        let error = lex_line(Path::new("t.conf"), 4, b"  auth_pass \"abc def").unwrap_err();
        assert_eq!(error.location().as_deref(), Some("t.conf:4:13"));
    }

    #[test]
    fn bytes_are_kept_and_columns_count_characters() {
        let (tokens, end) =
            lex_line(Path::new("t.conf"), 1, b"auth_pass caf\xe9 ! \xe9t\xe9").unwrap();
        assert_eq!(tokens[1].bytes, b"caf\xe9");
        assert_eq!(tokens[1].utf8(), None);
        assert_eq!(end, 16);
        let (tokens, _) =
            lex_line(Path::new("t.conf"), 1, "é virtual_router_id 300".as_bytes()).unwrap();
        assert_eq!((tokens[2].span.column, tokens[2].span.len), (21, 3));
    }

    #[test]
    fn columns_are_character_positions() {
        let (tokens, _) = lex_line(Path::new("t.conf"), 3, b"    virtual_router_id 300").unwrap();
        assert_eq!(
            (
                tokens[1].span.line,
                tokens[1].span.column,
                tokens[1].span.len
            ),
            (3, 23, 3)
        );
    }
}
