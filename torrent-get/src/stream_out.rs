//! The stdout side of `--stdout`: a thread that writes the streamed bytes
//! the engine hands out ([`Action::StreamData`](crate::engine::Action)), in
//! the order given, so a slow reader never blocks the event loop. The loop
//! reports [`StreamWriter::pending`] to the engine, which stops handing out
//! more above its bound. A closed pipe (EPIPE) ends the stream quietly:
//! [`StreamWriter::closed`] turns true and the loop wakes up to stop.

use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

type Chunk = (Arc<Vec<u8>>, Range<usize>);

pub struct StreamWriter {
    tx: Option<Sender<Chunk>>,
    pending: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    failed: Arc<std::sync::Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StreamWriter {
    /// Write to `out` (stdout, or anything for tests); `wake` is called when
    /// the pipe closes or a write fails.
    pub fn start(mut out: Box<dyn Write + Send>, wake: Box<dyn Fn() + Send>) -> StreamWriter {
        let (tx, rx) = mpsc::channel::<Chunk>();
        let pending = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(std::sync::Mutex::new(None));
        let (p, c, f) = (pending.clone(), closed.clone(), failed.clone());
        let thread = std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                while let Ok((data, range)) = rx.recv() {
                    let n = range.len() as u64;
                    let r = out.write_all(&data[range]).and_then(|_| out.flush());
                    p.fetch_sub(n, Ordering::Relaxed);
                    if let Err(e) = r {
                        if e.kind() != std::io::ErrorKind::BrokenPipe {
                            *f.lock().expect("not poisoned") = Some(e.to_string());
                        }
                        c.store(true, Ordering::Relaxed);
                        wake();
                        return;
                    }
                    if p.load(Ordering::Relaxed) == 0 {
                        wake(); // drained: the engine may hand out more
                    }
                }
            })
            .expect("spawn stdout thread");
        StreamWriter { tx: Some(tx), pending, closed, failed, thread: Some(thread) }
    }

    /// Stdout itself, unbuffered (a duplicate of fd 1).
    pub fn stdout(wake: Box<dyn Fn() + Send>) -> std::io::Result<StreamWriter> {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok(StreamWriter::start(Box::new(std::fs::File::from(fd)), wake))
    }

    pub fn push(&self, data: Arc<Vec<u8>>, range: Range<usize>) {
        if self.closed() {
            return;
        }
        self.pending.fetch_add(range.len() as u64, Ordering::Relaxed);
        if let Some(tx) = &self.tx {
            let _ = tx.send((data, range));
        }
    }

    /// Bytes handed over and not yet written.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// The reader went away (or writing failed).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// A write error other than a closed pipe.
    pub fn error(&self) -> Option<String> {
        self.failed.lock().expect("not poisoned").clone()
    }

    /// Write everything handed over, then stop the thread.
    pub fn finish(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_in_order_and_reports_a_closed_pipe() {
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut w = StreamWriter::start(Box::new(Shared(buf.clone())), Box::new(|| {}));
        w.push(Arc::new(b"hello world".to_vec()), 0..5);
        w.push(Arc::new(b"xx, you".to_vec()), 2..7);
        w.finish();
        assert_eq!(&buf.lock().unwrap()[..], b"hello, you");
        assert_eq!(w.pending(), 0);
        let woke = Arc::new(AtomicBool::new(false));
        let wk = woke.clone();
        let mut w = StreamWriter::start(Box::new(Broken), Box::new(move || wk.store(true, Ordering::Relaxed)));
        w.push(Arc::new(vec![1; 10]), 0..10);
        w.finish();
        assert!(w.closed() && woke.load(Ordering::Relaxed));
        assert_eq!(w.error(), None, "a closed pipe is not an error");
    }
}
