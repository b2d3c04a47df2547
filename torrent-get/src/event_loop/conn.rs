//! A connection under the loop: its byte stream (TCP, or a uTP connection
//! of the loop's [`UtpDriver`]), the encryption handshake while it runs,
//! the RC4 pair after it, and the bytes waiting to be sent.

use super::ConnKind;
use crate::crypt::Handshake;
use crate::utp_driver::UtpDriver;
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use torrent_core::mse::CipherPair;
use torrent_core::transport::TransportKind;
use torrent_core::utp::ConnHandle;

/// Buffers handed to one `writev` (Linux takes up to 1024).
pub(super) const MAX_IOV: usize = 64;

/// The byte stream under a connection: a TCP socket, or a uTP connection
/// of the loop's [`UtpDriver`] (reads and writes go through it).
pub enum Stream {
    Tcp(TcpStream),
    Utp(ConnHandle),
}

impl Stream {
    pub(super) fn source(&mut self) -> Option<&mut TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Utp(_) => None,
        }
    }
    pub(super) fn kind(&self) -> ConnKind {
        match self {
            Stream::Tcp(_) => ConnKind::Tcp,
            Stream::Utp(_) => ConnKind::Utp,
        }
    }
    pub(super) fn transport(&self) -> TransportKind {
        self.kind().transport
    }
    pub(super) fn read(&mut self, utp: &mut Option<UtpDriver>, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Utp(h) => match utp {
                Some(u) => u.ep.read(*h, buf),
                None => Err(io::Error::new(io::ErrorKind::NotConnected, "no uTP socket")),
            },
        }
    }
    pub(super) fn write(&mut self, utp: &mut Option<UtpDriver>, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Utp(h) => match utp {
                Some(u) => u.ep.write(*h, buf),
                None => Err(io::Error::new(io::ErrorKind::NotConnected, "no uTP socket")),
            },
        }
    }
    /// TCP: one `writev`. uTP: the first buffer (the endpoint copies into
    /// its send queue; the loop calls again for the rest).
    pub(super) fn write_vectored(&mut self, utp: &mut Option<UtpDriver>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Utp(_) => match bufs.iter().find(|b| !b.is_empty()) {
                Some(b) => self.write(utp, b),
                None => Ok(0),
            },
        }
    }
}

pub(super) struct Conn {
    pub(super) stream: Stream,
    pub(super) connecting: bool,
    /// Dialled for this torrent (None: accepted).
    pub(super) torrent: Option<usize>,
    /// What the engine asked to dial with (for accepted ones: plain).
    pub(super) attempt: ConnKind,
    /// The encryption handshake, while it runs: the engine does not know
    /// an accepted connection yet, nor that a dialled one connected.
    pub(super) mse: Option<Box<Handshake>>,
    /// RC4 both ways, after the handshake chose it.
    pub(super) cipher: Option<Box<CipherPair>>,
    pub(super) out: VecDeque<Vec<u8>>,
    /// Written bytes of `out[0]`.
    pub(super) out_pos: usize,
    pub(super) pending: usize,
    pub(super) read_paused: bool,
}

impl Conn {
    pub(super) fn new(stream: Stream, connecting: bool, torrent: Option<usize>, attempt: ConnKind) -> Conn {
        Conn {
            stream,
            connecting,
            torrent,
            attempt,
            mse: None,
            cipher: None,
            out: VecDeque::new(),
            out_pos: 0,
            pending: 0,
            read_paused: false,
        }
    }

    /// Queue bytes to send, encrypting them if the connection is.
    pub(super) fn queue(&mut self, mut data: Vec<u8>) {
        if let Some(c) = self.cipher.as_mut() {
            c.encrypt.apply(&mut data);
        }
        self.pending += data.len();
        self.out.push_back(data);
    }

    /// Write what the socket takes. Ok(true) if anything was written.
    /// Queued sends leave together, one `writev` for up to [`MAX_IOV`]
    /// buffers: the engine hands over one buffer per batch of messages, and
    /// a read burst produces several (one write each was several segments).
    pub(super) fn flush(&mut self, utp: &mut Option<UtpDriver>) -> io::Result<bool> {
        let mut wrote = false;
        while !self.out.is_empty() {
            let mut iov = [io::IoSlice::new(&[]); MAX_IOV];
            let mut k = 0;
            for (i, b) in self.out.iter().take(MAX_IOV).enumerate() {
                iov[i] = io::IoSlice::new(if i == 0 { &b[self.out_pos..] } else { b });
                k += 1;
            }
            match self.stream.write_vectored(utp, &iov[..k]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "peer closed")),
                Ok(mut n) => {
                    wrote = true;
                    self.pending -= n;
                    while n > 0 {
                        let left = self.out[0].len() - self.out_pos;
                        if n < left {
                            self.out_pos += n;
                            break;
                        }
                        n -= left;
                        self.out.pop_front();
                        self.out_pos = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }
}
