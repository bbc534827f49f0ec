//! Randomised scenario fields: a number written as `{ min = .., max = .. }`, drawn per seed.

use std::fmt;

/// The ranges of a scenario file and the values drawn for one instance of it.
#[derive(Clone, Default)]
pub struct Sampling {
    values: Vec<(String, Sampled)>,
}

impl Sampling {
    /// The values drawn, as (field path, value), in file order.
    pub fn values(&self) -> &[(String, Sampled)] {
        &self.values
    }
}

impl fmt::Debug for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// A value drawn from a range: an integer when both bounds are integers, else a float.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Sampled {
    /// From a range with integer bounds.
    Integer(i64),
    /// From a range with a float bound.
    Float(f64),
}
