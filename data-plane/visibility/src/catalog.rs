//! Which search attributes exist, their types, and where each is stored.
//!
//! The system list is the real server's (`common/searchattribute/sadefs`):
//! its "system" attributes, which live in columns of `visibility`, and its
//! "predefined" ones, which SDKs and the server set like custom attributes and
//! which therefore live in `visibility_search_attributes` with the custom ones.
//! `GetSearchAttributes` reports both groups as system attributes.

use std::collections::BTreeMap;

use crate::types::SaType;

/// A column of `visibility v` that backs a system search attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    WorkflowId,
    RunId,
    WorkflowType,
    StartTime,
    ExecutionTime,
    CloseTime,
    ExecutionStatus,
    TaskQueue,
    HistoryLength,
    ExecutionDuration,
    StateTransitionCount,
    HistorySizeBytes,
    ParentWorkflowId,
    ParentRunId,
    RootWorkflowId,
    RootRunId,
}

impl Column {
    /// The qualified column (`v.…`).
    pub fn sql(self) -> &'static str {
        match self {
            Column::WorkflowId => "v.workflow_id",
            Column::RunId => "v.run_id",
            Column::WorkflowType => "v.workflow_type",
            Column::StartTime => "v.start_ms",
            Column::ExecutionTime => "v.execution_ms",
            Column::CloseTime => "v.close_ms",
            Column::ExecutionStatus => "v.status",
            Column::TaskQueue => "v.task_queue",
            Column::HistoryLength => "v.history_length",
            Column::ExecutionDuration => "v.execution_duration_ns",
            Column::StateTransitionCount => "v.state_transition_count",
            Column::HistorySizeBytes => "v.history_size_bytes",
            Column::ParentWorkflowId => "v.parent_workflow_id",
            Column::ParentRunId => "v.parent_run_id",
            Column::RootWorkflowId => "v.root_workflow_id",
            Column::RootRunId => "v.root_run_id",
        }
    }

    /// Datetime columns store milliseconds since the Unix epoch.
    pub fn is_millis(self) -> bool {
        matches!(
            self,
            Column::StartTime | Column::ExecutionTime | Column::CloseTime
        )
    }
}

/// Where an attribute's value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Storage {
    Column(Column),
    /// Rows of `visibility_search_attributes` keyed by the attribute's name.
    Eav,
}

/// Which group an attribute belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrKind {
    /// Column-backed; set by the server only.
    System,
    /// Server-known, stored like custom ones. `user_settable` mirrors the real
    /// server's `predefinedWhiteList`: the others are internal-only.
    Predefined {
        user_settable: bool,
    },
    Custom,
}

/// One system (or predefined) attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemAttr {
    pub name: &'static str,
    pub ty: SaType,
    pub kind: AttrKind,
    pub storage: Storage,
}

const fn col(name: &'static str, ty: SaType, c: Column) -> SystemAttr {
    SystemAttr {
        name,
        ty,
        kind: AttrKind::System,
        storage: Storage::Column(c),
    }
}

const fn pre(name: &'static str, ty: SaType, user_settable: bool) -> SystemAttr {
    SystemAttr {
        name,
        ty,
        kind: AttrKind::Predefined { user_settable },
        storage: Storage::Eav,
    }
}

use SaType::{Bool, Datetime, Int, Keyword, KeywordList};

/// The real server's system and predefined search attributes, in its types.
/// ExecutionStatus is a Keyword (queried by name, stored as its number);
/// ExecutionDuration is an Int of nanoseconds.
pub const SYSTEM_ATTRIBUTES: &[SystemAttr] = &[
    col("WorkflowId", Keyword, Column::WorkflowId),
    col("RunId", Keyword, Column::RunId),
    col("WorkflowType", Keyword, Column::WorkflowType),
    col("StartTime", Datetime, Column::StartTime),
    col("ExecutionTime", Datetime, Column::ExecutionTime),
    col("CloseTime", Datetime, Column::CloseTime),
    col("ExecutionStatus", Keyword, Column::ExecutionStatus),
    col("TaskQueue", Keyword, Column::TaskQueue),
    col("HistoryLength", Int, Column::HistoryLength),
    col("ExecutionDuration", Int, Column::ExecutionDuration),
    col("StateTransitionCount", Int, Column::StateTransitionCount),
    col("HistorySizeBytes", Int, Column::HistorySizeBytes),
    col("ParentWorkflowId", Keyword, Column::ParentWorkflowId),
    col("ParentRunId", Keyword, Column::ParentRunId),
    col("RootWorkflowId", Keyword, Column::RootWorkflowId),
    col("RootRunId", Keyword, Column::RootRunId),
    pre("TemporalChangeVersion", KeywordList, true),
    pre("BinaryChecksums", KeywordList, true),
    pre("BuildIds", KeywordList, true),
    pre("BatcherNamespace", Keyword, true),
    pre("BatcherUser", Keyword, true),
    pre("TemporalScheduledStartTime", Datetime, true),
    pre("TemporalScheduledById", Keyword, true),
    pre("TemporalSchedulePaused", Bool, true),
    pre("TemporalNamespaceDivision", Keyword, true),
    pre("TemporalPauseInfo", KeywordList, true),
    pre("TemporalReportedProblems", KeywordList, true),
    pre("TemporalWorkerDeploymentVersion", Keyword, false),
    pre("TemporalWorkflowVersioningBehavior", Keyword, false),
    pre("TemporalWorkerDeployment", Keyword, false),
    pre("TemporalUsedWorkerDeploymentVersions", KeywordList, false),
    pre("TemporalExternalPayloadCount", Int, false),
    pre("TemporalExternalPayloadSizeBytes", Int, false),
];

/// The attribute that hides "divisions" (e.g. the scheduler's workflows) from
/// a list unless a query names it.
pub const NAMESPACE_DIVISION: &str = "TemporalNamespaceDivision";

/// Field names the real server reserves besides the system ones.
const RESERVED_FIELDS: &[&str] = &["NamespaceId", "Memo", "MemoEncoding", "VisibilityTaskKey"];

/// Our own column names (both tables): never attribute names.
const INTERNAL_COLUMNS: &[&str] = &[
    "namespace_id",
    "run_id",
    "workflow_id",
    "workflow_type",
    "status",
    "start_ms",
    "execution_ms",
    "close_ms",
    "sort_close_ms",
    "execution_duration_ns",
    "task_queue",
    "parent_workflow_id",
    "parent_run_id",
    "root_workflow_id",
    "root_run_id",
    "history_length",
    "history_size_bytes",
    "state_transition_count",
    "data",
    "name",
    "ordinal",
    "int_value",
    "double_value",
    "text_value",
];

/// The prefix the real server reserves for its own attributes.
pub const RESERVED_PREFIX: &str = "Temporal";

/// A resolved attribute: its canonical name, type and storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrInfo {
    pub name: String,
    pub ty: SaType,
    pub kind: AttrKind,
    pub storage: Storage,
}

/// The attributes one namespace can use: the system list plus its custom ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    custom: BTreeMap<String, SaType>,
    /// Queries over standalone activities, whose rows keep the activity id
    /// and type in the workflow id and type columns.
    activities: bool,
}

impl Catalog {
    pub fn new(custom: BTreeMap<String, SaType>) -> Catalog {
        Catalog {
            custom,
            activities: false,
        }
    }

    /// The catalog of List/CountActivityExecutions: `ActivityId` and
    /// `ActivityType` name the activity's id and type.
    pub fn for_activities(custom: BTreeMap<String, SaType>) -> Catalog {
        Catalog {
            custom,
            activities: true,
        }
    }

    /// Everything `GetSearchAttributes` lists as system attributes
    /// (the real server's system + predefined maps).
    pub fn system(&self) -> BTreeMap<String, SaType> {
        SYSTEM_ATTRIBUTES
            .iter()
            .map(|a| (a.name.to_string(), a.ty))
            .collect()
    }

    /// The namespace's custom attributes.
    pub fn custom(&self) -> &BTreeMap<String, SaType> {
        &self.custom
    }

    pub fn system_attr(name: &str) -> Option<&'static SystemAttr> {
        SYSTEM_ATTRIBUTES.iter().find(|a| a.name == name)
    }

    /// True for a name a custom attribute may not take: a system or
    /// predefined attribute, a field the real server reserves (`NamespaceId`,
    /// `Memo`, ...), anything starting with `Temporal`, and the column names of
    /// our own tables.
    pub fn is_reserved(name: &str) -> bool {
        Catalog::system_attr(name).is_some()
            || RESERVED_FIELDS.contains(&name)
            || name.starts_with(RESERVED_PREFIX)
            || INTERNAL_COLUMNS.contains(&name)
    }

    /// Exact lookup by canonical name (used for writes and indexing). A
    /// custom entry never shadows a system one.
    pub fn get(&self, name: &str) -> Option<AttrInfo> {
        if let Some(a) = Catalog::system_attr(name) {
            return Some(AttrInfo {
                name: a.name.to_string(),
                ty: a.ty,
                kind: a.kind,
                storage: a.storage,
            });
        }
        self.custom.get(name).map(|&ty| AttrInfo {
            name: name.to_string(),
            ty,
            kind: AttrKind::Custom,
            storage: Storage::Eav,
        })
    }

    /// Resolves a name written in a query the way the real server does
    /// (`query.ResolveSearchAttributeAlias`): a custom attribute first (unless
    /// the name is a system one); `ScheduleId` means `WorkflowId` unless a
    /// custom `ScheduleId` exists; then the exact system name, then the name
    /// with `Temporal` added, then with `Temporal` removed.
    pub fn resolve(&self, alias: &str) -> Option<AttrInfo> {
        if let Some(info) = self.get(alias) {
            return Some(info);
        }
        if self.activities {
            match alias {
                "ActivityId" => return self.get("WorkflowId"),
                "ActivityType" => return self.get("WorkflowType"),
                _ => {}
            }
        }
        if alias == "ScheduleId" {
            return self.get("WorkflowId");
        }
        let prefixed = format!("{RESERVED_PREFIX}{alias}");
        if let Some(info) = self.get(&prefixed) {
            return Some(info);
        }
        if let Some(stripped) = alias.strip_prefix(RESERVED_PREFIX)
            && let Some(info) = self.get(stripped)
        {
            return Some(info);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_list_matches_real_server() {
        let c = Catalog::default();
        let sys = c.system();
        assert_eq!(sys.len(), 33);
        assert_eq!(sys["ExecutionStatus"], SaType::Keyword);
        assert_eq!(sys["ExecutionDuration"], SaType::Int);
        assert_eq!(sys["TemporalChangeVersion"], SaType::KeywordList);
        assert_eq!(sys["TemporalSchedulePaused"], SaType::Bool);
        assert_eq!(sys["TemporalScheduledStartTime"], SaType::Datetime);
        assert!(c.custom().is_empty());
    }

    #[test]
    fn reserved_names() {
        for n in [
            "WorkflowId",
            "BuildIds",
            "TemporalAnything",
            "NamespaceId",
            "Memo",
            "namespace_id",
            "data",
            "sort_close_ms",
            "BatcherUser",
        ] {
            assert!(Catalog::is_reserved(n), "{n}");
        }
        for n in [
            "CustomKeywordField",
            "ScheduleId",
            "Temporary",
            "Status",
            "RUN_ID",
        ] {
            assert!(!Catalog::is_reserved(n), "{n}");
        }
    }

    #[test]
    fn resolution_rules() {
        let mut custom = BTreeMap::new();
        custom.insert("CustomKeywordField".to_string(), SaType::Keyword);
        let c = Catalog::new(custom);
        assert_eq!(c.resolve("ScheduleId").unwrap().name, "WorkflowId");
        assert_eq!(
            c.resolve("ChangeVersion").unwrap().name,
            "TemporalChangeVersion"
        );
        assert_eq!(c.resolve("TemporalWorkflowId").unwrap().name, "WorkflowId");
        assert_eq!(
            c.resolve("CustomKeywordField").unwrap().kind,
            AttrKind::Custom
        );
        assert!(c.resolve("workflowid").is_none());
        assert!(c.resolve("namespace_id").is_none());
        assert!(c.resolve("NamespaceId").is_none());

        let mut custom = BTreeMap::new();
        custom.insert("ScheduleId".to_string(), SaType::Keyword);
        let c = Catalog::new(custom);
        assert_eq!(c.resolve("ScheduleId").unwrap().kind, AttrKind::Custom);
    }
}
