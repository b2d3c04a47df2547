//! An embedded HTTP/1.1 web seed on loopback: serves the files below a
//! directory with single byte-range support and keep-alive, with switches
//! that make it misbehave (wrong bytes, short bodies, 404, 503 with
//! Retry-After, Range ignored, slow, redirects and redirect loops), and
//! counters of what it served. Also [`Nginx`], a real server (Debian's
//! nginx-light) started unprivileged on a free loopback port.
//!
//! One thread accepts, one thread per connection; everything stops when
//! the server is dropped.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server misbehaves. The default is an honest server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switches {
    /// Flip every byte of every body (pieces fail their hash).
    pub wrong_bytes: bool,
    /// Announce the full Content-Length, send half of it, close.
    pub short_body: bool,
    /// Answer every request with 404.
    pub not_found: bool,
    /// Answer the first this many requests with 503 ...
    pub unavailable: u32,
    /// ... with this `Retry-After` (seconds).
    pub retry_after: Option<u64>,
    /// Ignore Range: 200 with the whole file.
    pub ignore_range: bool,
    /// Send bodies at about this many bytes per second.
    pub slow: Option<u64>,
    /// Redirect every request to the same URL again (a loop).
    pub redirect_loop: bool,
    /// Redirect `/path` to `/moved/path` (relative Location), which serves
    /// the file.
    pub redirect_once: bool,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
    ranges: Mutex<Vec<(String, u64, u64)>>,
}

struct Shared {
    root: PathBuf,
    switches: Mutex<Switches>,
    counters: Counters,
    stop: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

/// The embedded web seed.
pub struct WebSeedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl WebSeedServer {
    /// Serve the files below `root` (URL `/a/b` is `root/a/b`).
    pub fn start(root: &Path, switches: Switches) -> io::Result<WebSeedServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            switches: Mutex::new(switches),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let accept = std::thread::spawn(move || {
            while !sh.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        if let Ok(c) = s.try_clone() {
                            sh.conns.lock().unwrap().push(c);
                        }
                        let sh2 = sh.clone();
                        std::thread::spawn(move || {
                            let _ = serve(&sh2, s);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(WebSeedServer { addr, shared, accept: Some(accept) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/` (a url-list entry for a multi-file
    /// torrent, or a directory holding a single file).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn set_switches(&self, s: Switches) {
        *self.shared.switches.lock().unwrap() = s;
    }

    /// Requests received.
    pub fn requests(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// Body bytes sent.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.counters.bytes.load(Ordering::Relaxed)
    }

    /// (decoded path, first, last) of every range request answered with
    /// data.
    pub fn ranges(&self) -> Vec<(String, u64, u64)> {
        self.shared.counters.ranges.lock().unwrap().clone()
    }
}

impl Drop for WebSeedServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for c in self.shared.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Percent-decode a URL path into bytes.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = h {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The file for a decoded path, never outside the root.
fn resolve(root: &Path, path: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = root.to_path_buf();
    for c in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if c == b"." || c == b".." || c.contains(&0) {
            return None;
        }
        p.push(std::ffi::OsStr::from_bytes(c));
    }
    p.is_file().then_some(p)
}

fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let r = v.trim().strip_prefix("bytes=")?;
    if r.contains(',') {
        return None;
    }
    let (a, b) = r.split_once('-')?;
    let (a, b) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.checked_sub(n)?, size.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, size.checked_sub(1)?),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size.checked_sub(1)?)),
    };
    (a <= b && b < size).then_some((a, b))
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn head(w: &mut impl Write, code: u16, extra: &str, len: u64) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {code} {}\r\nServer: test-fixtures-webseed\r\nContent-Length: {len}\r\n{extra}\r\n",
        status_text(code)
    )
}

fn serve(sh: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    loop {
        // Request line and headers (bounded).
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || sh.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut range = None;
        let mut close = false;
        let mut head_bytes = line.len();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            head_bytes += h.len();
            if head_bytes > 16 << 10 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("range") {
                    range = Some(v.trim().to_string());
                } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        sh.counters.requests.fetch_add(1, Ordering::Relaxed);
        let sw = {
            let mut s = sh.switches.lock().unwrap();
            let now = s.clone();
            if s.unavailable > 0 {
                s.unavailable -= 1;
            }
            now
        };
        if method != "GET" && method != "HEAD" {
            head(&mut w, 400, "Connection: close\r\n", 0)?;
            return Ok(());
        }
        let path = target.split(['?', '#']).next().unwrap_or("").to_string();
        if sw.unavailable > 0 {
            let ra = sw.retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
            head(&mut w, 503, &ra, 0)?;
            {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
        }
        if sw.not_found {
            head(&mut w, 404, "", 0)?;
            {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
        }
        if sw.redirect_loop {
            head(&mut w, 302, &format!("Location: {target}\r\n"), 0)?;
            {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
        }
        let path = if sw.redirect_once {
            match path.strip_prefix("/moved") {
                Some(p) => p.to_string(),
                None => {
                    // A Location without scheme and host.
                    head(&mut w, 302, &format!("Location: /moved{path}\r\n"), 0)?;
                    {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
                }
            }
        } else {
            path
        };
        let decoded = percent_decode(&path);
        let Some(file) = resolve(&sh.root, &decoded) else {
            head(&mut w, 404, "", 0)?;
            {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
        };
        let f = std::fs::File::open(&file)?;
        let size = f.metadata()?.len();
        let (code, first, last) = match (&range, sw.ignore_range) {
            (Some(r), false) => match parse_range(r, size) {
                Some((a, b)) => (206, a, b),
                None => {
                    head(&mut w, 416, &format!("Content-Range: bytes */{size}\r\n"), 0)?;
                    {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
                }
            },
            _ if size == 0 => (200, 0, 0),
            _ => (200, 0, size - 1),
        };
        let len = if size == 0 { 0 } else { last - first + 1 };
        let extra = if code == 206 {
            format!("Content-Range: bytes {first}-{last}/{size}\r\nAccept-Ranges: bytes\r\n")
        } else {
            "Accept-Ranges: bytes\r\n".to_string()
        };
        head(&mut w, code, &extra, len)?;
        if method == "HEAD" {
            {
                if close {
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                continue;
            }
        }
        sh.counters
            .ranges
            .lock()
            .unwrap()
            .push((String::from_utf8_lossy(&decoded).into_owned(), first, last));
        let send_len = if sw.short_body { len / 2 } else { len };
        let mut buf = vec![0u8; 64 << 10];
        let mut sent = 0u64;
        let started = Instant::now();
        while sent < send_len {
            let chunk = match sw.slow {
                Some(rate) => (rate / 20).clamp(1, buf.len() as u64),
                None => buf.len() as u64,
            };
            let n = (send_len - sent).min(chunk) as usize;
            f.read_exact_at(&mut buf[..n], first + sent)?;
            if sw.wrong_bytes {
                buf[..n].iter_mut().for_each(|b| *b = !*b);
            }
            w.write_all(&buf[..n])?;
            sent += n as u64;
            sh.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(rate) = sw.slow {
                let due = Duration::from_secs_f64(sent as f64 / rate.max(1) as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            if sh.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
        if sw.short_body || close {
            let _ = w.shutdown(Shutdown::Both);
            return Ok(());
        }
        let _ = reader.fill_buf();
    }
}

/// A real nginx (Debian's nginx-light) serving `root` on a free loopback
/// port, run as the current user with its own prefix (config, pid, logs
/// and temp directories in a temporary directory). Killed on drop.
pub struct Nginx {
    child: Child,
    port: u16,
    _prefix: tempfile::TempDir,
}

impl Nginx {
    /// None when no nginx binary is installed.
    pub fn binary() -> Option<PathBuf> {
        ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    }

    pub fn start(root: &Path) -> io::Result<Nginx> {
        let bin = Nginx::binary().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "nginx is not installed"))?;
        let mut last_err = None;
        for _ in 0..5 {
            let prefix = tempfile::tempdir()?;
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let p = prefix.path();
            for d in ["logs", "tmp"] {
                std::fs::create_dir_all(p.join(d))?;
            }
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  sendfile on;\n  keepalive_requests 100000;\n\
                 client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  fastcgi_temp_path {p}/tmp/fastcgi;\n\
                 uwsgi_temp_path {p}/tmp/uwsgi;\n  scgi_temp_path {p}/tmp/scgi;\n  types {{ }}\n  default_type application/octet-stream;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    location / {{ }}\n  }}\n}}\n",
                p = p.display(),
                root = root.display(),
            );
            std::fs::write(p.join("nginx.conf"), conf)?;
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(p)
                .arg("-c")
                .arg(p.join("nginx.conf"))
                .arg("-e")
                .arg(p.join("logs/error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Nginx { child, port, _prefix: prefix });
                }
                if let Some(status) = child.try_wait()? {
                    let log = std::fs::read_to_string(p.join("logs/error.log")).unwrap_or_default();
                    last_err = Some(io::Error::other(format!("nginx exited with {status}: {log}")));
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = Some(io::Error::other("nginx did not start listening in 10 s"));
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("nginx did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn ranges_and_decoding() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=100-101", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
        assert_eq!(percent_decode("/a%20b/caf%C3%A9%2"), b"/a b/caf\xc3\xa9%2".to_vec());
    }

    #[test]
    fn serves_ranges_and_stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"0123456789").unwrap();
        let s = WebSeedServer::start(dir.path(), Switches::default()).unwrap();
        let get = |path: &str, range: &str| {
            let mut c = TcpStream::connect(s.addr()).unwrap();
            write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\nRange: {range}\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        };
        let r = get("/f", "bytes=2-4");
        assert!(r.starts_with("HTTP/1.1 206"), "{r}");
        assert!(r.contains("Content-Range: bytes 2-4/10"));
        assert!(r.ends_with("\r\n\r\n234"));
        assert!(get("/../f", "bytes=0-1").starts_with("HTTP/1.1 404"));
        assert!(get("/f", "bytes=20-30").starts_with("HTTP/1.1 416"));
        assert_eq!(s.requests(), 3);
        assert_eq!(s.bytes_sent(), 3);
    }
}
