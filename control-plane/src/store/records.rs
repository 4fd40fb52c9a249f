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

text_enum!(KeyPurpose {
    // Signs API keys; rotated by the operator.
    ApiKey = "api_key",
    // Signs what the control plane sends cells (snapshots, admin tokens).
    Control = "control",
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
    /// Where tenants reach its Temporal HTTP API (`http(s)://host:port`);
    /// empty when it serves none.
    pub http_endpoint: String,
    /// Namespaces it may take, as registered.
    pub capacity: i64,
    /// What the cell itself last said it takes (on its snapshot polls).
    pub reported_capacity: Option<i64>,
    pub created_ms: i64,
}

impl Cell {
    /// What placement may fill: the smaller of the registered capacity and
    /// the cell's own report.
    pub fn effective_capacity(&self) -> i64 {
        self.reported_capacity
            .map_or(self.capacity, |reported| reported.min(self.capacity))
    }
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

#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedCa {
    pub cert_pem: String,
    /// The CA's private key as stored: sealed (see `crate::sealing`) for
    /// the row `GeneratedCa::seal_context` names.
    pub key_sealed: String,
}

impl GeneratedCa {
    pub fn seal_context(namespace_id: &str) -> String {
        format!("namespace_mtls/{namespace_id}/generated_ca_key")
    }
}

impl std::fmt::Debug for GeneratedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCa")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    #[sqlx(try_from = "String")]
    pub purpose: KeyPurpose,
    /// PKCS#8 PEM as stored: sealed for `SigningKeyRow::seal_context`. Empty
    /// where only the public half was read (the snapshot).
    pub private_key_sealed: String,
    pub public_key_pem: String,
    pub created_ms: i64,
    /// When a newer key of its purpose replaced it for signing.
    pub retired_ms: Option<i64>,
}

impl SigningKeyRow {
    pub fn seal_context(kid: &str) -> String {
        format!("signing_keys/{kid}/private_key")
    }
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("purpose", &self.purpose)
            .field("created_ms", &self.created_ms)
            .field("retired_ms", &self.retired_ms)
            .finish_non_exhaustive()
    }
}

/// Where a stored private key lives, for sealing the rows an older
/// version left in plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    SigningKey { kid: String },
    GeneratedCa { namespace_id: String },
}

impl KeyLocation {
    pub fn seal_context(&self) -> String {
        match self {
            KeyLocation::SigningKey { kid } => SigningKeyRow::seal_context(kid),
            KeyLocation::GeneratedCa { namespace_id } => GeneratedCa::seal_context(namespace_id),
        }
    }

    /// Names the key in errors.
    pub fn describe(&self) -> String {
        match self {
            KeyLocation::SigningKey { kid } => format!("the signing key {kid}"),
            KeyLocation::GeneratedCa { namespace_id } => {
                format!("the generated CA key of namespace {namespace_id}")
            }
        }
    }
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
    /// `(key id, owner principal)`.
    pub active_api_keys: Vec<(String, String)>,
}
