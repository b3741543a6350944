//! Reading printed barcodes back, as a scanner would: our SVG and PDF
//! output is rasterised by an independent renderer (resvg for SVG,
//! poppler's `pdftoppm` for PDF) and the pixels are decoded by rxing, a
//! port of the ZXing barcode reader.
//!
//! `pdftoppm` is a system tool (Debian's poppler-utils, which `.ci/run`
//! installs). Without it a PDF check says on standard error that it was
//! skipped, unless `CI` is set, where a missing tool is a failure.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use resvg::{tiny_skia, usvg};
use rxing::{BarcodeFormat, DecodeHints};

/// A greyscale image, one byte a pixel, rows top to bottom.
#[derive(Clone)]
pub struct Gray {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Gray {
    /// The part of the image at (`x`, `y`), `w` × `h` pixels, clipped.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Gray {
        let w = w.min(self.width.saturating_sub(x));
        let h = h.min(self.height.saturating_sub(y));
        let mut pixels = Vec::with_capacity((w * h) as usize);
        for row in y..y + h {
            let start = (row * self.width + x) as usize;
            pixels.extend_from_slice(&self.pixels[start..start + w as usize]);
        }
        Gray {
            width: w,
            height: h,
            pixels,
        }
    }

    /// The part of the image in millimetres, at `dpi`.
    pub fn crop_mm(&self, dpi: f32, x: f32, y: f32, w: f32, h: f32) -> Gray {
        let px = |mm: f32| (mm / 25.4 * dpi).round() as u32;
        self.crop(px(x), px(y), px(w), px(h))
    }

    /// Whether any pixel is darker than mid-grey.
    pub fn has_ink(&self) -> bool {
        self.pixels.iter().any(|&p| p < 128)
    }
}

/// Decodes the one barcode of `format` in `image`, trying hard.
pub fn decode(image: &Gray, format: BarcodeFormat) -> Result<String, String> {
    let mut hints = DecodeHints {
        TryHarder: Some(true),
        ..DecodeHints::default()
    };
    rxing::helpers::detect_in_luma_with_hints(
        image.pixels.clone(),
        image.width,
        image.height,
        Some(format),
        &mut hints,
    )
    .map(|r| r.getText().to_string())
    .map_err(|e| e.to_string())
}

/// Renders an SVG document at `dpi` (its size is in millimetres) on white.
pub fn rasterise_svg(svg: &str, dpi: f32) -> Gray {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).expect("our SVG parses");
    // usvg sizes millimetres at 96 dpi.
    let scale = dpi / 96.0;
    let size = tree.size();
    let width = (size.width() * scale).ceil() as u32;
    let height = (size.height() * scale).ceil() as u32;
    let mut pixmap = tiny_skia::Pixmap::new(width, height).expect("a non-empty image");
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let pixels = pixmap
        .data()
        .chunks_exact(4)
        .map(|p| ((u32::from(p[0]) * 3 + u32::from(p[1]) * 6 + u32::from(p[2])) / 10) as u8)
        .collect();
    Gray {
        width,
        height,
        pixels,
    }
}

/// Whether poppler's tools are here. Without them a caller skips its PDF
/// checks, saying so; under CI their absence fails the test instead.
pub fn have_poppler(test: &str) -> bool {
    let found = Command::new("pdftoppm").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: pdftoppm is missing under CI; .ci/run installs poppler-utils"
        );
        eprintln!(
            "SKIPPED PDF rasterisation: {test} (pdftoppm is not installed; apt-get install -y poppler-utils)"
        );
    }
    found
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "jaego-scan-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every page of `pdf` rendered in grey at `dpi` by `pdftoppm`.
pub fn rasterise_pdf(pdf: &[u8], dpi: u32) -> Vec<Gray> {
    let scratch = Scratch::new();
    let input = scratch.0.join("in.pdf");
    std::fs::write(&input, pdf).expect("write the PDF");
    let out = Command::new("pdftoppm")
        .args(["-gray", "-r", &dpi.to_string()])
        .arg(&input)
        .arg(scratch.0.join("page"))
        .output()
        .expect("run pdftoppm");
    assert!(
        out.status.success(),
        "pdftoppm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&scratch.0)
        .expect("read the scratch directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    // page-1.pgm, page-2.pgm, … (zero-padded to the page count's width).
    files.sort();
    files
        .iter()
        .map(|p| parse_pgm(&std::fs::read(p).expect("read a page")))
        .collect()
}

/// The text `pdftotext` extracts from `pdf` (through its `ToUnicode` map).
pub fn pdf_text(pdf: &[u8]) -> String {
    poppler_tool("pdftotext", pdf, &["-layout"], true)
}

/// `pdffonts`' table of the fonts in `pdf` (name, type, embedded, …).
pub fn pdf_fonts(pdf: &[u8]) -> String {
    poppler_tool("pdffonts", pdf, &[], false)
}

fn poppler_tool(tool: &str, pdf: &[u8], args: &[&str], to_stdout: bool) -> String {
    let scratch = Scratch::new();
    let input = scratch.0.join("in.pdf");
    std::fs::write(&input, pdf).expect("write the PDF");
    let mut command = Command::new(tool);
    command.args(args).arg(&input);
    if to_stdout {
        command.arg("-");
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A binary PGM (`P5`, 8-bit) as `pdftoppm -gray` writes it.
fn parse_pgm(data: &[u8]) -> Gray {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while data[i].is_ascii_whitespace() {
            i += 1;
        }
        if data[i] == b'#' {
            while data[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !data[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(
            std::str::from_utf8(&data[start..i])
                .expect("a PGM header")
                .to_string(),
        );
    }
    assert_eq!(fields[0], "P5", "not a binary PGM");
    assert_eq!(fields[3], "255", "not an 8-bit PGM");
    let width: u32 = fields[1].parse().expect("width");
    let height: u32 = fields[2].parse().expect("height");
    let pixels = data[i + 1..].to_vec();
    assert_eq!(pixels.len(), (width * height) as usize, "PGM size");
    Gray {
        width,
        height,
        pixels,
    }
}
