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
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
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
trait Queued: Send {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()>;
    /// Sends the kept output (after a commit) or `error` to the caller.
    fn finish(&mut self, error: Option<StoreError>);
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

    fn finish(&mut self, error: Option<StoreError>) {
        let result = match (error, self.output.take()) {
            (Some(error), _) => Err(error),
            (None, Some(output)) => Ok(output),
            (None, None) => Err(StoreError::Corrupt("a queued write did not run".into())),
        };
        if let Some(reply) = self.reply.take() {
            // The caller may have gone away; its write stands regardless.
            let _ = reply.send(result);
        }
    }
}

async fn run(pool: AnyPool, mut receiver: mpsc::Receiver<Box<dyn Queued>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Held while writes keep coming, so that a busy queue does not hand the
    // connection back to the pool (and ping it) between batches.
    let mut held: Option<PoolConnection<Any>> = None;
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if held.is_none() {
            held = pool.acquire().await.ok();
        }
        let done = match held.as_mut() {
            Some(conn) if batch.len() > 1 => commit_together(conn, &mut batch).await,
            _ => false,
        };
        if !done {
            for job in &mut batch {
                let result = match held.as_mut() {
                    Some(conn) => commit_alone(conn, job.as_mut()).await,
                    None => Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
                };
                if matches!(result, Err(StoreError::Unavailable(_))) {
                    // Maybe the connection broke: take a fresh one next time.
                    held = None;
                }
                job.finish(result.err());
            }
        }
        batch.clear();
        if receiver.is_empty() {
            held = None;
        }
    }
}

/// Runs the whole batch in one transaction. On success every caller has its
/// result; on failure nothing was written and nobody was answered.
async fn commit_together(conn: &mut AnyConnection, batch: &mut [Box<dyn Queued>]) -> bool {
    let Ok(mut tx) = conn.begin().await else {
        return false;
    };
    for job in batch.iter_mut() {
        if job.run(&mut tx).await.is_err() {
            // Dropping `tx` rolls the batch back.
            return false;
        }
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
