//! What the real server's router does before its gateway sees a request:
//! it redirects unclean paths, serves the OpenAPI documents, and refuses a
//! `grpc-timeout` it cannot read.
use axum::response::{IntoResponse, Response};

const SWAGGER_JSON: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swagger.json"));
const OPENAPI_YAML: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.yaml"));

/// A 301 to the cleaned path when `uri`'s path has empty, `.` or `..`
/// segments (as Go's path.Clean, keeping a trailing slash), query kept.
pub(crate) fn redirect_unclean(uri: &http::Uri) -> Option<Response> {
    let path = uri.path();
    let cleaned = clean(path);
    if cleaned == path {
        return None;
    }
    let location = match uri.query() {
        Some(query) => format!("{cleaned}?{query}"),
        None => cleaned,
    };
    Some(
        (
            http::StatusCode::MOVED_PERMANENTLY,
            [(http::header::LOCATION, location)],
        )
            .into_response(),
    )
}

fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut cleaned = format!("/{}", segments.join("/"));
    if path.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

/// `/swagger.json` (OpenAPI 2) and `/openapi.yaml` (OpenAPI 3) of the
/// served protos, as the real server's HTTP port serves them.
pub(crate) fn openapi_document(method: &http::Method, path: &str) -> Option<Response> {
    if method != http::Method::GET {
        return None;
    }
    let body = match path {
        "/swagger.json" => SWAGGER_JSON,
        "/openapi.yaml" => OPENAPI_YAML,
        _ => return None,
    };
    Some(
        (
            [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

/// The `grpc-timeout` header's value when it is not a valid one (up to
/// eight digits and a unit of H, M, S, m, u or n).
pub(crate) fn invalid_grpc_timeout(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get("grpc-timeout")?;
    let text = value.to_str().unwrap_or_default();
    let valid = text.len() >= 2
        && text.len() <= 9
        && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && text.ends_with(['H', 'M', 'S', 'm', 'u', 'n']);
    (!valid).then(|| text.to_string())
}

/// A form POST to a path served only by GET is served as that GET, its
/// form fields read as query parameters (grpc-gateway's fallback).
pub(crate) fn is_form_post(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        assert_eq!(
            clean("/api//v1/namespaces/default"),
            "/api/v1/namespaces/default"
        );
        assert_eq!(clean("/api/v1/workflows/x/../y"), "/api/v1/workflows/y");
        assert_eq!(clean("/api/v1/./a/"), "/api/v1/a/");
        assert_eq!(clean("/"), "/");
        let uri: http::Uri = "/api/v1/namespaces/default?pretty".parse().unwrap();
        assert!(redirect_unclean(&uri).is_none());
    }

    #[test]
    fn grpc_timeouts_are_checked() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(invalid_grpc_timeout(&headers), None);
        headers.insert("grpc-timeout", http::HeaderValue::from_static("2S"));
        assert_eq!(invalid_grpc_timeout(&headers), None);
        headers.insert("grpc-timeout", http::HeaderValue::from_static("abc"));
        assert_eq!(invalid_grpc_timeout(&headers), Some("abc".into()));
        headers.insert("grpc-timeout", http::HeaderValue::from_static("123456789S"));
        assert!(invalid_grpc_timeout(&headers).is_some());
    }
}
