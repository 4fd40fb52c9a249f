//! The cell's side of the channel to its control plane: HTTPS (rustls) to
//! `GET /internal/v1/auth-snapshot`, authenticated by the cell's own
//! credential, and every snapshot checked against the control plane's
//! public key before it is installed. Plaintext `http://` only when the
//! cell was explicitly told to be insecure.
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use orrery_tenant_auth::control::{ControlVerifier, cell_id_of_credential};
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

use crate::tls::provider;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A snapshot larger than this is refused unread (a cell's snapshot is a
/// few hundred bytes per namespace and key).
const MAX_SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;

/// How a cell reaches and trusts its control plane.
#[derive(Clone, Default)]
pub struct ControlChannelSettings {
    /// `https://…` (or `http://…` with `insecure_plaintext`).
    pub url: String,
    /// The cell's credential, as `POST /api/v1/admin/cells` issued it.
    pub credential: String,
    /// CA certificates (PEM) for the control plane's TLS certificate; the
    /// system's roots when `None`.
    pub ca_pem: Option<Vec<u8>>,
    /// The control plane's public keys (PEM); fetched once from
    /// `/internal/v1/control-key` over the verified channel when empty.
    pub public_key_pems: Vec<String>,
    /// Allows an `http://` URL (`--insecure-control-channel`).
    pub insecure_plaintext: bool,
}

impl std::fmt::Debug for ControlChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credential.
        f.debug_struct("ControlChannelSettings")
            .field("url", &self.url)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .field("public_keys", &self.public_key_pems.len())
            .field("insecure_plaintext", &self.insecure_plaintext)
            .finish_non_exhaustive()
    }
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, http_body_util::Empty<bytes::Bytes>>;

/// A connected view of the control plane.
pub struct ControlChannel {
    base_url: String,
    credential: String,
    client: HttpsClient,
}

impl std::fmt::Debug for ControlChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credential.
        write!(f, "ControlChannel({})", self.base_url)
    }
}

fn tls_config(ca_pem: Option<&[u8]>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("the control plane's CA file: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the control plane's CA file: {e}"))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate to verify the control plane with".into());
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

impl ControlChannel {
    pub fn new(settings: &ControlChannelSettings) -> Result<Self, String> {
        let url = settings.url.trim_end_matches('/');
        let plaintext = url.starts_with("http://");
        if !(plaintext || url.starts_with("https://")) {
            return Err(format!("the control plane URL {url:?} is not https://"));
        }
        if plaintext && !settings.insecure_plaintext {
            return Err(format!(
                "the control plane URL {url} is plaintext: use https:// (or \
                 --insecure-control-channel where the network is one host's loopback)"
            ));
        }
        // Over plaintext the key itself could be swapped on the way, and
        // with it everything it would verify.
        if plaintext && settings.public_key_pems.is_empty() {
            return Err(format!(
                "the control plane URL {url} is plaintext: give its key with \
                 --control-plane-public-key (it is fetched only over verified TLS)"
            ));
        }
        if cell_id_of_credential(&settings.credential).is_none() {
            return Err("the cell credential is not one the control plane issued \
                 (`orrery-cell.<cell id>.<secret>`, from POST /api/v1/admin/cells)"
                .into());
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(settings.ca_pem.as_deref())?);
        let connector = if plaintext {
            builder.https_or_http().enable_http1().build()
        } else {
            builder.https_only().enable_http1().build()
        };
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(Self {
            base_url: url.to_owned(),
            credential: settings.credential.clone(),
            client,
        })
    }

    /// The id of the cell this channel speaks for (from its credential).
    pub fn cell_id(&self) -> &str {
        cell_id_of_credential(&self.credential).unwrap_or_default()
    }

    async fn get(
        &self,
        path: &str,
        authenticated: bool,
    ) -> Result<(http::StatusCode, bytes::Bytes), String> {
        let mut request = http::Request::get(format!("{}{path}", self.base_url));
        if authenticated {
            request = request.header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.credential),
            );
        }
        let request = request
            .body(http_body_util::Empty::new())
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_SNAPSHOT_BYTES)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(FETCH_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
    }

    /// The verifier of what the control plane signs: the configured keys,
    /// or the one it publishes, fetched over this (verified) channel.
    pub async fn control_verifier(&self, configured: &[String]) -> Result<ControlVerifier, String> {
        let fetched;
        let pems: Vec<&str> = if configured.is_empty() {
            let (status, body) = self.get("/internal/v1/control-key", false).await?;
            if !status.is_success() {
                return Err(format!("fetching the control key: {status}"));
            }
            let view: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| format!("the control key: {e}"))?;
            fetched = view["public_key"]
                .as_str()
                .ok_or("the control key answer has no public_key")?
                .to_owned();
            vec![fetched.as_str()]
        } else {
            configured.iter().map(String::as_str).collect()
        };
        ControlVerifier::new(pems, self.cell_id()).map_err(|e| e.to_string())
    }

    /// The signed message about the cell's snapshot: the snapshot, or
    /// that it is still `since`. Reports the cell's capacity on the way.
    pub async fn fetch_snapshot(
        &self,
        since: Option<u64>,
        capacity: Option<u64>,
    ) -> Result<String, String> {
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(format!("since={since}"));
        }
        if let Some(capacity) = capacity {
            query.push(format!("capacity={capacity}"));
        }
        let mut path = "/internal/v1/auth-snapshot".to_owned();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let (status, body) = self.get(&path, true).await?;
        if !status.is_success() {
            return Err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        String::from_utf8(body.to_vec()).map_err(|_| "the snapshot is not text".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> ControlChannelSettings {
        ControlChannelSettings {
            url: url.into(),
            credential: format!("orrery-cell.c-1.{}", "s".repeat(43)),
            ..Default::default()
        }
    }

    #[test]
    fn plaintext_needs_an_explicit_flag_and_a_configured_key() {
        let refused = |s: &ControlChannelSettings| ControlChannel::new(s).unwrap_err();
        let mut s = settings("http://127.0.0.1:1");
        assert!(refused(&s).contains("--insecure-control-channel"));
        s.insecure_plaintext = true;
        assert!(refused(&s).contains("--control-plane-public-key"));
        s.public_key_pems = vec!["-----BEGIN PUBLIC KEY-----".into()];
        assert!(ControlChannel::new(&s).is_ok());
        assert!(refused(&settings("ftp://x")).contains("not https"));
        let mut bad = settings("https://127.0.0.1:1");
        bad.credential = "an-old-admin-token".into();
        assert!(refused(&bad).contains("credential"));
        // The credential never shows in a debug print.
        let s = settings("https://127.0.0.1:1");
        assert!(!format!("{s:?}").contains(&s.credential));
    }
}
