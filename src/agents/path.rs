//! The path of a raw call, checked before anything is sent: it must name a place below the
//! provider's API base, and nothing else. The upstream stack joins the base and the path as
//! text and the URL parser then resolves dot segments, so a path that leaves the base (`/../`,
//! its percent-encoded forms), names another host (`//evil.example`, `https://…`, a backslash
//! that some parsers read as a slash) or smuggles a query, fragment or control character is
//! refused here, with the reason.

use std::borrow::Cow;

/// The longest path accepted, in bytes.
pub const MAX_PATH: usize = 2048;

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    #[error("the path is empty")]
    Empty,
    #[error("the path is longer than {MAX_PATH} bytes")]
    TooLong,
    #[error("the path must be relative to the provider's API base and start with a single `/`")]
    NotRelative,
    #[error("the path has an empty segment (`//`), which could name another host")]
    EmptySegment,
    #[error("the path has a `.` or `..` segment, which could leave the provider's API base")]
    DotSegment,
    #[error("the path has a backslash")]
    Backslash,
    #[error("the path has a control character or a space")]
    Control,
    #[error("the path has `?` or `#`: give the query string as `query`")]
    QueryOrFragment,
    #[error("the path has an invalid or encoded-twice percent escape")]
    BadEscape,
}

/// Checks `path`; returns it unchanged when it stays below the base.
pub fn check(path: &str) -> Result<&str, PathRefused> {
    if path.is_empty() {
        return Err(PathRefused::Empty);
    }
    if path.len() > MAX_PATH {
        return Err(PathRefused::TooLong);
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(PathRefused::Control);
    }
    if path.contains('\\') {
        return Err(PathRefused::Backslash);
    }
    if path.contains(['?', '#']) {
        return Err(PathRefused::QueryOrFragment);
    }
    if !path.starts_with('/') {
        return Err(PathRefused::NotRelative);
    }
    if path.contains("//") {
        return Err(PathRefused::EmptySegment);
    }
    for segment in path[1..].split('/') {
        let decoded = decode(segment)?;
        if decoded.chars().any(char::is_control) {
            return Err(PathRefused::Control);
        }
        if decoded.contains(['/', '\\']) {
            return Err(PathRefused::Backslash);
        }
        if decoded == "." || decoded == ".." {
            return Err(PathRefused::DotSegment);
        }
    }
    Ok(path)
}

/// A segment percent-decoded once; an escape that is not two hex digits, or that decodes to
/// `%` (an escape meant to be decoded twice), is refused.
fn decode(segment: &str) -> Result<Cow<'_, str>, PathRefused> {
    let bytes = segment.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathRefused::BadEscape)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(PathRefused::BadEscape);
            }
        }
    }
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| PathRefused::BadEscape)?;
    if decoded.contains('%') && segment.contains('%') {
        return Err(PathRefused::BadEscape);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_the_base_pass() {
        for path in [
            "/crm/v3/owners",
            "/crm/v3/owners/",
            "/services/data/v62.0/sobjects/Account/describe",
            "/gmail/v1/users/me/labels",
            "/a%20b",
            "/files/name%2Ejson",
        ] {
            assert_eq!(check(path), Ok(path), "{path}");
        }
    }

    #[test]
    fn paths_that_leave_the_base_are_refused() {
        let cases = [
            ("", PathRefused::Empty),
            ("crm/v3/owners", PathRefused::NotRelative),
            ("https://evil.example/x", PathRefused::NotRelative),
            ("//evil.example/x", PathRefused::EmptySegment),
            ("/crm//v3", PathRefused::EmptySegment),
            ("/../salesforce/x", PathRefused::DotSegment),
            ("/crm/./v3", PathRefused::DotSegment),
            ("/crm/..", PathRefused::DotSegment),
            ("/%2e%2e/x", PathRefused::DotSegment),
            ("/%2E./x", PathRefused::DotSegment),
            ("/%252e%252e/x", PathRefused::BadEscape),
            ("/a%2fb", PathRefused::Backslash),
            ("/a%5cb", PathRefused::Backslash),
            ("/\\evil.example", PathRefused::Backslash),
            ("/a\nb", PathRefused::Control),
            ("/a%0ab", PathRefused::Control),
            ("/a b", PathRefused::Control),
            ("/x?token=1", PathRefused::QueryOrFragment),
            ("/x#y", PathRefused::QueryOrFragment),
            ("/%zz", PathRefused::BadEscape),
            ("/%2", PathRefused::BadEscape),
        ];
        for (path, refused) in cases {
            assert_eq!(check(path), Err(refused), "{path:?}");
        }
        assert_eq!(
            check(&format!("/{}", "a".repeat(MAX_PATH))),
            Err(PathRefused::TooLong)
        );
    }
}
