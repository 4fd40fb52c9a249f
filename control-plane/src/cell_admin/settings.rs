//! A namespace's settings that live only at its cell: custom search
//! attributes (OperatorService List/Add/RemoveSearchAttributes) and
//! archival (WorkflowService UpdateNamespace / DescribeNamespace). The
//! control plane keeps no copy: the cell is the one place they are true.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::enums::v1::{ArchivalState, IndexedValueType};
use temporalio_protos::temporal::api::namespace::v1::NamespaceConfig;
use temporalio_protos::temporal::api::operatorservice::v1::operator_service_client::OperatorServiceClient;
use temporalio_protos::temporal::api::operatorservice::v1::{
    AddSearchAttributesRequest, ListSearchAttributesRequest, RemoveSearchAttributesRequest,
};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, UpdateNamespaceRequest,
};
use tonic::Code;
use utoipa::ToSchema;

use super::{CellAdminError, GrpcCellAdmin, status_error};
use crate::store::Cell;

/// A custom search attribute's type, named as Temporal's CLI and Cloud
/// name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub enum SearchAttributeType {
    Text,
    Keyword,
    Int,
    Double,
    Bool,
    Datetime,
    KeywordList,
}

const TYPE_NAMES: &[&str] = &[
    "Text",
    "Keyword",
    "Int",
    "Double",
    "Bool",
    "Datetime",
    "KeywordList",
];

/// By hand rather than derived: serde_json reads a derived enum from a
/// number or null as malformed JSON (400), where a type of the wrong kind
/// is a field error (422 naming `type`) like any other.
impl<'de> Deserialize<'de> for SearchAttributeType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = SearchAttributeType;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("one of Text, Keyword, Int, Double, Bool, Datetime, KeywordList")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                use SearchAttributeType::*;
                Ok(match v {
                    "Text" => Text,
                    "Keyword" => Keyword,
                    "Int" => Int,
                    "Double" => Double,
                    "Bool" => Bool,
                    "Datetime" => Datetime,
                    "KeywordList" => KeywordList,
                    _ => return Err(E::unknown_variant(v, TYPE_NAMES)),
                })
            }
        }
        d.deserialize_str(Name)
    }
}

impl SearchAttributeType {
    fn indexed(self) -> IndexedValueType {
        match self {
            Self::Text => IndexedValueType::Text,
            Self::Keyword => IndexedValueType::Keyword,
            Self::Int => IndexedValueType::Int,
            Self::Double => IndexedValueType::Double,
            Self::Bool => IndexedValueType::Bool,
            Self::Datetime => IndexedValueType::Datetime,
            Self::KeywordList => IndexedValueType::KeywordList,
        }
    }

    fn from_indexed(value: i32) -> Option<Self> {
        Some(match IndexedValueType::try_from(value).ok()? {
            IndexedValueType::Text => Self::Text,
            IndexedValueType::Keyword => Self::Keyword,
            IndexedValueType::Int => Self::Int,
            IndexedValueType::Double => Self::Double,
            IndexedValueType::Bool => Self::Bool,
            IndexedValueType::Datetime => Self::Datetime,
            IndexedValueType::KeywordList => Self::KeywordList,
            IndexedValueType::Unspecified => return None,
        })
    }
}

/// Whether the namespace archives closed runs' histories and visibility
/// records (to the archive its cell is configured with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Archival {
    /// History archival: each closed run's event history.
    pub history: bool,
    /// Visibility archival: each closed run's visibility record.
    pub visibility: bool,
}

/// Why a settings call failed, as far as the tenant may learn it.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// The cell refused the input (InvalidArgument). The message is the
    /// cell's and is about the tenant's own request (a reserved name, a
    /// type's limit reached, archival unavailable), so it may be shown.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The cell has no such namespace.
    #[error("the cell has no such namespace")]
    NotFound,
    /// Unreachable, or any other answer: the operator's to read.
    #[error(transparent)]
    Cell(#[from] CellAdminError),
}

impl SettingError {
    fn of(cell: &Cell, call: &str, status: tonic::Status) -> Self {
        match status.code() {
            Code::InvalidArgument => Self::Invalid(status.message().to_owned()),
            Code::AlreadyExists => Self::AlreadyExists(status.message().to_owned()),
            Code::NotFound => Self::NotFound,
            _ => Self::Cell(status_error(cell, call, status)),
        }
    }

    /// For `CellAdmin` implementations that do not manage settings.
    pub(super) fn unsupported() -> Self {
        Self::Cell(CellAdminError(
            "this cell admin does not manage namespace settings".into(),
        ))
    }
}

fn archival_state(enabled: bool) -> i32 {
    if enabled {
        ArchivalState::Enabled as i32
    } else {
        ArchivalState::Disabled as i32
    }
}

impl GrpcCellAdmin {
    async fn operator(
        &self,
        cell: &Cell,
    ) -> Result<
        OperatorServiceClient<
            tonic::service::interceptor::InterceptedService<
                tonic::transport::Channel,
                super::AdminToken,
            >,
        >,
        CellAdminError,
    > {
        let (channel, token) = self.channel(cell).await?;
        Ok(OperatorServiceClient::with_interceptor(channel, token))
    }

    pub(super) async fn list_search_attributes(
        &self,
        cell: &Cell,
        namespace: &str,
    ) -> Result<BTreeMap<String, SearchAttributeType>, SettingError> {
        let request = ListSearchAttributesRequest {
            namespace: namespace.to_owned(),
        };
        let answer = self
            .operator(cell)
            .await?
            .list_search_attributes(request)
            .await
            .map_err(|s| SettingError::of(cell, "ListSearchAttributes", s))?
            .into_inner();
        let mut out = BTreeMap::new();
        for (name, value) in answer.custom_attributes {
            match SearchAttributeType::from_indexed(value) {
                Some(ty) => {
                    out.insert(name, ty);
                }
                // A type newer than this control plane: leave it out
                // rather than fail the whole list.
                None => {
                    tracing::warn!(cell = %cell.name, namespace, name, value, "a search attribute of an unknown type")
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn add_attribute(
        &self,
        cell: &Cell,
        namespace: &str,
        name: &str,
        ty: SearchAttributeType,
    ) -> Result<(), SettingError> {
        let request = AddSearchAttributesRequest {
            namespace: namespace.to_owned(),
            search_attributes: [(name.to_owned(), ty.indexed() as i32)].into(),
        };
        self.operator(cell)
            .await?
            .add_search_attributes(request)
            .await
            .map(|_| ())
            .map_err(|s| SettingError::of(cell, "AddSearchAttributes", s))
    }

    pub(super) async fn remove_attribute(
        &self,
        cell: &Cell,
        namespace: &str,
        name: &str,
    ) -> Result<(), SettingError> {
        let request = RemoveSearchAttributesRequest {
            namespace: namespace.to_owned(),
            search_attributes: vec![name.to_owned()],
        };
        self.operator(cell)
            .await?
            .remove_search_attributes(request)
            .await
            .map(|_| ())
            .map_err(|s| SettingError::of(cell, "RemoveSearchAttributes", s))
    }

    pub(super) async fn read_archival(
        &self,
        cell: &Cell,
        namespace: &str,
    ) -> Result<Archival, SettingError> {
        let request = DescribeNamespaceRequest {
            namespace: namespace.to_owned(),
            ..Default::default()
        };
        let config = self
            .workflow(cell)
            .await?
            .describe_namespace(request)
            .await
            .map_err(|s| SettingError::of(cell, "DescribeNamespace", s))?
            .into_inner()
            .config
            .unwrap_or_default();
        let enabled = |state: i32| state == ArchivalState::Enabled as i32;
        Ok(Archival {
            history: enabled(config.history_archival_state),
            visibility: enabled(config.visibility_archival_state),
        })
    }

    /// Both states are set explicitly and the URIs left empty: the cell
    /// keeps a URI the namespace had, else uses its default archive.
    pub(super) async fn write_archival(
        &self,
        cell: &Cell,
        namespace: &str,
        archival: Archival,
    ) -> Result<(), SettingError> {
        let request = UpdateNamespaceRequest {
            namespace: namespace.to_owned(),
            config: Some(NamespaceConfig {
                history_archival_state: archival_state(archival.history),
                visibility_archival_state: archival_state(archival.visibility),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.workflow(cell)
            .await?
            .update_namespace(request)
            .await
            .map(|_| ())
            .map_err(|s| SettingError::of(cell, "UpdateNamespace", s))
    }
}
