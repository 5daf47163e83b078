//! Compression codecs for a batch's records section, with bounded decompression.
//!
//! Every decoder stops with [`BatchError::OutputTooLarge`] once its output would pass the
//! caller's limit, so a small compressed batch can never make us allocate gigabytes.
//! Formats are the ones Kafka clients send:
//!
//! - gzip: RFC 1952 (several members are decoded one after another, as Java does);
//! - snappy: either raw snappy (librdkafka) or the xerial framing of snappy-java (an
//!   8-byte magic, version and compat ints, then `[i32 length][raw block]`), told apart by
//!   the magic; we write the xerial framing, as the Java client does;
//! - lz4: the LZ4 frame format (64 KiB independent blocks when writing, as Java does);
//! - zstd: a zstd frame, decoded as a stream.

use std::io::{self, Read, Write};

use super::batch::{BatchError, Compression};

/// The first 8 bytes of a snappy-java (xerial) framed stream.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic, version and compat fields of the xerial header.
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block we write (snappy-java's default).
const XERIAL_BLOCK: usize = 32 * 1024;
/// zstd level Kafka uses by default.
const ZSTD_LEVEL: i32 = 3;
/// Largest initial reservation for a decoder's output before any byte is decoded.
const INITIAL_RESERVE: usize = 1 << 20;

/// Decompresses `input` with `codec`, refusing to produce more than `max_output` bytes.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, BatchError> {
    // Compressed records usually expand 2-4x; reserve that much, within the limit.
    let hint = input.len().saturating_mul(4).min(INITIAL_RESERVE);
    match codec {
        Compression::None => {
            if input.len() > max_output {
                return Err(BatchError::OutputTooLarge { limit: max_output });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_bounded(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            max_output,
            hint,
        ),
        Compression::Snappy => {
            if input.starts_with(&XERIAL_MAGIC) {
                xerial_decompress(input, max_output)
            } else {
                snappy_raw_decompress(input, max_output)
            }
        }
        Compression::Lz4 => read_bounded(
            codec,
            lz4_flex::frame::FrameDecoder::new(input),
            max_output,
            hint,
        ),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| codec_error(codec, &e))?;
            read_bounded(codec, decoder, max_output, hint)
        }
    }
}

/// Appends `input` compressed with `codec` to `out`.
pub fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    let built = |e: io::Error| BatchError::Build(format!("{codec:?} compression: {e}"));
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            enc.write_all(input).map_err(built)?;
            enc.finish().map_err(built)?;
        }
        Compression::Snappy => xerial_compress(input, out)?,
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            enc.write_all(input).map_err(built)?;
            enc.finish()
                .map_err(|e| BatchError::Build(format!("Lz4 compression: {e}")))?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(built)?;
            // A known size lets the encoder pick a window no larger than the input, so
            // decoders need less memory; it is also written into the frame header.
            enc.set_pledged_src_size(Some(input.len() as u64))
                .map_err(built)?;
            enc.include_contentsize(true).map_err(built)?;
            enc.write_all(input).map_err(built)?;
            enc.finish().map_err(built)?;
        }
    }
    Ok(())
}

fn codec_error(codec: Compression, e: &dyn std::fmt::Display) -> BatchError {
    BatchError::CorruptRecords(format!("{codec:?} decompression failed: {e}"))
}

/// Reads `reader` to its end, failing once more than `max_output` bytes come out.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    max_output: usize,
    hint: usize,
) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::with_capacity(hint.min(max_output));
    // One byte past the limit tells "exactly at the limit" from "over it".
    let cap = u64::try_from(max_output)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| codec_error(codec, &e))?;
    if out.len() > max_output {
        return Err(BatchError::OutputTooLarge { limit: max_output });
    }
    Ok(out)
}

/// Decodes one raw snappy block, checking its declared length against the bound first.
fn snappy_raw_decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    snappy_block_into(input, &mut out, max_output)?;
    Ok(out)
}

/// Appends the raw snappy block `block` to `out`, keeping `out` within `max_output`.
fn snappy_block_into(block: &[u8], out: &mut Vec<u8>, max_output: usize) -> Result<(), BatchError> {
    let len = snap::raw::decompress_len(block).map_err(|e| codec_error(Compression::Snappy, &e))?;
    let start = out.len();
    if len > max_output.saturating_sub(start) {
        return Err(BatchError::OutputTooLarge { limit: max_output });
    }
    out.resize(start + len, 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    let written = snap::raw::Decoder::new()
        .decompress(block, dst)
        .map_err(|e| codec_error(Compression::Snappy, &e))?;
    if written != len {
        return Err(codec_error(
            Compression::Snappy,
            &"block shorter than declared",
        ));
    }
    Ok(())
}

/// Decodes a snappy-java (xerial) framed stream.
fn xerial_decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, BatchError> {
    let mut rest = input
        .get(XERIAL_HEADER_LEN..)
        .ok_or_else(|| codec_error(Compression::Snappy, &"xerial header truncated"))?;
    let mut out = Vec::with_capacity(rest.len().saturating_mul(2).min(INITIAL_RESERVE));
    while !rest.is_empty() {
        let (len_bytes, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| codec_error(Compression::Snappy, &"xerial block length truncated"))?;
        let len = usize::try_from(i32::from_be_bytes(*len_bytes))
            .map_err(|_| codec_error(Compression::Snappy, &"negative xerial block length"))?;
        let block = after
            .get(..len)
            .ok_or_else(|| codec_error(Compression::Snappy, &"xerial block truncated"))?;
        snappy_block_into(block, &mut out, max_output)?;
        rest = after.get(len..).unwrap_or_default();
    }
    Ok(out)
}

/// Appends `input` to `out` in the xerial framing, 32 KiB of input per block.
fn xerial_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK) {
        let len_at = out.len();
        let max = snap::raw::max_compress_len(chunk.len());
        out.resize(len_at + 4 + max, 0);
        let dst = out.get_mut(len_at + 4..).unwrap_or_default();
        let n = encoder
            .compress(chunk, dst)
            .map_err(|e| BatchError::Build(format!("Snappy compression: {e}")))?;
        out.truncate(len_at + 4 + n);
        let n =
            i32::try_from(n).map_err(|_| BatchError::Build("snappy block too large".to_owned()))?;
        if let Some(slot) = out.get_mut(len_at..len_at + 4) {
            slot.copy_from_slice(&n.to_be_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ (i / 7) as u8).collect()
    }

    #[test]
    fn round_trip_every_codec_and_size() {
        for codec in CODECS {
            for len in [0, 1, 100, XERIAL_BLOCK, XERIAL_BLOCK + 1, 200_000] {
                let data = sample(len);
                let mut out = vec![9, 9];
                compress(codec, &data, &mut out).unwrap();
                assert_eq!(&out[..2], &[9, 9], "{codec:?} must append");
                let back = decompress(codec, &out[2..], len).unwrap();
                assert_eq!(back, data, "{codec:?} len {len}");
                if len > 0 {
                    assert_eq!(
                        decompress(codec, &out[2..], len - 1),
                        Err(BatchError::OutputTooLarge { limit: len - 1 }),
                        "{codec:?} len {len} must respect the bound"
                    );
                }
            }
        }
    }

    #[test]
    fn snappy_raw_and_xerial_both_decode() {
        let data = sample(100_000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert!(!raw.starts_with(&XERIAL_MAGIC));
        assert_eq!(
            decompress(Compression::Snappy, &raw, 100_000).unwrap(),
            data
        );
        let mut framed = Vec::new();
        xerial_compress(&data, &mut framed).unwrap();
        assert!(framed.starts_with(&XERIAL_MAGIC));
        assert_eq!(&framed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(
            decompress(Compression::Snappy, &framed, 100_000).unwrap(),
            data
        );
    }

    #[test]
    fn snappy_raw_refuses_declared_length_over_bound_without_decoding() {
        // A varint header claiming 4 GiB - 1, followed by nothing.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(
            decompress(Compression::Snappy, &bomb, 1 << 20),
            Err(BatchError::OutputTooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn xerial_bad_framing_is_an_error() {
        let mut framed = Vec::new();
        xerial_compress(&sample(1000), &mut framed).unwrap();
        for cut in [10, 17, 20, framed.len() - 1] {
            assert!(matches!(
                decompress(Compression::Snappy, &framed[..cut], 1 << 20),
                Err(BatchError::CorruptRecords(_))
            ));
        }
        let mut negative = framed[..16].to_vec();
        negative.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(decompress(Compression::Snappy, &negative, 1 << 20).is_err());
    }

    #[test]
    fn garbage_input_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..300u32).map(|i| (i * 37 % 256) as u8).collect();
        for codec in CODECS.into_iter().skip(1) {
            for cut in 0..junk.len() {
                let _ = decompress(codec, &junk[..cut], 1 << 16);
            }
        }
    }
}
