//! Webhook signatures, both ways: jaego signs what it sends to channels and
//! checks what channels send to it, with one scheme.
//!
//! The header value is `t=<unix seconds>,v1=<hex HMAC-SHA256>` over the
//! bytes `"<t>." + body`, keyed with the endpoint's secret. Signing the
//! timestamp with the body lets a receiver refuse replays older than its
//! tolerance; comparing in constant time keeps the check from leaking the
//! signature byte by byte.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HTTP header that carries the signature.
pub const HEADER: &str = "x-jaego-signature";
/// How far a signed timestamp may be from the receiver's clock, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed; expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signed timestamp is more than {TOLERANCE_SECS} s from the server's clock")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `header` against `body` for `secret`, with the receiver's clock
/// at `now` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tag = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(tag)) = (timestamp, tag) else {
        return Err(SignatureError::Malformed);
    };
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    mac(secret, timestamp, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let header = sign(b"s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        let check = |header: &str, body: &[u8], now: i64| verify(b"s3cret", header, body, now);
        assert_eq!(check(&header, b"{\"a\":1}", 1_700_000_100), Ok(()));
        assert_eq!(
            check(&header, b"{\"a\":2}", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, b"{\"a\":1}", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&header, b"{\"a\":1}", 1_700_000_301),
            Err(SignatureError::Stale)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1700000000,v1=zz"] {
            assert_eq!(
                check(bad, b"{\"a\":1}", 1_700_000_000),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
