//! The S3 blob store against a real S3-compatible server: `scripts/test`
//! starts `moto_server` and sets ORRERY_TEST_S3_ENDPOINT.
use orrery_archival::{ArchiveError, Archives, S3Settings};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::history::v1::{History, HistoryEvent};
use orrery_proto::api::workflow::v1::WorkflowExecutionInfo;

fn endpoint() -> String {
    std::env::var("ORRERY_TEST_S3_ENDPOINT").expect(
        "ORRERY_TEST_S3_ENDPOINT must name an S3-compatible server (scripts/test starts moto_server)",
    )
}

async fn create_bucket(endpoint: &str, bucket: &str) {
    // moto accepts any credentials; the AWS chain reads these.
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{endpoint}/{bucket}")])
        .status()
        .expect("curl runs");
    assert!(status.success(), "creating bucket {bucket}");
}

fn settings(endpoint: String) -> S3Settings {
    S3Settings {
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        force_path_style: true,
    }
}

#[tokio::test]
async fn history_and_visibility_round_trip_through_s3() {
    let endpoint = endpoint();
    let bucket = format!("orrery-test-{}", std::process::id());
    create_bucket(&endpoint, &bucket).await;
    let uri = format!("s3://{bucket}/some/prefix");
    let archives = Archives::new(settings(endpoint));
    archives.check(&uri).await.unwrap();
    let history = History {
        events: (1..=3)
            .map(|event_id| HistoryEvent {
                event_id,
                ..Default::default()
            })
            .collect(),
    };
    archives
        .put_history(&uri, "ns", "wf 1/x", "r1", &history)
        .await
        .unwrap();
    // Idempotent: the same upload again changes nothing.
    archives
        .put_history(&uri, "ns", "wf 1/x", "r1", &history)
        .await
        .unwrap();
    assert_eq!(
        archives.history(&uri, "ns", "wf 1/x", "r1").await.unwrap(),
        Some(history)
    );
    assert_eq!(
        archives.history(&uri, "ns", "wf 1/x", "r2").await.unwrap(),
        None
    );
    for i in 0..1005 {
        let record = WorkflowExecutionInfo {
            execution: Some(WorkflowExecution {
                workflow_id: format!("wf-{}", i % 3),
                run_id: format!("run-{i}"),
            }),
            ..Default::default()
        };
        archives.put_visibility(&uri, "ns", &record).await.unwrap();
    }
    // Over a thousand keys: listing pages through ListObjectsV2.
    assert_eq!(
        archives
            .visibility_records(&uri, "ns", None)
            .await
            .unwrap()
            .len(),
        1005
    );
    assert_eq!(
        archives
            .visibility_records(&uri, "ns", Some("wf-1"))
            .await
            .unwrap()
            .len(),
        335
    );
}

#[tokio::test]
async fn a_missing_bucket_or_a_dead_endpoint_fails_the_check() {
    let archives = Archives::new(settings(endpoint()));
    let err = archives
        .check("s3://no-such-bucket-here/x")
        .await
        .unwrap_err();
    assert!(matches!(err, ArchiveError::Unavailable(_)), "{err}");
    let dead = Archives::new(settings("http://127.0.0.1:9".into()));
    let err = dead.check("s3://some-bucket").await.unwrap_err();
    assert!(matches!(err, ArchiveError::Unavailable(_)), "{err}");
}
