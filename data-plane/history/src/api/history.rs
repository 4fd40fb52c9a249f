//! Reading history: pages for pollers and clients, the long poll SDKs use to
//! wait for a result, and the reverse read.
use std::time::Duration;

use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;
use orrery_proto::api::history::v1::{History, HistoryEvent};
use prost::Message;

use crate::engine::HistoryEngine;

/// Where the next page of a history read starts.
#[derive(Clone, PartialEq, Message)]
struct PageToken {
    #[prost(string, tag = "1")]
    run_id: String,
    #[prost(int64, tag = "2")]
    next_event_id: i64,
}

/// How to read: page size (0: default), where to continue, and whether to
/// wait for new events or for the close event only.
pub struct HistoryQuery<'a> {
    pub page_size: usize,
    pub token: &'a [u8],
    pub wait_new_event: bool,
    pub close_only: bool,
    pub max_wait: Duration,
}

pub struct HistoryRead {
    pub history: History,
    pub next_page_token: Vec<u8>,
}

pub const DEFAULT_PAGE_SIZE: usize = 1000;

fn bad_token() -> CellError {
    CellError::invalid("Invalid NextPageToken.")
}

impl HistoryEngine {
    /// Events `from <= id < to` of a run, at most `page_size` (0: default),
    /// and the token of the next page if the range has more.
    pub(crate) async fn history_page(
        &self,
        namespace_id: &str,
        run_id: &str,
        from: i64,
        to: i64,
        page_size: usize,
    ) -> CellResult<(Vec<HistoryEvent>, Vec<u8>)> {
        let limit = if page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size
        };
        let rows = self
            .store
            .events(namespace_id, run_id, from, to, limit)
            .await?;
        let events = rows
            .iter()
            .map(|r| HistoryEvent::decode(r.data.as_slice()).map_err(CellError::internal))
            .collect::<CellResult<Vec<_>>>()?;
        let next = events.last().map(|e| e.event_id + 1).unwrap_or(from);
        let token = if events.len() == limit && next < to {
            PageToken {
                run_id: run_id.to_string(),
                next_event_id: next,
            }
            .encode_to_vec()
        } else {
            Vec::new()
        };
        Ok((events, token))
    }

    /// GetWorkflowExecutionHistory. With `wait_new_event` a read at the end
    /// of a running workflow waits (up to `max_wait`) for more; with
    /// `close_only` it returns just the closing event once there is one.
    pub async fn read_history(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        query: HistoryQuery<'_>,
    ) -> CellResult<HistoryRead> {
        let HistoryQuery {
            page_size,
            token,
            wait_new_event,
            close_only,
            max_wait,
        } = query;
        let token = if token.is_empty() {
            None
        } else {
            Some(PageToken::decode(token).map_err(|_| bad_token())?)
        };
        let run_id = match &token {
            Some(t) if execution.run_id.is_empty() || execution.run_id == t.run_id => {
                t.run_id.clone()
            }
            Some(_) => return Err(bad_token()),
            None => {
                self.resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
                    .await?
            }
        };
        let from = token.as_ref().map(|t| t.next_event_id).unwrap_or(1);
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut changes = self.watch_run(&run_id);
        loop {
            let (state, _) = self
                .load(namespace_id, &execution.workflow_id, &run_id)
                .await?;
            let info = state.info.clone().unwrap_or_default();
            let running = info.status == WorkflowExecutionStatus::Running as i32;
            let ready = if close_only {
                !running
            } else {
                !running || from < state.next_event_id
            };
            if ready || !wait_new_event {
                if close_only {
                    if running {
                        return Ok(HistoryRead {
                            history: History::default(),
                            next_page_token: Vec::new(),
                        });
                    }
                    let (events, _) = self
                        .history_page(
                            namespace_id,
                            &run_id,
                            info.completion_event_id,
                            info.completion_event_id + 1,
                            1,
                        )
                        .await?;
                    return Ok(HistoryRead {
                        history: History { events },
                        next_page_token: Vec::new(),
                    });
                }
                let (events, mut next_page_token) = self
                    .history_page(namespace_id, &run_id, from, state.next_event_id, page_size)
                    .await?;
                // A long poll on a running workflow always continues from here.
                if next_page_token.is_empty() && running && wait_new_event {
                    let next = events.last().map(|e| e.event_id + 1).unwrap_or(from);
                    next_page_token = PageToken {
                        run_id: run_id.clone(),
                        next_event_id: next,
                    }
                    .encode_to_vec();
                }
                return Ok(HistoryRead {
                    history: History { events },
                    next_page_token,
                });
            }
            // Wait for the run's next commit, or give up at the deadline
            // with an empty page the caller can continue from.
            match self.wait_change(&mut changes, deadline).await {
                true => continue,
                false => {
                    let next_page_token = if close_only {
                        Vec::new()
                    } else {
                        PageToken {
                            run_id: run_id.clone(),
                            next_event_id: from,
                        }
                        .encode_to_vec()
                    };
                    return Ok(HistoryRead {
                        history: History::default(),
                        next_page_token,
                    });
                }
            }
        }
    }

    /// GetWorkflowExecutionHistoryReverse: newest event first.
    pub async fn read_history_reverse(
        &self,
        namespace_id: &str,
        execution: &WorkflowExecution,
        page_size: usize,
        token: &[u8],
    ) -> CellResult<HistoryRead> {
        let page_size = if page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size
        } as i64;
        let (run_id, end) = if token.is_empty() {
            let run_id = self
                .resolve_run(namespace_id, &execution.workflow_id, &execution.run_id)
                .await?;
            let (state, _) = self
                .load(namespace_id, &execution.workflow_id, &run_id)
                .await?;
            (run_id, state.next_event_id)
        } else {
            let t = PageToken::decode(token).map_err(|_| bad_token())?;
            (t.run_id, t.next_event_id)
        };
        let from = (end - page_size).max(1);
        let (mut events, _) = self
            .history_page(namespace_id, &run_id, from, end, page_size as usize)
            .await?;
        events.reverse();
        let next_page_token = if from > 1 {
            PageToken {
                run_id,
                next_event_id: from,
            }
            .encode_to_vec()
        } else {
            Vec::new()
        };
        Ok(HistoryRead {
            history: History { events },
            next_page_token,
        })
    }
}
