//! A small photo for the demo's first report, drawn here rather than shipped:
//! a 48 × 48 PNG of a raised manhole cover on asphalt, written with stored
//! (uncompressed) deflate blocks so it needs no image library.

/// Side of the picture in pixels.
const SIDE: u32 = 48;

/// The PNG bytes of the picture.
pub(super) fn manhole_cover_png() -> Vec<u8> {
    let mut raw = Vec::with_capacity(((SIDE * 3 + 1) * SIDE) as usize);
    let c = (SIDE as f64 - 1.0) / 2.0;
    for y in 0..SIDE {
        raw.push(0); // filter: none
        for x in 0..SIDE {
            let (dx, dy) = (x as f64 - c, y as f64 - c);
            let r = (dx * dx + dy * dy).sqrt();
            // Asphalt with a little grain, an iron disc with a bright rim
            // where it sticks up, and a cross-hatch on the disc.
            let grain = ((x * 7 + y * 13) % 5) as u8 * 4;
            let px = if r <= 15.0 && (x % 6 == 0 || y % 6 == 0) {
                [46, 44, 42]
            } else if r <= 15.0 {
                [70, 66, 62]
            } else if r <= 18.0 && dy < 0.0 {
                [200, 190, 160]
            } else if r <= 18.0 {
                [35, 33, 31]
            } else {
                [100 + grain, 100 + grain, 104 + grain]
            };
            raw.extend_from_slice(&px);
        }
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(0xffff).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn the_photo_is_a_png() {
        let png = manhole_cover_png();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]), "IEND's CRC");
    }
}
