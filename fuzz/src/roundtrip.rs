//! Round-trip invariants of accepted configurations.
//!
//! A configuration that parsed and validated must be writable as TOML and as JSON (the two
//! formats the library, the bench and the C ABI read) and read back equal: otherwise a user
//! cannot save what the library accepted, and the C ABI's JSON and TOML entry points disagree.
//!
//! TOML must give back exactly the same value. JSON is allowed to move a float by at most
//! [`JSON_FLOAT_ULPS`] units in the last place: the workspace's `serde_json` is built without
//! its `float_roundtrip` feature, so its fast float parser may read the shortest decimal form
//! of an `f64` back as a neighbouring `f64` (seen: `0.22727272727272727` becomes
//! `0.2272727272727273`). Anything beyond that, and any non-finite float (JSON cannot write
//! one: `serde_json` writes `null`), is a finding.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;
use toml::Value;

/// How far (in units in the last place) a float may move through a JSON round trip.
pub const JSON_FLOAT_ULPS: u64 = 2;

/// Writes `value` as JSON and as TOML, reads both back and asserts each equals `value` (JSON
/// up to [`JSON_FLOAT_ULPS`] per float).
///
/// # Panics
/// When serialising fails, when the text does not parse back, or when the parsed value
/// differs: each is a finding. `what` names the type in the message.
pub fn assert_round_trips<T>(value: &T, what: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = toml::to_string(value)
        .unwrap_or_else(|e| panic!("{what}: an accepted value cannot be written as TOML: {e}"));
    let back: T = toml::from_str(&text).unwrap_or_else(|e| {
        panic!("{what}: its own TOML does not parse back: {e}\n{text}\nvalue: {value:?}")
    });
    assert_eq!(
        &back, value,
        "{what}: TOML round trip changed the value\n{text}"
    );

    let json = serde_json::to_string(value)
        .unwrap_or_else(|e| panic!("{what}: an accepted value cannot be written as JSON: {e}"));
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| {
        panic!("{what}: its own JSON does not parse back: {e}\n{json}\nvalue: {value:?}")
    });
    if &back != value {
        let (a, b) = match (Value::try_from(value), Value::try_from(&back)) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => panic!("{what}: cannot compare the JSON round trip: {a:?} / {b:?}"),
        };
        if let Some(difference) = first_difference(&a, &b, &mut String::new()) {
            panic!("{what}: JSON round trip changed the value at {difference}\n{json}");
        }
    }
}

/// Asserts every float in `value` is finite: a validated configuration must not hold NaN
/// or an infinity (JSON cannot write them, and every comparison with NaN is false, so a NaN
/// threshold silently disables the rule it belongs to).
///
/// # Panics
/// Naming the first non-finite field (a finding).
pub fn assert_finite<T: Serialize + Debug>(value: &T, what: &str) {
    fn walk(value: &Value, path: &mut String) -> Option<String> {
        match value {
            Value::Float(x) if !x.is_finite() => Some(format!("`{path}` = {x}")),
            Value::Table(table) => table.iter().find_map(|(key, child)| {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                let found = walk(child, path);
                path.truncate(len);
                found
            }),
            Value::Array(array) => array.iter().enumerate().find_map(|(i, child)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(child, path);
                path.truncate(len);
                found
            }),
            _ => None,
        }
    }
    let tree = Value::try_from(value)
        .unwrap_or_else(|e| panic!("{what}: an accepted value cannot be represented: {e}"));
    if let Some(field) = walk(&tree, &mut String::new()) {
        panic!("{what}: validation accepted a non-finite number: {field}");
    }
}

/// Units in the last place between two finite floats of the same sign (`u64::MAX` otherwise).
fn ulps_apart(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    if !a.is_finite() || !b.is_finite() || a.is_sign_negative() != b.is_sign_negative() {
        return u64::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

/// The path and values of the first difference beyond the JSON float tolerance.
fn first_difference(a: &Value, b: &Value, path: &mut String) -> Option<String> {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (ulps_apart(*x, *y) > JSON_FLOAT_ULPS).then(|| format!("`{path}`: {x:?} became {y:?}"))
        }
        (Value::Table(x), Value::Table(y)) => {
            if x.len() != y.len() || x.keys().zip(y.keys()).any(|(k, l)| k != l) {
                return Some(format!("`{path}`: keys differ"));
            }
            x.iter().zip(y.values()).find_map(|((key, xv), yv)| {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                let found = first_difference(xv, yv, path);
                path.truncate(len);
                found
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("`{path}`: lengths {} and {}", x.len(), y.len()));
            }
            x.iter().zip(y).enumerate().find_map(|(i, (xv, yv))| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = first_difference(xv, yv, path);
                path.truncate(len);
                found
            })
        }
        (x, y) => (x != y).then(|| format!("`{path}`: {x} became {y}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_float_drift_of_one_ulp_is_tolerated_and_more_is_not() {
        let x = 0.22727272727272727_f64;
        let next = f64::from_bits(x.to_bits() + 1);
        let far = f64::from_bits(x.to_bits() + 100);
        let tree = |v: f64| {
            let mut table = toml::Table::new();
            table.insert("w".to_owned(), Value::Array(vec![Value::Float(v)]));
            Value::Table(table)
        };
        let (a, b, c) = (tree(x), tree(next), tree(far));
        assert_eq!(first_difference(&a, &b, &mut String::new()), None);
        assert!(first_difference(&a, &c, &mut String::new()).is_some());
        assert_eq!(ulps_apart(f64::NAN, f64::NAN), u64::MAX);
    }
}
