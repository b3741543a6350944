//! A dynamic statement with numbered arguments, for the `IN (…)` lists the
//! stock rules read with (the same text runs on both engines).

use std::fmt::Display;

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::error::StoreResult;
use crate::rows::Arg;

pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Adds a text argument and returns its placeholder.
    pub(crate) fn text(&mut self, value: impl Display) -> String {
        self.args.push(Arg::Text(value.to_string()));
        format!("${}", self.args.len())
    }

    /// Adds an integer argument and returns its placeholder.
    pub(crate) fn int(&mut self, value: i64) -> String {
        self.args.push(Arg::Int(value));
        format!("${}", self.args.len())
    }

    /// `($1, $2, …)` for `items`; `(NULL)` (which matches nothing) when empty.
    pub(crate) fn list<T: Display>(&mut self, items: impl IntoIterator<Item = T>) -> String {
        let placeholders: Vec<String> = items.into_iter().map(|i| self.text(i)).collect();
        if placeholders.is_empty() {
            "(NULL)".to_string()
        } else {
            format!("({})", placeholders.join(", "))
        }
    }

    pub(crate) async fn fetch_all(self, tx: &mut Transaction<'_, Any>) -> StoreResult<Vec<AnyRow>> {
        let mut query = sqlx::query(&self.text);
        for arg in self.args {
            query = arg.bind(query);
        }
        Ok(query.fetch_all(&mut **tx).await?)
    }
}
