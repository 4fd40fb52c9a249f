//! An HTTP request made its RPC's request message: the JSON body (for
//! `body: "*"` routes) with payload and enum shorthand read, or the query
//! string (for routes without a body), then the path variables, which win
//! over both, as on the real server.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::routes::{Body, Matched};

/// Query keys the gateway itself reads: never request fields.
const OWN_PARAMETERS: &[&str] = &["pretty", "noPayloadShorthand"];

/// The request message, or an INVALID_ARGUMENT message saying why not.
pub(crate) fn build(
    matched: &Matched<'_>,
    query: Option<&str>,
    body: &[u8],
    shorthand: bool,
) -> Result<DynamicMessage, String> {
    let desc = &matched.route.rpc.input;
    let mut json = match matched.route.body {
        Body::Whole => body_json(body)?,
        // Temporal's protos annotate no body field; taken as the whole body
        // of that field if one ever does.
        Body::Field(ref field) => {
            let mut object = Map::new();
            object.insert(field.clone(), body_json(body)?);
            Value::Object(object)
        }
        Body::None => Value::Object(Map::new()),
    };
    if shorthand {
        crate::payloads::expand(desc, &mut json, &mut crate::payloads::Budget::new())?;
    }
    if matched.route.body != Body::Whole {
        let paths: Vec<&[String]> = matched.variables.iter().map(|(f, _)| *f).collect();
        apply_query(desc, &mut json, query.unwrap_or_default(), &paths)?;
    }
    for (path, value) in &matched.variables {
        set_path(desc, &mut json, path, Value::String(value.clone()))?;
    }
    DynamicMessage::deserialize_with_options(
        desc.clone(),
        json,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| format!("temporalproto: {e}"))
}

/// The first JSON value of the body (what follows it is ignored, as Go's
/// decoder does); an empty body is an empty request.
fn body_json(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    if let Some(Err(err)) = serde_json::Deserializer::from_slice(body)
        .into_iter::<NoDuplicateKeys>()
        .next()
        && err.to_string().starts_with(DUPLICATE)
    {
        return Err(format!("temporalproto: {err}"));
    }
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match values.next() {
        Some(Ok(value @ Value::Object(_))) => Ok(value),
        Some(Ok(other)) => Err(format!(
            "temporalproto: syntax error: unexpected token {} (the body must be a JSON object)",
            first_char(&other)
        )),
        Some(Err(err)) => Err(err.to_string()),
        None => Ok(Value::Object(Map::new())),
    }
}

const DUPLICATE: &str = "duplicate field";

/// A JSON value read only to refuse an object naming a key twice, which
/// the real server's protojson refuses and `serde_json::Value` would let
/// the last one win.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE} {key:?}")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
}

fn first_char(value: &Value) -> char {
    value.to_string().chars().next().unwrap_or(' ')
}

/// Query parameters into the request: dotted field paths, proto or JSON
/// names, repeated keys for repeated fields; unknown keys ignored and keys
/// naming path variables skipped, as grpc-gateway does.
fn apply_query(
    desc: &MessageDescriptor,
    json: &mut Value,
    query: &str,
    path_variables: &[&[String]],
) -> Result<(), String> {
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if OWN_PARAMETERS.contains(&key.as_ref()) {
            continue;
        }
        let segments: Vec<String> = key.split('.').map(str::to_string).collect();
        let Some(fields) = resolve(desc, &segments) else {
            continue;
        };
        let proto_path: Vec<String> = fields.iter().map(|f| f.name().to_string()).collect();
        if path_variables.contains(&proto_path.as_slice()) {
            continue;
        }
        let field = fields.last().expect("resolve returns at least one field");
        let converted = query_value(field, &value)
            .map_err(|e| format!("parsing field \"{}\": {e}", field.name()))?;
        let joined = proto_path.join(".");
        if field.is_list() {
            let slot = slot(json, &fields)?;
            match slot {
                Value::Array(items) => items.push(converted),
                other => *other = Value::Array(vec![converted]),
            }
        } else {
            if seen.contains(&joined) {
                return Err(format!("too many values for field \"{}\"", field.name()));
            }
            *slot(json, &fields)? = converted;
        }
        seen.push(joined);
    }
    Ok(())
}

/// The fields a dotted path names, each by proto or JSON name; `None` when
/// a segment names no field or passes through a non-message.
fn resolve(desc: &MessageDescriptor, segments: &[String]) -> Option<Vec<FieldDescriptor>> {
    let mut fields = Vec::with_capacity(segments.len());
    let mut current = desc.clone();
    for (i, segment) in segments.iter().enumerate() {
        let field = current
            .get_field_by_name(segment)
            .or_else(|| current.get_field_by_json_name(segment))?;
        if i + 1 < segments.len() {
            let Kind::Message(inner) = field.kind() else {
                return None;
            };
            if field.is_list() || field.is_map() {
                return None;
            }
            current = inner;
        }
        fields.push(field);
    }
    (!fields.is_empty()).then_some(fields)
}

/// Sets a path variable (proto field names) to a string.
fn set_path(
    desc: &MessageDescriptor,
    json: &mut Value,
    path: &[String],
    value: Value,
) -> Result<(), String> {
    let fields = resolve(desc, path).ok_or_else(|| format!("no field {}", path.join(".")))?;
    *slot(json, &fields)? = value;
    Ok(())
}

/// The JSON slot of a field path, creating parent objects; a field given
/// under its other name (proto vs JSON) is dropped first, so the path wins.
fn slot<'a>(json: &'a mut Value, fields: &[FieldDescriptor]) -> Result<&'a mut Value, String> {
    let mut current = json;
    for field in fields {
        let object = match current {
            Value::Object(object) => object,
            other => {
                *other = Value::Object(Map::new());
                other.as_object_mut().expect("just made an object")
            }
        };
        let existing = object
            .remove(field.json_name())
            .or_else(|| object.remove(field.name()));
        let entry = object
            .entry(field.json_name().to_string())
            .or_insert(existing.unwrap_or(Value::Null));
        current = entry;
    }
    Ok(current)
}

/// A query-string value as the proto3 JSON of its field's kind, checked
/// as grpc-gateway checks it (enums by full name or number only).
fn query_value(field: &FieldDescriptor, raw: &str) -> Result<Value, String> {
    Ok(match field.kind() {
        Kind::Bool => Value::Bool(parse_bool(raw)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let n: i32 = raw.parse().map_err(|_| invalid_int(raw))?;
            Value::from(n)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            let n: u32 = raw.parse().map_err(|_| invalid_int(raw))?;
            Value::from(n)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let n: i64 = raw.parse().map_err(|_| invalid_int(raw))?;
            Value::String(n.to_string())
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let n: u64 = raw.parse().map_err(|_| invalid_int(raw))?;
            Value::String(n.to_string())
        }
        Kind::Float | Kind::Double => {
            let n: f64 = raw
                .parse()
                .map_err(|_| format!("strconv.ParseFloat: parsing {raw:?}: invalid syntax"))?;
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
        Kind::String => Value::String(raw.to_string()),
        Kind::Bytes => {
            let bytes = STANDARD
                .decode(raw)
                .or_else(|_| URL_SAFE.decode(raw))
                .map_err(|e| e.to_string())?;
            Value::String(STANDARD.encode(bytes))
        }
        Kind::Enum(enum_desc) => {
            if enum_desc.get_value_by_name(raw).is_some() {
                Value::String(raw.to_string())
            } else if let Ok(n) = raw.parse::<i32>()
                && enum_desc.get_value(n).is_some()
            {
                Value::from(n)
            } else {
                return Err(format!("{raw:?} is not a valid value"));
            }
        }
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Duration" => Value::String(go_duration(raw)?),
            _ => Value::String(raw.to_string()),
        },
    })
}

fn invalid_int(raw: &str) -> String {
    format!("strconv.ParseInt: parsing {raw:?}: invalid syntax")
}

/// Go's strconv.ParseBool.
fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {raw:?}: invalid syntax"
        )),
    }
}

/// A Go duration (`1m30s`, `500ms`, `2h`) as proto3 JSON seconds (`90s`).
fn go_duration(raw: &str) -> Result<String, String> {
    let invalid = || format!("time: invalid duration {raw:?}");
    let (negative, mut rest) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    if rest == "0" {
        return Ok("0s".into());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| digits + i);
        let scale = match &rest[digits..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        nanos += number * scale;
        rest = &rest[unit_end..];
    }
    let nanos = nanos.round() as i128 * if negative { -1 } else { 1 };
    let (seconds, fraction) = (nanos / 1_000_000_000, (nanos % 1_000_000_000).abs());
    Ok(if fraction == 0 {
        format!("{seconds}s")
    } else {
        format!("{seconds}.{fraction:09}s")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_become_proto_json_seconds() {
        assert_eq!(go_duration("1m30s").unwrap(), "90s");
        assert_eq!(go_duration("500ms").unwrap(), "0.500000000s");
        assert_eq!(go_duration("2h").unwrap(), "7200s");
        assert!(go_duration("10").is_err());
        assert!(go_duration("abc").is_err());
    }

    #[test]
    fn bodies_are_objects_and_only_the_first_value_counts() {
        assert_eq!(body_json(b"").unwrap(), Value::Object(Map::new()));
        assert_eq!(
            body_json(br#"{"a":1} {"b":2}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(body_json(b"[1]").is_err());
        assert!(body_json(br#"{"a":"#).is_err());
        let twice = body_json(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(twice.contains("duplicate field \"b\""), "{twice}");
    }
}
