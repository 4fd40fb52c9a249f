//! Turns what the store read into the snapshot a cell enforces: account
//! roles are folded into each namespace's grants here, so a cell needs no
//! notion of accounts.
use std::collections::BTreeMap;

use orrery_tenant_auth::{
    ActiveApiKey, Grant, KeyAlgorithm, MtlsConfig, NamespaceAuth, Permission, SigningKey, Snapshot,
};

use crate::roles::effective_permission;
use crate::store::SnapshotData;

pub fn build(data: SnapshotData) -> Snapshot {
    let signing_keys = data
        .signing_keys
        .into_iter()
        .filter(|k| k.alg == "EdDSA")
        .map(|k| SigningKey {
            kid: k.kid,
            alg: KeyAlgorithm::EdDSA,
            public_key: k.public_key_pem,
        })
        .collect();
    let mut mtls: BTreeMap<String, MtlsConfig> = data
        .mtls
        .into_iter()
        .map(|m| {
            (
                m.namespace_id,
                MtlsConfig {
                    ca_pems: m.ca_pems,
                    filters: m.filters,
                },
            )
        })
        .collect();
    let namespaces = data
        .namespaces
        .into_iter()
        .map(|ns| {
            let mut grants: BTreeMap<String, Permission> = data
                .grants
                .iter()
                .filter(|g| g.namespace_id == ns.id)
                .map(|g| (g.principal.clone(), g.permission))
                .collect();
            for holder in data
                .role_holders
                .iter()
                .filter(|h| h.account_id == ns.account_id)
            {
                let granted = grants.get(&holder.principal).copied();
                // None drops a grant the role voids (a metrics reader's).
                match effective_permission(holder.role, granted) {
                    Some(p) => grants.insert(holder.principal.clone(), p),
                    None => grants.remove(&holder.principal),
                };
            }
            NamespaceAuth {
                mtls: mtls.remove(&ns.id),
                namespace: ns.id,
                grants: grants
                    .into_iter()
                    .filter_map(|(principal, permission)| {
                        Some(Grant {
                            principal: principal.parse().ok()?,
                            permission,
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    Snapshot {
        version: u64::try_from(data.version).unwrap_or(0),
        signing_keys,
        namespaces,
        active_api_keys: (data.active_api_keys.into_iter())
            .filter_map(|(id, owner)| {
                Some(ActiveApiKey {
                    id,
                    principal: owner.parse().ok()?,
                })
            })
            .collect(),
    }
}
