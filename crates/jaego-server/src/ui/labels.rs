//! Print views: barcode labels of chosen SKUs with a label template, laid
//! out for the browser's print dialog. Each label is the API's own SVG
//! (`/api/v1/skus/{sku}/label.svg`), drawn at its true size in millimetres.
//! The same choice also comes as the API's PDF (`/labels.pdf`, for label
//! printers and A4 sheets, with cells of a used sheet skipped).

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::extract::ApiQuery;
use crate::routes::catalog::ListQuery;
use crate::routes::labels::{
    LabelItem, LabelsPdfRequest, labels_pdf_document, list_label_templates,
};

/// Labels on one print view.
const LABELS_MAX: usize = 500;

#[derive(Debug, Default, Deserialize)]
pub struct LabelForm {
    template: Option<String>,
    /// SKU codes, comma- or space-separated.
    skus: Option<String>,
    copies: Option<usize>,
    /// Cells of a used A4 sheet to leave empty (the PDF only).
    skip: Option<u32>,
}

impl LabelForm {
    /// The SKU codes typed, in order.
    fn sku_codes(&self) -> Vec<String> {
        self.skus
            .as_deref()
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn copies(&self) -> usize {
        self.copies.unwrap_or(1).clamp(1, 100)
    }

    fn template(&self) -> Option<String> {
        self.template.clone().filter(|s| !s.is_empty())
    }

    /// The query string that shows this choice again (the PDF link).
    fn query(&self, skus: &[String]) -> String {
        format!(
            "template={}&skus={}&copies={}&skip={}",
            enc(self.template.as_deref().unwrap_or("")),
            enc(&skus.join(",")),
            self.copies(),
            self.skip.unwrap_or(0)
        )
    }
}

pub async fn labels(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<LabelForm>,
) -> Response {
    let screen = async {
        let t = ctx.t;
        let Json(templates) = list_label_templates(
            State(state.clone()),
            ctx.auth.clone(),
            ApiQuery(ListQuery { after: None, limit: Some(200) }),
        )
        .await?;
        let skus = f.sku_codes();
        let copies = f.copies();
        if skus.len() * copies > LABELS_MAX {
            return Err(ApiError::invalid("copies", format!("at most {LABELS_MAX} labels per print view")));
        }
        let template = f.template();
        let content = html! {
            h1.no-print { (t.nav_labels) }
            form.filters.no-print method="get" {
                label for="template" { (t.template) }
                select #template name="template" required {
                    @for tpl in &templates.items {
                        option value=(tpl.code) selected[template.as_deref() == Some(tpl.code.as_str())] { (tpl.name) " (" (tpl.size) ", " (tpl.symbology) ")" }
                    }
                }
                label for="skus" { (t.sku_codes) }
                input #skus name="skus" value=(skus.join(", ")) size="30" required;
                label for="copies" { (t.copies) }
                input #copies.count name="copies" type="number" min="1" max="100" value=(copies);
                label for="skip" { (t.skip_cells) }
                input #skip.count name="skip" type="number" min="0" max="23" value=(f.skip.unwrap_or(0));
                button.button type="submit" { (t.show_labels) }
                @if template.is_some() && !skus.is_empty() {
                    button.button.primary type="button" data-print { (t.print) }
                    a.button #labels-pdf href={ "/labels.pdf?" (f.query(&skus)) } target="_blank" { (t.labels_pdf) }
                }
            }
            @if templates.items.is_empty() { p.empty.no-print { (t.no_templates) } }
            @if let Some(template) = &template {
                div.labels #labels {
                    @for sku in &skus {
                        @for _ in 0..copies {
                            img.label src={ "/api/v1/skus/" (enc(sku)) "/label.svg?template=" (enc(template)) } alt={ (t.label) " " (sku) };
                        }
                    }
                }
            }
        };
        Ok::<_, ApiError>(Screen::new(t.nav_labels, Nav::Labels, content))
    }
    .await;
    ctx.render(screen)
}

/// The chosen labels as the API's PDF (`POST /api/v1/labels.pdf`), for a
/// label printer or an A4 sheet; its checks and limits are the API's, and
/// a refusal shows as an error page naming the field.
pub async fn pdf(State(state): State<AppState>, ctx: Ctx, Query(f): Query<LabelForm>) -> Response {
    let copies = f.copies() as i64;
    let request = LabelsPdfRequest {
        template: f.template().unwrap_or_default(),
        items: f
            .sku_codes()
            .into_iter()
            .map(|sku| LabelItem { sku, copies })
            .collect(),
        skip: f.skip.unwrap_or(0),
    };
    match labels_pdf_document(State(state), ctx.auth.clone(), ApiJson(request)).await {
        Ok(document) => document,
        Err(e) => ctx.error(&e),
    }
}
