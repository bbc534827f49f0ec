//! The stress test's data: its column families, keys and self-describing values.
//!
//! Every value is derived from `(column family, key, version)` and carries them in clear, so
//! the parent recognises a value by decoding it: a value from another key or column family,
//! a torn or bit-flipped value, and a stale version are all told apart from the right one
//! without storing values in the model. Versions are unique over a whole run (each child
//! gets its own range), so a version names exactly one write.

use lsmedic::telemetry::LostRange;

use crate::keygen::mix64;

/// Logical column families written: the default one and three named ones. Damage and
/// rebuilds target only the named ones (RocksDB cannot drop the default column family).
pub const COLUMN_FAMILIES: [&str; 4] = ["default", "users", "orders", "events"];

/// Index of a column family in [`COLUMN_FAMILIES`].
pub type CfIndex = u8;

/// Key of a probe write outside the key space (sorts after every `key…`).
pub const PROBE_KEY: &[u8] = b"~probe";

const KEY_PREFIX: &str = "key";
const KEY_DIGITS: usize = 6;
/// Largest key index [`key`] encodes in order.
pub const MAX_KEYS: u32 = 999_999;

/// The key of index `index` (fixed width, so byte order is index order and a range of
/// indices is a range of keys).
pub fn key(index: u32) -> Vec<u8> {
    format!("{KEY_PREFIX}{index:0width$}", width = KEY_DIGITS).into_bytes()
}

/// The index of a key of the key space, `None` for any other byte string.
pub fn key_index(key: &[u8]) -> Option<u32> {
    let digits = key.strip_prefix(KEY_PREFIX.as_bytes())?;
    if digits.len() != KEY_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn header(cf: CfIndex, key: u32, version: u64) -> String {
    format!("v1|{cf}|{key:0width$}|{version:016x}|", width = KEY_DIGITS)
}

/// The value that version `version` of `key` in column family `cf` holds: a header naming
/// all three, then 48..=303 filler bytes derived from them (so SST files have many blocks).
pub fn value(cf: CfIndex, key: u32, version: u64) -> Vec<u8> {
    let mut out = header(cf, key, version).into_bytes();
    let mut state = mix64(version ^ (u64::from(cf) << 56) ^ (u64::from(key) << 32));
    let filler = 48 + (state % 256) as usize;
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    for _ in 0..filler {
        state = mix64(state);
        out.push(ALPHABET[(state & 31) as usize]);
    }
    out
}

/// What a read of one key returned, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// No value.
    Absent,
    /// Exactly the value of this version of this key.
    Version(u64),
    /// Bytes that are no version of this key (another key's value, damaged bytes).
    Garbage(Vec<u8>),
}

impl Found {
    /// Decodes the value read for `key` of `cf`.
    pub fn decode(cf: CfIndex, key: u32, read: Option<&[u8]>) -> Found {
        let Some(bytes) = read else {
            return Found::Absent;
        };
        let version = std::str::from_utf8(bytes.get(..header(cf, key, 0).len()).unwrap_or(&[]))
            .ok()
            .and_then(|text| {
                text.strip_prefix(&format!("v1|{cf}|{key:0width$}|", width = KEY_DIGITS))
            })
            .and_then(|rest| rest.strip_suffix('|'))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok());
        match version {
            Some(version) if value(cf, key, version) == bytes => Found::Version(version),
            _ => Found::Garbage(bytes.to_vec()),
        }
    }

    /// The committed state this read establishes (`None` = absent); garbage establishes none.
    pub fn state(&self) -> Option<Option<u64>> {
        match self {
            Found::Absent => Some(None),
            Found::Version(version) => Some(Some(*version)),
            Found::Garbage(_) => None,
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Absent => f.write_str("absent"),
            Found::Version(version) => write!(f, "version {version:#x}"),
            Found::Garbage(bytes) => write!(
                f,
                "garbage ({} bytes: {:?})",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(48)])
            ),
        }
    }
}

/// Lost ranges for a log line, keys shown as text (`\0` for the zero bytes a rebuild's
/// bisection appends).
pub fn describe_ranges(ranges: &[LostRange]) -> String {
    let show = |key: &[u8]| format!("{:?}", String::from_utf8_lossy(key));
    let parts: Vec<String> = ranges
        .iter()
        .map(|range| {
            format!(
                "[{}, {})",
                show(&range.start),
                range.end.as_deref().map_or("end".to_owned(), show)
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Lower-case hex of `bytes` (keys of lost ranges on the record pipe).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`to_hex`]'s output.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_their_indices_and_round_trip() {
        assert!(key(9) < key(10) && key(10) < key(1999));
        assert_eq!(key_index(&key(1234)), Some(1234));
        assert_eq!(key_index(b"key12345"), None);
        assert_eq!(key_index(PROBE_KEY), None);
        assert!(key(MAX_KEYS).as_slice() < PROBE_KEY);
    }

    #[test]
    fn values_decode_to_their_version_only_for_their_own_key() {
        let bytes = value(2, 17, 0x1_0000_0005);
        assert_eq!(
            Found::decode(2, 17, Some(&bytes)),
            Found::Version(0x1_0000_0005)
        );
        assert!(matches!(
            Found::decode(2, 18, Some(&bytes)),
            Found::Garbage(_)
        ));
        assert!(matches!(
            Found::decode(1, 17, Some(&bytes)),
            Found::Garbage(_)
        ));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            Found::decode(2, 17, Some(&flipped)),
            Found::Garbage(_)
        ));
        assert_eq!(Found::decode(2, 17, None), Found::Absent);
        assert!(matches!(
            Found::decode(2, 17, Some(b"v1")),
            Found::Garbage(_)
        ));
    }

    #[test]
    fn hex_round_trips() {
        let bytes = vec![0, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
