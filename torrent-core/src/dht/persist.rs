//! Saving the routing table between runs:
//! `d2:id20:<our id>5:nodesl26:<node>26:<node>...ee` (each node in compact
//! node info form: 20-byte id, IPv4 address, port).

use super::krpc::{encode_nodes, parse_nodes, NodeInfo, COMPACT_NODE_LEN};
use super::NodeId;
use crate::bencode::{self, OwnedValue};

/// Largest state accepted (160 buckets of 8 nodes need about 37 KiB).
pub const MAX_STATE_SIZE: usize = 128 * 1024;
/// Most nodes kept in a saved state.
pub const MAX_SAVED_NODES: usize = 160 * super::K;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedState {
    pub id: NodeId,
    pub nodes: Vec<NodeInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DHT state: {0}")]
pub struct PersistError(pub String);

impl SavedState {
    pub fn to_bytes(&self) -> Vec<u8> {
        let nodes = self
            .nodes
            .iter()
            .take(MAX_SAVED_NODES)
            .map(|n| OwnedValue::Bytes(encode_nodes(std::slice::from_ref(n))))
            .collect();
        OwnedValue::dict()
            .with("id", OwnedValue::bytes(self.id.0))
            .with("nodes", OwnedValue::List(nodes))
            .encode()
    }

    pub fn from_bytes(buf: &[u8]) -> Result<SavedState, PersistError> {
        if buf.len() > MAX_STATE_SIZE {
            return Err(PersistError(format!(
                "{} bytes, more than the limit of {MAX_STATE_SIZE}",
                buf.len()
            )));
        }
        let v = bencode::decode_with(buf, bencode::Options { max_depth: 4, lenient: true })
            .map_err(|e| PersistError(e.to_string()))?;
        let id = match v.get("id").and_then(|i| i.as_bytes()) {
            Some(b) if b.len() == 20 => NodeId(b.try_into().expect("20 bytes")),
            _ => return Err(PersistError("id: expected a 20-byte string".into())),
        };
        let list = v
            .get("nodes")
            .and_then(|n| n.as_list())
            .ok_or_else(|| PersistError("nodes: expected a list".into()))?;
        if list.len() > MAX_SAVED_NODES {
            return Err(PersistError(format!(
                "nodes: {} entries, more than the limit of {MAX_SAVED_NODES}",
                list.len()
            )));
        }
        let mut nodes = Vec::with_capacity(list.len());
        for (i, n) in list.iter().enumerate() {
            match n.as_bytes() {
                Some(b) if b.len() == COMPACT_NODE_LEN => nodes.extend(
                    parse_nodes(b, 1).map_err(|e| PersistError(format!("nodes[{i}]: {e}")))?,
                ),
                _ => {
                    return Err(PersistError(format!(
                        "nodes[{i}]: expected a {COMPACT_NODE_LEN}-byte compact node"
                    )))
                }
            }
        }
        Ok(SavedState { id, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bytes() {
        let s = SavedState {
            id: NodeId([b'a'; 20]),
            nodes: vec![NodeInfo {
                id: NodeId([b'B'; 20]),
                addr: "127.0.0.1:6881".parse().unwrap(),
            }],
        };
        let b = s.to_bytes();
        let mut want = b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodesl26:BBBBBBBBBBBBBBBBBBBB".to_vec();
        want.extend_from_slice(b"\x7f\x00\x00\x01\x1a\xe1ee");
        assert_eq!(b, want);
        assert_eq!(SavedState::from_bytes(&b).unwrap(), s);
        assert!(SavedState::from_bytes(b"d2:id3:abc5:nodeslee").is_err());
        let e = SavedState::from_bytes(b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodesl3:abcee").unwrap_err();
        assert!(e.0.contains("nodes[0]"));
    }
}
