//! Drawings as a PDF document, with jaego's font embedded so Korean text
//! prints on any printer and opens in any viewer.
//!
//! ```
//! use jaego_server::documents::{Align, Drawing, pdf};
//!
//! let mut label = Drawing::new(70.0, 37.0);
//! label.text(4.0, 8.0, 9.0, "반팔 티셔츠", Align::Left);
//! let mut doc = pdf::Document::new("Labels");
//! let form = doc.form(&label); // drawn once, placed many times
//! let mut page = pdf::Page::new(210.0, 297.0);
//! page.place(form, 0.0, 0.5).place(form, 70.0, 0.5);
//! page.draw(&label, 140.0, 0.5); // drawn where it is
//! doc.add_page(page);
//! let bytes: Vec<u8> = doc.finish();
//! assert!(bytes.starts_with(b"%PDF-"));
//! ```
//!
//! A drawing added with [`Document::form`] becomes a PDF form XObject, so
//! 500 copies of one label cost one copy's bytes. The font is embedded as a
//! subset of the glyphs the document uses (a CID-keyed CFF font with a
//! `ToUnicode` map, so text can be searched and copied). Streams are
//! compressed. The output holds no timestamp: the same input gives the same
//! bytes.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;

use super::draw::{Align, Drawing, Shape};
use super::font::{FONT, FONT_DATA, POSTSCRIPT_NAME};

/// Points per millimetre: PDF's unit is the point, 1/72 inch.
const PT_PER_MM: f32 = 72.0 / 25.4;
const FONT_RESOURCE: Name<'static> = Name(b"F0");
const SYSTEM_INFO: SystemInfo = SystemInfo {
    registry: Str(b"Adobe"),
    ordering: Str(b"Identity"),
    supplement: 0,
};

/// A drawing registered with [`Document::form`], to place on pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormId(usize);

/// A page being put together: drawings and forms at their places, in
/// millimetres from the page's top-left corner.
#[derive(Debug, Clone)]
pub struct Page {
    width_mm: f32,
    height_mm: f32,
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    Drawing(Drawing, f32, f32),
    Form(FormId, f32, f32),
}

impl Page {
    pub fn new(width_mm: f32, height_mm: f32) -> Page {
        Page {
            width_mm,
            height_mm,
            items: Vec::new(),
        }
    }

    /// Draws `drawing` with its top-left corner at (`x_mm`, `y_mm`).
    pub fn draw(&mut self, drawing: &Drawing, x_mm: f32, y_mm: f32) -> &mut Self {
        self.items.push(Item::Drawing(drawing.clone(), x_mm, y_mm));
        self
    }

    /// Places a form with its top-left corner at (`x_mm`, `y_mm`).
    pub fn place(&mut self, form: FormId, x_mm: f32, y_mm: f32) -> &mut Self {
        self.items.push(Item::Form(form, x_mm, y_mm));
        self
    }
}

struct EncodedForm {
    width_mm: f32,
    height_mm: f32,
    content: Vec<u8>,
}

struct EncodedPage {
    width_mm: f32,
    height_mm: f32,
    content: Vec<u8>,
    forms: Vec<usize>,
}

/// A PDF being built. Content is encoded as pages and forms are added;
/// [`Document::finish`] writes the font and the file.
pub struct Document {
    title: String,
    forms: Vec<EncodedForm>,
    pages: Vec<EncodedPage>,
    /// Old glyph id → new (subset) glyph id, assigned in order of first use.
    glyphs: GlyphRemapper,
    /// The character each used glyph stands for, for `ToUnicode`.
    chars: BTreeMap<u16, char>,
    /// Whether any text was drawn, so the font must be written.
    has_text: bool,
}

impl Document {
    pub fn new(title: &str) -> Document {
        Document {
            title: title.to_string(),
            forms: Vec::new(),
            pages: Vec::new(),
            glyphs: GlyphRemapper::new(),
            chars: BTreeMap::new(),
            has_text: false,
        }
    }

    /// Registers `drawing` as a form: drawn once, placed with
    /// [`Page::place`] as often as needed.
    pub fn form(&mut self, drawing: &Drawing) -> FormId {
        let mut content = Content::new();
        self.encode(&mut content, drawing, 0.0, 0.0, drawing.height_mm);
        self.forms.push(EncodedForm {
            width_mm: drawing.width_mm,
            height_mm: drawing.height_mm,
            content: content.finish().into_vec(),
        });
        FormId(self.forms.len() - 1)
    }

    /// Pages added so far.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    pub fn add_page(&mut self, page: Page) {
        let mut content = Content::new();
        let mut forms = Vec::new();
        for item in page.items {
            match item {
                Item::Drawing(drawing, x, y) => {
                    self.encode(&mut content, &drawing, x, y, page.height_mm);
                }
                Item::Form(FormId(form), x, y) => {
                    let height = self.forms[form].height_mm;
                    content.save_state();
                    content.transform([
                        1.0,
                        0.0,
                        0.0,
                        1.0,
                        x * PT_PER_MM,
                        (page.height_mm - y - height) * PT_PER_MM,
                    ]);
                    content.x_object(Name(form_name(form).as_bytes()));
                    content.restore_state();
                    if !forms.contains(&form) {
                        forms.push(form);
                    }
                }
            }
        }
        self.pages.push(EncodedPage {
            width_mm: page.width_mm,
            height_mm: page.height_mm,
            content: content.finish().into_vec(),
            forms,
        });
    }

    /// Draws `drawing` with its top-left corner at (`left`, `top`) of a
    /// frame `frame_height` tall (a page or a form), flipping y.
    fn encode(
        &mut self,
        content: &mut Content,
        drawing: &Drawing,
        left: f32,
        top: f32,
        frame_height: f32,
    ) {
        let x_pt = |x: f32| (left + x) * PT_PER_MM;
        let y_pt = |y: f32| (frame_height - top - y) * PT_PER_MM;
        content.set_fill_gray(0.0);
        for shape in &drawing.shapes {
            if let Shape::Rect { x, y, w, h } = *shape {
                content.rect(x_pt(x), y_pt(y + h), w * PT_PER_MM, h * PT_PER_MM);
            }
        }
        if drawing
            .shapes
            .iter()
            .any(|s| matches!(s, Shape::Rect { .. }))
        {
            content.fill_nonzero();
        }
        for shape in &drawing.shapes {
            let Shape::Text {
                x,
                y,
                size_pt,
                text,
                align,
            } = shape
            else {
                continue;
            };
            self.has_text = true;
            let mut bytes = Vec::with_capacity(text.len() * 2);
            let mut width_milli = 0.0;
            for c in text.chars() {
                let glyph = FONT.glyph(c);
                width_milli += FONT.advance_milli(glyph);
                let cid = self.glyphs.remap(glyph);
                if glyph != 0 {
                    self.chars.entry(glyph).or_insert(c);
                }
                bytes.extend_from_slice(&cid.to_be_bytes());
            }
            let width_pt = width_milli / 1000.0 * size_pt;
            let start = match align {
                Align::Left => x_pt(*x),
                Align::Center => x_pt(*x) - width_pt / 2.0,
                Align::Right => x_pt(*x) - width_pt,
            };
            content
                .begin_text()
                .set_font(FONT_RESOURCE, *size_pt)
                .next_line(start, y_pt(*y))
                .show(Str(&bytes))
                .end_text();
        }
    }

    /// The finished PDF file.
    pub fn finish(self) -> Vec<u8> {
        let mut alloc = Ref::new(1);
        let catalog_id = alloc.bump();
        let tree_id = alloc.bump();
        let info_id = alloc.bump();
        let font_id = alloc.bump();
        let mut pdf = Pdf::new();
        pdf.catalog(catalog_id).pages(tree_id);
        pdf.document_info(info_id)
            .title(TextStr(&self.title))
            .producer(TextStr("jaego"));

        let uses_font = self.has_text;
        let form_ids: Vec<Ref> = self
            .forms
            .iter()
            .map(|form| {
                let id = alloc.bump();
                let data = deflate(&form.content);
                let mut xobject = pdf.form_xobject(id, &data);
                xobject.filter(Filter::FlateDecode);
                xobject.bbox(Rect::new(
                    0.0,
                    0.0,
                    form.width_mm * PT_PER_MM,
                    form.height_mm * PT_PER_MM,
                ));
                if uses_font {
                    xobject.resources().fonts().pair(FONT_RESOURCE, font_id);
                }
                id
            })
            .collect();

        let mut page_ids = Vec::with_capacity(self.pages.len());
        for page in &self.pages {
            let page_id = alloc.bump();
            let content_id = alloc.bump();
            page_ids.push(page_id);
            let data = deflate(&page.content);
            pdf.stream(content_id, &data).filter(Filter::FlateDecode);
            let mut writer = pdf.page(page_id);
            writer
                .parent(tree_id)
                .media_box(Rect::new(
                    0.0,
                    0.0,
                    page.width_mm * PT_PER_MM,
                    page.height_mm * PT_PER_MM,
                ))
                .contents(content_id);
            let mut resources = writer.resources();
            if uses_font {
                resources.fonts().pair(FONT_RESOURCE, font_id);
            }
            if !page.forms.is_empty() {
                let mut xobjects = resources.x_objects();
                for &form in &page.forms {
                    xobjects.pair(Name(form_name(form).as_bytes()), form_ids[form]);
                }
            }
        }
        pdf.pages(tree_id)
            .kids(page_ids.iter().copied())
            .count(page_ids.len() as i32);

        if uses_font {
            write_font(&mut pdf, &mut alloc, font_id, &self.glyphs, &self.chars);
        }
        pdf.finish()
    }
}

fn form_name(form: usize) -> String {
    format!("X{form}")
}

/// Writes the Type 0 font `font_id`: its CID font, descriptor, `ToUnicode`
/// map and the subset of the font program that holds `glyphs`.
fn write_font(
    pdf: &mut Pdf,
    alloc: &mut Ref,
    font_id: Ref,
    glyphs: &GlyphRemapper,
    chars: &BTreeMap<u16, char>,
) {
    let cid_id = alloc.bump();
    let descriptor_id = alloc.bump();
    let cmap_id = alloc.bump();
    let program_id = alloc.bump();
    let face = FONT.face();
    let base_font = format!("{}+{POSTSCRIPT_NAME}", subset_tag(glyphs));

    pdf.type0_font(font_id)
        .base_font(Name(format!("{base_font}-Identity-H").as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_id)
        .to_unicode(cmap_id);

    let mut cid = pdf.cid_font(cid_id);
    cid.subtype(CidFontType::Type0)
        .base_font(Name(base_font.as_bytes()))
        .system_info(SYSTEM_INFO)
        .font_descriptor(descriptor_id)
        .default_width(0.0);
    // The subset numbers its glyphs 0, 1, 2, … in order of first use, and
    // `remapped_gids` yields the old ids in that order.
    cid.widths()
        .consecutive(0, glyphs.remapped_gids().map(|g| FONT.advance_milli(g)));
    cid.finish();

    let to_font_units = |v: i16| f32::from(v) * 1000.0 / f32::from(face.units_per_em());
    let bbox = face.global_bounding_box();
    pdf.font_descriptor(descriptor_id)
        .name(Name(base_font.as_bytes()))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            to_font_units(bbox.x_min),
            to_font_units(bbox.y_min),
            to_font_units(bbox.x_max),
            to_font_units(bbox.y_max),
        ))
        .italic_angle(0.0)
        .ascent(to_font_units(face.ascender()))
        .descent(to_font_units(face.descender()))
        .cap_height(to_font_units(face.capital_height().unwrap_or(733)))
        .stem_v(80.0)
        .font_file3(program_id);

    let mut cmap = UnicodeCmap::new(Name(b"Custom"), SYSTEM_INFO);
    for (&old, &c) in chars {
        if let Some(new) = glyphs.get(old) {
            cmap.pair(new, c);
        }
    }
    let cmap = deflate(&cmap.finish().into_vec());
    pdf.cmap(cmap_id, &cmap).filter(Filter::FlateDecode);

    // The subset is an OpenType file; a PDF takes its bare CFF table.
    let subset = subsetter::subset(FONT_DATA, 0, glyphs).expect("the bundled font subsets");
    let raw = ttf_parser::RawFace::parse(&subset, 0).expect("the subset parses");
    let cff = raw
        .table(ttf_parser::Tag::from_bytes(b"CFF "))
        .expect("the bundled font has CFF outlines");
    let program = deflate(cff);
    pdf.stream(program_id, &program)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
}

/// The six capital letters that name a font subset in a PDF (`ABCDEF+`),
/// derived from the glyphs it holds (FNV-1a), so equal subsets get equal
/// tags and output stays reproducible.
fn subset_tag(glyphs: &GlyphRemapper) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for g in glyphs.remapped_gids() {
        for b in g.to_be_bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (0..6)
        .map(|_| {
            let letter = char::from(b'A' + (hash % 26) as u8);
            hash /= 26;
            letter
        })
        .collect()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_with_text_and_a_form() {
        let mut label = Drawing::new(50.0, 30.0);
        label.rect(1.0, 1.0, 2.0, 20.0);
        label.text(2.0, 25.0, 8.0, "반팔 티셔츠", Align::Left);
        let mut doc = Document::new("test");
        let form = doc.form(&label);
        let mut page = Page::new(210.0, 297.0);
        page.place(form, 0.0, 0.0).place(form, 70.0, 0.0);
        doc.add_page(page);
        let bytes = doc.finish();
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/CIDFontType0C"));
        assert!(text.contains("+NotoSansCJKkr-Regular"));
        assert_eq!(text.matches("/Subtype /Form").count(), 1);
        // Reproducible: the same document gives the same bytes.
        let mut again = Document::new("test");
        let form = again.form(&label);
        let mut page = Page::new(210.0, 297.0);
        page.place(form, 0.0, 0.0).place(form, 70.0, 0.0);
        again.add_page(page);
        assert_eq!(again.finish(), bytes);
    }

    #[test]
    fn no_text_no_font() {
        let mut d = Drawing::new(10.0, 10.0);
        d.rect(0.0, 0.0, 1.0, 1.0);
        let mut doc = Document::new("bars");
        let mut page = Page::new(10.0, 10.0);
        page.draw(&d, 0.0, 0.0);
        doc.add_page(page);
        let bytes = doc.finish();
        assert!(!String::from_utf8_lossy(&bytes).contains("/FontDescriptor"));
    }
}
