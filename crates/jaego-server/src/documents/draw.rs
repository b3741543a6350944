//! A drawing: filled rectangles and lines of text on a page-sized canvas,
//! the one picture that both the SVG and the PDF writer draw, so a label
//! looks the same in both.
//!
//! Units are millimetres, the origin is the top-left corner and y grows
//! downwards (as on paper and in SVG; the PDF writer flips it).

use jaego_core::barcode::Barcode;

use super::barcode::{self, BarcodeStyle, TooDense};

/// How a line of text sits on its `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `x` is where the text starts.
    Left,
    /// `x` is the middle of the text.
    Center,
    /// `x` is where the text ends.
    Right,
}

/// One thing drawn, in black.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A filled rectangle; `x`, `y` is its top-left corner.
    Rect { x: f32, y: f32, w: f32, h: f32 },
    /// One line of text; `y` is its baseline.
    Text {
        x: f32,
        y: f32,
        size_pt: f32,
        text: String,
        align: Align,
    },
}

/// A canvas of `width_mm` × `height_mm` and what is drawn on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawing {
    pub width_mm: f32,
    pub height_mm: f32,
    pub shapes: Vec<Shape>,
}

impl Drawing {
    pub fn new(width_mm: f32, height_mm: f32) -> Drawing {
        Drawing {
            width_mm,
            height_mm,
            shapes: Vec::new(),
        }
    }

    /// A filled black rectangle (a rule, a box's edge, a bar).
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) -> &mut Self {
        self.shapes.push(Shape::Rect { x, y, w, h });
        self
    }

    /// One line of text with its baseline at `y`.
    pub fn text(
        &mut self,
        x: f32,
        y: f32,
        size_pt: f32,
        text: impl Into<String>,
        align: Align,
    ) -> &mut Self {
        self.shapes.push(Shape::Text {
            x,
            y,
            size_pt,
            text: text.into(),
            align,
        });
        self
    }

    /// A scannable barcode filling the box at (`x`, `y`) of `w` × `h`,
    /// quiet zones included, with its text beneath when `style` asks.
    /// Refused if the box is too narrow for bars a printer can draw.
    pub fn barcode(
        &mut self,
        code: &Barcode,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        style: &BarcodeStyle,
    ) -> Result<&mut Self, TooDense> {
        let shapes = barcode::shapes(code, x, y, w, h, style)?;
        self.shapes.extend(shapes);
        Ok(self)
    }
}
