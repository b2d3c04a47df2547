//! BEP 52 hybrid torrents: the v2 `file tree` must match the v1 file list.

use super::*;

/// A file of the v2 `file tree`: sanitised path and length.
struct V2File {
    path: Vec<String>,
    length: u64,
}

fn walk_file_tree(
    node: &Value<'_>,
    path: &mut Vec<String>,
    out: &mut Vec<V2File>,
) -> Result<(), MetainfoError> {
    let bad = |msg: String| invalid("info.file tree", msg);
    let d = node
        .as_dict()
        .ok_or_else(|| bad(format!("{}: expected a dictionary", path.join("/"))))?;
    if d.is_empty() {
        return Err(bad(format!("{}: empty directory", path.join("/"))));
    }
    for (k, v) in d {
        if k.is_empty() {
            if d.len() != 1 || path.is_empty() {
                return Err(bad(format!("{}: a file entry next to other entries", path.join("/"))));
            }
            let at = path.join("/");
            if v.as_dict().is_none() {
                return Err(bad(format!("{at}: file entry is not a dictionary")));
            }
            let attr = v.get("attr").and_then(|a| a.as_bytes()).unwrap_or(b"");
            if attr.contains(&b'p') {
                return Err(bad(format!("{at}: a v2 file has the padding attribute")));
            }
            let length = if attr.contains(&b'l') {
                0
            } else {
                let l = v
                    .get("length")
                    .and_then(|l| l.as_int())
                    .ok_or_else(|| bad(format!("{at}: no integer length")))?;
                u64::try_from(l).map_err(|_| bad(format!("{at}: negative length")))?
            };
            if length > 0 {
                match v.get("pieces root").and_then(|r| r.as_bytes()) {
                    Some(r) if r.len() == 32 && r.iter().any(|&b| b != 0) => {}
                    _ => return Err(bad(format!("{at}: no valid pieces root"))),
                }
            }
            out.push(V2File {
                path: path.clone(),
                length,
            });
        } else {
            if path.len() >= MAX_PATH_DEPTH {
                return Err(bad(format!("deeper than {MAX_PATH_DEPTH} levels")));
            }
            path.push(sanitize_path_element(k, true).expect("forced"));
            walk_file_tree(v, path, out)?;
            path.pop();
        }
    }
    Ok(())
}

/// A hybrid torrent (BEP 52) must describe the same files to v1 and v2
/// peers: the files with data, in order, with the same paths, lengths and
/// offsets (v2 files start on piece boundaries; v1 lists padding files to
/// match). Its `file tree` must also be valid on its own.
pub(super) fn check_hybrid(
    info: &Value<'_>,
    files: &[FileEntry],
    piece_length: u64,
    total_length: u64,
) -> Result<(), MetainfoError> {
    let tree = info
        .get("file tree")
        .ok_or_else(|| missing("info.file tree"))?;
    // BEP 52 trees are sorted: libtorrent refuses an unsorted one.
    if let Err(e) = bencode::decode(tree.raw) {
        return Err(invalid("info.file tree", format!("not canonical bencode: {}", e.kind)));
    }
    let mut v2 = Vec::new();
    walk_file_tree(tree, &mut Vec::new(), &mut v2)?;
    let mismatch = |msg: String| invalid("info", format!("v1 and v2 file lists disagree: {msg}"));
    let v1: Vec<&FileEntry> = files.iter().filter(|f| !f.padding && f.length > 0).collect();
    let mut v2_data = Vec::new();
    let mut offset = 0u64;
    let mut end = 0u64;
    for f in &v2 {
        if f.length == 0 {
            continue;
        }
        v2_data.push((f, offset));
        end = offset.checked_add(f.length).ok_or_else(|| mismatch("lengths overflow".into()))?;
        offset = end.div_ceil(piece_length).saturating_mul(piece_length);
    }
    if v1.len() != v2_data.len() {
        return Err(mismatch(format!("{} files with data in v1, {} in v2", v1.len(), v2_data.len())));
    }
    for (a, (b, off)) in v1.iter().zip(&v2_data) {
        if a.path != b.path || a.length != b.length || a.offset != *off {
            return Err(mismatch(format!(
                "v1 has {} ({} bytes at {}), v2 has {} ({} bytes at {off})",
                a.path_string(),
                a.length,
                a.offset,
                b.path.join("/"),
                b.length
            )));
        }
    }
    // With or without padding after the last file.
    if total_length != end && total_length != offset {
        return Err(mismatch(format!("v1 has {total_length} bytes, v2 {end}")));
    }
    Ok(())
}

