//! TLS between the members of a cell: each member serves its peer listener
//! with its own certificate and accepts only clients presenting one issued
//! by the cell's peer CA, and calls its peers the same way. Plaintext only
//! when asked for and only on loopback (one host's tests and development).
use std::path::PathBuf;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

#[derive(Clone, Debug)]
pub enum PeerTls {
    Mutual {
        cert_path: PathBuf,
        key_path: PathBuf,
        /// The CA that issued every member's certificate.
        ca_path: PathBuf,
    },
    /// `--insecure-peer-channel`: plaintext, loopback only.
    InsecurePlaintext,
}

/// The PEM material, read once at start.
#[derive(Clone)]
pub struct PeerCredentials {
    identity: Identity,
    ca: Certificate,
}

impl PeerTls {
    /// Reads the files; `None` for plaintext.
    pub fn load(&self) -> Result<Option<PeerCredentials>, String> {
        match self {
            PeerTls::InsecurePlaintext => Ok(None),
            PeerTls::Mutual {
                cert_path,
                key_path,
                ca_path,
            } => {
                let read = |path: &PathBuf, what: &str| {
                    std::fs::read(path)
                        .map_err(|e| format!("the peer {what} {}: {e}", path.display()))
                };
                let cert = read(cert_path, "certificate")?;
                let key = read(key_path, "key")?;
                let ca = read(ca_path, "CA")?;
                Ok(Some(PeerCredentials {
                    identity: Identity::from_pem(cert, key),
                    ca: Certificate::from_pem(ca),
                }))
            }
        }
    }
}

impl PeerCredentials {
    /// The peer listener: a client certificate from the peer CA is required.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
    }

    /// Calls to peers: the peer's certificate must come from the peer CA and
    /// name the host its address names.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
    }
}

/// Plaintext is refused unless the listener is on loopback.
pub fn check_plaintext(listen: std::net::SocketAddr) -> Result<(), String> {
    if listen.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "the peer listener {listen} is not on loopback: members must talk over mutual TLS \
             (--peer-tls-cert, --peer-tls-key, --peer-ca-file)"
        ))
    }
}
