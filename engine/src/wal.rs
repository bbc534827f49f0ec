//! Reading RocksDB's serialized write batches, as the WAL holds them, for point-in-time
//! refills ([`crate::checkpoints`]).
//!
//! The format (RocksDB `db/write_batch.cc`): a 12-byte header — the first sequence number
//! (fixed64, little-endian) and the record count (fixed32) — then the records, each a type
//! byte, for the column-family variants a varint32 column-family id, and length-prefixed
//! (varint32) key and value slices. Every counted record takes one sequence number, in order.
//! Only the record types lsmedic's writes produce are decoded; any other type in a batch
//! makes the batch undecodable, so a replay that meets it gives up instead of guessing.

use std::fmt;

/// Size of a batch's header.
const HEADER: usize = 12;

const DELETION: u8 = 0x0;
const VALUE: u8 = 0x1;
const LOG_DATA: u8 = 0x3;
const CF_DELETION: u8 = 0x4;
const CF_VALUE: u8 = 0x5;
const SINGLE_DELETION: u8 = 0x7;
const CF_SINGLE_DELETION: u8 = 0x8;
const NOOP: u8 = 0xD;
const CF_RANGE_DELETION: u8 = 0xE;
const RANGE_DELETION: u8 = 0xF;

/// One write of a batch, with the sequence number it was applied at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) seq: u64,
    /// RocksDB's column-family id (0: the default column family).
    pub(crate) cf: u32,
    pub(crate) op: RecordOp<'a>,
}

/// What a record does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RecordOp<'a> {
    Put(&'a [u8], &'a [u8]),
    /// A delete or single delete.
    Delete(&'a [u8]),
    /// Deletes `[from, to)`.
    DeleteRange(&'a [u8], &'a [u8]),
}

/// Why a batch cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable WAL batch: {}", self.0)
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(message.into()))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| DecodeError("truncated record".into()))?;
        self.rest = rest;
        Ok(first)
    }

    fn varint32(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.byte()?;
            let bits = u32::from(byte & 0x7f);
            if shift == 28 && bits > 0x0f {
                return fail("varint32 overflows");
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        fail("varint32 longer than 5 bytes")
    }

    fn slice(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint32()? as usize;
        if len > self.rest.len() {
            return fail(format!(
                "slice of {len} bytes with {} left",
                self.rest.len()
            ));
        }
        let (slice, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(slice)
    }
}

/// The first sequence number and record count in a batch's header.
pub(crate) fn header(data: &[u8]) -> Result<(u64, u32), DecodeError> {
    if data.len() < HEADER {
        return fail(format!("{} bytes, shorter than the header", data.len()));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&data[..8]);
    let mut count = [0u8; 4];
    count.copy_from_slice(&data[8..HEADER]);
    Ok((u64::from_le_bytes(seq), u32::from_le_bytes(count)))
}

/// Every counted record of a batch with its sequence number; fails on a type lsmedic never
/// writes (merge, blob index, transactions, wide columns, timestamps) or a malformed batch.
pub(crate) fn decode(data: &[u8]) -> Result<Vec<Record<'_>>, DecodeError> {
    let (first_seq, count) = header(data)?;
    let mut reader = Reader {
        rest: &data[HEADER..],
    };
    let mut records = Vec::with_capacity(count.min(4096) as usize);
    while !reader.rest.is_empty() {
        let tag = reader.byte()?;
        let cf = match tag {
            CF_VALUE | CF_DELETION | CF_SINGLE_DELETION | CF_RANGE_DELETION => reader.varint32()?,
            _ => 0,
        };
        let op = match tag {
            VALUE | CF_VALUE => {
                let key = reader.slice()?;
                RecordOp::Put(key, reader.slice()?)
            }
            DELETION | CF_DELETION | SINGLE_DELETION | CF_SINGLE_DELETION => {
                RecordOp::Delete(reader.slice()?)
            }
            RANGE_DELETION | CF_RANGE_DELETION => {
                let from = reader.slice()?;
                RecordOp::DeleteRange(from, reader.slice()?)
            }
            LOG_DATA => {
                reader.slice()?;
                continue;
            }
            NOOP => continue,
            other => return fail(format!("record type {other:#04x}")),
        };
        let seq = first_seq
            .checked_add(records.len() as u64)
            .ok_or_else(|| DecodeError("sequence number overflows".into()))?;
        records.push(Record { seq, cf, op });
    }
    if records.len() != count as usize {
        return fail(format!(
            "header counts {count} records, the batch holds {}",
            records.len()
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes through RocksDB itself, so the decoder is checked against the real format.
    fn rocksdb_batch(build: impl FnOnce(&mut rocksdb::WriteBatch, &rocksdb::DB)) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&opts, dir.path(), ["default", "one", "two"]).unwrap();
        let mut batch = rocksdb::WriteBatch::default();
        build(&mut batch, &db);
        batch.data().to_vec()
    }

    #[test]
    fn decodes_what_rocksdb_writes() {
        let data = rocksdb_batch(|batch, db| {
            let two = db.cf_handle("two").unwrap();
            batch.put(b"a", b"1");
            batch.put_cf(&two, b"b", b"22");
            batch.delete_cf(&two, b"c");
            batch.delete(b"d");
            batch.put_log_data(b"ignored");
            batch.delete_range_cf(&two, b"e", b"f");
            batch.delete_range(b"g", b"h");
        });
        let records = decode(&data).unwrap();
        let ops: Vec<_> = records.iter().map(|r| (r.cf, r.op.clone())).collect();
        assert_eq!(
            ops,
            vec![
                (0, RecordOp::Put(b"a", b"1")),
                (2, RecordOp::Put(b"b", b"22")),
                (2, RecordOp::Delete(b"c")),
                (0, RecordOp::Delete(b"d")),
                (2, RecordOp::DeleteRange(b"e", b"f")),
                (0, RecordOp::DeleteRange(b"g", b"h")),
            ]
        );
        // An unsequenced batch starts at 0; each counted record takes the next number.
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn merges_and_malformed_batches_are_refused() {
        let mut merge = vec![0u8; 8];
        merge.extend_from_slice(&1u32.to_le_bytes());
        merge.extend_from_slice(&[0x2, 1, b'k', 1, b'v']);
        assert!(decode(&merge).unwrap_err().to_string().contains("0x02"));
        let mut short = vec![0u8; 8];
        short.extend_from_slice(&1u32.to_le_bytes());
        short.extend_from_slice(&[VALUE, 5, b'k']);
        assert!(decode(&short).is_err());
        let mut miscounted = vec![0u8; 8];
        miscounted.extend_from_slice(&2u32.to_le_bytes());
        miscounted.extend_from_slice(&[VALUE, 1, b'k', 1, b'v']);
        assert!(decode(&miscounted).is_err());
        assert!(decode(&[0; 5]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(0u8.., 0..64)) {
            let _ = decode(&data);
        }
    }
}
