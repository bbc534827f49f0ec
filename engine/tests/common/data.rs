//! Deterministic test data, free of any crate so that other packages' tests can share it.

/// A deterministic pseudo-random byte string (splitmix64), incompressible enough that SST
/// sizes track the data written.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Key `i` as a fixed-width big-endian string so byte order equals numeric order.
pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:010}").into_bytes()
}
