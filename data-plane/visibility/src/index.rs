//! Search-attribute payloads: validation of what users send, and the rows of
//! `visibility_search_attributes` for what a run carries.

use orrery_proto::api::common::v1::{Payload, SearchAttributes};
use serde_json::Value as Json;

use crate::catalog::{AttrKind, Catalog, Storage};
use crate::literals::{clamp_i64, parse_rfc3339_ns};
use crate::text::text_tokens;
use crate::types::SaType;

/// Payload metadata key holding the attribute's type name.
pub const METADATA_TYPE: &str = "type";
const METADATA_ENCODING: &str = "encoding";
const ENCODING_JSON: &[u8] = b"json/plain";
const ENCODING_NULL: &[u8] = b"binary/null";

/// One row of `visibility_search_attributes` (without namespace and run).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedValue {
    pub name: String,
    pub ordinal: i64,
    pub int_value: Option<i64>,
    pub double_value: Option<f64>,
    pub text_value: Option<String>,
}

/// A search attribute a caller may not write. `Display` is the message for
/// gRPC InvalidArgument, worded as the real server's validator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaError(pub String);

/// The real server's limits (dynamic config `frontend.searchAttributes*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaLimits {
    /// `frontend.searchAttributesNumberOfKeysLimit`
    pub max_keys: usize,
    /// `frontend.searchAttributesSizeOfValueLimit` (bytes of a payload's data)
    pub max_value_bytes: usize,
    /// `frontend.searchAttributesTotalSizeLimit` (encoded size of the map)
    pub max_total_bytes: usize,
}

impl Default for SaLimits {
    fn default() -> Self {
        SaLimits {
            max_keys: 100,
            max_value_bytes: 2 * 1024,
            max_total_bytes: 40 * 1024,
        }
    }
}

/// What a payload holds once decoded.
#[derive(Clone, Debug, PartialEq)]
enum Decoded {
    /// `null`, an empty list, `binary/null` or empty data: unset the attribute.
    Unset,
    Values(Vec<Json>),
}

/// Decodes a payload's JSON: `None` if it is not JSON we can read.
fn decode_json(p: &Payload) -> Option<Decoded> {
    let encoding = p.metadata.get(METADATA_ENCODING).map(Vec::as_slice);
    if encoding == Some(ENCODING_NULL) || p.data.is_empty() {
        return Some(Decoded::Unset);
    }
    if encoding != Some(ENCODING_JSON) {
        return None;
    }
    match serde_json::from_slice::<Json>(&p.data).ok()? {
        Json::Null => Some(Decoded::Unset),
        Json::Array(a) if a.is_empty() => Some(Decoded::Unset),
        Json::Array(a) => Some(Decoded::Values(a)),
        v => Some(Decoded::Values(vec![v])),
    }
}

/// Checks one element against a scalar type, as Go's `json.Unmarshal` into
/// the type would.
fn scalar_ok(ty: SaType, v: &Json) -> bool {
    match ty {
        SaType::Bool => v.is_boolean(),
        // An integer literal within i64 (Go refuses 1.0 and 1e3 for int64).
        SaType::Int => v.as_i64().is_some(),
        SaType::Double => v.is_number(),
        SaType::Datetime => v.as_str().and_then(parse_rfc3339_ns).is_some(),
        SaType::Keyword | SaType::Text | SaType::KeywordList => v.is_string(),
    }
}

/// Go's `%v` of a decoded JSON value, for error messages.
fn go_value(v: &Json) -> String {
    match v {
        Json::Null => "<nil>".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
        Json::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Json::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn invalid_value(name: &str, ty: SaType, p: &Payload) -> SaError {
    let shown = match serde_json::from_slice::<Json>(&p.data) {
        Ok(v) => go_value(&v),
        Err(_) => format!("value from <{}>", String::from_utf8_lossy(&p.data)),
    };
    SaError(format!(
        "invalid value for search attribute {name} of type {ty}: {shown}"
    ))
}

/// Checks that `sa` may be written by a user, as the real server's
/// `searchattribute.Validator.Validate` with SQL visibility (lists are only
/// allowed for KeywordList; a one-element list stands for its element): every
/// name is defined and settable, every value decodes as its type. A `null`
/// value, an empty list, `binary/null` or empty data means "unset" and passes.
/// Stamps each payload's `type` metadata with the attribute's type name.
pub fn validate(sa: &mut SearchAttributes, catalog: &Catalog) -> Result<(), SaError> {
    validate_with(sa, catalog, &SaLimits::default())
}

/// [`validate`] with explicit limits (only `max_keys` is checked here, as in
/// the real server; see [`validate_size`] for the others).
pub fn validate_with(
    sa: &mut SearchAttributes,
    catalog: &Catalog,
    limits: &SaLimits,
) -> Result<(), SaError> {
    let n = sa.indexed_fields.len();
    if n > limits.max_keys {
        return Err(SaError(format!(
            "number of search attributes {n} exceeds limit {}",
            limits.max_keys
        )));
    }
    let mut names: Vec<String> = sa.indexed_fields.keys().cloned().collect();
    names.sort();
    for name in names {
        let Some(info) = catalog.get(&name) else {
            return Err(SaError(format!("search attribute {name} is not defined")));
        };
        match info.kind {
            AttrKind::System
            | AttrKind::Predefined {
                user_settable: false,
            } => {
                return Err(SaError(format!(
                    "{name} attribute can't be set in SearchAttributes"
                )));
            }
            _ => {}
        }
        let Some(p) = sa.indexed_fields.get_mut(&name) else {
            continue;
        };
        let ok = match decode_json(p) {
            None => false,
            Some(Decoded::Unset) => true,
            Some(Decoded::Values(vs)) => {
                let is_list = p.data.first() == Some(&b'[');
                match info.ty {
                    // A JSON array of strings; a bare string is refused.
                    SaType::KeywordList => is_list && vs.iter().all(|v| scalar_ok(info.ty, v)),
                    ty => vs.len() == 1 && scalar_ok(ty, &vs[0]),
                }
            }
        };
        if !ok {
            return Err(invalid_value(&name, info.ty, p));
        }
        p.metadata.insert(
            METADATA_TYPE.to_string(),
            info.ty.name().as_bytes().to_vec(),
        );
    }
    Ok(())
}

fn varint_len(v: usize) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

fn bytes_field_len(len: usize) -> usize {
    1 + varint_len(len) + len
}

/// Protobuf-encoded size of a payload (metadata and data; external-payload
/// details are not counted).
fn payload_len(p: &Payload) -> usize {
    let meta: usize = p
        .metadata
        .iter()
        .map(|(k, v)| {
            let entry = bytes_field_len(k.len()) + bytes_field_len(v.len());
            bytes_field_len(entry)
        })
        .sum();
    let data = if p.data.is_empty() {
        0
    } else {
        bytes_field_len(p.data.len())
    };
    meta + data
}

/// The size checks of the real server's `ValidateSize`: each value's data
/// within `max_value_bytes`, the encoded map within `max_total_bytes`.
pub fn validate_size(sa: &SearchAttributes, limits: &SaLimits) -> Result<(), SaError> {
    let mut names: Vec<&String> = sa.indexed_fields.keys().collect();
    names.sort();
    for name in names {
        let len = sa.indexed_fields[name].data.len();
        if len > limits.max_value_bytes {
            return Err(SaError(format!(
                "search attribute {name} value size {len} exceeds size limit {}",
                limits.max_value_bytes
            )));
        }
    }
    let total: usize = sa
        .indexed_fields
        .iter()
        .map(|(k, p)| bytes_field_len(bytes_field_len(k.len()) + bytes_field_len(payload_len(p))))
        .sum();
    if total > limits.max_total_bytes {
        return Err(SaError(format!(
            "total size of search attributes {total} exceeds size limit {}",
            limits.max_total_bytes
        )));
    }
    Ok(())
}

/// The rows of `visibility_search_attributes` for a run's attributes.
/// Column-backed attributes are skipped, and so are values that do not
/// decode and unknown names without a `type` stamp. The type is the
/// payload's `type` metadata if it names one, else the catalog's. Keyword lists give one row per element (ordinal =
/// position), Text one row per distinct token ([`crate::text_tokens`]), every
/// other type one row with ordinal 0: Int in `int_value`, Bool as 0/1,
/// Datetime as nanoseconds since the epoch, Double in `double_value`, Keyword
/// in `text_value`.
pub fn index_rows(sa: &SearchAttributes, catalog: &Catalog) -> Vec<IndexedValue> {
    let mut names: Vec<&String> = sa.indexed_fields.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let p = &sa.indexed_fields[name];
        let stamped = p
            .metadata
            .get(METADATA_TYPE)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(SaType::from_name);
        // A value stamped by `validate` is indexed by its stamp even when the
        // caller's catalog does not know the name: history indexes runs
        // without the namespace's custom attributes at hand.
        let ty = match (catalog.get(name), stamped) {
            (Some(info), _) if info.storage != Storage::Eav => continue,
            (Some(info), stamped) => stamped.unwrap_or(info.ty),
            (None, Some(stamped)) => stamped,
            (None, None) => continue,
        };
        let Some(Decoded::Values(values)) = decode_json(p) else {
            continue;
        };
        let row = |ordinal: usize| IndexedValue {
            name: name.clone(),
            ordinal: ordinal as i64,
            int_value: None,
            double_value: None,
            text_value: None,
        };
        let mut rows = Vec::new();
        let mut valid = true;
        if ty == SaType::Text {
            let mut seen = Vec::new();
            for v in &values {
                let Some(s) = v.as_str() else {
                    valid = false;
                    break;
                };
                for t in text_tokens(s) {
                    if !seen.contains(&t) {
                        seen.push(t);
                    }
                }
            }
            for (i, t) in seen.into_iter().enumerate() {
                rows.push(IndexedValue {
                    text_value: Some(t),
                    ..row(i)
                });
            }
        } else {
            for (i, v) in values.iter().enumerate() {
                let mut r = row(i);
                match ty {
                    SaType::Bool => r.int_value = v.as_bool().map(i64::from),
                    SaType::Int => {
                        r.int_value = v.as_i64().or_else(|| {
                            v.as_f64()
                                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                                .map(|f| f as i64)
                        })
                    }
                    SaType::Double => r.double_value = v.as_f64(),
                    SaType::Datetime => {
                        r.int_value = v.as_str().and_then(parse_rfc3339_ns).map(clamp_i64)
                    }
                    SaType::Keyword | SaType::KeywordList | SaType::Text => {
                        r.text_value = v.as_str().map(str::to_string)
                    }
                }
                if r.int_value.is_none() && r.double_value.is_none() && r.text_value.is_none() {
                    valid = false;
                    break;
                }
                rows.push(r);
            }
        }
        if valid {
            out.extend(rows);
        }
    }
    out
}
