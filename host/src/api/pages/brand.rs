//! The operator's brand on the customer's pages: a display name, an accent
//! colour and a logo (`--brand-name`, `--brand-color`, `--brand-logo`). The
//! customer sees whom they connect to; the pages still load nothing from
//! elsewhere: the logo is served by the host, the colour is a stylesheet
//! the page policy allows by its hash.

use thiserror::Error;

use crate::manifest::is_hidden_control;

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// The largest logo file.
pub const MAX_LOGO_BYTES: usize = 256 << 10;
/// Where the logo is served.
pub const LOGO_PATH: &str = "/connect-assets/logo";

/// The operator's brand; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Brand {
    /// Whom the customer connects to (`Acme Procurement`).
    pub name: Option<String>,
    /// The accent colour of buttons and links, `#rrggbb`.
    color: Option<String>,
    /// The logo, PNG, JPEG or WebP.
    logo: Option<Logo>,
}

/// A logo file and its media type.
#[derive(Debug, Clone)]
pub struct Logo {
    pub bytes: bytes::Bytes,
    pub media_type: &'static str,
}

/// A brand the host refuses to start with.
#[derive(Debug, Error, PartialEq)]
pub enum BrandError {
    #[error("--brand-name is 1 to {MAX_NAME_CHARS} characters, without control characters")]
    Name,
    #[error("--brand-color is a colour as #rrggbb (such as #0b5cad), not `{0}`")]
    Color(String),
    #[error(
        "--brand-color {color} is too light: white text on it, and it as text on white, would \
         be hard to read (contrast {ratio:.1}:1, at least 4.5:1 needed); pick a darker shade"
    )]
    LowContrast { color: String, ratio: f64 },
    #[error(
        "--brand-logo is a PNG, JPEG or WebP file of at most 256 KiB (not SVG, which can carry \
         scripts)"
    )]
    Logo,
}

impl Brand {
    /// A brand of `name`, `color` (`#rrggbb`) and a logo file's `logo`
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`BrandError`]: a name that is empty, too long or has control
    /// characters; a colour not `#rrggbb`; a logo that is not PNG, JPEG or
    /// WebP, or over [`MAX_LOGO_BYTES`].
    pub fn new(
        name: Option<String>,
        color: Option<String>,
        logo: Option<Vec<u8>>,
    ) -> Result<Brand, BrandError> {
        if let Some(name) = &name {
            let chars = name.chars().count();
            if !(1..=MAX_NAME_CHARS).contains(&chars) || name.chars().any(is_hidden_control) {
                return Err(BrandError::Name);
            }
        }
        if let Some(color) = &color {
            let hex = color.strip_prefix('#').unwrap_or_default();
            if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(BrandError::Color(color.clone()));
            }
            let ratio = contrast_with_white(hex);
            if ratio < 4.5 {
                return Err(BrandError::LowContrast {
                    color: color.clone(),
                    ratio,
                });
            }
        }
        let logo = logo
            .map(|bytes| {
                let media_type = media_type(&bytes).ok_or(BrandError::Logo)?;
                if bytes.len() > MAX_LOGO_BYTES {
                    return Err(BrandError::Logo);
                }
                Ok(Logo {
                    bytes: bytes.into(),
                    media_type,
                })
            })
            .transpose()?;
        Ok(Brand {
            name,
            color: color.map(|c| c.to_ascii_lowercase()),
            logo,
        })
    }

    /// The stylesheet that sets the accent colour, if one is given.
    pub fn style(&self) -> Option<String> {
        self.color
            .as_ref()
            .map(|color| format!(":root {{ --accent: {color}; }}"))
    }

    pub fn logo(&self) -> Option<&Logo> {
        self.logo.as_ref()
    }
}

/// The contrast ratio of the colour `hex` (`rrggbb`) with white, as WCAG
/// 2 defines it: the page shows white text on the accent (buttons) and the
/// accent on white (links).
fn contrast_with_white(hex: &str) -> f64 {
    let channel = |i: usize| {
        let value = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if value <= 0.04045 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    1.05 / (luminance + 0.05)
}

/// The media type of an image file by its first bytes: PNG, JPEG or WebP.
fn media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brand_is_checked_before_the_host_starts() {
        let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
        let brand = Brand::new(Some("Acme".into()), Some("#0B5CAD".into()), Some(png)).unwrap();
        assert_eq!(brand.style().unwrap(), ":root { --accent: #0b5cad; }");
        assert_eq!(brand.logo().unwrap().media_type, "image/png");
        assert_eq!(
            Brand::new(Some(String::new()), None, None).unwrap_err(),
            BrandError::Name
        );
        assert_eq!(
            Brand::new(None, Some("red; } body { x".into()), None).unwrap_err(),
            BrandError::Color("red; } body { x".into())
        );
        assert!(matches!(
            Brand::new(None, Some("#ffd700".into()), None),
            Err(BrandError::LowContrast { .. })
        ));
        assert!(Brand::new(Some("Acme\u{202E}".into()), None, None).is_err());
        let svg = b"<svg onload=alert(1)>".to_vec();
        assert_eq!(
            Brand::new(None, None, Some(svg)).unwrap_err(),
            BrandError::Logo
        );
        let big = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0; MAX_LOGO_BYTES]].concat();
        assert_eq!(
            Brand::new(None, None, Some(big)).unwrap_err(),
            BrandError::Logo
        );
    }
}
