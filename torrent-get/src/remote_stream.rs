//! `torrent-get remote stream TORRENT [--file N|NAME] [--offset B]`: one
//! file's bytes from the daemon (`POST /v1/torrents/HASH/files/N/stream`,
//! see [`crate::daemon::stream`]) copied to stdout as they arrive. A closed
//! stdout (`| head -c 1000`) ends quietly with 0; a body that ends before
//! the file does is exit 1, with what became of the torrent (removed,
//! paused, failed) asked of the daemon.

use crate::control::client::Client;
use crate::control::{self, ApiError};
use crate::daemon::stream::LENGTH_HEADER;
use cli_support::Fail;
use std::io::{Read, Write};
use std::time::Duration;

/// The file's number: given, or found by path or name in the detail.
fn file_number(client: &Client, hash: &str, file: &str) -> Result<usize, Fail> {
    if let Ok(n) = file.parse::<usize>() {
        return Ok(n);
    }
    let d = client.detail(hash).map_err(|e| Fail::failed(format!("{e:#}")))?;
    let exact: Vec<usize> = d.files.iter().filter(|f| f.path == file).map(|f| f.index).collect();
    if let [n] = exact[..] {
        return Ok(n);
    }
    let base: Vec<usize> = d.files.iter().filter(|f| f.path.rsplit('/').next() == Some(file)).map(|f| f.index).collect();
    match base[..] {
        [n] => Ok(n),
        [] => Err(Fail::failed(format!("--file {file:?}: no such file in {} (`torrent-get remote show` lists them)", d.status.name))),
        _ => Err(Fail::failed(format!("--file {file:?}: {} files have that name: give the path or the number", base.len()))),
    }
}

/// Stdout itself, unbuffered (a duplicate of fd 1).
fn stdout() -> Result<std::fs::File, Fail> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned().map_err(|e| Fail::usage(format!("stdout: {e}")))?;
    Ok(std::fs::File::from(fd))
}

pub fn run(client: &Client, addr: &str, token: &str, hash: &str, file: Option<&str>, offset: u64) -> Result<u8, Fail> {
    let path = match file {
        Some(f) => format!("/v1/torrents/{hash}/files/{}/stream?offset={offset}", file_number(client, hash, f)?),
        None => format!("/v1/torrents/{hash}/stream?offset={offset}"),
    };
    // No overall timeout: a stream lasts as long as the download.
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_connect(Some(Duration::from_secs(10))).http_status_as_error(false).build().into();
    let resp = agent
        .post(&format!("http://{addr}{path}"))
        .header(control::AUTH_HEADER, &format!("Bearer {token}"))
        .send_empty()
        .map_err(|e| Fail::failed(format!("cannot reach the daemon at {addr}: {e}")))?;
    let status = resp.status();
    let length = resp.headers().get(LENGTH_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut body = resp.into_body();
    if !status.is_success() {
        let text = body.with_config().limit(1 << 20).read_to_string().unwrap_or_default();
        let msg = serde_json::from_str::<ApiError>(&text).map(|e| e.error).unwrap_or(text);
        return Err(Fail::failed(format!("stream: {msg} (HTTP {})", status.as_u16())));
    }
    let Some(length) = length else { return Err(Fail::failed(format!("stream: the daemon did not say the file's length ({LENGTH_HEADER})"))) };
    let want = length.saturating_sub(offset);
    let mut out = stdout()?;
    let mut reader = body.as_reader();
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(Fail::failed(format!("the stream broke after {got} of {want} bytes: {e}"))),
        };
        out.write_all(&buf[..n]).map_err(Fail::output)?;
        got += n as u64;
    }
    if got < want {
        return Err(Fail::failed(format!("the stream ended after {got} of {want} bytes: {}", why_ended(client, hash))));
    }
    Ok(0)
}

/// What became of the torrent whose stream ended early.
fn why_ended(client: &Client, hash: &str) -> String {
    match client.detail(hash) {
        Ok(d) if d.status.state == "paused" => "the torrent was paused".into(),
        Ok(d) if d.status.state == "failed" => format!("the torrent failed: {}", d.status.error.unwrap_or_default()),
        Ok(d) => format!("the daemon ended it (the torrent is {})", d.status.state),
        Err(e) if format!("{e:#}").contains("HTTP 404") => "the torrent was removed".into(),
        Err(e) => format!("the daemon is gone ({e:#})"),
    }
}
