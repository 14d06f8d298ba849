//! Where log lines go: appended to one shared buffer by the thread that
//! logs, written to stderr in batches by a background thread.
//!
//! `tracing_appender::non_blocking` (used before) hands each line to its
//! writer thread through a channel, so every line costs a wake-up of that
//! thread, a context switch, a `write` and a free of the line's memory on
//! another thread than the one that allocated it (which contends on the
//! allocator's locks). Under proxy traffic (one line per call) that was a
//! sixth of grantd's CPU per call. Here a line is one copy into a buffer
//! under a short lock; the writer thread wakes on the first line of a batch,
//! lets the batch gather for [`GATHER`] and writes it with one call.
//!
//! Nothing is dropped: when the sink is slower than the logging and the
//! buffer holds [`MAX_PENDING`] bytes, the logging thread waits for room.
//! Dropping the [`LogGuard`] writes what is left and stops the thread.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer thread lets a batch gather after its first line:
/// the most a line waits before it is written, when the sink keeps up.
pub const GATHER: Duration = Duration::from_millis(5);

/// Bytes waiting to be written beyond which logging waits for the sink.
pub const MAX_PENDING: usize = 1024 * 1024;

/// Capacity the writer thread keeps between batches; a burst's larger
/// buffer is given back.
const KEPT_CAPACITY: usize = 64 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled on the first line of a batch, and on close.
    has_lines: Condvar,
    /// Signalled when a batch has been taken, for loggers waiting for room.
    has_room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A thread that panicked while holding the lock left whole lines
        // behind (a line is appended in one call): keep logging.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` for the subscriber: each event is formatted whole and
/// then written with one `write_all`, which appends it to the batch.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Keeps the writer thread running; dropping it flushes and stops it.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread, writing to `sink`.
pub fn batched<W: Write + Send + 'static>(sink: W) -> std::io::Result<(BatchedWriter, LogGuard)> {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("grantd-log".into())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared, sink)
        })?;
    Ok((
        BatchedWriter {
            shared: shared.clone(),
        },
        LogGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

/// The writer thread: waits for a first line, lets the batch gather, takes
/// it and writes it; after close, writes what is left and returns.
fn write_batches<W: Write>(shared: &Shared, mut sink: W) {
    let mut batch = Vec::new();
    loop {
        let mut pending = shared.lock();
        while pending.bytes.is_empty() && !pending.closed {
            pending = shared
                .has_lines
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        if !pending.closed {
            drop(pending);
            std::thread::sleep(GATHER);
            pending = shared.lock();
        }
        std::mem::swap(&mut batch, &mut pending.bytes);
        let closed = pending.closed;
        drop(pending);
        shared.has_room.notify_all();
        // A failing sink (a closed pipe) loses these lines; there is
        // nowhere left to report it.
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        batch.clear();
        batch.shrink_to(KEPT_CAPACITY);
        if closed {
            return;
        }
    }
}

impl Write for BatchedWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.closed {
            pending = self
                .shared
                .has_room
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        let first = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if first {
            self.shared.has_lines.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.has_lines.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test reads back, counting the writes it received.
    #[derive(Clone, Default)]
    struct Recorded {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(buf);
            *self.writes.lock().unwrap() += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_in_order_and_dropping_the_guard_writes_the_rest() {
        let sink = Recorded::default();
        let (writer, guard) = batched(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        writer.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4000);
        for t in 0..4 {
            let mine: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..1000).collect::<Vec<_>>(), "thread {t}");
        }
        // Gathered: far fewer writes than lines.
        assert!(*sink.writes.lock().unwrap() < 4000);
    }

    /// A sink that takes `delay` per write.
    struct Slow {
        inner: Recorded,
        delay: Duration,
    }

    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.delay);
            self.inner.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_slow_sink_makes_logging_wait_instead_of_dropping_or_growing_without_bound() {
        let recorded = Recorded::default();
        let sink = Slow {
            inner: recorded.clone(),
            delay: Duration::from_millis(20),
        };
        let (mut writer, guard) = batched(sink).unwrap();
        let line = vec![b'x'; 64 * 1024];
        // 8 MiB through a 1 MiB buffer: logging must wait for the sink.
        for _ in 0..128 {
            writer.write_all(&line).unwrap();
            assert!(writer.shared.lock().bytes.len() <= MAX_PENDING + line.len());
        }
        drop(guard);
        assert_eq!(recorded.bytes.lock().unwrap().len(), 128 * line.len());
    }

    #[test]
    fn a_single_line_is_written_soon_without_closing() {
        let sink = Recorded::default();
        let (mut writer, _guard) = batched(sink.clone()).unwrap();
        writer.write_all(b"hello\n").unwrap();
        for _ in 0..200 {
            if !sink.bytes.lock().unwrap().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the line was not written within a second");
    }
}
