//! History events: their type from their attributes, and the ids they refer
//! to, which must be rewritten when buffered events get their ids.
use orrery_proto::api::enums::v1::EventType;
use orrery_proto::api::history::v1::history_event::Attributes;

// Every variant is `<Type>EventAttributes` and maps to `EventType::<Type>`.
macro_rules! event_types {
    ($($name:ident),* $(,)?) => {
        pub fn event_type(attributes: &Attributes) -> EventType {
            match attributes {
                $(Attributes::$name(_) => event_type_named(stringify!($name)),)*
                _ => EventType::Unspecified,
            }
        }
    };
}

fn event_type_named(variant: &str) -> EventType {
    let name = variant.trim_end_matches("EventAttributes");
    // EventType's proto names are EVENT_TYPE_<SCREAMING_SNAKE>.
    let mut screaming = String::from("EVENT_TYPE_");
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            screaming.push('_');
        }
        screaming.push(c.to_ascii_uppercase());
    }
    EventType::from_str_name(&screaming).unwrap_or(EventType::Unspecified)
}

event_types!(
    WorkflowExecutionStartedEventAttributes,
    WorkflowExecutionCompletedEventAttributes,
    WorkflowExecutionFailedEventAttributes,
    WorkflowExecutionTimedOutEventAttributes,
    WorkflowTaskScheduledEventAttributes,
    WorkflowTaskStartedEventAttributes,
    WorkflowTaskCompletedEventAttributes,
    WorkflowTaskTimedOutEventAttributes,
    WorkflowTaskFailedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    ActivityTaskCompletedEventAttributes,
    ActivityTaskFailedEventAttributes,
    ActivityTaskTimedOutEventAttributes,
    TimerStartedEventAttributes,
    TimerFiredEventAttributes,
    ActivityTaskCancelRequestedEventAttributes,
    ActivityTaskCanceledEventAttributes,
    TimerCanceledEventAttributes,
    MarkerRecordedEventAttributes,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionTerminatedEventAttributes,
    WorkflowExecutionCancelRequestedEventAttributes,
    WorkflowExecutionCanceledEventAttributes,
    RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
    RequestCancelExternalWorkflowExecutionFailedEventAttributes,
    ExternalWorkflowExecutionCancelRequestedEventAttributes,
    WorkflowExecutionContinuedAsNewEventAttributes,
    StartChildWorkflowExecutionInitiatedEventAttributes,
    StartChildWorkflowExecutionFailedEventAttributes,
    ChildWorkflowExecutionStartedEventAttributes,
    ChildWorkflowExecutionCompletedEventAttributes,
    ChildWorkflowExecutionFailedEventAttributes,
    ChildWorkflowExecutionCanceledEventAttributes,
    ChildWorkflowExecutionTimedOutEventAttributes,
    ChildWorkflowExecutionTerminatedEventAttributes,
    SignalExternalWorkflowExecutionInitiatedEventAttributes,
    SignalExternalWorkflowExecutionFailedEventAttributes,
    ExternalWorkflowExecutionSignaledEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowPropertiesModifiedEventAttributes,
    WorkflowExecutionUpdateAcceptedEventAttributes,
    WorkflowExecutionUpdateCompletedEventAttributes,
    WorkflowExecutionUpdateRejectedEventAttributes,
    WorkflowExecutionUpdateAdmittedEventAttributes,
);

/// For a buffered activity/child "started" event: the initiating event id it
/// belongs to. For a later completion: the started id it points at, as a
/// mutable reference so the flush can rewrite it.
pub fn started_ref(attributes: &mut Attributes) -> Option<(i64, &mut i64)> {
    match attributes {
        Attributes::ActivityTaskCompletedEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ActivityTaskFailedEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ActivityTaskTimedOutEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ActivityTaskCanceledEventAttributes(a) => {
            Some((a.scheduled_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionCompletedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionFailedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionCanceledEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        _ => None,
    }
}

/// The initiating id a buffered "started" event belongs to.
pub fn started_of(attributes: &Attributes) -> Option<i64> {
    match attributes {
        Attributes::ActivityTaskStartedEventAttributes(a) => Some(a.scheduled_event_id),
        Attributes::ChildWorkflowExecutionStartedEventAttributes(a) => Some(a.initiated_event_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_proto::api::history::v1::*;

    #[test]
    fn attribute_variants_map_to_their_event_types() {
        let a = Attributes::WorkflowExecutionStartedEventAttributes(Default::default());
        assert_eq!(event_type(&a), EventType::WorkflowExecutionStarted);
        let a = Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
            Default::default(),
        );
        assert_eq!(
            event_type(&a),
            EventType::RequestCancelExternalWorkflowExecutionInitiated
        );
        let a = Attributes::WorkflowPropertiesModifiedEventAttributes(
            WorkflowPropertiesModifiedEventAttributes::default(),
        );
        assert_eq!(event_type(&a), EventType::WorkflowPropertiesModified);
        let a = Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(Default::default());
        assert_eq!(event_type(&a), EventType::WorkflowExecutionUpdateAccepted);
    }
}
