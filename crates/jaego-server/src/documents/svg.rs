//! Drawings as SVG: vector bars with crisp edges, sized in millimetres so
//! that a browser prints them at their true size. Text relies on the
//! viewer's fonts (a browser has a Korean one); the layout was measured
//! with jaego's own font, which the font list asks for first.

use std::fmt::Write;

use jaego_core::barcode::Barcode;

use super::barcode::{self, BarcodeStyle, TooDense};
use super::draw::{Align, Drawing, Shape};
use super::font::MM_PER_PT;

/// The fonts a viewer is asked for, best first.
const FONT_FAMILY: &str =
    "'Noto Sans CJK KR','Noto Sans KR','Apple SD Gothic Neo','Malgun Gothic',sans-serif";

/// The drawing as a standalone SVG document.
pub fn render(drawing: &Drawing) -> String {
    let mut out = String::with_capacity(256 + drawing.shapes.len() * 64);
    let (w, h) = (num(drawing.width_mm), num(drawing.height_mm));
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">"#
    );
    let _ = write!(out, r##"<rect width="{w}" height="{h}" fill="#fff"/>"##);
    out.push_str(r##"<g fill="#000" shape-rendering="crispEdges">"##);
    for shape in &drawing.shapes {
        if let Shape::Rect { x, y, w, h } = shape {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}"/>"#,
                num(*x),
                num(*y),
                num(*w),
                num(*h)
            );
        }
    }
    out.push_str("</g>");
    let _ = write!(out, r##"<g fill="#000" font-family="{FONT_FAMILY}">"##);
    for shape in &drawing.shapes {
        if let Shape::Text {
            x,
            y,
            size_pt,
            text,
            align,
        } = shape
        {
            let anchor = match align {
                Align::Left => "start",
                Align::Center => "middle",
                Align::Right => "end",
            };
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" font-size="{}" text-anchor="{anchor}">{}</text>"#,
                num(*x),
                num(*y),
                num(size_pt * MM_PER_PT),
                escape(text)
            );
        }
    }
    out.push_str("</g></svg>\n");
    out
}

/// How [`barcode_svg`] sizes a barcode on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarcodeSvgOptions {
    /// Width of one module in millimetres (EAN-13's nominal is 0.33).
    pub module_mm: f32,
    /// Height of the whole image, text included, in millimetres.
    pub height_mm: f32,
    pub style: BarcodeStyle,
}

impl Default for BarcodeSvgOptions {
    fn default() -> Self {
        BarcodeSvgOptions {
            module_mm: 0.33,
            height_mm: 25.0,
            style: BarcodeStyle::default(),
        }
    }
}

/// One barcode as an SVG image, quiet zones included, for a web page or a
/// document another part of jaego prints (packing slips, pickup receipts).
pub fn barcode_svg(code: &Barcode, options: &BarcodeSvgOptions) -> Result<String, TooDense> {
    let width = barcode::modules(code).total() as f32 * options.module_mm;
    let mut drawing = Drawing::new(width, options.height_mm);
    drawing.barcode(code, 0.0, 0.0, width, options.height_mm, &options.style)?;
    Ok(render(&drawing))
}

/// A millimetre figure, to a thousandth (a micrometre is finer than any
/// printer), without trailing zeros.
fn num(v: f32) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.3300001), "0.33");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(escape(r#"<a & "b">"#), "&lt;a &amp; &quot;b&quot;&gt;");
    }

    #[test]
    fn text_is_escaped_and_sized_in_millimetres() {
        let mut d = Drawing::new(50.0, 30.0);
        d.text(1.0, 5.0, 10.0, "A&B <반팔>", Align::Left);
        let svg = render(&d);
        assert!(
            svg.contains(r#"width="50mm" height="30mm" viewBox="0 0 50 30""#),
            "{svg}"
        );
        assert!(svg.contains(r#"font-size="3.528""#), "{svg}");
        assert!(svg.contains(">A&amp;B &lt;반팔&gt;</text>"), "{svg}");
    }
}
