//! Whether a location or channel may sell below zero.

use std::fmt;
use std::str::FromStr;

/// `strict` never lets available go below zero; `unlimited` takes backorders,
/// which show as negative available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StockPolicy {
    #[default]
    Strict,
    Unlimited,
}

impl StockPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            StockPolicy::Strict => "strict",
            StockPolicy::Unlimited => "unlimited",
        }
    }
}

impl fmt::Display for StockPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StockPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(StockPolicy::Strict),
            "unlimited" => Ok(StockPolicy::Unlimited),
            other => Err(format!(
                "unknown policy {other:?}; expected strict or unlimited"
            )),
        }
    }
}
