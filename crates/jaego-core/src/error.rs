//! Bad input, described precisely enough for a caller to fix it.

use std::fmt;

/// One thing wrong with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where the problem is: a field name, `lines[2].quantity`, or `line 14`.
    pub field: String,
    /// What is wrong, in words a merchant understands.
    pub reason: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Input that the domain refuses. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidInput {
    pub violations: Vec<Violation>,
}

impl InvalidInput {
    pub fn one(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            violations: vec![Violation::new(field, reason)],
        }
    }

    /// Prefixes every field with `prefix.`, for errors found inside a nested value.
    pub fn within(mut self, prefix: &str) -> Self {
        for v in &mut self.violations {
            v.field = format!("{prefix}.{}", v.field);
        }
        self
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.reason)?;
        }
        Ok(())
    }
}

/// Collects violations while validating a compound value.
#[derive(Debug, Default)]
pub struct Validator {
    violations: Vec<Violation>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.violations.push(Violation::new(field, reason));
    }

    /// Checks a required text field: non-blank and at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.push(field, "must not be empty");
        } else {
            self.optional_text(field, value, max);
        }
    }

    /// Checks an optional text field's length and that it has no control characters.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) {
        let len = value.chars().count();
        if len > max {
            self.push(
                field,
                format!("is {len} characters long; the limit is {max}"),
            );
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.push(field, "must not contain control characters");
        }
    }

    /// Checks a code: 1..=max characters of letters, digits, `-`, `_`, `.`, `/`.
    pub fn code(&mut self, field: &str, value: &str, max: usize) {
        if value.is_empty() {
            self.push(field, "must not be empty");
            return;
        }
        let len = value.chars().count();
        if len > max {
            self.push(
                field,
                format!("is {len} characters long; the limit is {max}"),
            );
        }
        if !value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            self.push(field, "may hold only letters, digits and - _ . /");
        }
    }

    pub fn merge(&mut self, prefix: &str, err: InvalidInput) {
        self.violations.extend(err.within(prefix).violations);
    }

    pub fn finish(self) -> Result<(), InvalidInput> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(InvalidInput {
                violations: self.violations,
            })
        }
    }
}
