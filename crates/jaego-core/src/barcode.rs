//! The barcode symbologies jaego prints, and what each may carry.
//!
//! A [`Barcode`] is a value already checked against its symbology's rules, so
//! whoever draws it (the server's document renderer) never meets a code it
//! cannot encode. The rules:
//!
//! - **EAN-13**: exactly 13 digits whose last is the GS1 check digit of the
//!   first 12. [`Barcode::completing`] also takes the 12 digits alone and
//!   appends the check digit, for a merchant who has just been given a
//!   number range and asks what to print.
//! - **Code 128**: 1 to [`CODE128_LEN_MAX`] printable ASCII characters
//!   (space to `~`). Code 128 can carry control characters too, but nothing a
//!   merchant types into a SKU or barcode field is one, and a label that
//!   hides one cannot be checked by eye against its human-readable text.
//!   Its own check symbol (modulo 103) is computed by the encoder, never
//!   typed, so there is nothing for a merchant to get wrong.
//!
//! No I/O and no encoding tables here: the bar patterns are drawn in
//! `jaego-server` (`documents::barcode`).

use std::fmt;

use crate::error::InvalidInput;
use crate::limits::CODE128_LEN_MAX;

/// A barcode symbology jaego can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// ISO/IEC 15417: any printable ASCII, variable length.
    Code128,
    /// GS1 EAN-13: 12 digits and a check digit, the retail product barcode.
    Ean13,
}

impl Symbology {
    pub const ALL: [Symbology; 2] = [Symbology::Code128, Symbology::Ean13];

    pub fn as_str(self) -> &'static str {
        match self {
            Symbology::Code128 => "code128",
            Symbology::Ean13 => "ean13",
        }
    }

    pub fn parse(raw: &str) -> Option<Symbology> {
        Symbology::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text cannot be a barcode of a symbology. Its `Display` is a reason
/// a merchant can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarcodeError {
    /// Nothing to encode.
    Empty,
    /// More characters than the symbology allows here.
    TooLong { len: usize, max: usize },
    /// A character the symbology cannot carry; `position` counts from 1.
    Character { position: usize, found: char },
    /// EAN-13 with the wrong number of digits.
    Length { found: usize },
    /// EAN-13 whose last digit is not the check digit of the first 12.
    CheckDigit { expected: u8, found: u8 },
}

impl fmt::Display for BarcodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarcodeError::Empty => f.write_str("must not be empty"),
            BarcodeError::TooLong { len, max } => {
                write!(f, "is {len} characters long; the limit is {max}")
            }
            BarcodeError::Character { position, found } => write!(
                f,
                "character {position} ({found:?}) cannot be encoded; only printable ASCII (space to ~) can"
            ),
            BarcodeError::Length { found } => write!(
                f,
                "EAN-13 takes 13 digits (or 12, to have the check digit computed); this has {found}"
            ),
            BarcodeError::CheckDigit { expected, found } => write!(
                f,
                "EAN-13 check digit is wrong: the last digit is {found}, but the first 12 digits give {expected}"
            ),
        }
    }
}

impl BarcodeError {
    /// This error as bad input in `field`.
    pub fn at(&self, field: impl Into<String>) -> InvalidInput {
        InvalidInput::one(field, self.to_string())
    }
}

/// A code checked against its symbology: every `Barcode` can be drawn.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Barcode {
    symbology: Symbology,
    data: String,
}

impl Barcode {
    /// Checks `text` as a complete code of `symbology`: an EAN-13 must carry
    /// its check digit.
    pub fn new(symbology: Symbology, text: &str) -> Result<Barcode, BarcodeError> {
        match symbology {
            Symbology::Code128 => check_code128(text)?,
            Symbology::Ean13 => {
                let digits = ean13_digits(text)?;
                let Ok(all) = <[u8; 13]>::try_from(digits.as_slice()) else {
                    return Err(BarcodeError::Length {
                        found: digits.len(),
                    });
                };
                let (first12, check) = all.split_at(12);
                let expected = ean13_check_digit(first12.try_into().expect("12 digits"));
                if check[0] != expected {
                    return Err(BarcodeError::CheckDigit {
                        expected,
                        found: check[0],
                    });
                }
            }
        }
        Ok(Barcode {
            symbology,
            data: text.to_string(),
        })
    }

    /// Like [`Barcode::new`], but an EAN-13 of 12 digits gets its check
    /// digit appended.
    pub fn completing(symbology: Symbology, text: &str) -> Result<Barcode, BarcodeError> {
        if symbology == Symbology::Ean13 {
            let digits = ean13_digits(text)?;
            if let Ok(first12) = <[u8; 12]>::try_from(digits.as_slice()) {
                let check = ean13_check_digit(&first12);
                return Ok(Barcode {
                    symbology,
                    data: format!("{text}{check}"),
                });
            }
        }
        Barcode::new(symbology, text)
    }

    pub fn symbology(&self) -> Symbology {
        self.symbology
    }

    /// The encoded text: for EAN-13 all 13 digits.
    pub fn data(&self) -> &str {
        &self.data
    }
}

/// The GS1 check digit of an EAN-13's first 12 digits: weights 1 and 3
/// alternate from the left (3 on the even positions), and the check digit
/// brings the weighted sum up to a multiple of 10.
pub fn ean13_check_digit(first12: &[u8; 12]) -> u8 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * if i % 2 == 1 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// The digits of a would-be EAN-13, or the first character that is not one.
fn ean13_digits(text: &str) -> Result<Vec<u8>, BarcodeError> {
    if text.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let mut digits = Vec::with_capacity(13);
    for (i, c) in text.chars().enumerate() {
        let Some(d) = c.to_digit(10) else {
            return Err(BarcodeError::Character {
                position: i + 1,
                found: c,
            });
        };
        digits.push(d as u8);
        if digits.len() > 13 {
            return Err(BarcodeError::Length {
                found: text.chars().count(),
            });
        }
    }
    Ok(digits)
}

fn check_code128(text: &str) -> Result<(), BarcodeError> {
    if text.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if let Some((i, c)) = text
        .chars()
        .enumerate()
        .find(|&(_, c)| !(' '..='~').contains(&c))
    {
        return Err(BarcodeError::Character {
            position: i + 1,
            found: c,
        });
    }
    let len = text.len();
    if len > CODE128_LEN_MAX {
        return Err(BarcodeError::TooLong {
            len,
            max: CODE128_LEN_MAX,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits12(s: &str) -> [u8; 12] {
        let v: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        v.try_into().unwrap()
    }

    #[test]
    fn ean13_check_digits() {
        // Published codes and hand-computed edge cases: (first 12, check digit).
        let table = [
            ("880123456789", 3), // the README's example SKU barcode
            ("400638133393", 1), // 4006381333931, the usual EAN-13 example
            ("978030640615", 7), // ISBN 978-0-306-40615-7
            ("590123412345", 7), // GS1's example 5901234123457
            ("000000000000", 0), // sum 0: check digit 0, not 10
            ("999999999999", 4), // 9 * 6 + 27 * 6 = 216: 4 up to 220
            ("000000000001", 7), // a 1 on a weight-3 position: 3 -> 7
            ("100000000000", 9), // a 1 on a weight-1 position: 1 -> 9
        ];
        for (first12, expected) in table {
            let got = ean13_check_digit(&digits12(first12));
            assert_eq!(got, expected, "{first12}");
        }
    }

    /// `check(symbology, text, completing, expected)`: the data encoded, or
    /// the error's reason.
    fn check(symbology: Symbology, text: &str, completing: bool, expected: Result<&str, &str>) {
        let got = if completing {
            Barcode::completing(symbology, text)
        } else {
            Barcode::new(symbology, text)
        };
        let got = got.as_ref().map(Barcode::data).map_err(ToString::to_string);
        match (&got, expected) {
            (Ok(data), Ok(want)) => assert_eq!(*data, want, "{symbology} {text:?}"),
            (Err(reason), Err(want)) => assert!(
                reason.contains(want),
                "{symbology} {text:?}: {reason:?} should say {want:?}"
            ),
            _ => panic!("{symbology} {text:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn barcode_rules() {
        use Symbology::*;
        let long = "A".repeat(CODE128_LEN_MAX + 1);
        let longest = "A".repeat(CODE128_LEN_MAX);
        let table: Vec<(Symbology, &str, bool, Result<&str, &str>)> = vec![
            (Ean13, "8801234567893", false, Ok("8801234567893")),
            (Ean13, "8801234567893", true, Ok("8801234567893")),
            (
                Ean13,
                "8801234567894",
                false,
                Err("the last digit is 4, but the first 12 digits give 3"),
            ),
            (Ean13, "8801234567894", true, Err("check digit is wrong")),
            (Ean13, "880123456789", false, Err("this has 12")),
            (Ean13, "880123456789", true, Ok("8801234567893")),
            (Ean13, "88012345678", true, Err("this has 11")),
            (Ean13, "88012345678934", false, Err("this has 14")),
            (Ean13, "880123456789X", false, Err("character 13 ('X')")),
            (Ean13, "８801234567893", false, Err("character 1 ('８')")),
            (Ean13, "", false, Err("must not be empty")),
            (Code128, "TS-01-M", false, Ok("TS-01-M")),
            (Code128, "a b~{}|", false, Ok("a b~{}|")),
            (Code128, "0123456789", false, Ok("0123456789")),
            (Code128, "티셔츠-01", false, Err("character 1 ('티')")),
            (Code128, "AB\tC", false, Err("character 3 ('\\t')")),
            (Code128, "", false, Err("must not be empty")),
            (Code128, &longest, false, Ok(&longest)),
            (Code128, &long, false, Err("the limit is 64")),
        ];
        for (symbology, text, completing, expected) in table {
            check(symbology, text, completing, expected);
        }
    }

    #[test]
    fn completing_agrees_with_validating() {
        // Every 12-digit prefix completed by the rule validates, and every
        // other last digit is refused.
        for n in [
            0u64,
            1,
            42,
            880_123_456_789,
            999_999_999_999,
            123_456_789_012,
        ] {
            let first12 = format!("{n:012}");
            let full = Barcode::completing(Symbology::Ean13, &first12).unwrap();
            assert!(Barcode::new(Symbology::Ean13, full.data()).is_ok());
            let check = full.data().as_bytes()[12] - b'0';
            for other in (0..10).filter(|&d| d != check) {
                let wrong = format!("{first12}{other}");
                assert!(
                    matches!(Barcode::new(Symbology::Ean13, &wrong), Err(BarcodeError::CheckDigit { expected, found }) if expected == check && found == other),
                    "{wrong}"
                );
            }
        }
    }

    #[test]
    fn symbology_names() {
        for s in Symbology::ALL {
            assert_eq!(Symbology::parse(s.as_str()), Some(s));
        }
        assert_eq!(Symbology::parse("qr"), None);
    }
}
