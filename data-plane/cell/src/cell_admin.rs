//! The cell admin service (`orrery.cell.v1.CellAdmin`), served on the admin
//! listener only: the control plane pulls usage totals and per-namespace
//! statistics. It reads every namespace of the cell, so it must never be
//! added to the tenants' router.
use std::sync::Arc;

use orrery_cell_api::cell_admin_server::{CellAdmin, CellAdminServer};
use orrery_cell_api::{
    MAX_USAGE_PAGE, PullNamespaceStatsRequest, PullNamespaceStatsResponse, PullUsageRequest,
    PullUsageResponse, UsageRow,
};
use orrery_persistence::{UsageKey, UsageStore};
use tonic::{Request, Response, Status};

const HOUR_MS: i64 = 3_600_000;
/// The page token's format version: a token of another version (or none
/// of ours) is refused rather than misread.
const TOKEN_VERSION: u8 = 1;
/// A token holds one row's key; namespace ids and kinds are short.
const MAX_TOKEN_BYTES: usize = 1024;

pub struct CellAdminService {
    store: Arc<dyn UsageStore>,
}

/// The service, for the admin listener's router:
/// `.add_service(cell_admin::service(store.clone()))`.
pub fn service(store: Arc<dyn UsageStore>) -> CellAdminServer<CellAdminService> {
    CellAdminServer::new(CellAdminService { store })
}

/// Where a pull continues, as opaque bytes: the pull's settled hour (the
/// same on every page of one pull) and the last row's key (version,
/// settled hour, hour, namespace id length, namespace id, kind).
fn encode_token(settled_before_hour_ms: i64, key: &UsageKey) -> Vec<u8> {
    let mut token = Vec::with_capacity(19 + key.namespace_id.len() + key.kind.len());
    token.push(TOKEN_VERSION);
    token.extend_from_slice(&settled_before_hour_ms.to_be_bytes());
    token.extend_from_slice(&key.hour_ms.to_be_bytes());
    token.extend_from_slice(&(key.namespace_id.len() as u16).to_be_bytes());
    token.extend_from_slice(key.namespace_id.as_bytes());
    token.extend_from_slice(key.kind.as_bytes());
    token
}

/// (settled hour, key) of a token [`encode_token`] wrote.
fn decode_token(token: &[u8]) -> Result<(i64, UsageKey), Status> {
    let bad = || Status::invalid_argument("page_token is not a token this cell issued");
    if token.len() > MAX_TOKEN_BYTES || token.first() != Some(&TOKEN_VERSION) {
        return Err(bad());
    }
    let i64_at = |at: usize| -> Result<i64, Status> {
        let bytes: [u8; 8] = token
            .get(at..at + 8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        Ok(i64::from_be_bytes(bytes))
    };
    let (settled, hour_ms) = (i64_at(1)?, i64_at(9)?);
    let len: [u8; 2] = token
        .get(17..19)
        .ok_or_else(bad)?
        .try_into()
        .map_err(|_| bad())?;
    let ns_end = 19 + usize::from(u16::from_be_bytes(len));
    let namespace_id = token.get(19..ns_end).ok_or_else(bad)?;
    let kind = &token[ns_end..];
    let hour_aligned = |ms: i64| ms >= 0 && ms % HOUR_MS == 0;
    if !hour_aligned(hour_ms) || !hour_aligned(settled + HOUR_MS) {
        return Err(bad());
    }
    let key = UsageKey {
        hour_ms,
        namespace_id: String::from_utf8(namespace_id.to_vec()).map_err(|_| bad())?,
        kind: String::from_utf8(kind.to_vec()).map_err(|_| bad())?,
    };
    Ok((settled, key))
}

/// Hours before this no longer change: the current hour still counts, and
/// the one before may still get a write that started before it ended (a
/// commit, a query flush, another cell process's clock), so both stay open.
fn settled_before_hour_ms(now_ms: i64) -> i64 {
    now_ms.div_euclid(HOUR_MS) * HOUR_MS - HOUR_MS
}

#[tonic::async_trait]
impl CellAdmin for CellAdminService {
    async fn pull_usage(
        &self,
        request: Request<PullUsageRequest>,
    ) -> Result<Response<PullUsageResponse>, Status> {
        let req = request.into_inner();
        if req.from_hour_ms < 0 {
            return Err(Status::invalid_argument(format!(
                "from_hour_ms must not be negative, got {}",
                req.from_hour_ms
            )));
        }
        if req.from_hour_ms % HOUR_MS != 0 {
            return Err(Status::invalid_argument(format!(
                "from_hour_ms must be the start of an hour (a multiple of {HOUR_MS}), got {}",
                req.from_hour_ms
            )));
        }
        // The first page fixes the pull's settled hour; later pages carry
        // it in their token, so every page of one pull says the same.
        let (settled, after) = if req.page_token.is_empty() {
            (
                settled_before_hour_ms(orrery_core::time::now_millis()),
                None,
            )
        } else {
            let (settled, key) = decode_token(&req.page_token)?;
            (settled, Some(key))
        };
        let size = match req.page_size {
            0 => MAX_USAGE_PAGE,
            n => n.min(MAX_USAGE_PAGE),
        };
        // One row more than the page says whether another page follows.
        let mut rows = self
            .store
            .usage_totals(req.from_hour_ms, after.as_ref(), size + 1)
            .await?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => encode_token(settled, &last.key),
            _ => Vec::new(),
        };
        Ok(Response::new(PullUsageResponse {
            rows: rows
                .into_iter()
                .map(|t| UsageRow {
                    namespace_id: t.key.namespace_id,
                    hour_ms: t.key.hour_ms,
                    kind: t.key.kind,
                    total: t.total,
                })
                .collect(),
            next_page_token,
            settled_before_hour_ms: settled,
        }))
    }

    async fn pull_namespace_stats(
        &self,
        _request: Request<PullNamespaceStatsRequest>,
    ) -> Result<Response<PullNamespaceStatsResponse>, Status> {
        Ok(Response::new(orrery_core::metrics::namespace_stats()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_bytes_are_refused() {
        let key = UsageKey {
            hour_ms: 5 * HOUR_MS,
            namespace_id: "ns-ü".into(),
            kind: "storage.active_byte_seconds".into(),
        };
        assert_eq!(
            decode_token(&encode_token(9 * HOUR_MS, &key)).unwrap(),
            (9 * HOUR_MS, key.clone())
        );
        let empty = UsageKey {
            hour_ms: 0,
            namespace_id: String::new(),
            kind: String::new(),
        };
        assert_eq!(
            decode_token(&encode_token(-HOUR_MS, &empty)).unwrap(),
            (-HOUR_MS, empty)
        );

        let token = encode_token(9 * HOUR_MS, &key);
        let mut wrong_version = token.clone();
        wrong_version[0] = 2;
        let mut long_namespace = token.clone();
        long_namespace[17..19].copy_from_slice(&500u16.to_be_bytes());
        let mut odd_settled = token.clone();
        odd_settled[1..9].copy_from_slice(&7i64.to_be_bytes());
        let mut odd_hour = token.clone();
        odd_hour[9..17].copy_from_slice(&7i64.to_be_bytes());
        let mut not_utf8 = token.clone();
        not_utf8.push(0xff);
        for bad in [
            vec![],
            vec![1, 2, 3],
            wrong_version,
            long_namespace,
            odd_settled,
            odd_hour,
            not_utf8,
            vec![1; 2000],
        ] {
            let err = decode_token(&bad).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}");
            assert!(err.message().contains("page_token"));
        }
    }

    #[test]
    fn settled_hours_end_an_hour_before_the_current_one() {
        assert_eq!(settled_before_hour_ms(10 * HOUR_MS), 9 * HOUR_MS);
        assert_eq!(
            settled_before_hour_ms(10 * HOUR_MS + 59 * 60_000),
            9 * HOUR_MS
        );
    }

    /// PullUsage over gRPC on a real store: pages of every size return each
    /// row once, in order, with one settled hour per pull; bad input is
    /// InvalidArgument naming the field.
    #[tokio::test]
    async fn pulls_every_row_once_over_grpc() {
        use orrery_cell_api::cell_admin_client::CellAdminClient;
        use orrery_persistence::{StorageSample, UsageDelta};

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cell.db", dir.path().display());
        let store = Arc::new(orrery_persistence::SqliteStore::open(&url).await.unwrap());
        for (hour, namespace) in [(3, "n1"), (3, "n2"), (4, "n1")] {
            let sample = StorageSample {
                namespace_id: namespace.into(),
                slot_ms: hour * HOUR_MS,
                seconds: 60,
                active_bytes: 10,
                retained_bytes: 5,
            };
            store.record_storage_samples(&[sample], 0).await.unwrap();
        }
        let delta = |namespace: &str, count| UsageDelta {
            namespace_id: namespace.into(),
            action: "signal",
            count,
        };
        store.add_usage(&[delta("n1", 3)]).await.unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(service(store.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        let server = tokio::spawn(server);
        let mut client = CellAdminClient::connect(format!("http://{addr}"))
            .await
            .unwrap();

        let pull = |page_size, page_token| PullUsageRequest {
            from_hour_ms: 0,
            page_token,
            page_size,
        };
        let before = settled_before_hour_ms(orrery_core::time::now_millis());
        let whole = client
            .pull_usage(pull(0, vec![]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(whole.rows.len(), 7);
        assert!(whole.next_page_token.is_empty());
        let after = settled_before_hour_ms(orrery_core::time::now_millis());
        assert!((before..=after).contains(&whole.settled_before_hour_ms));
        for size in [1, 2, 3, 7, 8] {
            let (mut rows, mut token) = (Vec::new(), Vec::new());
            loop {
                let page = client
                    .pull_usage(pull(size, token))
                    .await
                    .unwrap()
                    .into_inner();
                assert!(page.rows.len() <= size as usize);
                assert_eq!(page.settled_before_hour_ms, whole.settled_before_hour_ms);
                rows.extend(page.rows);
                token = page.next_page_token;
                if token.is_empty() {
                    break;
                }
            }
            assert_eq!(rows, whole.rows, "page size {size}");
        }
        let signal = whole.rows.iter().find(|r| r.kind == "signal").unwrap();
        assert_eq!((signal.namespace_id.as_str(), signal.total), ("n1", 3));
        let storage = &whole.rows[0];
        assert_eq!(
            (storage.hour_ms, storage.kind.as_str(), storage.total),
            (
                3 * HOUR_MS,
                orrery_cell_api::ACTIVE_STORAGE_BYTE_SECONDS,
                600
            )
        );

        // From an hour on.
        let from_4 = PullUsageRequest {
            from_hour_ms: 4 * HOUR_MS,
            ..pull(0, vec![])
        };
        assert_eq!(
            client
                .pull_usage(from_4)
                .await
                .unwrap()
                .into_inner()
                .rows
                .len(),
            3
        );

        for (bad, field) in [
            (
                PullUsageRequest {
                    from_hour_ms: -HOUR_MS,
                    ..pull(0, vec![])
                },
                "from_hour_ms",
            ),
            (
                PullUsageRequest {
                    from_hour_ms: 5,
                    ..pull(0, vec![])
                },
                "from_hour_ms",
            ),
            (pull(0, b"garbage".to_vec()), "page_token"),
        ] {
            let err = client.pull_usage(bad).await.unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument);
            assert!(err.message().contains(field), "{}", err.message());
        }

        let stats = client
            .pull_namespace_stats(PullNamespaceStatsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(stats.process_start_ms > 0);
        server.abort();
    }
}
