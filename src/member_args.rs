//! `orrery cell` flags for a cell served by several processes on one
//! PostgreSQL (docs/operations.md, "A cell of several members").
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use orrery_cell::MemberSettings;

#[derive(clap::Args)]
pub struct MemberArgs {
    /// Joins a cell of several members under this id (unique in the cell,
    /// stable across restarts: a pod's name). Unset: this process is the
    /// cell's only one and owns every shard.
    #[arg(long, env = "ORRERY_MEMBER_ID", requires = "peer_addr")]
    member_id: Option<String>,
    /// `host:port` the other members reach this one at (its peer listener).
    #[arg(long, env = "ORRERY_PEER_ADDR", requires = "member_id")]
    peer_addr: Option<String>,
    /// Where the peer listener binds.
    #[arg(long, env = "ORRERY_PEER_LISTEN_ADDR", default_value = "0.0.0.0:7235")]
    peer_listen_addr: SocketAddr,
    /// This member's certificate (PEM) for mutual TLS with its peers.
    #[arg(long, env = "ORRERY_PEER_TLS_CERT", requires_all = ["peer_tls_key", "peer_ca_file"])]
    peer_tls_cert: Option<PathBuf>,
    #[arg(long, env = "ORRERY_PEER_TLS_KEY", requires = "peer_tls_cert")]
    peer_tls_key: Option<PathBuf>,
    /// The CA (PEM) that issued every member's certificate.
    #[arg(long, env = "ORRERY_PEER_CA_FILE", requires = "peer_tls_cert")]
    peer_ca_file: Option<PathBuf>,
    /// Members talk plaintext: only when the peer listener is on loopback
    /// (one host's development and tests).
    #[arg(long, conflicts_with = "peer_tls_cert")]
    insecure_peer_channel: bool,
    /// How often a member heartbeats and reconsiders its shards.
    #[arg(long, default_value_t = 500)]
    member_heartbeat_ms: u64,
    /// Silence after which a member counts as gone and its shards move.
    #[arg(long, default_value_t = 5000)]
    member_ttl_ms: u64,
}

impl MemberArgs {
    pub fn settings(self) -> Result<Option<MemberSettings>, String> {
        let (Some(member_id), Some(peer_addr)) = (self.member_id, self.peer_addr) else {
            return Ok(None);
        };
        let tls = match (self.peer_tls_cert, self.peer_tls_key, self.peer_ca_file) {
            (Some(cert_path), Some(key_path), Some(ca_path)) => {
                orrery_peer_tls(cert_path, key_path, ca_path)
            }
            _ if self.insecure_peer_channel => orrery_cell::PeerTls::InsecurePlaintext,
            _ => {
                return Err(
                    "members talk over mutual TLS: --peer-tls-cert, --peer-tls-key and \
                     --peer-ca-file (or --insecure-peer-channel on one host's loopback)"
                        .into(),
                );
            }
        };
        if self.member_ttl_ms <= 2 * self.member_heartbeat_ms {
            return Err(
                "--member-ttl-ms must exceed two heartbeats (--member-heartbeat-ms)".into(),
            );
        }
        Ok(Some(MemberSettings {
            member_id,
            peer_addr,
            peer_listen_addr: self.peer_listen_addr,
            tls,
            heartbeat_interval: Duration::from_millis(self.member_heartbeat_ms),
            member_ttl: Duration::from_millis(self.member_ttl_ms),
        }))
    }
}

fn orrery_peer_tls(
    cert_path: PathBuf,
    key_path: PathBuf,
    ca_path: PathBuf,
) -> orrery_cell::PeerTls {
    orrery_cell::PeerTls::Mutual {
        cert_path,
        key_path,
        ca_path,
    }
}
