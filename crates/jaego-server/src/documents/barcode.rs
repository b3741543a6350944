//! Bars: a checked [`Barcode`] turned into modules (the narrowest bar or
//! space) and laid out in a box with its quiet zones and its text.
//!
//! The bar patterns come from the `barcoders` crate. What it leaves to its
//! caller is written here: choosing Code 128's code sets (B for text, C
//! for runs of digits, which packs two digits in one symbol), the quiet
//! zones, sizing the modules to the box, and the human-readable text.

use std::fmt;

use barcoders::sym::code128::Code128;
use barcoders::sym::ean13::EAN13;
use jaego_core::barcode::{Barcode, Symbology};
use jaego_core::limits::BARCODE_MODULE_UM_MIN;

use super::draw::{Align, Shape};
use super::font::MM_PER_PT;

/// Widest module drawn, in millimetres: twice EAN-13's nominal 0.33 mm,
/// the largest size GS1 allows. A short code in a wide box stays this wide
/// and is centred, instead of growing bars a scanner cannot take in.
const MODULE_MM_MAX: f32 = 0.66;

/// Light margin a scanner needs on each side, in modules (ISO/IEC 15417
/// for Code 128; GS1 for EAN-13, whose right zone is narrower).
fn quiet_zones(symbology: Symbology) -> (u32, u32) {
    match symbology {
        Symbology::Code128 => (10, 10),
        Symbology::Ean13 => (11, 7),
    }
}

/// How a barcode is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarcodeStyle {
    /// Print the code in text beneath the bars.
    pub human_readable: bool,
}

impl Default for BarcodeStyle {
    fn default() -> Self {
        BarcodeStyle {
            human_readable: true,
        }
    }
}

/// The box is too narrow for the code: each module would be thinner than
/// [`BARCODE_MODULE_UM_MIN`] allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TooDense {
    /// Modules across, quiet zones included.
    pub modules: u32,
    /// The box's width.
    pub width_mm: f32,
}

impl TooDense {
    /// The narrowest box that would take the code.
    pub fn width_needed_mm(&self) -> f32 {
        self.modules as f32 * BARCODE_MODULE_UM_MIN as f32 / 1000.0
    }
}

impl fmt::Display for TooDense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the barcode is {} modules wide with its quiet zones; in {:.1} mm each would be {:.3} mm, under the {:.2} mm a label printer can draw (it needs {:.1} mm: use a larger label or a shorter code)",
            self.modules,
            self.width_mm,
            self.width_mm / self.modules as f32,
            BARCODE_MODULE_UM_MIN as f32 / 1000.0,
            self.width_needed_mm(),
        )
    }
}

/// A barcode's modules, dark (`true`) or light, without quiet zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    pub symbology: Symbology,
    pub bars: Vec<bool>,
}

impl Modules {
    /// Modules across, quiet zones included.
    pub fn total(&self) -> u32 {
        let (left, right) = quiet_zones(self.symbology);
        left + self.bars.len() as u32 + right
    }
}

/// The modules of a barcode. A [`Barcode`] is already checked, so the
/// encoder cannot refuse it; if it ever did, that is a bug here, and the
/// panic is answered as a 500 by the server's panic layer.
pub fn modules(code: &Barcode) -> Modules {
    let encoded = match code.symbology() {
        Symbology::Code128 => Code128::new(code128_input(code.data()))
            .expect("a checked Code 128 code encodes")
            .encode(),
        Symbology::Ean13 => EAN13::new(code.data())
            .expect("a checked EAN-13 encodes")
            .encode(),
    };
    Modules {
        symbology: code.symbology(),
        bars: encoded.into_iter().map(|m| m == 1).collect(),
    }
}

/// The input `barcoders` takes for Code 128: the data with code-set
/// markers (`Ɓ` for set B, `Ć` for set C; first one = start symbol). Runs
/// of digits go in set C where that makes the barcode shorter, following
/// ISO/IEC 15417 annex E: start in C if the data begins with 4 or more
/// digits (or is 2 digits), switch to C for a run of 6 or more digits, or
/// 4 or more at the end; an odd run leaves its first digit in B.
pub fn code128_input(data: &str) -> String {
    const SET_B: char = 'Ɓ';
    const SET_C: char = 'Ć';
    let bytes = data.as_bytes();
    let run_at = |i: usize| bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut out = String::with_capacity(data.len() + 4);
    let mut i = 0;
    let first_run = run_at(0);
    let in_c = first_run >= 4 || (first_run == 2 && bytes.len() == 2);
    if in_c {
        out.push(SET_C);
        let even = first_run - first_run % 2;
        out.push_str(&data[..even]);
        i = even;
        if i < bytes.len() {
            out.push(SET_B);
        }
    } else {
        out.push(SET_B);
    }
    while i < bytes.len() {
        let run = run_at(i);
        let at_end = i + run == bytes.len();
        if run >= 6 || (run >= 4 && at_end) {
            if run % 2 == 1 {
                out.push(char::from(bytes[i]));
                i += 1;
            }
            let even = run - run % 2;
            out.push(SET_C);
            out.push_str(&data[i..i + even]);
            i += even;
            if i < bytes.len() {
                out.push(SET_B);
            }
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    out
}

/// The shapes of `code` in the box at (`x`, `y`), `w` × `h` millimetres,
/// quiet zones included. Modules are as wide as the box allows, up to
/// [`MODULE_MM_MAX`]; a narrower code is centred.
pub fn shapes(
    code: &Barcode,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    style: &BarcodeStyle,
) -> Result<Vec<Shape>, TooDense> {
    let m = modules(code);
    let total = m.total();
    let module_min = BARCODE_MODULE_UM_MIN as f32 / 1000.0;
    let fitted = w / total as f32;
    if fitted < module_min {
        return Err(TooDense {
            modules: total,
            width_mm: w,
        });
    }
    let module = fitted.min(MODULE_MM_MAX);
    let (quiet_left, _) = quiet_zones(m.symbology);
    let left = x + (w - module * total as f32) / 2.0 + quiet_left as f32 * module;

    // The text is sized to the modules (as EAN-13's digits are), but never
    // takes more than a third of the height.
    let (text_size_mm, text_block) = if style.human_readable {
        let size = (module * 9.0).clamp(1.6, 4.0).min(h / 3.0 / 1.1);
        (size, size * 1.1)
    } else {
        (0.0, 0.0)
    };
    let bars_bottom = y + h - text_block;
    let baseline = y + h - 0.2 * text_size_mm;
    let size_pt = text_size_mm / MM_PER_PT;

    let mut shapes = Vec::new();
    let guards = guard_modules(m.symbology);
    let mut start = 0;
    while start < m.bars.len() {
        if !m.bars[start] {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < m.bars.len() && m.bars[end] {
            end += 1;
        }
        // EAN-13's guard bars reach down between the digits.
        let long = style.human_readable && guards.iter().any(|g| g.contains(&start));
        let bottom = if long {
            bars_bottom + text_block * 0.5
        } else {
            bars_bottom
        };
        shapes.push(Shape::Rect {
            x: left + start as f32 * module,
            y,
            w: (end - start) as f32 * module,
            h: bottom - y,
        });
        start = end;
    }

    if style.human_readable {
        let text = |x: f32, text: &str, align: Align| Shape::Text {
            x,
            y: baseline,
            size_pt,
            text: text.to_string(),
            align,
        };
        match m.symbology {
            Symbology::Code128 => {
                let middle = left + m.bars.len() as f32 * module / 2.0;
                shapes.push(text(middle, code.data(), Align::Center));
            }
            Symbology::Ean13 => {
                // The first digit stands in the left quiet zone; the other
                // twelve each under their own 7-module symbol, six on each
                // side of the centre guard.
                let data = code.data();
                shapes.push(text(left - module, &data[..1], Align::Right));
                for (i, digit) in data[1..].char_indices() {
                    let symbol_start = if i < 6 { 3 + 7 * i } else { 50 + 7 * (i - 6) };
                    let centre = left + (symbol_start as f32 + 3.5) * module;
                    shapes.push(text(centre, &digit.to_string(), Align::Center));
                }
            }
        }
    }
    Ok(shapes)
}

/// The modules of EAN-13's start, centre and end guards.
fn guard_modules(symbology: Symbology) -> Vec<std::ops::Range<usize>> {
    match symbology {
        Symbology::Ean13 => vec![0..3, 45..50, 92..95],
        Symbology::Code128 => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code128_code_sets() {
        let table = [
            ("TS-01-M", "ƁTS-01-M"),
            ("12", "Ć12"),
            ("1", "Ɓ1"),
            ("123", "Ɓ123"),
            ("1234", "Ć1234"),
            ("12345", "Ć1234Ɓ5"),
            ("8801234567893", "Ć880123456789Ɓ3"),
            ("AB1234", "ƁABĆ1234"),
            ("AB12345", "ƁAB1Ć2345"),
            ("AB1234CD", "ƁAB1234CD"),
            ("AB123456CD", "ƁABĆ123456ƁCD"),
            ("AB1234567CD", "ƁAB1Ć234567ƁCD"),
            ("A 1", "ƁA 1"),
        ];
        for (data, want) in table {
            assert_eq!(code128_input(data), want, "{data}");
        }
    }

    #[test]
    fn module_counts() {
        let ean = Barcode::new(Symbology::Ean13, "8801234567893").unwrap();
        let m = modules(&ean);
        assert_eq!(m.bars.len(), 95);
        assert_eq!(m.total(), 11 + 95 + 7);
        // Code 128: 11 modules per symbol (start, data, check) and 13 for stop.
        let code = Barcode::new(Symbology::Code128, "TS-01-M").unwrap();
        assert_eq!(modules(&code).bars.len(), 11 * (1 + 7 + 1) + 13);
        // Twelve digits in set C are six symbols.
        let digits = Barcode::new(Symbology::Code128, "123456789012").unwrap();
        assert_eq!(modules(&digits).bars.len(), 11 * (1 + 6 + 1) + 13);
    }

    #[test]
    fn too_narrow_a_box_is_refused() {
        let code = Barcode::new(Symbology::Code128, "ABCDEFGHIJKLMNOPQRSTUVWXYZ").unwrap();
        let total = modules(&code).total();
        let err = shapes(&code, 0.0, 0.0, 30.0, 10.0, &BarcodeStyle::default()).unwrap_err();
        assert_eq!(err.modules, total);
        assert!(err.to_string().contains("use a larger label"), "{err}");
        let wide_enough = err.width_needed_mm() + 0.01;
        assert!(shapes(&code, 0.0, 0.0, wide_enough, 10.0, &BarcodeStyle::default()).is_ok());
    }

    #[test]
    fn bars_stay_inside_the_box() {
        let ean = Barcode::new(Symbology::Ean13, "8801234567893").unwrap();
        let got = shapes(&ean, 5.0, 2.0, 40.0, 15.0, &BarcodeStyle::default()).unwrap();
        let texts = got
            .iter()
            .filter(|s| matches!(s, Shape::Text { .. }))
            .count();
        assert_eq!(texts, 13);
        for s in &got {
            if let Shape::Rect { x, y, w, h } = *s {
                assert!(
                    x >= 5.0 && x + w <= 45.0 && y >= 2.0 && y + h <= 17.0,
                    "{s:?}"
                );
            }
        }
    }
}
