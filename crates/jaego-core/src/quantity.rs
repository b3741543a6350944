//! Quantities asked for in a request: always positive and bounded.

use crate::error::InvalidInput;
use crate::limits::QUANTITY_MAX;

/// A positive quantity of units, at most [`QUANTITY_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(i64);

impl Qty {
    /// Checks `value` and names `field` in the error.
    pub fn parse(field: &str, value: i64) -> Result<Self, InvalidInput> {
        if value <= 0 {
            return Err(InvalidInput::one(
                field,
                format!("must be at least 1, got {value}"),
            ));
        }
        if value > QUANTITY_MAX {
            return Err(InvalidInput::one(
                field,
                format!("must be at most {QUANTITY_MAX}, got {value}"),
            ));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}
