//! Group commit for SQLite. Every commit with `synchronous = FULL` pays an
//! fsync, and SQLite has one writer at a time anyway, so a lone task owns
//! the write connection and commits whatever jobs queued up while the
//! previous group was syncing as one transaction: one fsync for them all.
//!
//! Each job runs inside a savepoint of the group's transaction, so a job
//! that fails is undone alone (it gets its own error; the others go on) and
//! a job sees the writes of the jobs before it, as if they ran one by one.
//! No job is answered before the COMMIT: an `Ok` means durable, and if the
//! COMMIT fails every job of the group fails with it.
//!
//! Usage counted by the jobs (Actions, `defer_usage`) is summed over the
//! group and written just before the COMMIT, one row per (namespace, hour,
//! kind): a hot usage row is written once per group instead of once per
//! job, which was most of what metering cost a short transaction (see
//! docs/benchmarks.md). A job undone to its savepoint takes its usage with
//! it; the usage stands or falls with the group's COMMIT like everything
//! else, so no Action is lost or counted twice.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures::FutureExt;

use orrery_core::{CellError, CellResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Executor};
use tokio::sync::{mpsc, oneshot};

use crate::sql::TxFuture;

/// At most this many jobs share one commit, so one group's latency stays
/// bounded however deep the queue gets.
const MAX_GROUP_JOBS: usize = 64;
/// And at most about this much payload: a group is held in SQLite's page
/// cache and WAL until it commits.
const MAX_GROUP_BYTES: usize = 8 << 20;
/// Jobs waiting for the writer before submitters wait to queue theirs.
const QUEUE_DEPTH: usize = 1024;

/// (namespace id, hour start ms, kind) → count, as the jobs of a group add it.
type GroupUsage = Vec<((String, i64, &'static str), i64)>;

tokio::task_local! {
    /// The usage the jobs of the group being committed have counted.
    static GROUP_USAGE: RefCell<GroupUsage>;
}

/// Adds `usage` to the group being committed, if the caller is a job of
/// SQLite's writer; false otherwise (PostgreSQL, or any other task), when
/// the caller must write it itself.
pub(crate) fn defer_usage(hour_ms: i64, usage: &[crate::records::UsageDelta]) -> bool {
    GROUP_USAGE
        .try_with(|group| {
            group.borrow_mut().extend(
                usage
                    .iter()
                    .map(|u| ((u.namespace_id.clone(), hour_ms, u.action), u.count)),
            )
        })
        .is_ok()
}

/// Rows per statement when the group's usage is written.
const USAGE_ROWS_PER_STATEMENT: usize = 200;

/// Writes the group's usage, summed per (namespace, hour, kind).
async fn write_group_usage(
    conn: &mut SqliteConnection,
    usage: GroupUsage,
) -> Result<(), sqlx::Error> {
    let mut summed: HashMap<(String, i64, &'static str), i64> = HashMap::new();
    for (key, count) in usage {
        *summed.entry(key).or_default() += count;
    }
    let rows: Vec<_> = summed.into_iter().filter(|(_, n)| *n != 0).collect();
    for chunk in rows.chunks(USAGE_ROWS_PER_STATEMENT) {
        sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO usage (namespace_id, hour_ms, action, count) ",
        )
        .push_values(chunk, |mut b, ((namespace_id, hour_ms, kind), count)| {
            b.push_bind(namespace_id)
                .push_bind(*hour_ms)
                .push_bind(*kind)
                .push_bind(*count);
        })
        .push(
            " ON CONFLICT (namespace_id, hour_ms, action) DO UPDATE SET count = usage.count + excluded.count",
        )
        .build()
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A handle on the writer task; the task ends when the handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Hands `conn` to a new writer task. `options` reopen the connection
    /// after a group fails, when SQLite may have left its transaction in any
    /// state.
    pub(crate) fn spawn(conn: SqliteConnection, options: SqliteConnectOptions) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(Some(conn), options, queue));
        Self { jobs }
    }

    /// Runs `body` atomically on the write connection and answers once its
    /// group has committed. `bytes` estimates what it writes, to size groups.
    pub(crate) async fn submit<T, F>(&self, bytes: usize, body: F) -> CellResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> TxFuture<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            bytes,
            body: Some(body),
            result: None,
            reply,
        };
        self.jobs.send(Box::new(job)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> CellError {
    CellError::Internal("database: the SQLite writer has stopped".into())
}

/// A job with its result type erased, so one queue carries them all.
trait Job: Send {
    fn bytes(&self) -> usize;
    /// Runs the body and keeps its result for `answer`; true if it succeeded.
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>>;
    /// Sends the kept result, or `group_failed` instead if the group did not
    /// commit (or never got as far as this job).
    fn answer(self: Box<Self>, group_failed: Option<&str>);
}

struct Pending<T, F> {
    bytes: usize,
    body: Option<F>,
    result: Option<CellResult<T>>,
    reply: oneshot::Sender<CellResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> TxFuture<'c, T> + Send + 'static,
{
    fn bytes(&self) -> usize {
        self.bytes
    }

    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>> {
        Box::pin(async move {
            let Some(body) = self.body.take() else {
                return false;
            };
            // A panicking body is that job's failure (rolled back to its
            // savepoint), not the writer's: otherwise one bug would stop
            // every later write of the cell.
            let result = AssertUnwindSafe(body(conn))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a database job panicked; rolled back");
                    Err(CellError::Internal("database: the write panicked".into()))
                });
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn answer(self: Box<Self>, group_failed: Option<&str>) {
        let result = match (group_failed, self.result) {
            (None, Some(result)) => result,
            (Some(error), _) => Err(CellError::Internal(format!("database: {error}"))),
            (None, None) => Err(CellError::Internal("database: job did not run".into())),
        };
        // The submitter may have stopped waiting; its job stands regardless.
        let _ = self.reply.send(result);
    }
}

async fn run(
    mut conn: Option<SqliteConnection>,
    options: SqliteConnectOptions,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP_JOBS);
    // No timer waits for a group to fill: a lone job commits at once, and
    // under load the queue fills while the previous group syncs.
    while let Some(first) = queue.recv().await {
        let mut bytes = first.bytes();
        group.push(first);
        while group.len() < MAX_GROUP_JOBS && bytes < MAX_GROUP_BYTES {
            let Ok(job) = queue.try_recv() else { break };
            bytes += job.bytes();
            group.push(job);
        }
        let outcome = match &mut conn {
            Some(c) => commit_group(c, &mut group).await,
            None => match options.connect().await {
                Ok(c) => commit_group(conn.insert(c), &mut group).await,
                Err(e) => Err(e),
            },
        };
        let failed = outcome.err().map(|e| {
            tracing::error!(error = %e, jobs = group.len(), "SQLite group commit failed");
            // Dropping the connection rolls back whatever SQLite left open;
            // the next group reconnects.
            conn = None;
            e.to_string()
        });
        for job in group.drain(..) {
            job.answer(failed.as_deref());
        }
    }
}

async fn commit_group(
    conn: &mut SqliteConnection,
    group: &mut [Box<dyn Job>],
) -> Result<(), sqlx::Error> {
    // IMMEDIATE takes the write lock up front, where a busy database waits
    // out the busy timeout, rather than in the middle of some job.
    conn.execute("BEGIN IMMEDIATE").await?;
    let usage = GROUP_USAGE
        .scope(RefCell::new(Vec::new()), async {
            for job in group.iter_mut() {
                conn.execute("SAVEPOINT job").await?;
                let counted = GROUP_USAGE.with(|u| u.borrow().len());
                if !job.run(conn).await {
                    conn.execute("ROLLBACK TO job").await?;
                    // Its usage goes with the rest of it.
                    GROUP_USAGE.with(|u| u.borrow_mut().truncate(counted));
                }
                // Fails if SQLite rolled the whole transaction back under a
                // job (a full disk, say): then nothing of the group may commit.
                conn.execute("RELEASE job").await?;
            }
            Ok::<_, sqlx::Error>(GROUP_USAGE.with(|u| u.take()))
        })
        .await?;
    write_group_usage(conn, usage).await?;
    conn.execute("COMMIT").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection, Row};

    use super::*;
    use crate::sql::db_err;

    struct Db {
        writer: Writer,
        options: SqliteConnectOptions,
        _dir: tempfile::TempDir,
    }

    /// A writer on a fresh database with a table `t (k PRIMARY KEY)`, and a
    /// child table whose foreign key is checked only at COMMIT.
    async fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("w.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .foreign_keys(true);
        let mut conn = options.connect().await.unwrap();
        conn.execute(
            "CREATE TABLE t (k INTEGER PRIMARY KEY);
             CREATE TABLE child (k INTEGER REFERENCES t (k) DEFERRABLE INITIALLY DEFERRED);
             CREATE TABLE usage (namespace_id TEXT NOT NULL, hour_ms INTEGER NOT NULL,
                 action TEXT NOT NULL, count INTEGER NOT NULL,
                 PRIMARY KEY (namespace_id, hour_ms, action));",
        )
        .await
        .unwrap();
        Db {
            writer: Writer::spawn(conn, options.clone()),
            options,
            _dir: dir,
        }
    }

    impl Db {
        async fn insert(&self, keys: Vec<i64>) -> CellResult<()> {
            self.writer
                .submit(8, move |conn| {
                    Box::pin(async move {
                        for k in keys {
                            sqlx::query("INSERT INTO t (k) VALUES ($1)")
                                .bind(k)
                                .execute(&mut *conn)
                                .await
                                .map_err(db_err)?;
                        }
                        Ok(())
                    })
                })
                .await
        }

        /// Holds the writer inside a job until `release` fires, so that the
        /// jobs submitted meanwhile queue up and form the next group.
        fn plug(self: &std::sync::Arc<Self>) -> (oneshot::Sender<()>, Spawned<()>) {
            let (release, wait) = oneshot::channel::<()>();
            let db = self.clone();
            let job = tokio::spawn(async move {
                db.writer
                    .submit(0, move |_| {
                        Box::pin(async move {
                            let _ = wait.await;
                            Ok(())
                        })
                    })
                    .await
            });
            (release, job)
        }

        /// The keys a reader sees: committed rows only.
        async fn committed(&self) -> Vec<i64> {
            let mut reader = self
                .options
                .clone()
                .read_only(true)
                .connect()
                .await
                .unwrap();
            let rows = sqlx::query("SELECT k FROM t ORDER BY k")
                .fetch_all(&mut reader)
                .await
                .unwrap();
            reader.close().await.unwrap();
            rows.iter().map(|r| r.get(0)).collect()
        }
    }

    type Spawned<T> = tokio::task::JoinHandle<CellResult<T>>;

    fn spawn_insert(db: &std::sync::Arc<Db>, keys: Vec<i64>) -> Spawned<()> {
        let db = db.clone();
        tokio::spawn(async move { db.insert(keys).await })
    }

    /// Lets every runnable task (submitters, the writer) get as far as it can.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn a_lone_job_commits_at_once() {
        let db = db().await;
        tokio::time::timeout(Duration::from_secs(5), db.insert(vec![1]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(db.committed().await, [1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_of_one_group_all_commit() {
        let db = std::sync::Arc::new(db().await);
        let (release, plug) = db.plug();
        settle().await;
        let jobs: Vec<_> = (0..100).map(|k| spawn_insert(&db, vec![k])).collect();
        settle().await;
        release.send(()).unwrap();
        plug.await.unwrap().unwrap();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(db.committed().await, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_alone() {
        let db = std::sync::Arc::new(db().await);
        let (release, plug) = db.plug();
        settle().await;
        let first = spawn_insert(&db, vec![1]);
        settle().await;
        // Writes 2, then fails on 1: its 2 must go with it.
        let failing = spawn_insert(&db, vec![2, 1]);
        settle().await;
        let last = spawn_insert(&db, vec![3]);
        settle().await;
        release.send(()).unwrap();
        plug.await.unwrap().unwrap();
        first.await.unwrap().unwrap();
        assert!(matches!(
            failing.await.unwrap(),
            Err(CellError::ConditionFailed)
        ));
        last.await.unwrap().unwrap();
        assert_eq!(db.committed().await, [1, 3]);
    }

    /// A job that counts one `signal` Action in `ns`, then inserts `keys`.
    fn counting_insert(db: &std::sync::Arc<Db>, ns: &'static str, keys: Vec<i64>) -> Spawned<()> {
        let db = db.clone();
        tokio::spawn(async move {
            db.writer
                .submit(8, move |conn| {
                    Box::pin(async move {
                        let usage = [crate::records::UsageDelta {
                            namespace_id: ns.into(),
                            action: "signal",
                            count: 1,
                        }];
                        assert!(defer_usage(0, &usage), "a job of the writer defers");
                        for k in keys {
                            sqlx::query("INSERT INTO t (k) VALUES ($1)")
                                .bind(k)
                                .execute(&mut *conn)
                                .await
                                .map_err(db_err)?;
                        }
                        Ok(())
                    })
                })
                .await
        })
    }

    #[tokio::test]
    async fn a_groups_usage_is_summed_and_a_failed_jobs_usage_dropped() {
        // Outside the writer nothing is deferred: the caller writes it.
        assert!(!defer_usage(0, &[]));
        let db = std::sync::Arc::new(db().await);
        let (release, plug) = db.plug();
        settle().await;
        let jobs = [
            counting_insert(&db, "a", vec![1]),
            counting_insert(&db, "a", vec![2]),
            // Counts, then fails on 1: its Action goes with it.
            counting_insert(&db, "a", vec![1]),
            counting_insert(&db, "b", vec![3]),
        ];
        settle().await;
        release.send(()).unwrap();
        plug.await.unwrap().unwrap();
        let outcomes: Vec<bool> = futures::future::join_all(jobs)
            .await
            .into_iter()
            .map(|r| r.unwrap().is_ok())
            .collect();
        assert_eq!(outcomes, [true, true, false, true]);
        let mut reader = db.options.clone().read_only(true).connect().await.unwrap();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT namespace_id, count FROM usage ORDER BY namespace_id")
                .fetch_all(&mut reader)
                .await
                .unwrap();
        assert_eq!(rows, [("a".to_string(), 2), ("b".to_string(), 1)]);
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_job_of_the_group() {
        let db = std::sync::Arc::new(db().await);
        let (release, plug) = db.plug();
        settle().await;
        let before = spawn_insert(&db, vec![1]);
        // No parent row 42: the deferred foreign key fails the COMMIT.
        let orphan = {
            let db = db.clone();
            tokio::spawn(async move {
                db.writer
                    .submit(8, |conn| {
                        Box::pin(async move {
                            sqlx::query("INSERT INTO child (k) VALUES (42)")
                                .execute(&mut *conn)
                                .await
                                .map_err(db_err)?;
                            Ok(())
                        })
                    })
                    .await
            })
        };
        let after = spawn_insert(&db, vec![2]);
        settle().await;
        release.send(()).unwrap();
        assert!(
            plug.await.unwrap().is_ok(),
            "the plug's own group committed"
        );
        for job in [before, orphan, after] {
            assert!(matches!(job.await.unwrap(), Err(CellError::Internal(_))));
        }
        assert!(db.committed().await.is_empty());
        // The writer reconnects and goes on.
        db.insert(vec![3]).await.unwrap();
        assert_eq!(db.committed().await, [3]);
    }

    #[tokio::test]
    async fn results_wait_for_the_commit() {
        let db = std::sync::Arc::new(db().await);
        let (release, plug) = db.plug();
        settle().await;
        let early = spawn_insert(&db, vec![1]);
        settle().await;
        // The last job of the group holds it open after `early` succeeded.
        let (finish, wait) = oneshot::channel::<()>();
        let late = {
            let db = db.clone();
            tokio::spawn(async move {
                db.writer
                    .submit(8, move |conn| {
                        Box::pin(async move {
                            let _ = wait.await;
                            sqlx::query("INSERT INTO t (k) VALUES (2)")
                                .execute(&mut *conn)
                                .await
                                .map_err(db_err)?;
                            Ok(())
                        })
                    })
                    .await
            })
        };
        settle().await;
        release.send(()).unwrap();
        plug.await.unwrap().unwrap();
        settle().await;
        assert!(!early.is_finished(), "answered before its group committed");
        assert!(db.committed().await.is_empty());
        finish.send(()).unwrap();
        early.await.unwrap().unwrap();
        late.await.unwrap().unwrap();
        assert_eq!(db.committed().await, [1, 2]);
    }

    #[tokio::test]
    async fn a_job_sees_the_writes_before_it_in_its_group() {
        let db = std::sync::Arc::new(db().await);
        let (release, plug) = db.plug();
        settle().await;
        let first = spawn_insert(&db, vec![1]);
        settle().await;
        let count = {
            let db = db.clone();
            tokio::spawn(async move {
                db.writer
                    .submit(0, |conn| {
                        Box::pin(async move {
                            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM t")
                                .fetch_one(&mut *conn)
                                .await
                                .map_err(db_err)
                        })
                    })
                    .await
            })
        };
        settle().await;
        release.send(()).unwrap();
        plug.await.unwrap().unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(count.await.unwrap().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_goes_on() {
        let db = db().await;
        let panicked = db
            .writer
            .submit(0, |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (k) VALUES (1)")
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    if std::hint::black_box(true) {
                        panic!("a bug in a job");
                    }
                    Ok(())
                })
            })
            .await;
        assert!(panicked.is_err());
        db.insert(vec![2]).await.unwrap();
        let mut reader = db.options.connect().await.unwrap();
        let keys: Vec<i64> = sqlx::query("SELECT k FROM t ORDER BY k")
            .fetch_all(&mut reader)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("k"))
            .collect();
        assert_eq!(keys, [2], "the panicked job's write was rolled back");
    }
}
