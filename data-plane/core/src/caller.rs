//! Who is calling. The cell's authentication layer (in front of the gRPC
//! services) works this out from the connection and the headers and hands it
//! to the frontend as a request extension; the frontend decides per RPC
//! whether it may go on. Nothing here verifies anything.
use std::collections::HashMap;
use std::sync::Arc;

/// What a credential may do in one namespace; each level includes the ones
/// below it, as Temporal Cloud's namespace permissions do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Describe, list, count, query, read histories.
    Read,
    /// Start, signal, cancel, terminate, poll and answer tasks.
    Write,
    /// Change the namespace and its search attributes.
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

/// A tenant credential's permissions, by namespace name.
pub trait Grants: Send + Sync + std::fmt::Debug {
    fn permission(&self, namespace: &str) -> Option<Permission>;
}

impl Grants for HashMap<String, Permission> {
    fn permission(&self, namespace: &str) -> Option<Permission> {
        self.get(namespace).copied()
    }
}

#[derive(Clone, Debug)]
pub enum Caller {
    /// The cell's operator (the control plane, with the cell's admin token):
    /// may do anything, including creating namespaces.
    Operator,
    /// A tenant: an API key's owner or a client certificate, with the
    /// namespaces (by name) it may use, as of the request.
    Tenant {
        principal: String,
        grants: Arc<dyn Grants>,
    },
}

impl Caller {
    /// The caller's permission in `namespace` (a name), if any.
    pub fn permission(&self, namespace: &str) -> Option<Permission> {
        match self {
            Caller::Operator => Some(Permission::Admin),
            Caller::Tenant { grants, .. } => grants.permission(namespace),
        }
    }

    pub fn principal(&self) -> &str {
        match self {
            Caller::Operator => "operator",
            Caller::Tenant { principal, .. } => principal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_ordered_and_grants_are_per_namespace() {
        assert!(Permission::Read < Permission::Write && Permission::Write < Permission::Admin);
        let caller = Caller::Tenant {
            principal: "user:1".into(),
            grants: Arc::new(HashMap::from([("a.acct".to_string(), Permission::Write)])),
        };
        assert_eq!(caller.permission("a.acct"), Some(Permission::Write));
        assert_eq!(caller.permission("b.acct"), None);
        assert_eq!(
            Caller::Operator.permission("b.acct"),
            Some(Permission::Admin)
        );
    }
}
