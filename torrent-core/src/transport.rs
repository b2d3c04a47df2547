//! A peer connection as a byte stream: what it runs over (TCP or uTP) and
//! how it is encrypted ([`ConnKind`]), plus [`CipherStream`], a blocking
//! adapter that wraps any `Read + Write` (a `std::net::TcpStream`, say)
//! with the cipher an MSE handshake negotiated, and [`connect`] /
//! [`accept`], which run that handshake over such a stream.
//!
//! The sans-IO handshake itself is [`crate::mse`]; an event loop drives
//! [`crate::mse::Initiator`] / [`crate::mse::Responder`] directly and keeps
//! the [`crate::mse::CipherPair`] beside its own buffers.

use crate::infohash::InfoHash;
use crate::mse::{CipherPair, CryptoSet, Initiator, Method, MseError, Negotiated, Responder};
use std::io::{self, Read, Write};
use std::time::Instant;

/// What carries the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Tcp,
    Utp,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Utp => "utp",
        }
    }
}

/// A connection's transport and encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKind {
    pub transport: TransportKind,
    pub method: Method,
}

impl ConnKind {
    /// Plain TCP (no MSE): the kind of every connection before encryption
    /// and uTP existed (named like an enum variant on purpose).
    #[allow(non_upper_case_globals)]
    pub const Tcp: ConnKind = ConnKind { transport: TransportKind::Tcp, method: Method::Plain };
    /// Plain uTP (no MSE).
    #[allow(non_upper_case_globals)]
    pub const Utp: ConnKind = ConnKind { transport: TransportKind::Utp, method: Method::Plain };

    pub fn new(transport: TransportKind, method: Method) -> ConnKind {
        ConnKind { transport, method }
    }

    /// True when the payload is RC4-encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.method.is_encrypted()
    }
}

impl std::fmt::Display for ConnKind {
    /// `tcp`, `tcp+rc4`, `utp+mse-plaintext`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.method {
            Method::Plain => f.write_str(self.transport.as_str()),
            m => write!(f, "{}+{}", self.transport.as_str(), m),
        }
    }
}

/// A peer connection's byte stream (after any encryption handshake).
pub trait PeerStream: Read + Write {
    fn kind(&self) -> ConnKind;
}

/// A blocking byte stream over `S` that decrypts what it reads and
/// encrypts what it writes with a negotiated [`CipherPair`] (or passes
/// bytes through for plaintext methods), and first returns the payload the
/// handshake had already received.
///
/// Writes: each `write` encrypts the whole buffer and writes it out; if
/// `S` would block, the encrypted rest is kept and sent before the next
/// write (or by `flush`), so the keystream never gets out of step. Any
/// other write error is final: the stream refuses further writes.
pub struct CipherStream<S> {
    inner: S,
    kind: ConnKind,
    cipher: Option<CipherPair>,
    leftover: Vec<u8>,
    pos: usize,
    pending: Vec<u8>,
    scratch: Vec<u8>,
    broken: bool,
}

impl<S> std::fmt::Debug for CipherStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherStream")
            .field("kind", &self.kind)
            .field("leftover", &(self.leftover.len() - self.pos))
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> CipherStream<S> {
    /// No encryption at all (a plaintext BitTorrent connection).
    pub fn plain(inner: S, transport: TransportKind) -> CipherStream<S> {
        CipherStream::with_parts(inner, ConnKind::new(transport, Method::Plain), None, Vec::new())
    }

    /// The stream after a handshake that ended in `n`.
    pub fn from_negotiated(inner: S, transport: TransportKind, n: Negotiated) -> CipherStream<S> {
        CipherStream::with_parts(inner, ConnKind::new(transport, n.method), n.cipher, n.payload)
    }

    fn with_parts(
        inner: S,
        kind: ConnKind,
        cipher: Option<CipherPair>,
        leftover: Vec<u8>,
    ) -> CipherStream<S> {
        CipherStream {
            inner,
            kind,
            cipher,
            leftover,
            pos: 0,
            pending: Vec::new(),
            scratch: Vec::new(),
            broken: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, for socket options; reading or writing it
    /// directly breaks the cipher.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// Encrypted bytes accepted by `write` but not yet written to `S`.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn write_pending(&mut self) -> io::Result<()> {
        let mut done = 0;
        let res = loop {
            if done == self.pending.len() {
                break Ok(());
            }
            match self.inner.write(&self.pending[done..]) {
                Ok(0) => break Err(io::Error::new(io::ErrorKind::WriteZero, "peer stream closed")),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..done);
        if let Err(e) = &res {
            if e.kind() != io::ErrorKind::WouldBlock {
                self.broken = true;
            }
        }
        res
    }
}

impl<S: Read + Write> Read for CipherStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.leftover.len() {
            let n = buf.len().min(self.leftover.len() - self.pos);
            buf[..n].copy_from_slice(&self.leftover[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.leftover.len() {
                self.leftover = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        if let Some(c) = &mut self.cipher {
            c.decrypt.apply(&mut buf[..n]);
        }
        Ok(n)
    }
}

impl<S: Read + Write> Write for CipherStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "encrypted peer stream is unusable after an earlier write error",
            ));
        }
        if !self.pending.is_empty() {
            // Err(WouldBlock) here consumes nothing of `buf`.
            self.write_pending()?;
        }
        let Some(c) = &mut self.cipher else {
            return self.inner.write(buf);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        // Encrypt a bounded chunk per call (write_all loops).
        let n = buf.len().min(256 * 1024);
        self.scratch.clear();
        self.scratch.extend_from_slice(&buf[..n]);
        c.encrypt.apply(&mut self.scratch);
        std::mem::swap(&mut self.pending, &mut self.scratch);
        match self.write_pending() {
            Ok(()) => Ok(n),
            // Accepted: the rest goes out with the next write or flush.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.write_pending()?;
        }
        self.inner.flush()
    }
}

impl<S: Read + Write> PeerStream for CipherStream<S> {
    fn kind(&self) -> ConnKind {
        self.kind
    }
}

/// The MSE error behind an `io::Error` from [`connect`] or [`accept`].
pub fn mse_error(e: &io::Error) -> Option<&MseError> {
    e.get_ref().and_then(|x| x.downcast_ref::<MseError>())
}

trait Step {
    fn feed(&mut self, data: &[u8]) -> Result<(), MseError>;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn poll_outcome(&mut self) -> Option<Negotiated>;
}

impl Step for Initiator {
    fn feed(&mut self, data: &[u8]) -> Result<(), MseError> {
        Initiator::feed(self, data)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        Initiator::poll_transmit(self)
    }
    fn poll_outcome(&mut self) -> Option<Negotiated> {
        Initiator::poll_outcome(self)
    }
}

impl Step for Responder {
    fn feed(&mut self, data: &[u8]) -> Result<(), MseError> {
        Responder::feed(self, data)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        Responder::poll_transmit(self)
    }
    fn poll_outcome(&mut self) -> Option<Negotiated> {
        Responder::poll_outcome(self)
    }
}

fn run<S: Read + Write>(
    stream: &mut S,
    hs: &mut dyn Step,
    deadline: Option<Instant>,
) -> io::Result<Negotiated> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(m) = hs.poll_transmit() {
            stream.write_all(&m)?;
            stream.flush()?;
        }
        if let Some(o) = hs.poll_outcome() {
            return Ok(o);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out in the encryption handshake",
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the encryption handshake",
                ))
            }
            Ok(n) => hs
                .feed(&buf[..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Dial side: run an MSE handshake for `info_hash` over `stream`, sending
/// `initial_payload` (our BitTorrent handshake) inside it. Reads that
/// time out (set a read timeout on the socket) are retried until
/// `deadline`. Errors: `InvalidData` wrapping an [`MseError`] (see
/// [`mse_error`]), `UnexpectedEof` when the peer hangs up (typical of a
/// peer that does not speak MSE), `TimedOut`, or the stream's own.
pub fn connect<S: Read + Write>(
    mut stream: S,
    transport: TransportKind,
    info_hash: InfoHash,
    provide: CryptoSet,
    initial_payload: &[u8],
    deadline: Option<Instant>,
) -> io::Result<CipherStream<S>> {
    let mut init = Initiator::new(info_hash, provide, initial_payload)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let n = run(&mut stream, &mut init, deadline)?;
    Ok(CipherStream::from_negotiated(stream, transport, n))
}

/// Listen side: answer with `responder` (its policy decides whether a
/// plaintext BitTorrent handshake is accepted). Returns the stream, whose
/// first bytes are the peer's BitTorrent handshake, and the info-hash MSE
/// matched (None for a plaintext peer). Errors as for [`connect`].
pub fn accept<S: Read + Write>(
    mut stream: S,
    transport: TransportKind,
    mut responder: Responder,
    deadline: Option<Instant>,
) -> io::Result<(CipherStream<S>, Option<InfoHash>)> {
    let n = run(&mut stream, &mut responder, deadline)?;
    let ih = n.info_hash;
    Ok((CipherStream::from_negotiated(stream, transport, n), ih))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mse::Rc4;

    /// Accepts at most 5 bytes per write, and every other write would block.
    struct Choppy {
        out: Vec<u8>,
        calls: usize,
    }

    impl Read for Choppy {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl Write for Choppy {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 2 == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(5);
            self.out.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn would_block_keeps_the_keystream_in_step() {
        let key = [3u8; 20];
        let n = Negotiated {
            method: Method::Rc4,
            info_hash: None,
            cipher: Some(CipherPair {
                encrypt: Rc4::mse(&key),
                decrypt: Rc4::mse(&[4; 20]),
            }),
            payload: b"early".to_vec(),
        };
        let mut s = CipherStream::from_negotiated(
            Choppy {
                out: Vec::new(),
                calls: 0,
            },
            TransportKind::Tcp,
            n,
        );
        assert_eq!(s.kind().to_string(), "tcp+rc4");
        let mut got = [0u8; 16];
        assert_eq!(s.read(&mut got).unwrap(), 5);
        assert_eq!(&got[..5], b"early");
        let msg: Vec<u8> = (0..200u8).collect();
        let mut sent = 0;
        while sent < msg.len() {
            match s.write(&msg[sent..]) {
                Ok(k) => sent += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        while s.pending() > 0 {
            let _ = s.flush();
        }
        let mut wire = s.get_ref().out.clone();
        assert_eq!(wire.len(), msg.len());
        Rc4::mse(&key).apply(&mut wire);
        assert_eq!(wire, msg);
    }

    #[test]
    fn kinds_print() {
        assert_eq!(ConnKind::new(TransportKind::Utp, Method::Plain).to_string(), "utp");
        assert_eq!(
            ConnKind::new(TransportKind::Tcp, Method::MsePlaintext).to_string(),
            "tcp+mse-plaintext"
        );
        assert!(!ConnKind::new(TransportKind::Tcp, Method::MsePlaintext).is_encrypted());
    }
}
