//! Byte sizes: a plain integer, or a number with a unit ("4MiB", "512KiB", "10MB").
//!
//! Binary units (KiB, MiB, GiB) are powers of 1024, decimal units (KB, MB, GB) powers of
//! 1000; units are case-insensitive and may follow the number after a space.

/// Parses a size string into bytes, or explains what is wrong in a message fit for users.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let invalid = || {
        format!(
            "invalid size {text:?}: write a number of bytes or a size like \"4MiB\" or \"512KiB\""
        )
    };
    if number.is_empty() {
        return Err(invalid());
    }
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn accepts_numbers_and_units() {
        let cases = [
            ("4194304", 4_194_304),
            ("4MiB", 4 << 20),
            ("4 MiB", 4 << 20),
            ("4mib", 4 << 20),
            ("512KiB", 512 << 10),
            ("10MB", 10_000_000),
            ("1kb", 1_000),
            ("2GiB", 2 << 30),
            ("3GB", 3_000_000_000),
            ("100B", 100),
            ("0", 0),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn refuses_bad_sizes() {
        let cases = [
            ("", "invalid size"),
            ("MiB", "invalid size"),
            ("4 parsecs", "invalid size"),
            ("1.5MiB", "invalid size"),
            ("-1", "invalid size"),
            ("4M", "invalid size"),
            ("99999999999999999999GiB", "invalid size"),
            ("99999999999GiB", "too large"),
        ];
        for (text, needle) in cases {
            let err = parse_size(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
