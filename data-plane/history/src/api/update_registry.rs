//! The in-memory registry of in-flight updates, indexed by run: every
//! workflow task, admission and completion touches only its own run's
//! entries, under one of a few striped locks, so one busy run (or tenant)
//! does not make every other run's tasks scan or wait for its updates.
//!
//! It stays bounded: an entry leaves when its update completes, is rejected
//! or aborted, and a run's entries all leave when the run closes; admission
//! is capped per run (`history.maxInFlightUpdates`, checked by
//! [`check_admission`] before an update is registered), so an update whose
//! caller walked away holds one of those few slots until the worker answers
//! it or the run closes, as on the real server. The bytes a run's entries
//! hold are capped too (`history.maxInFlightUpdatePayloads`): each keeps its
//! whole request until the workflow accepts or rejects it, so ten updates of
//! 2 MiB each would otherwise pin 20 MiB per run; the run's total is kept up
//! to date on every change so admission checks it in O(1).
use std::collections::HashMap;

use orrery_core::{CellError, CellResult};
use orrery_proto::api::enums::v1::{ResourceExhaustedCause, UpdateWorkflowExecutionLifecycleStage};
use orrery_proto::api::update::v1::{Outcome, Request};
use tokio::sync::watch;

/// Where an update stands, as waiters see it.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateState {
    Admitted,
    Accepted,
    Completed(Box<Outcome>),
    /// The run closed (or the update was lost) before it completed.
    Aborted(String),
}

impl UpdateState {
    pub(crate) fn stage(&self) -> UpdateWorkflowExecutionLifecycleStage {
        use UpdateWorkflowExecutionLifecycleStage as Stage;
        match self {
            Self::Admitted => Stage::Admitted,
            Self::Accepted => Stage::Accepted,
            Self::Completed(_) | Self::Aborted(_) => Stage::Completed,
        }
    }

    fn done(&self) -> bool {
        matches!(self, Self::Completed(_) | Self::Aborted(_))
    }
}

struct Entry {
    /// The request, until the workflow accepted (or rejected) it.
    request: Option<Request>,
    seq: u64,
    /// Start time of the workflow task that last carried the request.
    sent_with: i64,
    state: watch::Sender<UpdateState>,
}

/// One run's in-flight updates, and the admission counter that orders them
/// (requests reach the worker in the order they were admitted).
#[derive(Default)]
struct RunUpdates {
    next_seq: u64,
    entries: HashMap<String, Entry>,
    /// The sum of [`entry_size`] over `entries`, kept on every change.
    held_bytes: usize,
}

const REQUEST_TYPE_URL: &str = "type.googleapis.com/temporal.api.update.v1.Request";

/// An update's weight in the run's payload total, as the real server
/// measures its registry (`registry.GetSize`): the id twice (map key and the
/// update's own id) plus the held request as the `Any` it keeps, whose
/// encoding is the type URL and the encoded request, each length-delimited.
/// An accepted update no longer holds its request and weighs its ids only.
fn entry_size(update_id: &str, request: Option<&Request>) -> usize {
    2 * update_id.len() + request.map_or(0, any_encoded_len)
}

fn any_encoded_len(request: &Request) -> usize {
    use prost::Message as _;
    let delimited = |len: usize| {
        if len == 0 {
            0
        } else {
            prost::encoding::key_len(1) + prost::encoding::encoded_len_varint(len as u64) + len
        }
    };
    delimited(REQUEST_TYPE_URL.len()) + delimited(request.encoded_len())
}

type Runs = HashMap<String, RunUpdates>;

/// Lock stripes: runs hash onto these, so runs rarely wait for each other.
const STRIPES: usize = 64;

/// In-flight updates by run id, then update id.
pub(crate) struct UpdateRegistry {
    stripes: Vec<std::sync::Mutex<Runs>>,
}

impl Default for UpdateRegistry {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Default::default()).collect(),
        }
    }
}

impl UpdateRegistry {
    fn stripe(&self, run_id: &str) -> std::sync::MutexGuard<'_, Runs> {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in run_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        self.stripes[(h % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn subscribe(
        &self,
        run_id: &str,
        update_id: &str,
    ) -> Option<watch::Receiver<UpdateState>> {
        self.stripe(run_id)
            .get(run_id)?
            .entries
            .get(update_id)
            .map(|e| e.state.subscribe())
    }

    /// The bytes the run's entries hold ([`entry_size`]), for
    /// `history.maxInFlightUpdatePayloads`.
    pub(crate) fn held_bytes(&self, run_id: &str) -> usize {
        self.stripe(run_id)
            .get(run_id)
            .map_or(0, |run| run.held_bytes)
    }

    /// The ids of the run's updates held here: admitted ones, and accepted
    /// ones someone waits on.
    pub(crate) fn update_ids(&self, run_id: &str) -> Vec<String> {
        self.stripe(run_id)
            .get(run_id)
            .map(|run| run.entries.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Registers an update (or, with no request, an accepted one a waiter
    /// wants to follow) unless it is there already. The caller checked the
    /// run's limits ([`check_admission`]) under the workflow's lock.
    pub(crate) fn register(
        &self,
        run_id: &str,
        update_id: &str,
        request: Option<Request>,
    ) -> watch::Receiver<UpdateState> {
        let mut runs = self.stripe(run_id);
        let run = runs.entry(run_id.to_string()).or_default();
        run.next_seq += 1;
        let seq = run.next_seq;
        let state = if request.is_some() {
            UpdateState::Admitted
        } else {
            UpdateState::Accepted
        };
        let held_bytes = &mut run.held_bytes;
        run.entries
            .entry(update_id.to_string())
            .or_insert_with(|| {
                *held_bytes += entry_size(update_id, request.as_ref());
                Entry {
                    request,
                    seq,
                    sent_with: 0,
                    state: watch::channel(state).0,
                }
            })
            .state
            .subscribe()
    }

    /// Records that the run's unanswered requests ride the task started at
    /// `started_time_ms`, and returns them in admission order.
    pub(crate) fn send(&self, run_id: &str, started_time_ms: i64) -> Vec<Request> {
        let mut runs = self.stripe(run_id);
        let Some(run) = runs.get_mut(run_id) else {
            return Vec::new();
        };
        let mut pending: Vec<_> = run
            .entries
            .values_mut()
            .filter_map(|e| {
                let request = e.request.clone()?;
                e.sent_with = started_time_ms;
                Some((e.seq, request))
            })
            .collect();
        pending.sort_by_key(|(seq, _)| *seq);
        pending.into_iter().map(|(_, r)| r).collect()
    }

    /// The run's unanswered update ids split by whether the task started at
    /// `started_time_ms` carried them.
    pub(crate) fn unanswered_by_task(
        &self,
        run_id: &str,
        started_time_ms: i64,
    ) -> (Vec<String>, Vec<String>) {
        let runs = self.stripe(run_id);
        let mut carried = Vec::new();
        let mut not_carried = Vec::new();
        for (id, e) in runs.get(run_id).into_iter().flat_map(|r| r.entries.iter()) {
            if e.request.is_some() {
                if e.sent_with == started_time_ms {
                    carried.push(id.clone());
                } else {
                    not_carried.push(id.clone());
                }
            }
        }
        (carried, not_carried)
    }

    pub(crate) fn request(&self, run_id: &str, update_id: &str) -> Option<Request> {
        self.stripe(run_id)
            .get(run_id)?
            .entries
            .get(update_id)?
            .request
            .clone()
    }

    /// Publishes a committed transition of an update; a finished update
    /// leaves the registry (and a run with none left, too).
    pub(crate) fn set(&self, run_id: &str, update_id: &str, state: UpdateState) {
        let mut runs = self.stripe(run_id);
        let Some(run) = runs.get_mut(run_id) else {
            return;
        };
        let done = state.done();
        if let Some(entry) = run.entries.get_mut(update_id) {
            if let Some(request) = entry.request.take() {
                run.held_bytes = run.held_bytes.saturating_sub(any_encoded_len(&request));
            }
            entry.state.send_replace(state);
            if done {
                run.entries.remove(update_id);
                run.held_bytes = run.held_bytes.saturating_sub(entry_size(update_id, None));
            }
        }
        if run.entries.is_empty() {
            runs.remove(run_id);
        }
    }

    /// The run closed: admitted updates are aborted; accepted ones fail
    /// with the real server's failure. Nothing of the run stays.
    pub(crate) fn abort_run(&self, run_id: &str) {
        let Some(run) = self.stripe(run_id).remove(run_id) else {
            return;
        };
        for e in run.entries.into_values() {
            let state = if e.request.is_some() {
                UpdateState::Aborted("workflow update was aborted by closing workflow".into())
            } else {
                UpdateState::Completed(Box::new(super::update::closed_before_completion()))
            };
            e.state.send_replace(state);
        }
    }

    /// How many runs have entries (the registry's size, for tests).
    #[cfg(test)]
    fn runs(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

/// Temporal's per-run update limits (`history.maxInFlightUpdates`,
/// `history.maxTotalUpdates`, `history.maxInFlightUpdatePayloads`; 0 or
/// less turns one off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UpdateLimits {
    pub max_in_flight: i64,
    pub max_total: i64,
    /// Bytes, see [`NewUpdate`].
    pub max_in_flight_payloads: i64,
}

/// What a run holds and what an update it does not know would add, for
/// `history.maxInFlightUpdatePayloads`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NewUpdate {
    /// The run's entries' bytes ([`UpdateRegistry::held_bytes`]).
    pub held_bytes: usize,
    /// The new update's own: its ids, and its request as encoded.
    pub bytes: usize,
}

impl NewUpdate {
    /// The new update `request` of a run whose entries hold `held_bytes`.
    /// The real server has already put the new update in its registry (its
    /// ids count) and adds the plain request's encoded size.
    pub(crate) fn of(request: &Request, held_bytes: usize) -> Self {
        use prost::Message as _;
        let update_id = request.meta.as_ref().map_or("", |m| m.update_id.as_str());
        Self {
            held_bytes,
            bytes: entry_size(update_id, None) + request.encoded_len(),
        }
    }
}

/// Whether a run may admit one more update, as the real server decides:
/// `in_flight` counts its admitted and accepted-but-not-completed updates,
/// `completed` its updates accepted and completed (a rejection counts in
/// neither), then whether the payloads the run holds with the new update's
/// reach `max_in_flight_payloads` — the real server's order. Called only for
/// an update id the run does not know, so a duplicate request never counts
/// twice.
pub(crate) fn check_admission(
    limits: UpdateLimits,
    in_flight: usize,
    completed: usize,
    new: NewUpdate,
) -> CellResult<()> {
    let reached = |count: usize, limit: i64| limit > 0 && count as i64 >= limit;
    if reached(in_flight, limits.max_in_flight) {
        return Err(CellError::ResourceExhausted {
            message: format!(
                "limit on number of concurrent in-flight updates has been reached ({})",
                limits.max_in_flight
            ),
            cause: ResourceExhaustedCause::ConcurrentLimit,
        });
    }
    check_total(limits, in_flight + completed)?;
    let max = limits.max_in_flight_payloads;
    if max > 0 && new.held_bytes.saturating_add(new.bytes) as u64 >= max as u64 {
        return Err(CellError::ResourceExhausted {
            message: format!(
                "limit on total payload size of in-flight updates has been reached ({max} bytes)"
            ),
            cause: ResourceExhaustedCause::ConcurrentLimit,
        });
    }
    Ok(())
}

/// The cap on all updates a run has had (also checked when a worker
/// answers an update the server does not know, as the real server does).
pub(crate) fn check_total(limits: UpdateLimits, total: usize) -> CellResult<()> {
    if limits.max_total > 0 && total as i64 >= limits.max_total {
        return Err(CellError::FailedPrecondition(total_limit_message(
            limits.max_total,
        )));
    }
    Ok(())
}

/// The real server's words for `history.maxTotalUpdates`.
fn total_limit_message(limit: i64) -> String {
    format!(
        "The limit on the total number of distinct updates in this workflow has been reached ({limit}). \
         Make sure any duplicate updates share an Update ID so the server can deduplicate them, \
         and consider rejecting updates that you aren't going to process. \
         You can also Continue-as-New to avoid this; we recommend you check Continue-as-New Suggested in your Workflow."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_proto::api::update::v1::Meta;

    fn request(id: &str) -> Request {
        Request {
            meta: Some(Meta {
                update_id: id.into(),
                identity: String::new(),
            }),
            ..Default::default()
        }
    }

    fn ids(requests: Vec<Request>) -> Vec<String> {
        requests
            .into_iter()
            .map(|r| r.meta.unwrap_or_default().update_id)
            .collect()
    }

    #[test]
    fn a_task_sees_only_its_runs_updates_in_admission_order() {
        let r = UpdateRegistry::default();
        r.register("run-a", "a2", Some(request("a2")));
        r.register("run-b", "b1", Some(request("b1")));
        r.register("run-a", "a1", Some(request("a1")));
        assert_eq!(ids(r.send("run-a", 7)), ["a2", "a1"]);
        assert_eq!(ids(r.send("run-b", 8)), ["b1"]);
        let (carried, not_carried) = r.unanswered_by_task("run-a", 7);
        assert_eq!((carried.len(), not_carried.len()), (2, 0));
        assert!(r.request("run-b", "a1").is_none(), "no update crosses runs");
        assert!(r.subscribe("run-b", "a2").is_none());
        assert_eq!(r.update_ids("run-b"), ["b1"]);
    }

    #[test]
    fn a_duplicate_registration_is_the_same_update() {
        let r = UpdateRegistry::default();
        r.register("run", "u", Some(request("u")));
        r.register("run", "u", Some(request("u")));
        assert_eq!(r.update_ids("run").len(), 1);
        assert_eq!(r.send("run", 1).len(), 1);
    }

    #[test]
    fn finished_updates_and_closed_runs_leave_nothing_behind() {
        let r = UpdateRegistry::default();
        let accepted = r.register("run-a", "u1", Some(request("u1")));
        r.register("run-a", "u2", Some(request("u2")));
        let other = r.register("run-b", "u1", Some(request("u1")));
        r.set("run-a", "u1", UpdateState::Accepted);
        assert_eq!(*accepted.borrow(), UpdateState::Accepted);
        assert!(r.request("run-a", "u1").is_none(), "accepted: request gone");
        r.set("run-a", "u1", UpdateState::Completed(Box::default()));
        r.set("run-a", "u2", UpdateState::Completed(Box::default()));
        assert_eq!(r.runs(), 1, "run-a had nothing left");
        r.abort_run("run-b");
        assert!(matches!(*other.borrow(), UpdateState::Aborted(_)));
        assert_eq!(r.runs(), 0);
        // A state for an update nobody registered creates nothing.
        r.set("run-c", "u", UpdateState::Accepted);
        assert_eq!(r.runs(), 0);
    }

    #[test]
    fn closing_a_run_fails_accepted_updates_as_the_real_server() {
        let r = UpdateRegistry::default();
        let waiter = r.register("run", "u", None);
        r.abort_run("run");
        match &*waiter.borrow() {
            UpdateState::Completed(outcome) => {
                assert_eq!(**outcome, super::super::update::closed_before_completion())
            }
            other => panic!("{other:?}"),
        }
    }

    const DEFAULTS: UpdateLimits = UpdateLimits {
        max_in_flight: 10,
        max_total: 2000,
        max_in_flight_payloads: 20 * 1024 * 1024,
    };

    const NOTHING_HELD: NewUpdate = NewUpdate {
        held_bytes: 0,
        bytes: 0,
    };

    fn with_args(id: &str, bytes: usize) -> Request {
        use orrery_proto::api::common::v1::{Payload, Payloads};
        use orrery_proto::api::update::v1::Input;
        Request {
            input: Some(Input {
                name: "u".into(),
                args: Some(Payloads {
                    payloads: vec![Payload {
                        data: vec![b'x'; bytes],
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            ..request(id)
        }
    }

    #[test]
    fn the_run_keeps_the_bytes_its_entries_hold() {
        use prost::Message as _;
        let r = UpdateRegistry::default();
        let a = with_args("a", 4000);
        // The request as the `Any` the real server keeps: its type URL and
        // the encoded request, each with a one-byte tag and a length.
        let any = prost_wkt_types::Any {
            type_url: REQUEST_TYPE_URL.into(),
            value: a.encode_to_vec(),
        };
        assert_eq!(any_encoded_len(&a), any.encoded_len());
        r.register("run", "a", Some(a.clone()));
        r.register("run", "a", Some(a.clone()));
        r.register("run", "bb", Some(with_args("bb", 100)));
        r.register("other", "c", Some(with_args("c", 9000)));
        let a_bytes = 2 + any.encoded_len();
        let b_bytes = 4 + any_encoded_len(&with_args("bb", 100));
        assert_eq!(
            r.held_bytes("run"),
            a_bytes + b_bytes,
            "a duplicate adds nothing"
        );
        // Accepted: the request is let go, the ids stay while it is in flight.
        r.set("run", "a", UpdateState::Accepted);
        assert_eq!(r.held_bytes("run"), 2 + b_bytes);
        r.set("run", "a", UpdateState::Completed(Box::default()));
        r.set("run", "bb", UpdateState::Completed(Box::default()));
        assert_eq!(r.held_bytes("run"), 0);
        // An accepted update someone waits on holds its ids only.
        r.register("run", "w", None);
        assert_eq!(r.held_bytes("run"), 2);
        r.abort_run("other");
        assert_eq!(r.held_bytes("other"), 0);
    }

    #[test]
    fn payloads_reaching_the_limit_are_refused_as_on_the_real_server() {
        let request = with_args("u", 4000);
        let new = NewUpdate::of(&request, 0);
        let limits = UpdateLimits {
            max_in_flight_payloads: 10_000,
            ..DEFAULTS
        };
        let fits = NewUpdate {
            held_bytes: 9_999 - new.bytes,
            ..new
        };
        assert!(check_admission(limits, 2, 0, fits).is_ok());
        let reaches = NewUpdate {
            held_bytes: 10_000 - new.bytes,
            ..new
        };
        match check_admission(limits, 2, 0, reaches) {
            Err(CellError::ResourceExhausted { message, cause }) => {
                assert_eq!(
                    message,
                    "limit on total payload size of in-flight updates has been reached (10000 bytes)"
                );
                assert_eq!(cause, ResourceExhaustedCause::ConcurrentLimit);
            }
            other => panic!("{other:?}"),
        }
        // The count limits are checked first, as on the real server.
        assert!(matches!(
            check_admission(limits, 10, 0, reaches),
            Err(CellError::ResourceExhausted { message, .. }) if message.contains("number")
        ));
        assert!(matches!(
            check_admission(limits, 5, 1995, reaches),
            Err(CellError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn the_default_payload_limit_is_the_real_servers() {
        let huge = NewUpdate {
            held_bytes: 20 * 1024 * 1024 - 1,
            bytes: 1,
        };
        match check_admission(DEFAULTS, 0, 0, huge) {
            Err(CellError::ResourceExhausted { message, .. }) => assert_eq!(
                message,
                "limit on total payload size of in-flight updates has been reached (20971520 bytes)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_eleventh_in_flight_update_is_refused_as_on_the_real_server() {
        assert!(check_admission(DEFAULTS, 9, 0, NOTHING_HELD).is_ok());
        match check_admission(DEFAULTS, 10, 0, NOTHING_HELD) {
            Err(CellError::ResourceExhausted { message, cause }) => {
                assert_eq!(
                    message,
                    "limit on number of concurrent in-flight updates has been reached (10)"
                );
                assert_eq!(cause, ResourceExhaustedCause::ConcurrentLimit);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_total_counts_in_flight_and_completed_updates() {
        assert!(check_admission(DEFAULTS, 5, 1994, NOTHING_HELD).is_ok());
        match check_admission(DEFAULTS, 5, 1995, NOTHING_HELD) {
            Err(CellError::FailedPrecondition(message)) => assert!(
                message.starts_with(
                    "The limit on the total number of distinct updates in this workflow has been reached (2000). Make sure"
                ),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
        // The in-flight limit is checked first, as on the real server.
        assert!(matches!(
            check_admission(DEFAULTS, 10, 1995, NOTHING_HELD),
            Err(CellError::ResourceExhausted { .. })
        ));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let off = UpdateLimits {
            max_in_flight: 0,
            max_total: 0,
            max_in_flight_payloads: 0,
        };
        let huge = NewUpdate {
            held_bytes: usize::MAX,
            bytes: usize::MAX,
        };
        assert!(check_admission(off, 10_000, 10_000, huge).is_ok());
    }
}
