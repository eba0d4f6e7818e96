//! keepalived.conf tokens: words, `{`, `}` and line ends, with keepalived's rules:
//! `!` and `#` start a comment anywhere outside double quotes (so `auth_pass k@l!ve1` is
//! the key `k@l`), a backslash escapes the next character, double quotes group words, and
//! `include GLOB` splices in the matching files (relative to the including file's folder).
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

#[derive(Debug, Clone)]
pub struct Token {
    pub kind: Kind,
    pub text: String,
    pub span: Span,
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
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::error(
            format!("cannot read {}: {e}", path.display()),
            included_at.cloned(),
        )
    })?;
    lex_text(path, &text, depth, sources, diagnostics, out)
}

/// Lexes `text` as if read from `path` (includes resolve relative to its folder).
pub fn lex_str(
    path: &Path,
    text: &str,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<Token>, Diagnostic> {
    let mut out = Vec::new();
    lex_text(path, text, 0, sources, diagnostics, &mut out)?;
    Ok(out)
}

fn lex_text(
    path: &Path,
    text: &str,
    depth: usize,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
    out: &mut Vec<Token>,
) -> Result<(), Diagnostic> {
    sources.add(path, text);
    for (index, line) in text.lines().enumerate() {
        let words = lex_line(path, index + 1, line);
        if words
            .first()
            .is_some_and(|t| t.kind == Kind::Word && t.text == "include")
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
                span: Span {
                    file: path.to_path_buf(),
                    line: index + 1,
                    column: line.len() + 1,
                    len: 1,
                },
            });
        }
    }
    Ok(())
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
    let base = from.parent().unwrap_or(Path::new("."));
    let full = if Path::new(&pattern.text).is_absolute() {
        PathBuf::from(&pattern.text)
    } else {
        base.join(&pattern.text)
    };
    let paths = glob::glob(&full.to_string_lossy()).map_err(|e| {
        Diagnostic::error(
            format!("bad include pattern `{}`: {e}", pattern.text),
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
            format!("include `{}` matches no file", pattern.text),
            Some(pattern.span.clone()),
        ));
    }
    Ok(files)
}

/// Splits one line into tokens (comments dropped, quotes and escapes resolved).
pub fn lex_line(file: &Path, line_number: usize, line: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    let span = |start: usize, end: usize| Span {
        file: file.to_path_buf(),
        line: line_number,
        column: line[..start].chars().count() + 1,
        len: line[start..end].chars().count().max(1),
    };
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '!' | '#' => break,
            '{' | '}' => {
                chars.next();
                let kind = if c == '{' { Kind::Open } else { Kind::Close };
                tokens.push(Token {
                    kind,
                    text: c.to_string(),
                    span: span(start, start + 1),
                });
            }
            _ => {
                let mut text = String::new();
                let mut end = start;
                let mut in_quotes = false;
                while let Some(&(at, c)) = chars.peek() {
                    if !in_quotes && (c.is_whitespace() || matches!(c, '{' | '}' | '!' | '#')) {
                        break;
                    }
                    chars.next();
                    end = at + c.len_utf8();
                    match c {
                        '"' => in_quotes = !in_quotes,
                        '\\' => {
                            if let Some((at, escaped)) = chars.next() {
                                text.push(escaped);
                                end = at + escaped.len_utf8();
                            }
                        }
                        c => text.push(c),
                    }
                }
                tokens.push(Token {
                    kind: Kind::Word,
                    text,
                    span: span(start, end),
                });
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        lex_line(Path::new("t.conf"), 1, line)
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
    fn columns_are_character_positions() {
        let tokens = lex_line(Path::new("t.conf"), 3, "    virtual_router_id 300");
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
