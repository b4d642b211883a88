//! strato page tokens over EC2 pages, and whole listings.
//!
//! EC2's MaxResults is a hint (at least 5; moto counts reservations, real EC2 may return a
//! reservation whole), while strato promises never to return more than `page_size`. A strato
//! token is therefore `SKIP:EC2TOKEN`: the EC2 page to (re)read and how many of its items the
//! caller has already seen.

use strato_core::{Error, Page, Result};

/// A decoded token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    /// Items of the EC2 page already returned.
    pub skip: usize,
    /// The EC2 token of the page (`None`: the first page).
    pub ec2: Option<String>,
}

impl Token {
    /// Parses a token this connector issued.
    pub fn parse(t: Option<&str>) -> Result<Self> {
        let Some(t) = t else {
            return Ok(Self::default());
        };
        let bad = || {
            Error::invalid_spec(
                "page_token",
                format!("page token {t:?} is not one this connector issued"),
            )
        };
        let (skip, ec2) = t.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            skip: skip.parse().map_err(|_| bad())?,
            ec2: (!ec2.is_empty()).then(|| ec2.to_owned()),
        })
    }

    fn encode(&self) -> String {
        format!("{}:{}", self.skip, self.ec2.as_deref().unwrap_or(""))
    }
}

/// Every item of an EC2 listing: `fetch(ec2_token)` reads one page (items and next token), and
/// pages are read until EC2 gives no next token.
pub async fn all<T, F, Fut>(mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = fetch(token.take()).await?;
        all.extend(items);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(all),
        }
    }
}

/// Cuts one strato page out of EC2 pages fetched by `fetch(ec2_token, max_results)`, of the
/// items `keep` converts (`None`: not the caller's, or not matching its query). Skips empty EC2
/// pages (bounded), never returns more than `page_size` items.
pub async fn page<R, T, F, Fut>(
    page_size: Option<u32>,
    token: Option<&str>,
    max_page: u32,
    mut fetch: F,
    keep: impl Fn(&R) -> Option<T>,
) -> Result<Page<T>>
where
    F: FnMut(Option<String>, i32) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<R>, Option<String>)>>,
{
    let want = page_size.unwrap_or(max_page).clamp(1, max_page) as usize;
    let mut tok = Token::parse(token)?;
    // An owner's items may be sparse among EC2's pages; a bounded number of empty pages are
    // skipped so callers do not see long runs of empty pages.
    for _ in 0..50 {
        let (items, next) = fetch(tok.ec2.clone(), want as i32).await?;
        let next = next.filter(|n| !n.is_empty());
        let rest: Vec<T> = items.iter().filter_map(&keep).skip(tok.skip).collect();
        if rest.len() > want {
            let items: Vec<T> = rest.into_iter().take(want).collect();
            let next = Token {
                skip: tok.skip + want,
                ec2: tok.ec2.clone(),
            };
            return Ok(Page {
                items,
                next: Some(next.encode()),
            });
        }
        match next {
            None => return Ok(Page::last(rest)),
            Some(n) if !rest.is_empty() => {
                return Ok(Page {
                    items: rest,
                    next: Some(
                        Token {
                            skip: 0,
                            ec2: Some(n),
                        }
                        .encode(),
                    ),
                });
            }
            Some(n) => {
                tok = Token {
                    skip: 0,
                    ec2: Some(n),
                }
            }
        }
    }
    Ok(Page {
        items: Vec::new(),
        next: Some(tok.encode()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EC2 pages of 7 items (a reservation returned whole exceeds MaxResults).
    async fn fetch(t: Option<String>, _max: i32) -> Result<(Vec<u32>, Option<String>)> {
        let p: u32 = t.map(|t| t.parse().unwrap()).unwrap_or(0);
        let items = (p * 7..p * 7 + 7).collect();
        Ok((items, (p < 2).then(|| (p + 1).to_string())))
    }

    fn keep_all(i: &u32) -> Option<u32> {
        Some(*i)
    }

    #[tokio::test]
    async fn pages_never_exceed_the_size_and_cover_everything_once() {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = page(Some(3), token.as_deref(), 1000, fetch, keep_all)
                .await
                .unwrap();
            assert!(p.items.len() <= 3);
            all.extend(p.items);
            match p.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(all, (0..21).collect::<Vec<_>>());
        assert!(
            page(Some(3), Some("garbage"), 1000, fetch, keep_all)
                .await
                .is_err()
        );
    }
}
