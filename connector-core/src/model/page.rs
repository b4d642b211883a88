//! One page of a listing.

use serde::{Deserialize, Serialize};

/// Items plus the token of the next page, `None` on the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this back to get the next page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A last page.
    pub fn last(items: Vec<T>) -> Self {
        Self { items, next: None }
    }

    /// Cuts an already filtered, stably ordered list into pages using the item offset as the
    /// token. Connectors whose cloud filters client-side share this.
    pub fn from_offset(
        all: Vec<T>,
        page_size: Option<u32>,
        token: Option<&str>,
        max_page: u32,
    ) -> Result<Self, crate::Error> {
        let start: usize = match token {
            None => 0,
            Some(t) => t.parse().map_err(|_| {
                crate::Error::invalid_spec(
                    "page_token",
                    format!("page token {t:?} is not one this connector issued"),
                )
            })?,
        };
        let size = page_size.unwrap_or(max_page).clamp(1, max_page.max(1)) as usize;
        let end = (start + size).min(all.len());
        let next = (end < all.len()).then(|| end.to_string());
        let items = all
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect();
        Ok(Self { items, next })
    }
}
