//! Input checks, with the real server's messages where SDKs or users rely on
//! them. Every check runs before anything is written.
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
