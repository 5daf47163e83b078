//! Builds valid RecordBatch v2 bytes by hand for tests (uncompressed, CRC32C), without the
//! protocol crate's builder.

/// One test batch: a record per timestamp, each with `value` as its value.
#[derive(Debug, Clone)]
pub(crate) struct TestBatch {
    /// Record timestamps (CreateTime); the batch's max timestamp is their maximum.
    pub(crate) timestamps: Vec<i64>,
    /// Value of every record.
    pub(crate) value: Vec<u8>,
    /// Marks the batch LogAppendTime with this max timestamp.
    pub(crate) log_append_time: Option<i64>,
}

impl TestBatch {
    /// A batch of `count` records all stamped `ts`, with values of `value_len` bytes.
    pub(crate) fn new(count: usize, ts: i64, value_len: usize) -> Self {
        Self {
            timestamps: vec![ts; count],
            value: vec![0xab; value_len],
            log_append_time: None,
        }
    }

    /// The encoded batch with base offset `base_offset`.
    pub(crate) fn encode(&self, base_offset: i64) -> Vec<u8> {
        let base_ts = self.timestamps.first().copied().unwrap_or(-1);
        let mut records = Vec::new();
        for (i, ts) in self.timestamps.iter().enumerate() {
            let mut body = Vec::new();
            body.push(0u8); // attributes
            put_varlong(&mut body, ts - base_ts);
            put_varlong(&mut body, i as i64);
            put_varlong(&mut body, -1); // null key
            put_varlong(&mut body, self.value.len() as i64);
            body.extend_from_slice(&self.value);
            put_varlong(&mut body, 0); // no headers
            put_varlong(&mut records, body.len() as i64);
            records.extend_from_slice(&body);
        }
        let count = self.timestamps.len() as i32;
        let mut max_ts = self.timestamps.iter().copied().max().unwrap_or(-1);
        let mut attributes: i16 = 0;
        if let Some(t) = self.log_append_time {
            attributes |= 0x08;
            max_ts = t;
        }
        let mut after_crc = Vec::new();
        after_crc.extend_from_slice(&attributes.to_be_bytes());
        after_crc.extend_from_slice(&(count - 1).max(0).to_be_bytes()); // last offset delta
        after_crc.extend_from_slice(&base_ts.to_be_bytes());
        after_crc.extend_from_slice(&max_ts.to_be_bytes());
        after_crc.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        after_crc.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        after_crc.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        after_crc.extend_from_slice(&count.to_be_bytes());
        after_crc.extend_from_slice(&records);
        let crc = crc32c::crc32c(&after_crc);
        let batch_length = (4 + 1 + 4 + after_crc.len()) as i32;
        let mut out = Vec::with_capacity(12 + batch_length as usize);
        out.extend_from_slice(&base_offset.to_be_bytes());
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        out.push(2); // magic
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&after_crc);
        out
    }
}

/// Shorthand: an encoded batch of `count` records at `ts` with `value_len`-byte values.
pub(crate) fn batch(count: usize, ts: i64, value_len: usize) -> Vec<u8> {
    TestBatch::new(count, ts, value_len).encode(0)
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}
