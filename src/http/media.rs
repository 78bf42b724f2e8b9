//! Content negotiation for GraphQL over HTTP: which media type a response is written in.

use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE};

/// The two media types a GraphQL response can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponse,
    /// `application/json`: the legacy type; well-formed GraphQL responses are 200.
    Json,
}

impl ResponseMedia {
    pub fn content_type(self) -> &'static str {
        match self {
            ResponseMedia::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            ResponseMedia::Json => "application/json; charset=utf-8",
        }
    }

    /// Picks from the `Accept` header: the acceptable type with the highest quality, preferring
    /// `application/graphql-response+json` on a tie. No header, or only wildcards, means JSON.
    /// `None` when the client accepts neither.
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let accept = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        if accept.trim().is_empty() {
            return Some(ResponseMedia::Json);
        }
        let mut best: Option<(f32, u8, ResponseMedia)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let mut quality = 1.0f32;
            for param in parts {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    quality = v.trim().parse().unwrap_or(0.0);
                }
            }
            let candidate = match media.as_str() {
                "application/graphql-response+json" => (2, ResponseMedia::GraphqlResponse),
                "application/json" => (1, ResponseMedia::Json),
                "*/*" | "application/*" => (0, ResponseMedia::Json),
                _ => continue,
            };
            if quality <= 0.0 {
                continue;
            }
            let better =
                best.is_none_or(|(q, rank, _)| quality > q || (quality == q && candidate.0 > rank));
            if better {
                best = Some((quality, candidate.0, candidate.1));
            }
        }
        best.map(|(_, _, media)| media)
    }
}

/// Why a POST body's declared type is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyTypeError {
    Missing,
    Unsupported,
}

/// A POST body must be `application/json`, in UTF-8 (the default when no charset is given).
pub fn check_body_type(headers: &HeaderMap) -> Result<(), BodyTypeError> {
    let value = headers
        .get(CONTENT_TYPE)
        .ok_or(BodyTypeError::Missing)?
        .to_str()
        .map_err(|_| BodyTypeError::Unsupported)?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(BodyTypeError::Unsupported);
    }
    for param in parts {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
            && !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(BodyTypeError::Unsupported);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<ResponseMedia> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, value.parse().unwrap());
        ResponseMedia::negotiate(&headers)
    }

    #[test]
    fn negotiation() {
        use ResponseMedia::*;
        assert_eq!(ResponseMedia::negotiate(&HeaderMap::new()), Some(Json));
        assert_eq!(accept("application/json"), Some(Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(accept("*/*"), Some(Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(Json)
        );
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }

    #[test]
    fn body_types() {
        let mut headers = HeaderMap::new();
        assert_eq!(check_body_type(&headers), Err(BodyTypeError::Missing));
        headers.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(check_body_type(&headers), Ok(()));
        headers.insert(
            CONTENT_TYPE,
            "application/json; charset=latin1".parse().unwrap(),
        );
        assert_eq!(check_body_type(&headers), Err(BodyTypeError::Unsupported));
        headers.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(check_body_type(&headers), Err(BodyTypeError::Unsupported));
    }
}
