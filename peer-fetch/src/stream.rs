//! The byte stream under a session: TCP, or uTP with `--utp`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use torrent_core::utp::UtpStream;

pub enum PeerStream {
    Tcp(TcpStream),
    Utp(Box<UtpStream>),
}

impl PeerStream {
    pub fn connect(addr: SocketAddr, timeout: Duration, utp: bool) -> io::Result<PeerStream> {
        if utp {
            let mut s = UtpStream::connect(addr, timeout)?;
            s.set_write_timeout(Some(timeout))?;
            // A peer-fetch run ends when its work is done: do not wait long
            // for the peer to acknowledge our FIN.
            s.set_linger(Duration::from_millis(500));
            Ok(PeerStream::Utp(Box::new(s)))
        } else {
            let s = TcpStream::connect_timeout(&addr, timeout)?;
            s.set_write_timeout(Some(timeout))?;
            let _ = s.set_nodelay(true);
            Ok(PeerStream::Tcp(s))
        }
    }

    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        match self {
            PeerStream::Tcp(s) => s.set_read_timeout(t),
            PeerStream::Utp(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PeerStream::Tcp(s) => s.read(buf),
            PeerStream::Utp(s) => s.read(buf),
        }
    }
}

impl Write for PeerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PeerStream::Tcp(s) => s.write(buf),
            PeerStream::Utp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            PeerStream::Tcp(s) => s.flush(),
            PeerStream::Utp(s) => s.flush(),
        }
    }
}
