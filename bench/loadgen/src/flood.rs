//! `flood`: a misbehaving client. DescribeNamespace calls on one namespace, `--concurrency` in
//! flight, never backing off on RESOURCE_EXHAUSTED (the SDKs' own retries do back off), for
//! `--flood-secs` or `--count` calls. Made on a bare tonic channel rather than the SDK client,
//! whose retry layer would pace the calls, and so that the flooder costs little CPU of its own:
//! the noisy-neighbour benchmark runs it on the same two cores as the server it measures.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use serde_json::{Map, Value, json};
use temporalio_client::tonic::{self, Code, transport::Channel};
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, workflow_service_client::WorkflowServiceClient,
};

use crate::{
    Bench, BenchResult,
    stats::{per_sec, secs},
};

#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    refused: AtomicUsize,
    other: AtomicUsize,
}

pub async fn flood(
    bench: &Bench,
    count: usize,
    concurrency: usize,
) -> BenchResult<Map<String, Value>> {
    let namespace = bench.args.namespace.clone();
    let channel = Channel::from_shared(format!("http://{}", bench.args.address))
        .map_err(|err| format!("bad --address: {err}"))?
        .connect()
        .await
        .map_err(|err| format!("connect: {err}"))?;
    let header: tonic::metadata::MetadataValue<_> = namespace
        .parse()
        .map_err(|err| format!("namespace as a header: {err}"))?;
    let duration = Duration::from_secs(bench.args.flood_secs);
    // Calls are spread evenly: worker k makes its i-th call at (i·C + k) / rps.
    let interval = (bench.args.flood_rps > 0)
        .then(|| Duration::from_secs_f64(1.0 / bench.args.flood_rps as f64));
    let tally = Tally::default();
    let first_other = std::sync::Mutex::new(None::<String>);
    let began = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let sent = AtomicUsize::new(0);
    let worker = |k: usize| {
        let mut client = WorkflowServiceClient::new(channel.clone());
        let (namespace, header) = (namespace.clone(), header.clone());
        let (tally, first_other, sent) = (&tally, &first_other, &sent);
        async move {
            let start = tokio::time::Instant::now();
            for i in 0.. {
                if let Some(interval) = interval {
                    tokio::time::sleep_until(
                        start + interval * (i * concurrency as u32 + k as u32),
                    )
                    .await;
                }
                if tokio::time::Instant::now() >= deadline
                    || sent.fetch_add(1, Ordering::Relaxed) >= count
                {
                    break;
                }
                let mut request = tonic::Request::new(DescribeNamespaceRequest {
                    namespace: namespace.clone(),
                    ..Default::default()
                });
                request
                    .metadata_mut()
                    .insert("temporal-namespace", header.clone());
                match client.describe_namespace(request).await {
                    Ok(_) => tally.answered.fetch_add(1, Ordering::Relaxed),
                    Err(status) if status.code() == Code::ResourceExhausted => {
                        tally.refused.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(status) => {
                        first_other
                            .lock()
                            .unwrap()
                            .get_or_insert_with(|| status.to_string());
                        tally.other.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }
    };
    futures::future::join_all((0..concurrency).map(worker)).await;
    let wall = began.elapsed().as_secs_f64();
    let (answered, refused, other) = (
        tally.answered.into_inner(),
        tally.refused.into_inner(),
        tally.other.into_inner(),
    );
    let mut report = Map::new();
    report.insert("wall_secs".into(), secs(wall));
    report.insert(
        "calls_per_sec".into(),
        per_sec(answered + refused + other, wall),
    );
    report.insert("answered".into(), json!(answered));
    report.insert("refused".into(), json!(refused));
    report.insert("other_errors".into(), json!(other));
    if let Some(message) = first_other.into_inner().unwrap() {
        report.insert("first_other_error".into(), json!(message));
    }
    Ok(report)
}
