//! Group commit for the writes on the request path.
//!
//! Every flow start and every new connection is a small write transaction.
//! Run one by one, each pays for taking the writer connection, `BEGIN`,
//! `COMMIT` and (on SQLite) a hop to the connection's worker thread for
//! each of them; under load those hand-offs, not SQLite, were the limit
//! (BENCHMARKS.md). Here one task takes whatever writes are waiting and runs
//! them in one transaction, so a busy server commits many requests at once.
//!
//! Each write still succeeds or fails on its own: if any write of a batch
//! fails, or the commit does, the batch is rolled back and every write in
//! it is run again in its own transaction, and each caller gets its own
//! result. A caller's result arrives only after its write committed.

use super::{StoreError, StoreResult};
use sqlx::{AnyConnection, AnyPool, Connection};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

/// A future borrowing the connection it runs on.
pub(super) type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'c>>;

/// One write: statements run inside a transaction the queue holds. It may
/// run twice (in a batch that is then rolled back, and again alone), so it
/// must only write, never act outside the database.
pub(super) trait Write: Send + Sync + 'static {
    type Output: Send + 'static;
    fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, Self::Output>;

    /// Several writes of this kind that arrived together, in order: one
    /// statement for all of them where the kind allows (a multi-row
    /// insert), since each statement is a round trip. Returns one output
    /// per write. The default runs them one by one.
    fn run_many<'c>(
        writes: Vec<&'c Self>,
        conn: &'c mut AnyConnection,
    ) -> WriteFuture<'c, Vec<Self::Output>>
    where
        Self: Sized,
    {
        Box::pin(async move {
            let mut outputs = Vec::with_capacity(writes.len());
            for write in writes {
                outputs.push(write.run(&mut *conn).await?);
            }
            Ok(outputs)
        })
    }
}

/// Most writes waiting at once that go into one transaction.
const MAX_BATCH: usize = 128;

/// The queue's handle; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct WriteQueue {
    sender: mpsc::Sender<Box<dyn Queued>>,
}

impl WriteQueue {
    /// Starts the task that commits queued writes on `pool`.
    pub fn start(pool: AnyPool) -> Self {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, receiver));
        Self { sender }
    }

    /// Runs `write` in the next batch and returns its result once committed.
    pub async fn submit<W: Write>(&self, write: W) -> StoreResult<W::Output> {
        let (reply, result) = oneshot::channel();
        let job: Box<dyn Queued> = Box::new(Job {
            write,
            output: None,
            reply: Some(reply),
        });
        self.sender
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolClosed))?;
        result
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))?
    }
}

/// A write with its caller's reply channel, type-erased for the queue.
trait Queued: Send + std::any::Any {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()>;
    /// What runs a group of jobs of this one's type together.
    fn group_runner(&self) -> GroupRunner;
    fn as_any(&self) -> &dyn std::any::Any;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    /// Sends the kept output (after a commit) or `error` to the caller.
    fn finish(&mut self, error: Option<StoreError>);
}

/// Runs jobs of one type with [`Write::run_many`].
type GroupRunner =
    for<'c> fn(&'c mut [Box<dyn Queued>], &'c mut AnyConnection) -> WriteFuture<'c, ()>;

fn run_group<'c, W: Write>(
    group: &'c mut [Box<dyn Queued>],
    conn: &'c mut AnyConnection,
) -> WriteFuture<'c, ()> {
    Box::pin(async move {
        let outputs = {
            let writes = group
                .iter()
                .filter_map(|job| job.as_any().downcast_ref::<Job<W>>())
                .map(|job| &job.write)
                .collect::<Vec<_>>();
            if writes.len() != group.len() {
                return Err(StoreError::WriteQueue("a write group of mixed kinds"));
            }
            W::run_many(writes, conn).await?
        };
        if outputs.len() != group.len() {
            return Err(StoreError::WriteQueue("a write group lost outputs"));
        }
        for (job, output) in group.iter_mut().zip(outputs) {
            if let Some(job) = job.as_any_mut().downcast_mut::<Job<W>>() {
                job.output = Some(output);
            }
        }
        Ok(())
    })
}

struct Job<W: Write> {
    write: W,
    output: Option<W::Output>,
    reply: Option<oneshot::Sender<StoreResult<W::Output>>>,
}

impl<W: Write> Queued for Job<W> {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()> {
        Box::pin(async move {
            self.output = Some(self.write.run(conn).await?);
            Ok(())
        })
    }

    fn group_runner(&self) -> GroupRunner {
        run_group::<W>
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn finish(&mut self, error: Option<StoreError>) {
        let result = match (error, self.output.take()) {
            (Some(error), _) => Err(error),
            (None, Some(output)) => Ok(output),
            (None, None) => Err(StoreError::WriteQueue("a queued write did not run")),
        };
        if let Some(reply) = self.reply.take() {
            // The caller may have gone away; its write stands regardless.
            let _ = reply.send(result);
        }
    }
}

async fn run(pool: AnyPool, mut receiver: mpsc::Receiver<Box<dyn Queued>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // The connection goes back to the pool after every batch, so that
        // writes outside the queue get their turn however busy it is.
        match pool.acquire().await {
            Ok(mut conn) => {
                if batch.len() == 1 || !commit_together(&mut conn, &mut batch).await {
                    // Each alone, unless the database itself is unavailable
                    // (locked by another process, gone): then the rest fail
                    // at once rather than each waiting out the timeout.
                    let mut unavailable = false;
                    for job in &mut batch {
                        if unavailable {
                            job.finish(Some(StoreError::Unavailable(sqlx::Error::PoolTimedOut)));
                            continue;
                        }
                        let result = commit_alone(&mut conn, job.as_mut()).await;
                        unavailable = matches!(result, Err(StoreError::Unavailable(_)));
                        job.finish(result.err());
                    }
                }
            }
            Err(error) => {
                let error = StoreError::from(error);
                for job in &mut batch {
                    job.finish(Some(match &error {
                        StoreError::Unavailable(_) => {
                            StoreError::Unavailable(sqlx::Error::PoolTimedOut)
                        }
                        _ => StoreError::Unavailable(sqlx::Error::PoolClosed),
                    }));
                }
            }
        }
        batch.clear();
    }
}

/// Runs the whole batch in one transaction. On success every caller has its
/// result; on failure nothing was written and nobody was answered.
async fn commit_together(conn: &mut AnyConnection, batch: &mut [Box<dyn Queued>]) -> bool {
    let Ok(mut tx) = conn.begin().await else {
        return false;
    };
    // Consecutive writes of one kind run together.
    let mut rest = &mut batch[..];
    while !rest.is_empty() {
        let kind = rest[0].as_any().type_id();
        let same = rest
            .iter()
            .take_while(|job| job.as_any().type_id() == kind)
            .count();
        let (group, tail) = rest.split_at_mut(same);
        let ran = if group.len() == 1 {
            group[0].run(&mut tx).await
        } else {
            let runner = group[0].group_runner();
            runner(group, &mut tx).await
        };
        if ran.is_err() {
            // Dropping `tx` rolls the batch back.
            return false;
        }
        rest = tail;
    }
    if tx.commit().await.is_err() {
        return false;
    }
    for job in batch.iter_mut() {
        job.finish(None);
    }
    true
}

async fn commit_alone(conn: &mut AnyConnection, job: &mut dyn Queued) -> StoreResult<()> {
    let mut tx = conn.begin().await?;
    job.run(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;
    use sqlx::Executor;

    struct InsertName(&'static str);

    impl Write for InsertName {
        type Output = ();
        fn run<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()> {
            Box::pin(async move {
                sqlx::query("INSERT INTO names (name) VALUES ($1)")
                    .bind(self.0)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_batch_mates_commit() {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        pool.execute("CREATE TABLE names (name TEXT PRIMARY KEY)")
            .await
            .unwrap();
        pool.execute("INSERT INTO names (name) VALUES ('taken')")
            .await
            .unwrap();
        let queue = WriteQueue::start(pool.clone());
        let names = ["a", "b", "taken", "c", "d", "e"];
        let results =
            futures::future::join_all(names.iter().map(|n| queue.submit(InsertName(n)))).await;
        for (name, result) in names.iter().zip(&results) {
            match *name {
                "taken" => assert!(
                    matches!(result, Err(StoreError::Conflict { .. })),
                    "{result:?}"
                ),
                _ => assert!(result.is_ok(), "{name}: {result:?}"),
            }
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM names")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 6, "five new names and the old one");
    }
}
