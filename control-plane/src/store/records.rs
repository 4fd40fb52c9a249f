//! The rows the stores move. Enums are TEXT columns, read through `TryFrom<String>`.
use orrery_tenant_auth::{CertificateFilter, Permission};

use crate::roles::AccountRole;

macro_rules! text_enum {
    ($name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(UserState {
    Active = "active",
    Invited = "invited",
});

text_enum!(NamespaceState {
    Pending = "pending",
    Active = "active",
});

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub account_id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: AccountRole,
    #[sqlx(try_from = "String")]
    pub state: UserState,
    pub password_hash: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub user_id: String,
    pub csrf_token: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ServiceAccount {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub role: AccountRole,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Cell {
    pub id: String,
    pub name: String,
    pub grpc_endpoint: String,
    pub admin_endpoint: String,
    pub admin_token: String,
    pub capacity: i64,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellLoad {
    pub cell: Cell,
    /// Namespaces placed on the cell, pending ones included.
    pub namespaces: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Namespace {
    /// `<name>.<account slug>`.
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub cell_id: String,
    pub retention_days: i64,
    #[sqlx(try_from = "String")]
    pub state: NamespaceState,
    pub created_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub namespace_id: String,
    /// `user:<id>` or `service-account:<id>`.
    pub principal: String,
    pub permission: Permission,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceMtls {
    pub namespace_id: String,
    pub ca_pems: Vec<String>,
    pub filters: Vec<CertificateFilter>,
    /// The CA this control plane generated for the namespace, if any; its key
    /// is kept so that client certificates can be issued later.
    pub generated_ca: Option<GeneratedCa>,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCa {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key_pem: String,
    pub public_key_pem: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub account_id: String,
    /// `user:<id>` or `service-account:<id>`.
    pub owner: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub expires_ms: i64,
    pub created_by: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub account_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source_ip: String,
    pub outcome: String,
    pub detail: String,
    pub at_ms: i64,
}

/// A principal of an account with the role it holds there, for folding
/// account roles into namespace grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHolder {
    pub principal: String,
    pub account_id: String,
    pub role: AccountRole,
}

/// What the auth snapshot of one cell is built from, read in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SnapshotData {
    pub version: i64,
    pub signing_keys: Vec<SigningKeyRow>,
    pub namespaces: Vec<Namespace>,
    pub grants: Vec<GrantRow>,
    pub mtls: Vec<NamespaceMtls>,
    pub role_holders: Vec<RoleHolder>,
    pub active_api_keys: Vec<String>,
}
