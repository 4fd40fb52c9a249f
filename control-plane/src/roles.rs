//! Account roles and how they fold into namespace permissions, as Temporal
//! Cloud defines them. The REST API and the auth snapshot both decide
//! through [`effective_permission`], so they cannot disagree.
use orrery_tenant_auth::Permission;

use crate::store::records::text_enum;

text_enum!(AccountRole {
    Owner = "owner",
    Admin = "admin",
    Developer = "developer",
    FinanceAdmin = "finance_admin",
    Read = "read",
    // Temporal Cloud's "Metrics Read-Only": scrapes /api/v1/metrics and
    // nothing else (the tenant API refuses it in `auth::Caller`, and it
    // holds no namespace permission on the data plane, grants or not).
    MetricsRead = "metrics_read",
});

impl AccountRole {
    /// Owners and admins manage everything in the account.
    pub fn manages_account(self) -> bool {
        matches!(self, AccountRole::Owner | AccountRole::Admin)
    }

    /// Everyone but the finance admin reads account data (users, namespaces…).
    pub fn reads_account(self) -> bool {
        !matches!(self, AccountRole::FinanceAdmin | AccountRole::MetricsRead)
    }

    /// Scrapes the account's tenant metrics (`GET /api/v1/metrics`).
    pub fn reads_metrics(self) -> bool {
        matches!(
            self,
            AccountRole::Owner | AccountRole::Admin | AccountRole::MetricsRead
        )
    }

    /// Usage and invoices are account-wide billing data: owners, admins and
    /// the finance admin (whose only business they are).
    pub fn reads_usage(self) -> bool {
        matches!(
            self,
            AccountRole::Owner | AccountRole::Admin | AccountRole::FinanceAdmin
        )
    }

    pub fn creates_namespaces(self) -> bool {
        matches!(
            self,
            AccountRole::Owner | AccountRole::Admin | AccountRole::Developer
        )
    }
}

/// A principal's permission on a namespace of its account: owners and admins
/// are namespace admins everywhere; everyone else holds what was granted.
pub fn effective_permission(role: AccountRole, granted: Option<Permission>) -> Option<Permission> {
    match role {
        _ if role.manages_account() => Some(Permission::Admin),
        // A grant left over from an earlier role gives a metrics reader nothing.
        AccountRole::MetricsRead => None,
        _ => granted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_fold_into_namespace_permissions() {
        for role in [AccountRole::Owner, AccountRole::Admin] {
            assert_eq!(effective_permission(role, None), Some(Permission::Admin));
            assert_eq!(
                effective_permission(role, Some(Permission::Read)),
                Some(Permission::Admin)
            );
        }
        for role in [
            AccountRole::Developer,
            AccountRole::FinanceAdmin,
            AccountRole::Read,
        ] {
            assert_eq!(effective_permission(role, None), None);
            assert_eq!(
                effective_permission(role, Some(Permission::Write)),
                Some(Permission::Write)
            );
        }
        assert!(!AccountRole::FinanceAdmin.reads_account());
        assert_eq!(
            effective_permission(AccountRole::MetricsRead, Some(Permission::Admin)),
            None
        );
        assert!(!AccountRole::MetricsRead.reads_account());
        assert!(!AccountRole::MetricsRead.creates_namespaces());
        assert!(AccountRole::MetricsRead.reads_metrics());
        assert!(!AccountRole::Developer.reads_metrics());
        assert_eq!("metrics_read".parse(), Ok(AccountRole::MetricsRead));
        assert!(AccountRole::FinanceAdmin.reads_usage());
        assert!(!AccountRole::Developer.reads_usage() && !AccountRole::Read.reads_usage());
        assert!(AccountRole::Developer.creates_namespaces());
        assert!(!AccountRole::Read.creates_namespaces());
        assert_eq!("finance_admin".parse(), Ok(AccountRole::FinanceAdmin));
    }
}
