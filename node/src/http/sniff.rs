//! What media a blob holds, told by its first bytes rather than by what
//! a client claims: an upload is stored, and later served, with the type
//! its bytes show, so a page posted as a "photo" is never served as HTML.

/// The media type of JPEG, PNG and WebP bytes, from their magic numbers.
pub fn sniff_image(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The media type of the audio formats phones record, from their magic
/// numbers: WebM (Chrome, Firefox), Ogg, MP4/AAC (Safari), WAV, AMR, MP3.
pub fn sniff_audio(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("audio/webm")
    } else if b.starts_with(b"OggS") {
        Some("audio/ogg")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        Some("audio/mp4")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if b.starts_with(b"#!AMR") {
        Some("audio/amr")
    } else if b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xff && b[1] & 0xe0 == 0xe0) {
        Some("audio/mpeg")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_told_by_its_magic_numbers() {
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_image(b"RIFF....WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"%PDF-1.7"), None);
        assert_eq!(
            sniff_audio(&[0x1a, 0x45, 0xdf, 0xa3, 1]),
            Some("audio/webm")
        );
        assert_eq!(sniff_audio(b"OggS\0\x02"), Some("audio/ogg"));
        assert_eq!(sniff_audio(b"\0\0\0\x20ftypM4A "), Some("audio/mp4"));
        assert_eq!(sniff_audio(b"<html><script>"), None);
    }
}
