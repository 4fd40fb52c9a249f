//! One state transition under construction: the new mutable state plus the
//! events, tasks, visibility and usage it produces. The engine commits it in
//! one transaction and only then acts on it (pokes matching, arms timers).
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use orrery_core::actions::Action;
use orrery_core::matching::QueueTask;
use orrery_persistence::CurrentWrite;
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;
use orrery_proto::api::history::v1::HistoryEvent;
use orrery_proto::api::history::v1::history_event::Attributes;
use prost::Message;

use crate::events;
use crate::state::{ExecutionInfo, MutableState};
use crate::tasks::{TimerTask, TransferTask};

#[derive(Clone)]
pub struct Mutation {
    pub now: i64,
    pub state: MutableState,
    /// `None` for a run that does not exist yet.
    pub(crate) db_version: Option<i64>,
    pub(crate) events: Vec<HistoryEvent>,
    pub(crate) timers: Vec<(i64, TimerTask)>,
    pub(crate) transfers: Vec<TransferTask>,
    pub(crate) queue_tasks: Vec<QueueTask>,
    pub(crate) current: Option<CurrentWrite>,
    pub(crate) usage: Vec<Action>,
    pub(crate) visibility: bool,
    /// The run a continue-as-new (or retry, or cron) starts, committed together.
    pub(crate) new_run: Option<Box<Mutation>>,
    /// Set by anything that changes the stored state.
    pub(crate) dirty: bool,
    /// The run closes in this transition: its retention work starts.
    pub(crate) closed_now: bool,
    pub(crate) task_ids: Arc<AtomicI64>,
    /// The summary and details of the command (or start request) being
    /// applied: they go on the first event it writes.
    pub(crate) user_metadata: Option<orrery_proto::api::sdk::v1::UserMetadata>,
    /// Update transitions to publish to waiters once committed.
    pub(crate) update_effects: Vec<(String, crate::api::update::UpdateState)>,
}

impl Mutation {
    pub(crate) fn new(
        state: MutableState,
        db_version: Option<i64>,
        task_ids: Arc<AtomicI64>,
    ) -> Self {
        Self {
            now: orrery_core::time::now_millis(),
            state,
            db_version,
            events: Vec::new(),
            timers: Vec::new(),
            transfers: Vec::new(),
            queue_tasks: Vec::new(),
            current: None,
            usage: Vec::new(),
            visibility: false,
            new_run: None,
            dirty: false,
            closed_now: false,
            task_ids,
            user_metadata: None,
            update_effects: Vec::new(),
        }
    }

    pub fn info(&self) -> &ExecutionInfo {
        self.state
            .info
            .as_ref()
            .expect("mutable state has execution info")
    }

    pub fn info_mut(&mut self) -> &mut ExecutionInfo {
        self.dirty = true;
        self.state.info.get_or_insert_with(Default::default)
    }

    pub fn is_running(&self) -> bool {
        self.info().status == WorkflowExecutionStatus::Running as i32
    }

    pub fn next_task_id(&self) -> i64 {
        self.task_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether a workflow task is running on a worker right now: events that
    /// arrive meanwhile are buffered.
    pub fn workflow_task_started(&self) -> bool {
        self.state
            .workflow_task
            .as_ref()
            .is_some_and(|wt| wt.started_event_id > 0)
    }

    fn event(&mut self, event_id: i64, attributes: Attributes) -> HistoryEvent {
        HistoryEvent {
            event_id,
            event_time: Some(orrery_core::time::timestamp(self.now)),
            event_type: events::event_type(&attributes) as i32,
            task_id: self.next_task_id(),
            attributes: Some(attributes),
            user_metadata: self.user_metadata.take(),
            ..Default::default()
        }
    }

    /// Appends an event to history now and returns its id.
    pub fn add_event(&mut self, attributes: impl Into<Attributes>) -> i64 {
        let id = self.state.next_event_id;
        self.state.next_event_id += 1;
        let event = self.event(id, attributes.into());
        self.state.history_size_bytes += event.encoded_len() as i64;
        self.events.push(event);
        self.dirty = true;
        id
    }

    /// Appends now, or buffers until the running workflow task closes.
    pub fn add_or_buffer(&mut self, attributes: impl Into<Attributes>) {
        if self.workflow_task_started() {
            let event = self.event(0, attributes.into());
            self.state.buffered_events.push(event);
            self.dirty = true;
        } else {
            self.add_event(attributes);
        }
    }

    /// Writes buffered events after the closing workflow-task event, giving
    /// them ids and pointing completions at their (also buffered) started
    /// events. Returns how many were written.
    pub fn flush_buffered(&mut self) -> usize {
        let buffered = std::mem::take(&mut self.state.buffered_events);
        let count = buffered.len();
        let mut started_ids = std::collections::HashMap::new();
        for mut event in buffered {
            let Some(mut attributes) = event.attributes.take() else {
                continue;
            };
            if let Some(initiated) = events::started_of(&attributes) {
                let id = self.state.next_event_id;
                started_ids.insert(initiated, id);
                if let Some(child) = self
                    .state
                    .children
                    .iter_mut()
                    .find(|c| c.initiated_event_id == initiated)
                {
                    child.started_event_id = id;
                }
            }
            if let Some((initiated, started)) = events::started_ref(&mut attributes)
                && let Some(id) = started_ids.get(&initiated)
            {
                *started = *id;
            }
            self.add_event(attributes);
        }
        count
    }

    pub fn timer(&mut self, fire_ms: i64, task: TimerTask) {
        self.timers.push((fire_ms, task));
    }

    pub fn transfer(&mut self, task: TransferTask) {
        self.transfers.push(task);
    }

    pub fn queue(&mut self, mut task: QueueTask) {
        task.created_ms = self.now;
        self.queue_tasks.push(task);
    }

    /// Bills `action` to the run's namespace in this transition's
    /// transaction: if the commit fails, the Action was not taken.
    pub fn count(&mut self, action: Action) {
        self.usage.push(action);
    }

    pub fn update_visibility(&mut self) {
        self.visibility = true;
    }

    pub fn has_changes(&self) -> bool {
        self.dirty
            || !self.events.is_empty()
            || !self.timers.is_empty()
            || !self.transfers.is_empty()
            || !self.queue_tasks.is_empty()
            || self.current.is_some()
            || self.new_run.is_some()
    }

    pub fn timer_task(&self, kind: crate::tasks::TimerKind) -> TimerTask {
        let info = self.info();
        TimerTask {
            kind: kind as i32,
            namespace_id: info.namespace_id.clone(),
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
            ..Default::default()
        }
    }

    pub fn transfer_task(
        &self,
        kind: crate::tasks::TransferKind,
        initiated_event_id: i64,
    ) -> TransferTask {
        let info = self.info();
        TransferTask {
            kind: kind as i32,
            namespace_id: info.namespace_id.clone(),
            workflow_id: info.workflow_id.clone(),
            run_id: info.run_id.clone(),
            initiated_event_id,
        }
    }
}
