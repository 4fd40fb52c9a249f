//! How an answer is written: proto3 JSON (JSON names, enum names, 64-bit
//! integers as strings, defaults left out) with payload shorthand, compact
//! or pretty, under the content type the real server's gateway gives each
//! of its four marshalers.
use axum::response::{IntoResponse, Response};
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, SerializeOptions};

const NO_SHORTHAND: &str = "application/json+no-payload-shorthand";
const PRETTY: &str = "application/json+pretty";
const PRETTY_NO_SHORTHAND: &str = "application/json+pretty+no-payload-shorthand";

/// The marshaling a request chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    pub pretty: bool,
    /// Payload shorthand in the answer.
    pub shorthand_out: bool,
    /// Payload shorthand read in the request body.
    pub shorthand_in: bool,
}

impl Mode {
    /// As the real server picks its marshaler: `?pretty` and
    /// `?noPayloadShorthand` (present at all) or an `Accept` naming one of
    /// its types choose the answer's; the request's `Content-Type` chooses
    /// how the body is read, and the answer's too when `Accept` does not.
    pub(crate) fn of(headers: &http::HeaderMap, query: Option<&str>) -> Self {
        let has = |key: &str| {
            query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == key))
        };
        let header = |name: http::header::HeaderName| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
        };
        let content_type = header(http::header::CONTENT_TYPE);
        let shorthand_in = !matches!(
            content_type.as_deref(),
            Some(NO_SHORTHAND | PRETTY_NO_SHORTHAND)
        );
        let inbound = match content_type.as_deref() {
            Some(NO_SHORTHAND) => Some((false, false)),
            Some(PRETTY_NO_SHORTHAND) => Some((true, false)),
            Some(PRETTY) => Some((true, true)),
            _ => None,
        };
        let accepted = match header(http::header::ACCEPT).as_deref() {
            Some(NO_SHORTHAND) => Some((false, false)),
            Some(PRETTY_NO_SHORTHAND) => Some((true, false)),
            Some(PRETTY) => Some((true, true)),
            _ => None,
        };
        let (mut pretty, mut shorthand_out) = accepted.or(inbound).unwrap_or((false, true));
        pretty |= has("pretty");
        shorthand_out &= !has("noPayloadShorthand");
        Self {
            pretty,
            shorthand_out,
            shorthand_in,
        }
    }

    /// The content type the real server answers with; its default
    /// marshaler is registered for `*` and says so.
    fn content_type(self) -> &'static str {
        match (self.pretty, self.shorthand_out) {
            (false, true) => "*",
            (true, true) => PRETTY,
            (false, false) => NO_SHORTHAND,
            (true, false) => PRETTY_NO_SHORTHAND,
        }
    }

    /// A message as this mode writes it, or an error message when a
    /// payload claims JSON and holds none (the real server fails too).
    pub(crate) fn write(
        self,
        pool: &DescriptorPool,
        message: &DynamicMessage,
    ) -> Result<serde_json::Value, String> {
        let mut json = message
            .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
            .map_err(|e| e.to_string())?;
        if self.shorthand_out {
            crate::payloads::shorten(pool, &message.descriptor(), &mut json)?;
        }
        Ok(json)
    }

    pub(crate) fn respond(self, status: http::StatusCode, json: &serde_json::Value) -> Response {
        let body = if self.pretty {
            serde_json::to_vec_pretty(json)
        } else {
            serde_json::to_vec(json)
        }
        .unwrap_or_default();
        (
            status,
            [(http::header::CONTENT_TYPE, self.content_type())],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(headers: &[(&'static str, &'static str)], query: Option<&str>) -> Mode {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, http::HeaderValue::from_static(v));
        }
        Mode::of(&map, query)
    }

    #[test]
    fn the_mode_follows_query_accept_and_content_type() {
        let default = mode(&[], None);
        assert_eq!(default.content_type(), "*");
        assert!(default.shorthand_in && default.shorthand_out && !default.pretty);
        assert_eq!(mode(&[], Some("pretty")).content_type(), PRETTY);
        let plain = mode(&[], Some("noPayloadShorthand&x=1"));
        assert_eq!(plain.content_type(), NO_SHORTHAND);
        assert!(plain.shorthand_in, "the query changes only the answer");
        let accept = mode(&[("accept", PRETTY_NO_SHORTHAND)], None);
        assert_eq!(accept.content_type(), PRETTY_NO_SHORTHAND);
        let body = mode(&[("content-type", NO_SHORTHAND)], None);
        assert!(!body.shorthand_in && !body.shorthand_out);
        let other = mode(&[("content-type", "application/json; charset=utf-8")], None);
        assert_eq!(other.content_type(), "*");
    }
}
