//! How a frame's body travels: as is, or deflated (RFC 1951) with its length
//! declared up front. See `docs/protocol.md`, "Wire format".
//!
//! Why deflate: the changes a community sends after an outage are Automerge
//! change chunks one after another, each repeating its actor, its dependency
//! layout and most of its keys. Deflate takes 1,000 reports' changes from
//! 445 KB to 68 KB (the delta bench), which on a 4G uplink is seconds. Why
//! the declared length: the receiver charges a peer's traffic budget with
//! what a frame will cost it to decode, not with the few bytes a bomb takes
//! on the wire, and it can refuse a frame before inflating any of it.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use super::event::Refusal;

/// The body follows as is.
pub(crate) const PLAIN: u8 = 0;
/// `varint(body length) ++ deflate(body)` follows.
pub(crate) const DEFLATED: u8 = 1;

/// Bodies shorter than this are sent as they are: a summary or an
/// announcement gains a few bytes at most, for a compressor's setup each.
pub const DEFLATE_FROM_BYTES: usize = 512;

/// Deflated bodies are kept only when they save at least this share of the
/// body (1/8): an already compressed document gains less than that and is
/// cheaper for the receiver to take as is.
const SAVING_MIN_DIVISOR: usize = 8;

/// The body deflated, if that is worth sending instead: long enough to try
/// and at least an eighth smaller.
pub(crate) fn deflate(body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < DEFLATE_FROM_BYTES {
        return None;
    }
    let mut encoder =
        DeflateEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    // Writing into a Vec cannot fail; if it somehow did, the body goes plain.
    encoder.write_all(body).ok()?;
    let deflated = encoder.finish().ok()?;
    (deflated.len() <= body.len() - body.len() / SAVING_MIN_DIVISOR).then_some(deflated)
}

/// Inflates `deflated` into exactly `declared` bytes, reading no further
/// than one byte past them: a stream that yields more or fewer, or is not
/// deflate at all, is refused as malformed. `declared` must already have
/// been checked against the message limit.
pub(crate) fn inflate(deflated: &[u8], declared: usize) -> Result<Vec<u8>, Refusal> {
    // Room for exactly what is declared and the one byte that would show a
    // longer stream, so the buffer never doubles past the declared length.
    // A liar's frame costs at most that, which its sender was charged for
    // (`wire::charged_len`) and which `MESSAGE_BYTES_MAX` bounds.
    let mut body = Vec::new();
    body.try_reserve_exact(declared + 1)
        .map_err(|e| Refusal::Malformed {
            why: format!("no room for a deflated body of {declared} bytes: {e}"),
        })?;
    let mut decoder = DeflateDecoder::new(deflated);
    let read = decoder
        .by_ref()
        .take(declared as u64 + 1)
        .read_to_end(&mut body);
    let trailing = deflated.len() as u64 - decoder.total_in().min(deflated.len() as u64);
    match read {
        Err(e) => Err(Refusal::Malformed {
            why: format!("deflated body does not inflate: {e}"),
        }),
        Ok(n) if n != declared => Err(Refusal::Malformed {
            why: if n > declared {
                format!("deflated body inflates past the {declared} bytes it declared")
            } else {
                format!("deflated body inflates to {n} bytes, not the {declared} it declared")
            },
        }),
        Ok(_) if trailing > 0 => Err(Refusal::Malformed {
            why: format!("{trailing} bytes after the deflated body"),
        }),
        Ok(_) => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repetitive(len: usize) -> Vec<u8> {
        b"guandu/yiliu/xinyazhou/reports/2026-11 "
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn short_or_incompressible_bodies_stay_plain() {
        assert!(deflate(&repetitive(DEFLATE_FROM_BYTES - 1)).is_none());
        // Bytes that look random: BLAKE3 output in counter mode.
        let mut noise = vec![0u8; 64 * 1024];
        blake3::Hasher::new()
            .update(b"noise")
            .finalize_xof()
            .fill(&mut noise);
        assert!(deflate(&noise).is_none());
    }

    #[test]
    fn a_deflated_body_inflates_to_itself() {
        let body = repetitive(100_000);
        let z = deflate(&body).expect("repetitive text deflates");
        assert!(z.len() * 10 < body.len(), "{} bytes", z.len());
        assert_eq!(inflate(&z, body.len()).unwrap(), body);
    }

    #[test]
    fn a_stream_longer_or_shorter_than_declared_is_refused() {
        let body = repetitive(100_000);
        let z = deflate(&body).unwrap();
        for declared in [0, 99_999, 100_001, 1_000_000] {
            assert!(
                matches!(inflate(&z, declared), Err(Refusal::Malformed { .. })),
                "declared {declared}"
            );
        }
    }

    #[test]
    fn bytes_after_the_deflated_stream_are_refused() {
        let mut z = deflate(&repetitive(10_000)).unwrap();
        z.push(0);
        assert!(matches!(
            inflate(&z, 10_000),
            Err(Refusal::Malformed { .. })
        ));
    }

    #[test]
    fn bytes_that_are_not_deflate_are_refused() {
        let z = deflate(&repetitive(10_000)).unwrap();
        for cut in [0, 1, z.len() / 2, z.len() - 1] {
            assert!(inflate(&z[..cut], 10_000).is_err(), "cut at {cut}");
        }
        assert!(inflate(&[0xff; 64], 10_000).is_err());
    }
}
