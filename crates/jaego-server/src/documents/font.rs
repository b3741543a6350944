//! The one font jaego prints with: a Korean subset of Noto Sans CJK KR,
//! built into the binary so that a PDF renders the same on a server with no
//! fonts installed. `assets/fonts/` holds the file, its license (SIL OFL
//! 1.1) and the script that made it.
//!
//! Text is laid out one character at a time: each character's own glyph,
//! advanced by its own width, no kerning and no shaping. That is right for
//! precomposed Hangul, Latin and digits, which is what SKU names, codes and
//! option tags hold; scripts that need shaping (Arabic, Thai) would print
//! unjoined, and characters the subset lacks (Hanja, emoji) print as the
//! font's empty box.

use std::sync::LazyLock;

use ttf_parser::{Face, GlyphId};

/// The font file (OpenType with CFF outlines, about 1.2 MB).
pub(crate) static FONT_DATA: &[u8] =
    include_bytes!("../../assets/fonts/NotoSansCJKkr-Regular-subset.otf");

/// The PostScript name written into PDFs.
pub(crate) const POSTSCRIPT_NAME: &str = "NotoSansCJKkr-Regular";

/// A point in millimetres.
pub const MM_PER_PT: f32 = 25.4 / 72.0;

/// The parsed font; parsing reads only the table directory, so this is
/// cheap, and it happens once.
pub(crate) static FONT: LazyLock<Font> = LazyLock::new(|| {
    let face = Face::parse(FONT_DATA, 0).expect("the bundled font parses");
    Font { face }
});

pub(crate) struct Font {
    face: Face<'static>,
}

impl Font {
    pub(crate) fn face(&self) -> &Face<'static> {
        &self.face
    }

    /// The glyph for `c`, or 0 (the empty box) if the font lacks it.
    pub(crate) fn glyph(&self, c: char) -> u16 {
        self.face.glyph_index(c).map_or(0, |g| g.0)
    }

    /// A glyph's advance in thousandths of the font size (PDF's unit).
    pub(crate) fn advance_milli(&self, glyph: u16) -> f32 {
        let advance = self.face.glyph_hor_advance(GlyphId(glyph)).unwrap_or(0);
        f32::from(advance) * 1000.0 / f32::from(self.face.units_per_em())
    }

    /// How wide `text` is at `size_pt`, in millimetres.
    pub fn width_mm(&self, text: &str, size_pt: f32) -> f32 {
        let milli: f32 = text
            .chars()
            .map(|c| self.advance_milli(self.glyph(c)))
            .sum();
        milli / 1000.0 * size_pt * MM_PER_PT
    }
}

/// How wide `text` is at `size_pt`, in millimetres, in jaego's font.
pub fn text_width_mm(text: &str, size_pt: f32) -> f32 {
    FONT.width_mm(text, size_pt)
}

/// `text` made to fit `width_mm`: at `size_pt` if it fits, else at a
/// smaller size down to `min_size_pt`, else cut short with `…` at the
/// smallest size. Returns the text and its size.
pub fn fit_text(text: &str, width_mm: f32, size_pt: f32, min_size_pt: f32) -> (String, f32) {
    let width = FONT.width_mm(text, size_pt);
    if width <= width_mm {
        return (text.to_string(), size_pt);
    }
    let shrunk = size_pt * width_mm / width;
    if shrunk >= min_size_pt {
        return (text.to_string(), shrunk);
    }
    let mut cut: String = text.to_string();
    while !cut.is_empty() {
        cut.pop();
        let candidate = format!("{}…", cut.trim_end());
        if FONT.width_mm(&candidate, min_size_pt) <= width_mm {
            return (candidate, min_size_pt);
        }
    }
    (String::new(), min_size_pt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_covers_korean_labels() {
        for c in "가나다 힣 ABC xyz 0123456789 -_./ ★ ㎖ ₩ · …".chars() {
            assert_ne!(FONT.glyph(c), 0, "{c:?} is missing");
        }
        // CJK fonts draw Hangul a full em wide and digits about half that.
        let hangul = FONT.advance_milli(FONT.glyph('가'));
        let digit = FONT.advance_milli(FONT.glyph('0'));
        assert!((900.0..=1000.0).contains(&hangul), "{hangul}");
        assert!((450.0..=650.0).contains(&digit), "{digit}");
    }

    #[test]
    fn fitting_text() {
        let (text, size) = fit_text("TS-01", 50.0, 8.0, 5.0);
        assert_eq!((text.as_str(), size), ("TS-01", 8.0));
        // A little too wide: smaller, whole.
        let wide = text_width_mm("반팔 티셔츠 화이트", 8.0);
        let (text, size) = fit_text("반팔 티셔츠 화이트", wide * 0.9, 8.0, 5.0);
        assert_eq!(text, "반팔 티셔츠 화이트");
        assert!((size - 7.2).abs() < 0.01, "{size}");
        // Far too wide: cut with an ellipsis at the smallest size.
        let (text, size) = fit_text("반팔 티셔츠 화이트", wide * 0.4, 8.0, 5.0);
        assert!(text.ends_with('…') && text.starts_with("반팔"), "{text}");
        assert_eq!(size, 5.0);
        assert!(text_width_mm(&text, 5.0) <= wide * 0.4);
    }
}
