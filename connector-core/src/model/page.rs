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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// Every page of `all` in turn, following the tokens.
    fn pages(all: &[u32], page_size: Option<u32>, max_page: u32) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let p = Page::from_offset(all.to_vec(), page_size, token.as_deref(), max_page).unwrap();
            out.push(p.items);
            match p.next {
                Some(t) => token = Some(t),
                None => return out,
            }
        }
    }

    #[test]
    fn pages_cover_everything_once_in_order_and_never_exceed_the_size() {
        let all: Vec<u32> = (0..7).collect();
        assert_eq!(
            pages(&all, Some(3), 100),
            [vec![0, 1, 2], vec![3, 4, 5], vec![6]]
        );
        assert_eq!(pages(&all, Some(7), 100), vec![all.clone()]);
        // The connector's maximum caps the size asked for, and no size means the maximum.
        assert_eq!(pages(&all, Some(50), 4), [vec![0, 1, 2, 3], vec![4, 5, 6]]);
        assert_eq!(pages(&all, None, 4), [vec![0, 1, 2, 3], vec![4, 5, 6]]);
        // Zero is one, not an endless run of empty pages.
        assert_eq!(pages(&all[..2], Some(0), 100), [vec![0], vec![1]]);
        assert_eq!(pages(&[], Some(3), 100), [Vec::<u32>::new()]);
    }

    #[test]
    fn a_token_past_the_end_is_an_empty_last_page_and_a_foreign_one_is_refused() {
        let p = Page::from_offset(vec![1, 2], Some(5), Some("9"), 100).unwrap();
        assert_eq!(p, Page::last(vec![]));
        let e = Page::from_offset(vec![1, 2], None, Some("eyJ4Ijox"), 100).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSpec);
        assert_eq!(e.field(), Some("page_token"));
        assert!(e.to_string().contains("eyJ4Ijox"), "{e}");
    }
}
