//! Hard limits on what a run may hold, enforced as the real server does:
//! a command whose payload is over `limit.blobSize.error` fails its
//! workflow task and terminates the run; a history over
//! `limit.historyCount.error` events or `limit.historySize.error` bytes
//! terminates the run.
use orrery_proto::api::command::v1::Command;
use orrery_proto::api::command::v1::command::Attributes as C;
use orrery_proto::api::enums::v1::WorkflowTaskFailedCause as Cause;
use prost::Message;

use crate::engine::HistoryLimits;
use crate::mutation::Mutation;

/// The workflow-task failure cause and message for a command carrying a
/// payload over `limit`, in the real server's words (its cause for an
/// oversized completion result is, oddly, the schedule-activity one).
pub(crate) fn oversized_payload(command: &Command, limit: i64) -> Option<(Cause, String)> {
    let (cause, field, bytes) = match command.attributes.as_ref()? {
        C::ScheduleActivityTaskCommandAttributes(a) => (
            Cause::BadScheduleActivityAttributes,
            "ScheduleActivityTaskCommandAttributes.Input",
            a.input.as_ref().map_or(0, |p| p.encoded_len() as i64),
        ),
        C::CompleteWorkflowExecutionCommandAttributes(a) => (
            Cause::BadScheduleActivityAttributes,
            "CompleteWorkflowExecutionCommandAttributes.Result",
            a.result.as_ref().map_or(0, |p| p.encoded_len() as i64),
        ),
        C::FailWorkflowExecutionCommandAttributes(a) => (
            Cause::BadFailWorkflowExecutionAttributes,
            "FailWorkflowExecutionCommandAttributes.Failure",
            a.failure.as_ref().map_or(0, |f| f.encoded_len() as i64),
        ),
        C::CancelWorkflowExecutionCommandAttributes(a) => (
            Cause::BadCancelWorkflowExecutionAttributes,
            "CancelWorkflowExecutionCommandAttributes.Details",
            a.details.as_ref().map_or(0, |p| p.encoded_len() as i64),
        ),
        C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => (
            Cause::BadContinueAsNewAttributes,
            "ContinueAsNewWorkflowExecutionCommandAttributes. Input",
            a.input.as_ref().map_or(0, |p| p.encoded_len() as i64),
        ),
        C::StartChildWorkflowExecutionCommandAttributes(a) => (
            Cause::BadStartChildExecutionAttributes,
            "StartChildWorkflowExecutionCommandAttributes. Input",
            a.input.as_ref().map_or(0, |p| p.encoded_len() as i64),
        ),
        C::SignalExternalWorkflowExecutionCommandAttributes(a) => (
            Cause::BadSignalWorkflowExecutionAttributes,
            "SignalExternalWorkflowExecutionCommandAttributes.Input",
            a.input.as_ref().map_or(0, |p| p.encoded_len() as i64),
        ),
        C::RecordMarkerCommandAttributes(a) => (
            Cause::BadRecordMarkerAttributes,
            "RecordMarkerCommandAttributes.Details",
            a.details.values().map(|p| p.encoded_len() as i64).sum(),
        ),
        _ => return None,
    };
    (bytes > limit).then(|| {
        let name = cause
            .as_str_name()
            .trim_start_matches("WORKFLOW_TASK_FAILED_CAUSE_")
            .split('_')
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map_or(String::new(), |c| {
                    c.to_string() + &chars.as_str().to_ascii_lowercase()
                })
            })
            .collect::<String>();
        (cause, format!("{name}: {field} exceeds size limit."))
    })
}

impl Mutation {
    /// The termination reason when this run's history is over the limits:
    /// `at_limit` counts a history exactly at the count limit as over (after
    /// a workflow task's commands), otherwise only one beyond it does
    /// (before an external event is added).
    pub(crate) fn history_over_limit(
        &self,
        limits: &HistoryLimits,
        at_limit: bool,
    ) -> Option<&'static str> {
        let count = self.state.next_event_id - 1;
        let size = self.state.history_size_bytes;
        let over = |value: i64, limit: i64| {
            if at_limit {
                value >= limit
            } else {
                value > limit
            }
        };
        if over(count, limits.history_count_error) {
            Some("Workflow history count exceeds limit.")
        } else if over(size, limits.history_size_error) {
            Some("Workflow history size exceeds limit.")
        } else {
            None
        }
    }

    /// Terminates the run for having outgrown its history limits.
    pub(crate) fn terminate_over_limit(&mut self, reason: &str) {
        tracing::warn!(reason, "terminating a workflow over its history limit");
        self.terminate(reason, None, "history-service", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_proto::api::command::v1::{
        CompleteWorkflowExecutionCommandAttributes, StartTimerCommandAttributes,
    };
    use orrery_proto::api::common::v1::{Payload, Payloads};

    fn complete_with(bytes: usize) -> Command {
        Command {
            attributes: Some(C::CompleteWorkflowExecutionCommandAttributes(
                CompleteWorkflowExecutionCommandAttributes {
                    result: Some(Payloads {
                        payloads: vec![Payload {
                            data: vec![b'x'; bytes],
                            ..Default::default()
                        }],
                    }),
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn names_the_cause_and_field_as_the_real_server() {
        let (cause, message) = oversized_payload(&complete_with(2_000), 1_000).unwrap();
        assert_eq!(cause, Cause::BadScheduleActivityAttributes);
        assert_eq!(
            message,
            "BadScheduleActivityAttributes: CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
        );
    }

    #[test]
    fn payloads_within_the_limit_and_commands_without_payloads_pass() {
        assert!(oversized_payload(&complete_with(500), 1_000).is_none());
        let timer = Command {
            attributes: Some(C::StartTimerCommandAttributes(
                StartTimerCommandAttributes::default(),
            )),
            ..Default::default()
        };
        assert!(oversized_payload(&timer, 0).is_none());
    }
}
