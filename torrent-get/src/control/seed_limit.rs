//! A torrent's own seeding limit (ratio or time) as the API, the session
//! and the engine hold it: follow the daemon's default, no limit whatever
//! the default says, or a value of its own. In JSON: `null` (or absent, or
//! `"default"`), `"unlimited"`, or the number. Older session entries and
//! clients wrote only numbers and nulls, which read as before.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of a torrent's own seeding limits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum SeedLimit<T> {
    /// The daemon's (`--seed-ratio`/`--seed-time`; none there: unlimited).
    #[default]
    Default,
    /// Seed without this limit whatever the default is (Transmission's
    /// "seed regardless of ratio", qBittorrent's per-torrent "no limit").
    Unlimited,
    /// The torrent's own limit.
    Value(T),
}

/// Where the limit in force comes from, as the status says it
/// (`seed_ratio_mode`, `seed_time_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedLimitMode {
    /// The daemon's default (which may be no limit).
    #[default]
    Default,
    /// The torrent's own value.
    Own,
    /// The torrent's own "no limit".
    Unlimited,
}

/// The words `remote add|limits` and the JSON take besides numbers.
pub const UNLIMITED: &str = "unlimited";
pub const DEFAULT: &str = "default";

impl<T: Copy> SeedLimit<T> {
    pub fn is_default(&self) -> bool {
        matches!(self, SeedLimit::Default)
    }

    /// The limit in force given the daemon's default (None: no limit).
    pub fn or(self, default: Option<T>) -> Option<T> {
        match self {
            SeedLimit::Default => default,
            SeedLimit::Unlimited => None,
            SeedLimit::Value(v) => Some(v),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> SeedLimit<U> {
        match self {
            SeedLimit::Default => SeedLimit::Default,
            SeedLimit::Unlimited => SeedLimit::Unlimited,
            SeedLimit::Value(v) => SeedLimit::Value(f(v)),
        }
    }

    pub fn mode(&self) -> SeedLimitMode {
        match self {
            SeedLimit::Default => SeedLimitMode::Default,
            SeedLimit::Unlimited => SeedLimitMode::Unlimited,
            SeedLimit::Value(_) => SeedLimitMode::Own,
        }
    }

    /// `default`, `unlimited` (any case) or what `parse` takes.
    pub fn parse(s: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<SeedLimit<T>, String> {
        let w = s.trim();
        if w.eq_ignore_ascii_case(DEFAULT) {
            Ok(SeedLimit::Default)
        } else if w.eq_ignore_ascii_case(UNLIMITED) {
            Ok(SeedLimit::Unlimited)
        } else {
            parse(w).map(SeedLimit::Value)
        }
    }
}

impl<T: Serialize> Serialize for SeedLimit<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SeedLimit::Default => s.serialize_none(),
            SeedLimit::Unlimited => s.serialize_str(UNLIMITED),
            SeedLimit::Value(v) => v.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for SeedLimit<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(SeedLimit::Default),
            serde_json::Value::String(s) if s == DEFAULT => Ok(SeedLimit::Default),
            serde_json::Value::String(s) if s == UNLIMITED => Ok(SeedLimit::Unlimited),
            v => T::deserialize(v)
                .map(SeedLimit::Value)
                .map_err(|e| D::Error::custom(format!("{e}: want a number, \"{UNLIMITED}\" or null (the daemon's default)"))),
        }
    }
}

/// For an `Option<SeedLimit<T>>` field that tells absent (None: unchanged)
/// from `null` (`Some(Default)`): `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, T: DeserializeOwned, D: Deserializer<'de>>(d: D) -> Result<Option<SeedLimit<T>>, D::Error> {
    SeedLimit::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms_of_a_limit() {
        let read = |s: &str| serde_json::from_str::<SeedLimit<f64>>(s).map_err(|e| e.to_string());
        assert_eq!(read("null"), Ok(SeedLimit::Default));
        assert_eq!(read("\"default\""), Ok(SeedLimit::Default));
        assert_eq!(read("\"unlimited\""), Ok(SeedLimit::Unlimited));
        assert_eq!(read("2"), Ok(SeedLimit::Value(2.0)));
        assert_eq!(read("0.5"), Ok(SeedLimit::Value(0.5)));
        let e = read("\"lots\"").unwrap_err();
        assert!(e.contains("want a number, \"unlimited\" or null"), "{e}");
        assert!(serde_json::from_str::<SeedLimit<u64>>("-1").is_err());
        let write = |l: SeedLimit<u64>| serde_json::to_string(&l).unwrap();
        assert_eq!((write(SeedLimit::Default), write(SeedLimit::Unlimited), write(SeedLimit::Value(60))), ("null".into(), "\"unlimited\"".into(), "60".into()));
    }

    #[test]
    fn the_limit_in_force() {
        assert_eq!(SeedLimit::Default.or(Some(3)), Some(3));
        assert_eq!(SeedLimit::Unlimited.or(Some(3)), None);
        assert_eq!(SeedLimit::Value(1).or(Some(3)), Some(1));
        assert_eq!(SeedLimit::<u64>::Default.or(None), None);
        assert_eq!(SeedLimit::Value(2).map(|v| v * 10), SeedLimit::Value(20));
        assert_eq!((SeedLimit::<u8>::Default.mode(), SeedLimit::<u8>::Unlimited.mode(), SeedLimit::Value(1).mode()), (SeedLimitMode::Default, SeedLimitMode::Unlimited, SeedLimitMode::Own));
    }

    #[test]
    fn words_on_the_command_line() {
        let p = |s: &str| SeedLimit::parse(s, |x| x.parse::<u64>().map_err(|e| e.to_string()));
        assert_eq!(p("Unlimited"), Ok(SeedLimit::Unlimited));
        assert_eq!(p(" default "), Ok(SeedLimit::Default));
        assert_eq!(p("90"), Ok(SeedLimit::Value(90)));
        assert!(p("never").is_err());
    }
}
