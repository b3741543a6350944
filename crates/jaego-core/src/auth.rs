//! Rules for people who sign in: what a login name and a password may be,
//! and when sign-in attempts are throttled. Hashing and storage live in the
//! store; this module only decides.

use crate::error::{InvalidInput, Validator};
use crate::limits::{LOGIN_LEN_MAX, NAME_LEN_MAX, PASSWORD_BYTES_MAX, PASSWORD_LEN_MIN};

/// Normalises a login name for storage and lookup: trimmed and lowercased,
/// so `Kim@Shop.kr` and `kim@shop.kr ` are one account.
pub fn normalise_login(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Checks a (normalised) login name: 1 to [`LOGIN_LEN_MAX`] characters of
/// letters, digits and `. _ - @ +`, e.g. an e-mail address.
pub fn check_login(v: &mut Validator, field: &str, login: &str) {
    if login.is_empty() {
        v.push(field, "must not be empty");
        return;
    }
    let len = login.chars().count();
    if len > LOGIN_LEN_MAX {
        v.push(
            field,
            format!("is {len} characters long; the limit is {LOGIN_LEN_MAX}"),
        );
    }
    if !login
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
    {
        v.push(field, "may hold only letters, digits and . _ - @ +");
    }
}

/// Checks a new password: at least [`PASSWORD_LEN_MIN`] characters, at
/// most [`PASSWORD_BYTES_MAX`] bytes, not blank. Nothing else is demanded
/// (length beats composition rules).
pub fn check_password(v: &mut Validator, field: &str, password: &str) {
    let chars = password.chars().count();
    if chars < PASSWORD_LEN_MIN {
        v.push(
            field,
            format!("must be at least {PASSWORD_LEN_MIN} characters long"),
        );
    } else if password.len() > PASSWORD_BYTES_MAX {
        v.push(
            field,
            format!("must be at most {PASSWORD_BYTES_MAX} bytes long"),
        );
    } else if password.trim().is_empty() {
        v.push(field, "must not be blank");
    }
}

/// Checks a new user: login, display name and password together.
pub fn check_new_user(login: &str, name: &str, password: &str) -> Result<(), InvalidInput> {
    let mut v = Validator::new();
    check_login(&mut v, "login", login);
    v.text("name", name, NAME_LEN_MAX);
    check_password(&mut v, "password", password);
    v.finish()
}

/// A fixed-window counter of sign-in attempts for one key (an account or a
/// client address), as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptWindow {
    /// When the current window started (µs since the epoch).
    pub started_at_us: i64,
    /// Attempts counted in it, this one included.
    pub attempts: i64,
}

/// Whether an attempt counted in `window` may go ahead: `Ok(())`, or
/// `Err(seconds)` to wait until the window ends (at least 1).
pub fn judge_attempt(
    window: AttemptWindow,
    max: i64,
    window_us: i64,
    now_us: i64,
) -> Result<(), i64> {
    if window.attempts <= max {
        return Ok(());
    }
    let ends = window.started_at_us.saturating_add(window_us);
    let wait_us = ends.saturating_sub(now_us).max(0);
    Err(((wait_us + 999_999) / 1_000_000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(login: &str, name: &str, password: &str, expected: &[&str]) {
        let fields: Vec<String> = match check_new_user(login, name, password) {
            Ok(()) => Vec::new(),
            Err(e) => e.violations.into_iter().map(|v| v.field).collect(),
        };
        assert_eq!(fields, expected, "{login:?} {name:?} {password:?}");
    }

    #[test]
    fn new_users() {
        check("kim@shop.kr", "Kim", "correct horse battery", &[]);
        check("", "Kim", "correct horse battery", &["login"]);
        check("kim shop", "Kim", "correct horse battery", &["login"]);
        check(&"a".repeat(65), "Kim", "correct horse battery", &["login"]);
        check("kim", "", "correct horse battery", &["name"]);
        check("kim", "Kim", "short", &["password"]);
        check("kim", "Kim", "          ", &["password"]);
        check("kim", "Kim", &"x".repeat(257), &["password"]);
        check("kim", "Kim", &"x".repeat(256), &[]);
        // Ten characters, counted as characters, not bytes.
        check("kim", "Kim", "비밀번호비밀번호비밀", &[]);
    }

    #[test]
    fn logins_are_normalised() {
        assert_eq!(normalise_login("  Kim@Shop.KR "), "kim@shop.kr");
    }

    #[test]
    fn attempts_within_the_limit_pass_and_beyond_it_wait_for_the_window() {
        let window_us = 60_000_000;
        let w = |attempts| AttemptWindow {
            started_at_us: 1_000_000,
            attempts,
        };
        assert_eq!(judge_attempt(w(1), 3, window_us, 2_000_000), Ok(()));
        assert_eq!(judge_attempt(w(3), 3, window_us, 2_000_000), Ok(()));
        assert_eq!(judge_attempt(w(4), 3, window_us, 2_000_000), Err(59));
        assert_eq!(judge_attempt(w(4), 3, window_us, 60_500_000), Err(1));
        // Past the window's end (the store starts a new one): still at least 1.
        assert_eq!(judge_attempt(w(4), 3, window_us, 90_000_000), Err(1));
    }
}
