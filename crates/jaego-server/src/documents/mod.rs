//! Printed output: barcodes, labels and documents, as SVG and PDF.
//!
//! Like JSON, these are output formats of the HTTP edge, so they live
//! here; the rules of what a barcode may carry are `jaego_core::barcode`.
//! Everything is drawn once as a [`Drawing`] (rectangles and lines of
//! text, in millimetres from the top-left corner), and [`svg`] or [`pdf`]
//! writes it, so a label looks the same in both.
//!
//! For a document with a scannable barcode (a packing slip, a pickup
//! receipt):
//!
//! ```
//! use jaego_core::barcode::{Barcode, Symbology};
//! use jaego_server::documents::{Align, BarcodeStyle, Drawing, pdf, svg};
//!
//! let code = Barcode::new(Symbology::Code128, "PU-20260412-0007").unwrap();
//! let mut slip = Drawing::new(210.0, 297.0);
//! slip.text(15.0, 20.0, 16.0, "픽업 접수증 / Pickup receipt", Align::Left);
//! slip.barcode(&code, 15.0, 30.0, 80.0, 18.0, &BarcodeStyle::default())
//!     .expect("80 mm is wide enough for this code");
//! let mut doc = pdf::Document::new("Pickup receipt");
//! let mut page = pdf::Page::new(210.0, 297.0);
//! page.draw(&slip, 0.0, 0.0);
//! doc.add_page(page);
//! let bytes = doc.finish(); // application/pdf
//! let image = svg::render(&slip); // or image/svg+xml
//! assert!(bytes.starts_with(b"%PDF-") && image.starts_with("<svg"));
//! ```
//!
//! PDFs embed jaego's Korean font ([`font`]), so they print the same
//! everywhere; SVGs leave text to the viewer's fonts.

pub mod barcode;
pub mod draw;
pub mod font;
pub mod label;
pub mod pdf;
pub mod receipt;
pub mod shipping;
pub mod svg;

pub use barcode::{BarcodeStyle, TooDense};
pub use draw::{Align, Drawing, Shape};
pub use svg::{BarcodeSvgOptions, barcode_svg};
