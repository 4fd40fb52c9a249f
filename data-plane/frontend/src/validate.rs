//! Input checks, with the real server's messages where SDKs or users rely on
//! them. Every check runs before anything is written.
use std::collections::HashMap;

use orrery_core::limits::{
    BLOB_SIZE_LIMIT_ERROR, BLOB_SIZE_LIMIT_WARN, MAX_ID_LENGTH, MEMO_SIZE_LIMIT_ERROR,
};
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::{Memo, Payloads};
use orrery_proto::api::taskqueue::v1::TaskQueue;
use prost::Message;

pub fn required_id(value: &str, field: &str) -> CellResult<()> {
    if value.trim().is_empty() {
        return Err(CellError::invalid(format!(
            "{field} is not set on request."
        )));
    }
    if value.len() > MAX_ID_LENGTH {
        return Err(CellError::invalid(format!("{field} exceeds length limit.")));
    }
    Ok(())
}

pub fn optional_id(value: &str, field: &str) -> CellResult<()> {
    if value.len() > MAX_ID_LENGTH {
        return Err(CellError::invalid(format!("{field} exceeds length limit.")));
    }
    Ok(())
}

pub fn task_queue(queue: Option<&TaskQueue>) -> CellResult<String> {
    let name = queue.map(|q| q.name.as_str()).unwrap_or_default();
    if name.trim().is_empty() {
        return Err(CellError::invalid("Missing task queue name."));
    }
    if name.len() > MAX_ID_LENGTH {
        return Err(CellError::invalid("TaskQueue exceeds length limit."));
    }
    Ok(name.to_string())
}

pub fn run_id(run_id: &str) -> CellResult<()> {
    if !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
        return Err(CellError::invalid("Invalid RunId."));
    }
    Ok(())
}

pub fn payloads(p: Option<&Payloads>) -> CellResult<()> {
    let size = p.map(|p| p.encoded_len()).unwrap_or(0);
    if size > BLOB_SIZE_LIMIT_ERROR {
        return Err(CellError::invalid("Blob data size exceeds limit."));
    }
    if size > BLOB_SIZE_LIMIT_WARN {
        tracing::warn!(size, limit = BLOB_SIZE_LIMIT_WARN, "large payload");
    }
    Ok(())
}

pub fn memo(m: Option<&Memo>) -> CellResult<()> {
    if m.is_some_and(|m| m.encoded_len() > MEMO_SIZE_LIMIT_ERROR) {
        return Err(CellError::invalid("Memo size exceeds limit."));
    }
    Ok(())
}

/// An empty schedule means "no cron"; anything else must parse.
pub fn cron_schedule(schedule: &str) -> CellResult<()> {
    if schedule.is_empty() {
        return Ok(());
    }
    orrery_history::cron::CronSchedule::parse(schedule)
        .map(|_| ())
        .map_err(|e| CellError::invalid(e.to_string()))
}

/// Bounds on a namespace's `data` map. Temporal sets none; a cell shared
/// by tenants must, or one namespace's record (read on every cache miss and
/// listing) grows without end. Generous for labels and small settings.
pub const NAMESPACE_DATA_MAX_ENTRIES: usize = 64;
pub const NAMESPACE_DATA_MAX_KEY_BYTES: usize = 256;
pub const NAMESPACE_DATA_MAX_VALUE_BYTES: usize = 4 * 1024;
pub const NAMESPACE_DATA_MAX_TOTAL_BYTES: usize = 64 * 1024;

/// A namespace's `data` (as asked, or as it would be stored) within bounds.
pub fn namespace_data(data: &HashMap<String, String>) -> CellResult<()> {
    if data.len() > NAMESPACE_DATA_MAX_ENTRIES {
        return Err(CellError::invalid(format!(
            "Data has {} entries, more than the limit of {NAMESPACE_DATA_MAX_ENTRIES}.",
            data.len()
        )));
    }
    let mut total = 0;
    for (key, value) in data {
        if key.len() > NAMESPACE_DATA_MAX_KEY_BYTES {
            return Err(CellError::invalid(format!(
                "Data key exceeds length limit ({NAMESPACE_DATA_MAX_KEY_BYTES} bytes)."
            )));
        }
        if value.len() > NAMESPACE_DATA_MAX_VALUE_BYTES {
            return Err(CellError::invalid(format!(
                "Data value of key {key:?} exceeds length limit ({NAMESPACE_DATA_MAX_VALUE_BYTES} bytes)."
            )));
        }
        total += key.len() + value.len();
    }
    if total > NAMESPACE_DATA_MAX_TOTAL_BYTES {
        return Err(CellError::invalid(format!(
            "Data exceeds size limit ({NAMESPACE_DATA_MAX_TOTAL_BYTES} bytes of keys and values)."
        )));
    }
    Ok(())
}

/// Bounds on the rest of a namespace's record that a tenant writes. The real
/// server sets none (only gRPC's 4 MiB message size), so each is ours, chosen
/// far above real use: a description is a sentence or a paragraph; an
/// e-mail address is at most 320 bytes (RFC 5321: 64 for the local part, @,
/// 255 for the domain).
pub const NAMESPACE_DESCRIPTION_MAX_BYTES: usize = 1024;
pub const NAMESPACE_OWNER_EMAIL_MAX_BYTES: usize = 320;
/// Custom search attribute aliases map a field to the name users see; there
/// is no use for more of them than the custom attributes a namespace may
/// have, and a name longer than this is no name.
pub const SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES: usize = 256;

/// A namespace's description and owner e-mail within bounds.
pub fn namespace_info(description: &str, owner_email: &str) -> CellResult<()> {
    for (field, value, limit) in [
        ("Description", description, NAMESPACE_DESCRIPTION_MAX_BYTES),
        ("OwnerEmail", owner_email, NAMESPACE_OWNER_EMAIL_MAX_BYTES),
    ] {
        if value.len() > limit {
            return Err(CellError::invalid(format!(
                "{field} exceeds length limit ({limit} bytes)."
            )));
        }
    }
    Ok(())
}

/// A namespace's custom search attribute aliases (as asked, or as they would
/// be stored) within bounds: at most `max_entries` (the custom attributes a
/// namespace may have), each field and alias at most
/// [`SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES`].
pub fn search_attribute_aliases(
    aliases: &HashMap<String, String>,
    max_entries: usize,
) -> CellResult<()> {
    if aliases.len() > max_entries {
        return Err(CellError::invalid(format!(
            "CustomSearchAttributeAliases has {} entries, more than the limit of {max_entries}.",
            aliases.len()
        )));
    }
    for (field, alias) in aliases {
        if field.len() > SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES
            || alias.len() > SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES
        {
            return Err(CellError::invalid(format!(
                "CustomSearchAttributeAliases entry exceeds length limit ({SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES} bytes)."
            )));
        }
    }
    Ok(())
}

pub fn duration_set(d: Option<&prost_wkt_types::Duration>) -> bool {
    d.is_some_and(|d| d.seconds != 0 || d.nanos != 0)
}

pub fn non_negative(d: Option<&prost_wkt_types::Duration>, field: &str) -> CellResult<()> {
    if d.is_some_and(|d| d.seconds < 0 || d.nanos < 0) {
        return Err(CellError::invalid(format!("Invalid {field}.")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_queues_are_checked() {
        assert!(required_id("", "WorkflowId").is_err());
        assert!(required_id(&"x".repeat(1001), "WorkflowId").is_err());
        assert!(required_id(&"x".repeat(1000), "WorkflowId").is_ok());
        assert!(task_queue(None).is_err());
        assert_eq!(
            task_queue(Some(&TaskQueue {
                name: "q".into(),
                ..Default::default()
            }))
            .unwrap(),
            "q"
        );
        assert!(run_id("not-a-uuid").is_err());
        assert!(run_id("").is_ok());
    }

    #[test]
    fn namespace_data_is_bounded() {
        let entries = |n: usize, value: usize| -> HashMap<String, String> {
            (0..n)
                .map(|i| (format!("k{i}"), "v".repeat(value)))
                .collect()
        };
        assert!(namespace_data(&entries(NAMESPACE_DATA_MAX_ENTRIES, 10)).is_ok());
        let err = namespace_data(&entries(NAMESPACE_DATA_MAX_ENTRIES + 1, 1)).unwrap_err();
        assert!(matches!(err, CellError::InvalidArgument(_)));
        assert!(err.to_string().starts_with("Data has 65 entries"), "{err}");
        let long_key =
            HashMap::from([("k".repeat(NAMESPACE_DATA_MAX_KEY_BYTES + 1), String::new())]);
        assert!(
            namespace_data(&long_key)
                .unwrap_err()
                .to_string()
                .starts_with("Data key")
        );
        let long_value = entries(1, NAMESPACE_DATA_MAX_VALUE_BYTES + 1);
        assert!(
            namespace_data(&long_value)
                .unwrap_err()
                .to_string()
                .starts_with("Data value")
        );
        assert!(namespace_data(&entries(1, NAMESPACE_DATA_MAX_VALUE_BYTES)).is_ok());
        // Each entry within bounds, the whole over: 17 values of 4 KiB.
        let err = namespace_data(&entries(17, NAMESPACE_DATA_MAX_VALUE_BYTES)).unwrap_err();
        assert!(
            err.to_string().starts_with("Data exceeds size limit"),
            "{err}"
        );
    }

    #[test]
    fn namespace_description_and_owner_email_are_bounded() {
        let at = |n: usize| "x".repeat(n);
        assert!(namespace_info(&at(NAMESPACE_DESCRIPTION_MAX_BYTES), &at(320)).is_ok());
        let err = namespace_info(&at(NAMESPACE_DESCRIPTION_MAX_BYTES + 1), "").unwrap_err();
        assert!(matches!(err, CellError::InvalidArgument(_)));
        assert_eq!(
            err.to_string(),
            "Description exceeds length limit (1024 bytes)."
        );
        let err = namespace_info("", &at(NAMESPACE_OWNER_EMAIL_MAX_BYTES + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OwnerEmail exceeds length limit (320 bytes)."
        );
    }

    #[test]
    fn search_attribute_aliases_are_bounded() {
        let aliases = |n: usize, len: usize| -> HashMap<String, String> {
            (0..n).map(|i| (format!("f{i}"), "a".repeat(len))).collect()
        };
        assert!(search_attribute_aliases(&aliases(3, SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES), 3).is_ok());
        let err = search_attribute_aliases(&aliases(4, 1), 3).unwrap_err();
        assert!(matches!(err, CellError::InvalidArgument(_)));
        assert!(
            err.to_string().starts_with(
                "CustomSearchAttributeAliases has 4 entries, more than the limit of 3"
            ),
            "{err}"
        );
        let err = search_attribute_aliases(&aliases(1, SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES + 1), 3)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CustomSearchAttributeAliases entry"),
            "{err}"
        );
        let long_field =
            HashMap::from([("f".repeat(SEARCH_ATTRIBUTE_ALIAS_MAX_BYTES + 1), "a".into())]);
        assert!(search_attribute_aliases(&long_field, 3).is_err());
    }

    #[test]
    fn oversized_payloads_are_rejected() {
        use orrery_proto::api::common::v1::Payload;
        let big = Payloads {
            payloads: vec![Payload {
                data: vec![0; BLOB_SIZE_LIMIT_ERROR + 1],
                ..Default::default()
            }],
        };
        let err = payloads(Some(&big)).unwrap_err();
        assert_eq!(err.to_string(), "Blob data size exceeds limit.");
    }
}
