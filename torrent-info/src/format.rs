//! Small text helpers shared by the subcommands: human sizes, ISO-8601
//! dates, compact index ranges, and escaping of untrusted strings.

/// `1536` -> `"1.5 KiB"`; below 1 KiB: `"12 B"`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Unix seconds -> `YYYY-MM-DDTHH:MM:SSZ` (UTC). None for dates outside the
/// years 0..=9999, which no real torrent has.
pub fn iso8601_utc(unix: i64) -> Option<String> {
    // 0000-01-01 .. 9999-12-31T23:59:59
    if !(-62_167_219_200..=253_402_300_799).contains(&unix) {
        return None;
    }
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Sorted, de-duplicated indices -> inclusive ranges.
pub fn to_ranges(indices: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &i in indices {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            Some((_, end)) if *end == i => {}
            _ => out.push((i, i)),
        }
    }
    out
}

/// `[(3,7),(12,12)]` -> `"3-7,12"`.
pub fn format_ranges(ranges: &[(usize, usize)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Make an untrusted string (from a torrent or magnet) safe to print on a
/// terminal: control characters (newlines, escape sequences) are escaped.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse a size such as `262144`, `256K`, `256KiB`, `1M`, `1m`, `4MB`
/// (K/M/G are binary: 1K = 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("{s:?} is not a size (examples: 262144, 256K, 1M)"));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: number too large"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: number too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(150_008), "146.5 KiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(u64::MAX), "16 EiB");
    }

    #[test]
    fn dates() {
        assert_eq!(iso8601_utc(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601_utc(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(
            iso8601_utc(253_402_300_799).unwrap(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(iso8601_utc(i64::MAX), None);
        assert_eq!(iso8601_utc(i64::MIN), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(format_ranges(&to_ranges(&[3, 4, 5, 6, 7, 12])), "3-7,12");
        assert_eq!(format_ranges(&to_ranges(&[0])), "0");
        assert_eq!(format_ranges(&to_ranges(&[1, 1, 2, 4, 5])), "1-2,4-5");
        assert!(to_ranges(&[]).is_empty());
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(clean("héllo"), "héllo");
    }

    #[test]
    fn size_parsing() {
        assert_eq!(parse_size("262144").unwrap(), 262_144);
        assert_eq!(parse_size("256K").unwrap(), 262_144);
        assert_eq!(parse_size("256kib").unwrap(), 262_144);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("K").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
