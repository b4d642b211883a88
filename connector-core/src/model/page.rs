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

/// Marks a token of [`Page::from_keyed`], so an offset token (or any other) is refused rather
/// than read as a key.
const KEY_TOKEN_PREFIX: &str = "k:";

impl<T> Page<T> {
    /// A last page.
    pub fn last(items: Vec<T>) -> Self {
        Self { items, next: None }
    }

    /// Cuts an already filtered, stably ordered list into pages using the item offset as the
    /// token. Connectors whose cloud filters client-side share this.
    ///
    /// An item removed from an earlier page between two calls shifts every later item left by
    /// one, so one item is never returned; prefer [`Page::from_keyed`] where items have a
    /// stable unique key.
    pub fn from_offset(
        all: Vec<T>,
        page_size: Option<u32>,
        token: Option<&str>,
        max_page: u32,
    ) -> Result<Self, crate::Error> {
        let start: usize = match token {
            None => 0,
            Some(t) => t.parse().map_err(|_| bad_token(t))?,
        };
        let size = page_len(page_size, max_page);
        let end = (start + size).min(all.len());
        let next = (end < all.len()).then(|| end.to_string());
        let items = all
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect();
        Ok(Self { items, next })
    }

    /// Cuts an already filtered list into pages ordered by `key`, which must be unique and
    /// never change for an item (a cloud's resource id). The token is the last key returned
    /// and the next page starts strictly after it, so an item deleted from an earlier page
    /// never makes a later one skip a page, and an item created meanwhile is returned at most
    /// once (on a later page if its key sorts after the token, otherwise not at all).
    /// Keys compare byte-wise: a total order that needs no knowledge of the key's format.
    pub fn from_keyed<F>(
        mut all: Vec<T>,
        key: F,
        page_size: Option<u32>,
        token: Option<&str>,
        max_page: u32,
    ) -> Result<Self, crate::Error>
    where
        F: Fn(&T) -> &str,
    {
        let after = match token {
            None => None,
            Some(t) => Some(
                t.strip_prefix(KEY_TOKEN_PREFIX)
                    .ok_or_else(|| bad_token(t))?,
            ),
        };
        if let Some(after) = after {
            all.retain(|item| key(item) > after);
        }
        all.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        let size = page_len(page_size, max_page);
        let next = (all.len() > size).then(|| format!("{KEY_TOKEN_PREFIX}{}", key(&all[size - 1])));
        all.truncate(size);
        Ok(Self { items: all, next })
    }
}

/// Items on one page: as asked, within 1..=`max_page`, `max_page` if not asked.
fn page_len(page_size: Option<u32>, max_page: u32) -> usize {
    page_size.unwrap_or(max_page).clamp(1, max_page.max(1)) as usize
}

fn bad_token(token: &str) -> crate::Error {
    crate::Error::invalid_spec(
        "page_token",
        format!("page token {token:?} is not one this connector issued"),
    )
}

#[cfg(test)]
mod keyed_tests {
    use super::*;
    use crate::ErrorKind;

    const MAX: u32 = 100;

    fn ids(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| format!("vm-{i}")).collect()
    }

    fn page(all: &[String], size: u32, token: Option<&str>) -> Page<String> {
        Page::from_keyed(
            all.to_vec(),
            |s: &String| s.as_str(),
            Some(size),
            token,
            MAX,
        )
        .unwrap()
    }

    /// Every page from the first, of `size` items, reading `all` afresh before each call.
    fn every_page(mut all: impl FnMut(usize) -> Vec<String>, size: u32) -> Vec<String> {
        let mut seen = Vec::new();
        let mut token = None;
        for call in 0.. {
            assert!(call < 100, "paging never ends");
            let p = page(&all(call), size, token.as_deref());
            assert!(p.items.len() <= size as usize);
            seen.extend(p.items);
            match p.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        seen
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn pages_in_key_order_and_ends() {
        // Unsorted input; byte order puts vm-10 before vm-2.
        let all = vec!["vm-2".to_owned(), "vm-10".into(), "vm-1".into()];
        let p1 = page(&all, 2, None);
        assert_eq!(p1.items, ["vm-1", "vm-10"]);
        let p2 = page(&all, 2, p1.next.as_deref());
        assert_eq!((p2.items, p2.next), (vec!["vm-2".to_owned()], None));
        // A page that ends exactly on the last item is the last page.
        let p = page(&all, 3, None);
        assert_eq!((p.items.len(), p.next), (3, None));
        assert_eq!(every_page(|_| ids(0..7), 2), sorted(ids(0..7)));
        assert_eq!(every_page(|_| Vec::new(), 2), Vec::<String>::new());
    }

    #[test]
    fn a_delete_between_pages_skips_nothing() {
        let all = sorted(ids(0..6));
        for deleted in 0..all.len() {
            for size in 1..=3 {
                let seen = every_page(
                    |call| {
                        let mut now = all.clone();
                        if call > 0 {
                            now.remove(deleted);
                        }
                        now
                    },
                    size,
                );
                let mut expected = all.clone();
                let gone = expected.remove(deleted);
                let mut rest = seen.clone();
                rest.retain(|s| *s != gone);
                assert_eq!(rest, expected, "deleted {gone}, pages of {size}");
            }
        }
    }

    #[test]
    fn the_offset_pager_skips_on_a_delete() {
        // Why from_keyed exists: the same delete loses an item with offsets.
        let all = sorted(ids(0..4));
        let p1 = Page::from_offset(all.clone(), Some(2), None, MAX).unwrap();
        let mut now = all.clone();
        now.remove(0);
        let p2 = Page::from_offset(now, Some(2), p1.next.as_deref(), MAX).unwrap();
        assert_eq!(p2.items, [all[3].clone()], "{} was skipped", all[2]);
    }

    #[test]
    fn an_insert_between_pages_is_seen_at_most_once() {
        let all = sorted(ids(10..16));
        let inserted = ["vm-0", "vm-12a", "vm-99"];
        for new in inserted {
            for size in 1..=3 {
                let seen = every_page(
                    |call| {
                        let mut now = all.clone();
                        if call > 0 {
                            now.push(new.to_owned());
                        }
                        now
                    },
                    size,
                );
                let mut rest = seen.clone();
                rest.retain(|s| s != new);
                assert_eq!(rest, all, "inserted {new}, pages of {size}");
                assert!(seen.len() - rest.len() <= 1, "{new} twice: {seen:?}");
            }
        }
        // One sorting after every key already returned is seen.
        let seen = every_page(
            |call| {
                let mut now = all.clone();
                if call > 0 {
                    now.push("vm-99".into());
                }
                now
            },
            2,
        );
        assert!(seen.contains(&"vm-99".to_owned()));
    }

    #[test]
    fn page_size_is_clamped_to_the_maximum() {
        let all = ids(0..10);
        let p = Page::from_keyed(all.clone(), |s: &String| s.as_str(), None, None, 4).unwrap();
        assert_eq!(p.items.len(), 4);
        let p = Page::from_keyed(all, |s: &String| s.as_str(), Some(0), None, 4).unwrap();
        assert_eq!(p.items.len(), 1);
    }

    #[test]
    fn tokens_it_did_not_issue_are_refused() {
        let all = ids(0..3);
        for bad in ["2", "", "vm-1", "K:vm-1", " k:vm-1"] {
            let e = Page::from_keyed(
                all.clone(),
                |s: &String| s.as_str(),
                Some(2),
                Some(bad),
                MAX,
            )
            .unwrap_err();
            assert_eq!(
                (e.kind(), e.field()),
                (&ErrorKind::InvalidSpec, Some("page_token")),
                "{bad:?}: {e}"
            );
        }
        // A key token past every item is a valid, empty last page.
        let p = page(&all, 2, Some("k:zz")).next;
        assert_eq!(p, None);
    }
}

#[cfg(test)]
mod offset_tests {
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
