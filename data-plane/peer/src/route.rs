//! Which member answers a call. Read from the services' descriptors, not a
//! hand-kept table: a request naming a workflow (a `workflow_id`, directly
//! or in a `workflow_execution`/`execution`/`update_ref`) goes to the owner of
//! the workflow's shard, one carrying a task token to the owner of the run the
//! token names, a standalone activity's (`activity_id`) to the owner of its
//! keyspace's shard, and a poll of a task queue to the queue's owner. Anything
//! else (listings, namespaces, schedules) any member answers from the
//! database.
use std::collections::HashMap;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};

/// Where a request goes, before namespaces are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteKey {
    /// Any member.
    Any,
    Workflow {
        namespace: String,
        workflow_id: String,
    },
    /// A standalone activity, stored under its namespace's activity keyspace.
    Activity {
        namespace: String,
        activity_id: String,
    },
    /// The run a (signed) task token names; the owner checks the signature.
    TaskToken { namespace: String, token: Vec<u8> },
    TaskQueue {
        namespace: String,
        task_queue: String,
        kind: i32,
    },
}

/// How one method's request names what it acts on.
#[derive(Clone, Debug)]
enum Rule {
    Any,
    TaskToken(FieldDescriptor),
    Workflow(Path),
    Activity(FieldDescriptor),
    TaskQueue { name: Path, kind: QueueKind },
}

#[derive(Clone, Debug)]
enum QueueKind {
    Fixed(i32),
    /// DescribeTaskQueue's `task_queue_type` (1 workflow, 2 activity).
    FromType(FieldDescriptor),
}

/// Fields from the request to a string; a repeated message on the way
/// contributes its first element (ExecuteMultiOperation's operations).
type Path = Vec<FieldDescriptor>;

struct MethodRoute {
    input: MessageDescriptor,
    namespace: Option<FieldDescriptor>,
    rule: Rule,
}

/// Every routed method, by its gRPC path.
pub struct Routes {
    methods: HashMap<String, MethodRoute>,
}

/// Task kinds as matching numbers them.
const WORKFLOW_TASKS: i32 = 0;
const ACTIVITY_TASKS: i32 = 1;

/// The services whose calls are routed to owners.
const ROUTED_SERVICES: &[&str] = &["temporal.api.workflowservice.v1.WorkflowService"];

impl Routes {
    pub fn from_pool(pool: &DescriptorPool) -> Result<Self, String> {
        let mut methods = HashMap::new();
        for name in ROUTED_SERVICES {
            let service = pool
                .get_service_by_name(name)
                .ok_or_else(|| format!("no service {name} in the descriptors"))?;
            for method in service.methods() {
                let input = method.input();
                let route = MethodRoute {
                    namespace: string_field(&input, "namespace"),
                    rule: rule_for(method.name(), &input),
                    input,
                };
                methods.insert(format!("/{name}/{}", method.name()), route);
            }
        }
        Ok(Self { methods })
    }

    /// Whether calls of `path` can go to a particular member (then the
    /// body must be read to say which).
    pub fn is_routed(&self, path: &str) -> bool {
        self.methods
            .get(path)
            .is_some_and(|m| !matches!(m.rule, Rule::Any))
    }

    /// The route of one request (`message`: its encoded protobuf). A body
    /// that does not decode goes to any member, which refuses it itself.
    pub fn key(&self, path: &str, message: &[u8]) -> RouteKey {
        let Some(route) = self.methods.get(path) else {
            return RouteKey::Any;
        };
        if matches!(route.rule, Rule::Any) {
            return RouteKey::Any;
        }
        let Ok(request) = DynamicMessage::decode(route.input.clone(), message) else {
            return RouteKey::Any;
        };
        let namespace = route
            .namespace
            .as_ref()
            .map(|f| string_value(&request, f))
            .unwrap_or_default();
        match &route.rule {
            Rule::Any => RouteKey::Any,
            Rule::TaskToken(field) => match request.get_field(field).as_bytes() {
                Some(token) if !token.is_empty() => RouteKey::TaskToken {
                    namespace,
                    token: token.to_vec(),
                },
                _ => RouteKey::Any,
            },
            Rule::Workflow(path) => match follow(&request, path) {
                Some(workflow_id) if !workflow_id.is_empty() && !namespace.is_empty() => {
                    RouteKey::Workflow {
                        namespace,
                        workflow_id,
                    }
                }
                _ => RouteKey::Any,
            },
            Rule::Activity(field) => {
                let activity_id = string_value(&request, field);
                if activity_id.is_empty() || namespace.is_empty() {
                    RouteKey::Any
                } else {
                    RouteKey::Activity {
                        namespace,
                        activity_id,
                    }
                }
            }
            Rule::TaskQueue { name, kind } => {
                let task_queue = follow(&request, name).unwrap_or_default();
                let kind = match kind {
                    QueueKind::Fixed(kind) => *kind,
                    QueueKind::FromType(field) => match request.get_field(field).as_enum_number() {
                        Some(2) => ACTIVITY_TASKS,
                        _ => WORKFLOW_TASKS,
                    },
                };
                if task_queue.is_empty() || namespace.is_empty() {
                    RouteKey::Any
                } else {
                    RouteKey::TaskQueue {
                        namespace,
                        task_queue,
                        kind,
                    }
                }
            }
        }
    }
}

fn rule_for(method: &str, input: &MessageDescriptor) -> Rule {
    if let Some(field) = input.get_field_by_name("task_token")
        && matches!(field.kind(), Kind::Bytes)
        && !field.is_list()
    {
        return Rule::TaskToken(field);
    }
    if string_field(input, "namespace").is_none() {
        return Rule::Any;
    }
    let polls_queue = method.starts_with("Poll") && method.ends_with("TaskQueue");
    if (polls_queue || method == "DescribeTaskQueue")
        && let Some(name) = task_queue_name(input)
    {
        let kind = match method {
            "PollWorkflowTaskQueue" => QueueKind::Fixed(WORKFLOW_TASKS),
            "PollActivityTaskQueue" => QueueKind::Fixed(ACTIVITY_TASKS),
            _ => match input.get_field_by_name("task_queue_type") {
                Some(field) if matches!(field.kind(), Kind::Enum(_)) => QueueKind::FromType(field),
                // Other task kinds (Nexus) have no matching queue here yet.
                _ => return Rule::Any,
            },
        };
        return Rule::TaskQueue { name, kind };
    }
    if let Some(field) = string_field(input, "workflow_id") {
        return Rule::Workflow(vec![field]);
    }
    // A standalone activity's calls name it at the top; an activity of a
    // workflow is named inside its workflow's execution.
    if let Some(field) = string_field(input, "activity_id") {
        return Rule::Activity(field);
    }
    match workflow_id_path(input) {
        Some(path) => Rule::Workflow(path),
        None => Rule::Any,
    }
}

/// The shallowest string field named `workflow_id`, through at most two
/// messages (a `WorkflowExecution`, an update's `update_ref`).
fn workflow_id_path(input: &MessageDescriptor) -> Option<Path> {
    let mut frontier: Vec<(MessageDescriptor, Path)> = vec![(input.clone(), Vec::new())];
    for _depth in 0..3 {
        let mut next = Vec::new();
        for (message, path) in &frontier {
            if let Some(field) = string_field(message, "workflow_id") {
                let mut found = path.clone();
                found.push(field);
                return Some(found);
            }
            for field in message.fields() {
                if let Kind::Message(inner) = field.kind()
                    && !field.is_map()
                    && !inner.full_name().starts_with("google.")
                    && !inner
                        .full_name()
                        .starts_with("temporal.api.common.v1.Payload")
                    // Links name other workflows (a caller's, a callback's).
                    && inner.full_name() != "temporal.api.common.v1.Link"
                {
                    let mut deeper = path.clone();
                    deeper.push(field);
                    next.push((inner, deeper));
                }
            }
        }
        frontier = next;
    }
    None
}

fn task_queue_name(input: &MessageDescriptor) -> Option<Path> {
    let queue = input.get_field_by_name("task_queue")?;
    let Kind::Message(inner) = queue.kind() else {
        return None;
    };
    let name = string_field(&inner, "name")?;
    Some(vec![queue, name])
}

fn string_field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .filter(|f| matches!(f.kind(), Kind::String) && !f.is_list())
}

fn string_value(message: &DynamicMessage, field: &FieldDescriptor) -> String {
    message
        .get_field(field)
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The string at the end of `path`, taking a repeated message's first
/// element; `None` where a message on the way is absent.
fn follow(message: &DynamicMessage, path: &[FieldDescriptor]) -> Option<String> {
    let (last, through) = path.split_last()?;
    let mut current = message.clone();
    for field in through {
        if !current.has_field(field) {
            return None;
        }
        let value = current.get_field(field).into_owned();
        current = match value {
            Value::Message(inner) => inner,
            Value::List(items) => match items.into_iter().next() {
                Some(Value::Message(inner)) => inner,
                _ => return None,
            },
            _ => return None,
        };
    }
    Some(string_value(&current, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_proto::api::common::v1::WorkflowExecution;
    use orrery_proto::api::taskqueue::v1::TaskQueue;
    use orrery_proto::api::workflowservice::v1 as ws;
    use prost::Message;

    fn routes() -> Routes {
        Routes::from_pool(&orrery_http_api::descriptor_pool().unwrap()).unwrap()
    }

    const SVC: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

    fn key(method: &str, message: &impl Message) -> RouteKey {
        routes().key(&format!("{SVC}{method}"), &message.encode_to_vec())
    }

    fn workflow(id: &str) -> RouteKey {
        RouteKey::Workflow {
            namespace: "ns".into(),
            workflow_id: id.into(),
        }
    }

    #[test]
    fn workflow_calls_go_to_the_workflow() {
        let start = ws::StartWorkflowExecutionRequest {
            namespace: "ns".into(),
            workflow_id: "wf-1".into(),
            ..Default::default()
        };
        assert_eq!(key("StartWorkflowExecution", &start), workflow("wf-1"));
        let signal = ws::SignalWorkflowExecutionRequest {
            namespace: "ns".into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "wf-2".into(),
                run_id: String::new(),
            }),
            ..Default::default()
        };
        assert_eq!(key("SignalWorkflowExecution", &signal), workflow("wf-2"));
        let poll_update = ws::PollWorkflowExecutionUpdateRequest {
            namespace: "ns".into(),
            update_ref: Some(orrery_proto::api::update::v1::UpdateRef {
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: "wf-3".into(),
                    run_id: String::new(),
                }),
                update_id: "u".into(),
            }),
            ..Default::default()
        };
        assert_eq!(
            key("PollWorkflowExecutionUpdate", &poll_update),
            workflow("wf-3")
        );
        let multi = ws::ExecuteMultiOperationRequest {
            namespace: "ns".into(),
            operations: vec![ws::execute_multi_operation_request::Operation {
                operation: Some(
                    ws::execute_multi_operation_request::operation::Operation::StartWorkflow(
                        ws::StartWorkflowExecutionRequest {
                            workflow_id: "wf-4".into(),
                            ..Default::default()
                        },
                    ),
                ),
            }],
            ..Default::default()
        };
        assert_eq!(key("ExecuteMultiOperation", &multi), workflow("wf-4"));
    }

    #[test]
    fn tasks_go_by_token_and_polls_by_queue() {
        let done = ws::RespondActivityTaskCompletedRequest {
            namespace: "ns".into(),
            task_token: vec![1, 2, 3],
            ..Default::default()
        };
        assert_eq!(
            key("RespondActivityTaskCompleted", &done),
            RouteKey::TaskToken {
                namespace: "ns".into(),
                token: vec![1, 2, 3]
            }
        );
        let poll = ws::PollActivityTaskQueueRequest {
            namespace: "ns".into(),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            key("PollActivityTaskQueue", &poll),
            RouteKey::TaskQueue {
                namespace: "ns".into(),
                task_queue: "q".into(),
                kind: ACTIVITY_TASKS
            }
        );
        let describe = ws::DescribeTaskQueueRequest {
            namespace: "ns".into(),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            task_queue_type: 2,
            ..Default::default()
        };
        assert_eq!(
            key("DescribeTaskQueue", &describe),
            RouteKey::TaskQueue {
                namespace: "ns".into(),
                task_queue: "q".into(),
                kind: ACTIVITY_TASKS
            }
        );
    }

    #[test]
    fn listings_and_bad_bodies_go_anywhere() {
        let routes = routes();
        let list = ws::ListWorkflowExecutionsRequest {
            namespace: "ns".into(),
            ..Default::default()
        };
        assert!(!routes.is_routed(&format!("{SVC}ListWorkflowExecutions")));
        assert_eq!(key("ListWorkflowExecutions", &list), RouteKey::Any);
        assert_eq!(
            routes.key(&format!("{SVC}StartWorkflowExecution"), &[0xff, 0xff]),
            RouteKey::Any
        );
        // No workflow id: the member it reaches refuses it.
        let start = ws::StartWorkflowExecutionRequest {
            namespace: "ns".into(),
            ..Default::default()
        };
        assert_eq!(key("StartWorkflowExecution", &start), RouteKey::Any);
    }

    #[test]
    fn every_call_on_one_workflow_or_queue_is_routed() {
        let routes = routes();
        for method in [
            "DescribeWorkflowExecution",
            "GetWorkflowExecutionHistory",
            "GetWorkflowExecutionHistoryReverse",
            "QueryWorkflow",
            "UpdateWorkflowExecution",
            "SignalWithStartWorkflowExecution",
            "RequestCancelWorkflowExecution",
            "TerminateWorkflowExecution",
            "DeleteWorkflowExecution",
            "ResetWorkflowExecution",
            "ResetStickyTaskQueue",
            "RecordActivityTaskHeartbeat",
            "RecordActivityTaskHeartbeatById",
            "RespondActivityTaskFailedById",
            "RespondWorkflowTaskCompleted",
            "RespondQueryTaskCompleted",
            "PollWorkflowTaskQueue",
            "PauseActivity",
            "UpdateWorkflowExecutionOptions",
            "DescribeActivityExecution",
            "PollActivityExecution",
        ] {
            assert!(
                routes.is_routed(&format!("{SVC}{method}")),
                "{method} is not routed"
            );
        }
        for method in [
            "ListWorkflowExecutions",
            "DescribeNamespace",
            "CreateSchedule",
            "GetSystemInfo",
        ] {
            assert!(
                !routes.is_routed(&format!("{SVC}{method}")),
                "{method} is routed"
            );
        }
    }

    #[test]
    fn standalone_activities_go_to_their_keyspace() {
        let start = ws::StartActivityExecutionRequest {
            namespace: "ns".into(),
            activity_id: "a-1".into(),
            ..Default::default()
        };
        assert_eq!(
            key("StartActivityExecution", &start),
            RouteKey::Activity {
                namespace: "ns".into(),
                activity_id: "a-1".into()
            }
        );
    }
}
