//! Validation of catalog and place definitions: SKUs, locations, channels.

use crate::error::{InvalidInput, Validator};
use crate::limits::*;

/// Checks the parts of a SKU a merchant types in.
pub fn validate_sku(
    code: &str,
    name: &str,
    barcodes: &[String],
    option_tags: &[String],
) -> Result<(), InvalidInput> {
    let mut v = Validator::new();
    v.code("code", code, CODE_LEN_MAX);
    v.text("name", name, NAME_LEN_MAX);
    if barcodes.len() > BARCODES_PER_SKU_MAX {
        v.push(
            "barcodes",
            format!(
                "has {} entries; the limit is {BARCODES_PER_SKU_MAX}",
                barcodes.len()
            ),
        );
    }
    for (i, b) in barcodes.iter().enumerate() {
        v.code(&format!("barcodes[{i}]"), b, BARCODE_LEN_MAX);
        if barcodes[..i].contains(b) {
            v.push(format!("barcodes[{i}]"), "is listed twice");
        }
    }
    if option_tags.len() > OPTION_TAGS_PER_SKU_MAX {
        v.push(
            "option_tags",
            format!(
                "has {} entries; the limit is {OPTION_TAGS_PER_SKU_MAX}",
                option_tags.len()
            ),
        );
    }
    for (i, t) in option_tags.iter().enumerate() {
        v.text(&format!("option_tags[{i}]"), t, OPTION_TAG_LEN_MAX);
        // `|` separates list values in CSV files; a tag holding one would
        // come back from an export and re-import as two tags.
        if t.contains('|') {
            v.push(format!("option_tags[{i}]"), "must not contain |");
        }
    }
    v.finish()
}

/// Whether a location is a warehouse or a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    Warehouse,
    Store,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Warehouse => "warehouse",
            LocationKind::Store => "store",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "warehouse" => Some(LocationKind::Warehouse),
            "store" => Some(LocationKind::Store),
            _ => None,
        }
    }
}

/// Checks a location: code, name, IANA time zone (from the bundled tz
/// database) and an optional coordinate pair.
pub fn validate_location(
    code: &str,
    name: &str,
    time_zone: &str,
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> Result<(), InvalidInput> {
    let mut v = Validator::new();
    v.code("code", code, CODE_LEN_MAX);
    v.text("name", name, NAME_LEN_MAX);
    if jiff::tz::TimeZone::get(time_zone).is_err() {
        v.push(
            "time_zone",
            format!("{time_zone:?} is not an IANA time zone such as Asia/Seoul"),
        );
    }
    match (latitude, longitude) {
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) {
                v.push("latitude", "must be between -90 and 90");
            }
            if !(-180.0..=180.0).contains(&lon) {
                v.push("longitude", "must be between -180 and 180");
            }
        }
        (None, None) => {}
        _ => v.push("latitude", "latitude and longitude must be given together"),
    }
    v.finish()
}

/// Checks a channel's code and name.
pub fn validate_channel(code: &str, name: &str, kind: &str) -> Result<(), InvalidInput> {
    let mut v = Validator::new();
    v.code("code", code, CODE_LEN_MAX);
    v.text("name", name, NAME_LEN_MAX);
    v.code("kind", kind, CODE_LEN_MAX);
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_checks() {
        assert!(
            validate_location("seoul-1", "Seoul", "Asia/Seoul", Some(37.5), Some(127.0)).is_ok()
        );
        let err = validate_location("", "x", "Mars/Olympus", Some(91.0), None).unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["code", "time_zone", "latitude"]);
    }

    #[test]
    fn sku_checks() {
        assert!(
            validate_sku(
                "TS-01-M",
                "T-shirt M",
                &["8801234567893".into()],
                &["size:M".into()]
            )
            .is_ok()
        );
        let err = validate_sku("ok", "ok", &[], &["a|b".into()]).unwrap_err();
        assert_eq!(err.violations[0].field, "option_tags[0]");
        let err = validate_sku("bad code", "", &["1".into(), "1".into()], &[]).unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["code", "name", "barcodes[1]"]);
    }
}
