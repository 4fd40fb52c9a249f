//! Durations written in cron strings (`@every 90m/10m`), read as the real
//! server reads them: Go's `time.ParseDuration` grammar plus a `d` unit of
//! exactly 24 hours. Error texts are Go's, because they reach the client.

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `s` to nanoseconds, accepting `d` (24h) as the real server does:
/// each `<number>d` is first rewritten to `<24*number as %f>h`.
pub(crate) fn parse_duration_with_days(s: &str) -> Result<i64, String> {
    parse_go_duration(&rewrite_days(s))
}

/// Rewrites every leftmost match of `(\d+(\.\d*)?|(\.\d+))d` to hours.
fn rewrite_days(s: &str) -> String {
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let matched_end = if b[i].is_ascii_digit() {
            let j = digits_from(i);
            if j < b.len() && b[j] == b'.' {
                let k = digits_from(j + 1);
                (k < b.len() && b[k] == b'd').then_some(k + 1)
            } else {
                (j < b.len() && b[j] == b'd').then_some(j + 1)
            }
        } else if b[i] == b'.' {
            let k = digits_from(i + 1);
            (k > i + 1 && k < b.len() && b[k] == b'd').then_some(k + 1)
        } else {
            None
        };
        match matched_end {
            Some(end) => {
                out.push_str(&s[copied..i]);
                let number = &s[i..end - 1];
                match number.parse::<f64>() {
                    Ok(v) => out.push_str(&format!("{:.6}h", 24.0 * v)),
                    Err(_) => out.push_str(&s[i..end]),
                }
                i = end;
                copied = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// Go's `time.quote`: double quotes, `"` and `\\` escaped, every byte of a
/// control or non-ASCII character written as `\\xNN`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if (c as u32) < 0x20 || (c as u32) >= 0x80 {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Go's `time.ParseDuration`, returning nanoseconds.
pub(crate) fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // integer part
        let mut i = 0;
        let mut v: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(b[i] - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        // fraction
        let mut post = false;
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    if frac > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = frac * 10 + u64::from(b[i] - b'0');
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            frac = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > start;
        }
        if !pre && !post {
            return Err(invalid());
        }
        // unit
        let unit_start = i;
        while i < b.len() && b[i] != b'.' && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i == unit_start {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let unit_name = &s[unit_start..i];
        let Some(&(_, unit)) = NANOS_PER_UNIT.iter().find(|(n, _)| *n == unit_name) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                quote(unit_name),
                quote(orig)
            ));
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
        s = &s[i..];
    }
    if neg {
        return Ok((total as i64).wrapping_neg());
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    #[test]
    fn go_grammar() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("1h30m"), Ok(H + H / 2));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("-2m"), Ok(-120_000_000_000));
        assert_eq!(parse_go_duration("3us"), Ok(3_000));
        assert_eq!(parse_go_duration("3\u{b5}s"), Ok(3_000));
        assert_eq!(
            parse_go_duration("10"),
            Err("time: missing unit in duration \"10\"".into())
        );
        assert_eq!(
            parse_go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert_eq!(
            parse_go_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert_eq!(
            parse_go_duration(" 1h"),
            Err("time: invalid duration \" 1h\"".into())
        );
        assert!(parse_go_duration("9999999999h").is_err());
        assert_eq!(
            parse_go_duration("1\u{e9}"),
            Err("time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\"".into())
        );
    }

    #[test]
    fn days_are_24_hours() {
        assert_eq!(parse_duration_with_days("1d"), Ok(24 * H));
        assert_eq!(parse_duration_with_days("1.5d"), Ok(36 * H));
        assert_eq!(parse_duration_with_days("1d12h"), Ok(36 * H));
        assert_eq!(parse_duration_with_days(".5d"), Ok(12 * H));
        assert_eq!(rewrite_days("2d3h"), "48.000000h3h");
        assert_eq!(rewrite_days("1.5x"), "1.5x");
    }
}
