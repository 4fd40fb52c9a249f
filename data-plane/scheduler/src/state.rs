//! What a schedule keeps between looks: the schedule as described, its
//! counters, the starts waiting for their turn, and what its last run left
//! for the next one. Stored as protobuf in the schedule's row.
use orrery_proto::api::common::v1::{Memo, Payloads, SearchAttributes};
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::schedule::v1::{Schedule, ScheduleInfo};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct StoredSchedule {
    /// The spec in its canonical form (what DescribeSchedule returns).
    #[prost(message, optional, tag = "1")]
    pub schedule: Option<Schedule>,
    #[prost(message, optional, tag = "2")]
    pub info: Option<ScheduleInfo>,
    #[prost(message, optional, tag = "3")]
    pub memo: Option<Memo>,
    /// The schedule's own search attributes (not its action's).
    #[prost(message, optional, tag = "4")]
    pub search_attributes: Option<SearchAttributes>,
    /// Spec times up to here have been taken (unix ms).
    #[prost(int64, tag = "5")]
    pub last_processed_ms: i64,
    #[prost(message, repeated, tag = "6")]
    pub buffered: Vec<BufferedStart>,
    /// The result of the last run that completed, handed to the next run.
    #[prost(message, optional, tag = "7")]
    pub last_completion_result: Option<Payloads>,
    /// The failure of the last run that failed, handed to the next run.
    #[prost(message, optional, tag = "8")]
    pub continued_failure: Option<Failure>,
    /// The namespace's name, for the runs the schedule starts.
    #[prost(string, tag = "9")]
    pub namespace: String,
    /// Runs asked to cancel by CANCEL_OTHER, so they are asked once.
    #[prost(string, repeated, tag = "10")]
    pub cancel_requested: Vec<String>,
}

/// A start that is due but not yet made: waiting for a running workflow
/// (buffer policies), or just taken from the spec, a trigger or a backfill.
#[derive(Clone, PartialEq, Message)]
pub struct BufferedStart {
    #[prost(int64, tag = "1")]
    pub nominal_ms: i64,
    #[prost(int64, tag = "2")]
    pub actual_ms: i64,
    /// `ScheduleOverlapPolicy`; unspecified = the schedule's.
    #[prost(int32, tag = "3")]
    pub overlap_policy: i32,
    /// Triggered or backfilled: made even while paused, and not counted
    /// against limited actions.
    #[prost(bool, tag = "4")]
    pub manual: bool,
}
