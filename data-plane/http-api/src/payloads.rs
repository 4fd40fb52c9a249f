//! Temporal's payload shorthand, both ways, on proto3 JSON guided by the
//! descriptors: a `json/plain` payload is its JSON value, a list of them a
//! JSON array, as the real server's HTTP API writes and reads them. Enum
//! shorthand on input (`"UseExisting"` for
//! `WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING`) is read here too, as it is a
//! walk of the same kind.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

const PAYLOAD: &str = "temporal.api.common.v1.Payload";
const PAYLOADS: &str = "temporal.api.common.v1.Payloads";
const ANY: &str = "google.protobuf.Any";
const BINARY_NULL: &str = "YmluYXJ5L251bGw=";

/// Output: every payload of `value` (the proto3 JSON of a `desc` message)
/// in shorthand where it has one. A `json/plain` payload whose data is not
/// JSON fails the whole answer, as on the real server.
pub(crate) fn shorten(
    pool: &DescriptorPool,
    desc: &MessageDescriptor,
    value: &mut Value,
) -> Result<(), String> {
    match desc.full_name() {
        PAYLOAD => {
            if let Some(short) = short_payload(value)? {
                *value = short;
            }
            return Ok(());
        }
        PAYLOADS => {
            let items = match value.get_mut("payloads") {
                Some(Value::Array(items)) => std::mem::take(items),
                _ => Vec::new(),
            };
            let mut all_short = true;
            let mut written = Vec::with_capacity(items.len());
            for item in items {
                match short_payload(&item)? {
                    Some(short) => written.push(short),
                    None => {
                        all_short = false;
                        written.push(item);
                    }
                }
            }
            *value = if all_short {
                Value::Array(written)
            } else {
                json!({ "payloads": written })
            };
            return Ok(());
        }
        ANY => return shorten_any(pool, value),
        _ => {}
    }
    let Value::Object(object) = value else {
        return Ok(());
    };
    for (key, item) in object.iter_mut() {
        let Some(field) = desc.get_field_by_json_name(key) else {
            continue;
        };
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        if field.is_map() {
            let Kind::Message(value_desc) = inner.map_entry_value_field().kind() else {
                continue;
            };
            if let Value::Object(entries) = item {
                for entry in entries.values_mut() {
                    shorten(pool, &value_desc, entry)?;
                }
            }
        } else if field.is_list() {
            if let Value::Array(items) = item {
                for entry in items {
                    shorten(pool, &inner, entry)?;
                }
            }
        } else {
            shorten(pool, &inner, item)?;
        }
    }
    Ok(())
}

/// An `Any` is written with its type's fields inline: walk them as that type.
fn shorten_any(pool: &DescriptorPool, value: &mut Value) -> Result<(), String> {
    let Some(type_name) = value
        .get("@type")
        .and_then(Value::as_str)
        .and_then(|url| url.rsplit('/').next())
        .map(str::to_string)
    else {
        return Ok(());
    };
    match pool.get_message_by_name(&type_name) {
        Some(desc) if desc.full_name() != ANY => shorten(pool, &desc, value),
        _ => Ok(()),
    }
}

/// The shorthand of one payload (in full proto3 JSON form), or `None` when
/// it has none (another encoding, or metadata besides the encoding).
fn short_payload(full: &Value) -> Result<Option<Value>, String> {
    let metadata = full.get("metadata").and_then(Value::as_object);
    let decoded = |key: &str| -> Option<Vec<u8>> {
        metadata?
            .get(key)?
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
    };
    let Some(encoding) = decoded("encoding") else {
        return Ok(None);
    };
    let keys = metadata.map_or(0, Map::len);
    let data = full
        .get("data")
        .and_then(Value::as_str)
        .map(|d| STANDARD.decode(d).unwrap_or_default())
        .unwrap_or_default();
    match encoding.as_slice() {
        b"binary/null" => Ok(Some(json!({"metadata": {"encoding": BINARY_NULL}}))),
        b"json/plain" if keys == 1 => {
            let value: Value = serde_json::from_slice(&data).map_err(|e| {
                format!("MaybeMarshalProtoJSON impl for *common.Payloads failed: {e}")
            })?;
            Ok(Some(match go_normalized(value) {
                Value::Null => json!({"metadata": {"encoding": BINARY_NULL}}),
                other => other,
            }))
        }
        b"json/protobuf" if keys == 2 => {
            let Some(message_type) = decoded("messageType") else {
                return Ok(None);
            };
            let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&data) else {
                return Ok(None);
            };
            object.insert(
                "_protoMessageType".into(),
                Value::String(String::from_utf8_lossy(&message_type).into_owned()),
            );
            Ok(Some(go_normalized(Value::Object(object))))
        }
        _ => Ok(None),
    }
}

/// Input: payloads in shorthand made full, and enum shorthand made names,
/// in `value`, the JSON of a `desc` request (proto or JSON field names).
/// The most payloads one request may hold: each shorthand value grows
/// several-fold when made full, before the call is authorised or its size
/// checked, so this bounds what one request can make the cell allocate.
pub(crate) const MAX_PAYLOADS: usize = 10_000;

/// Counts payloads made full against [`MAX_PAYLOADS`].
pub(crate) struct Budget(usize);

impl Budget {
    pub(crate) fn new() -> Self {
        Self(MAX_PAYLOADS)
    }

    fn spend(&mut self) -> Result<(), String> {
        self.0 = self
            .0
            .checked_sub(1)
            .ok_or_else(|| format!("a request holds at most {MAX_PAYLOADS} payloads"))?;
        Ok(())
    }
}

pub(crate) fn expand(
    desc: &MessageDescriptor,
    value: &mut Value,
    budget: &mut Budget,
) -> Result<(), String> {
    let Value::Object(object) = value else {
        return Ok(());
    };
    for (key, item) in object.iter_mut() {
        let Some(field) = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key))
        else {
            continue;
        };
        match field.kind() {
            Kind::Enum(enum_desc) => {
                let fix = |v: &mut Value| {
                    if let Value::String(s) = v
                        && enum_desc.get_value_by_name(s).is_none()
                    {
                        let long = screaming_snake(&format!("{}_{s}", enum_desc.name()));
                        if enum_desc.get_value_by_name(&long).is_some() {
                            *s = long;
                        }
                    }
                };
                match item {
                    Value::Array(items) => items.iter_mut().for_each(fix),
                    other => fix(other),
                }
            }
            Kind::Message(inner) if field.is_map() => {
                let value_field = inner.map_entry_value_field();
                if let (Kind::Message(value_desc), Value::Object(entries)) =
                    (value_field.kind(), &mut *item)
                {
                    for entry in entries.values_mut() {
                        if value_desc.full_name() == PAYLOAD {
                            budget.spend()?;
                            // The real server drops a map value it cannot read.
                            if let Ok(full) = full_payload(std::mem::take(entry)) {
                                *entry = full;
                            }
                        } else {
                            expand(&value_desc, entry, budget)?;
                        }
                    }
                }
            }
            Kind::Message(inner) if field.is_list() => {
                if let Value::Array(items) = item {
                    for entry in items {
                        expand_message(&inner, entry, budget)?;
                    }
                }
            }
            Kind::Message(inner) => expand_message(&inner, item, budget)?,
            _ => {}
        }
    }
    Ok(())
}

fn expand_message(
    desc: &MessageDescriptor,
    value: &mut Value,
    budget: &mut Budget,
) -> Result<(), String> {
    match desc.full_name() {
        PAYLOAD => {
            budget.spend()?;
            *value = full_payload(std::mem::take(value))?;
            Ok(())
        }
        PAYLOADS => {
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    let items = std::mem::take(items)
                        .into_iter()
                        .map(|item| {
                            budget.spend()?;
                            full_payload(item)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    *value = json!({ "payloads": items });
                }
                Value::Object(object) => {
                    if let Some(Value::Array(items)) = object.get_mut("payloads") {
                        for item in items.iter_mut() {
                            budget.spend()?;
                            *item = full_payload(std::mem::take(item))?;
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "temporalproto: syntax error: unexpected token {other} for Payloads"
                    ));
                }
            }
            Ok(())
        }
        _ => expand(desc, value, budget),
    }
}

/// One payload in shorthand (or already full) in its full proto3 JSON form.
fn full_payload(value: Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(json!({"metadata": {"encoding": BINARY_NULL}}));
    }
    if is_full_payload(&value) {
        return Ok(value);
    }
    let (metadata, data) = match value {
        Value::Object(mut object) if object.contains_key("_protoMessageType") => {
            let Some(Value::String(message_type)) = object.remove("_protoMessageType") else {
                return Err("_protoMessageType must be a string".into());
            };
            let data = go_marshal(Value::Object(object));
            (
                json!({"encoding": STANDARD.encode("json/protobuf"), "messageType": STANDARD.encode(message_type)}),
                data,
            )
        }
        other => (
            json!({"encoding": STANDARD.encode("json/plain")}),
            go_marshal(other),
        ),
    };
    Ok(json!({"metadata": metadata, "data": STANDARD.encode(data)}))
}

/// Whether an object is a payload in full form: metadata with an encoding,
/// and either base64 data beside it or nothing but the binary/null encoding.
fn is_full_payload(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    let Some(metadata) = object.get("metadata").and_then(Value::as_object) else {
        return false;
    };
    let Some(encoding) = metadata.get("encoding") else {
        return false;
    };
    match object.get("data") {
        None => object.len() == 1 && encoding == BINARY_NULL,
        Some(Value::String(data)) => {
            object.len() == 2
                && is_base64(data)
                && metadata.values().all(|v| v.as_str().is_some_and(is_base64))
        }
        Some(_) => false,
    }
}

fn is_base64(s: &str) -> bool {
    if s.contains(['-', '_']) {
        URL_SAFE.decode(s).is_ok() || URL_SAFE_NO_PAD.decode(s).is_ok()
    } else {
        STANDARD.decode(s).is_ok()
    }
}

/// JSON as Go's encoding/json writes what it read into `interface{}`: keys
/// sorted, compact, an empty array as null, numbers through float64 unless
/// they fit an int64.
fn go_marshal(value: Value) -> Vec<u8> {
    serde_json::to_vec(&go_normalized(value)).unwrap_or_default()
}

fn go_normalized(value: Value) -> Value {
    match value {
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.into_iter().map(go_normalized).collect()),
        // serde_json's map is ordered by key: sorted, as Go writes it.
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| (k, go_normalized(v)))
                .collect(),
        ),
        Value::Number(n) if n.is_i64() => Value::Number(n),
        Value::Number(n) => {
            let float = n.as_f64().unwrap_or_default();
            if float.fract() == 0.0 && float.abs() < 1e21 {
                // Go writes an integral float64 without a decimal point.
                serde_json::from_str(&format!("{float}")).unwrap_or(Value::Number(n))
            } else {
                serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)
            }
        }
        other => other,
    }
}

/// `UseExisting` → `USE_EXISTING`, as api-go's strcase turns an enum
/// shorthand into its value name.
fn screaming_snake(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    let mut out = String::with_capacity(chars.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, ' ' | '-' | '.' | '_') {
            if !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next = chars.get(i + 1).copied();
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_alphabetic() && c.is_ascii_digit())
                || (prev.is_ascii_digit() && c.is_alphabetic())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(char::is_lowercase));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn enum_shorthand_becomes_the_value_name() {
        assert_eq!(
            screaming_snake("WorkflowIdConflictPolicy_UseExisting"),
            "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING"
        );
        assert_eq!(
            screaming_snake("EventType_use_existing"),
            "EVENT_TYPE_USE_EXISTING"
        );
        assert_eq!(screaming_snake("HTTPServer2x"), "HTTP_SERVER_2_X");
    }

    #[test]
    fn json_payloads_are_written_as_their_values_and_read_back() {
        let full = json!({"metadata": {"encoding": b64("json/plain")}, "data": b64(r#"{"b":[],"a":1.0}"#)});
        assert_eq!(
            short_payload(&full).unwrap(),
            Some(json!({"a": 1, "b": null}))
        );
        let null = json!({"metadata": {"encoding": b64("json/plain")}, "data": b64("null")});
        assert_eq!(
            short_payload(&null).unwrap(),
            Some(json!({"metadata": {"encoding": BINARY_NULL}}))
        );
        let extra = json!({"metadata": {"encoding": b64("json/plain"), "type": b64("Keyword")}, "data": b64("1")});
        assert_eq!(short_payload(&extra).unwrap(), None);
        let bad = json!({"metadata": {"encoding": b64("json/plain")}, "data": b64("nope")});
        assert!(short_payload(&bad).is_err());
        let proto = json!({"metadata": {"encoding": b64("json/protobuf"), "messageType": b64("a.B")}, "data": b64(r#"{"name":"n"}"#)});
        assert_eq!(
            short_payload(&proto).unwrap(),
            Some(json!({"_protoMessageType": "a.B", "name": "n"}))
        );

        assert_eq!(
            full_payload(json!({"z": [], "a": "x"})).unwrap(),
            json!({"metadata": {"encoding": b64("json/plain")}, "data": b64(r#"{"a":"x","z":null}"#)})
        );
        assert_eq!(full_payload(full.clone()).unwrap(), full);
        assert_eq!(
            full_payload(Value::Null).unwrap(),
            json!({"metadata": {"encoding": BINARY_NULL}})
        );
        assert_eq!(
            full_payload(json!({"_protoMessageType": "a.B", "name": "n"})).unwrap(),
            proto
        );
        // A lookalike with other keys is a value, not a full payload.
        let lookalike = json!({"metadata": {"encoding": "x"}, "data": "eA==", "more": 1});
        assert_eq!(
            full_payload(lookalike.clone()).unwrap()["metadata"]["encoding"],
            json!(b64("json/plain"))
        );
    }
}
