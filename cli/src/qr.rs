//! QR codes of a certificate's compact `yzc1.` text: a PNG for printing and
//! a block-character rendering for the terminal. A real certificate (two
//! admissions, a display name of a few characters) is about 740 characters,
//! well inside what one code holds in byte mode (2,331 bytes at version 40
//! and level M; 2,953 at level L). The PNG, which may be printed and
//! scuffed, uses level M (a code survives 15 % damage) and falls back to L
//! only when M cannot hold the text; the terminal, a clean screen, uses L,
//! which keeps the code as narrow as it can be (version 19, 101 columns with
//! its quiet zone, for a typical certificate). A text too long for level L
//! is refused with its size.

use anyhow::{Context as _, bail};
use image::{ImageFormat, Luma};
use qrcode::{EcLevel, QrCode};

/// Pixels per module in the PNG: about 3 cm for a version-25 code at 300 dpi.
const PNG_MODULE_PX: u32 = 4;
/// Quiet zone around the code, in modules (the standard asks for 4).
const QUIET_MODULES: u32 = 4;

fn encode(text: &str, level: EcLevel) -> anyhow::Result<QrCode> {
    QrCode::with_error_correction_level(text.as_bytes(), level)
        .or_else(|_| QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L))
        .or_else(|e| {
            bail!(
                "the compact certificate has {} bytes, more than one QR code holds: {e}",
                text.len()
            )
        })
}

/// The QR code of `text` as PNG bytes.
pub fn png(text: &str) -> anyhow::Result<Vec<u8>> {
    let code = encode(text, EcLevel::M)?;
    let width = code.width() as u32;
    let side = (width + 2 * QUIET_MODULES) * PNG_MODULE_PX;
    let colors = code.to_colors();
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let mx = (x / PNG_MODULE_PX).checked_sub(QUIET_MODULES);
        let my = (y / PNG_MODULE_PX).checked_sub(QUIET_MODULES);
        let dark = match (mx, my) {
            (Some(mx), Some(my)) if mx < width && my < width => {
                colors[(my * width + mx) as usize] == qrcode::Color::Dark
            }
            _ => false,
        };
        Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .context("cannot encode the QR code as PNG")?;
    Ok(out.into_inner())
}

/// The QR code of `text` in half-block characters, two modules a character
/// cell, light on dark terminals and dark ones alike (it draws both colours).
pub fn terminal(text: &str) -> anyhow::Result<String> {
    let code = encode(text, EcLevel::L)?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}
