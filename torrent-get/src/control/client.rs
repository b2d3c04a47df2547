//! A blocking client of the control API (`remote`, `top`): ureq with
//! timeouts, the token on every request, errors as the daemon words them.

use super::types::*;
use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// The daemon whose state directory is `state`.
    pub fn from_state_dir(state: &Path) -> Result<Client> {
        let (addr, token) = super::read_endpoint(state)?;
        Ok(Client::new(&addr, &token))
    }

    pub fn new(addr: &str, token: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Client { base: format!("http://{addr}"), token: token.to_string(), agent }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn answer<T: DeserializeOwned>(&self, what: &str, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<T> {
        let mut resp = r.map_err(|e| anyhow!("cannot reach the daemon at {}: {e}", self.base))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .with_context(|| format!("{what}: reading the daemon's answer"))?;
        if !status.is_success() {
            let msg = serde_json::from_str::<ApiError>(&body).map(|e| e.error).unwrap_or(body);
            return Err(anyhow!("{what}: {msg} (HTTP {})", status.as_u16()));
        }
        serde_json::from_str(&body).with_context(|| format!("{what}: the daemon's answer is not what this version expects"))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let r = self.agent.get(&format!("{}{path}", self.base)).header(super::AUTH_HEADER, &self.auth()).call();
        self.answer(path, r)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let json = serde_json::to_vec(body)?;
        let r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header(super::AUTH_HEADER, &self.auth())
            .header("Content-Type", "application/json")
            .send(&json[..]);
        self.answer(path, r)
    }

    pub fn list(&self) -> Result<Vec<TorrentStatus>> {
        Ok(self.get::<TorrentList>("/v1/torrents")?.torrents)
    }

    pub fn detail(&self, hash: &str) -> Result<TorrentDetail> {
        self.get(&format!("/v1/torrents/{hash}"))
    }

    pub fn add(&self, req: &AddRequest) -> Result<Added> {
        self.post("/v1/torrents", req)
    }

    pub fn pause(&self, hash: &str) -> Result<TorrentStatus> {
        self.post(&format!("/v1/torrents/{hash}/pause"), &serde_json::json!({}))
    }

    pub fn resume(&self, hash: &str) -> Result<TorrentStatus> {
        self.post(&format!("/v1/torrents/{hash}/resume"), &serde_json::json!({}))
    }

    pub fn remove(&self, hash: &str, delete_data: bool) -> Result<Removed> {
        self.post(&format!("/v1/torrents/{hash}/remove"), &RemoveRequest { delete_data })
    }

    pub fn select(&self, hash: &str, select: Option<String>) -> Result<TorrentStatus> {
        self.post(&format!("/v1/torrents/{hash}/select"), &SelectRequest { select })
    }

    /// A torrent's own seeding limits (fields left out: unchanged).
    pub fn set_seed_limits(&self, hash: &str, req: &SeedLimitsRequest) -> Result<TorrentStatus> {
        self.post(&format!("/v1/torrents/{hash}/limits"), req)
    }

    pub fn set_limits(&self, limits: Limits) -> Result<Limits> {
        self.post("/v1/limits", &limits)
    }
}
