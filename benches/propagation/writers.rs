//! The bench's own writes: many at once, rate-limited, each retried, within a deadline.

use crate::{REQUEST_TIMEOUT, progress};
use anyhow::{Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) fn limiter(qps: NonZeroU32) -> DefaultDirectRateLimiter {
    let burst = NonZeroU32::new(qps.get().saturating_mul(2)).unwrap_or(qps);
    DefaultDirectRateLimiter::direct(Quota::per_second(qps).allow_burst(burst))
}

pub(crate) struct Written {
    pub(crate) elapsed: Duration,
    pub(crate) retries: u64,
}

/// Runs `op(i)` for i in 0..n with `writers` in flight, each request limited and retried
/// up to 5 times; fails when a write keeps failing or the deadline passes.
pub(crate) async fn write_all<F, Fut>(
    what: &str,
    n: usize,
    writers: usize,
    limiter: Option<&DefaultDirectRateLimiter>,
    deadline: Instant,
    op: F,
) -> Result<Written>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let started = Instant::now();
    let retries = AtomicU64::new(0);
    let (op, retries_ref) = (&op, &retries);
    let work = futures::stream::iter(0..n)
        .map(|i| async move {
            let mut attempt = 0u32;
            loop {
                if let Some(l) = limiter {
                    l.until_ready().await;
                }
                let result = match tokio::time::timeout(REQUEST_TIMEOUT, op(i)).await {
                    Ok(r) => r.map_err(anyhow::Error::from),
                    Err(_) => Err(anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
                };
                match result {
                    Ok(()) => return Ok(()),
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        if retries_ref.fetch_add(1, Ordering::Relaxed) < 5 {
                            progress(format!("  {what} #{i}: {e:#} (retrying)"));
                        }
                        tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                    }
                    Err(e) => return Err(e.context(format!("{what} #{i} failed 6 times"))),
                }
            }
        })
        .buffer_unordered(writers.max(1))
        .try_for_each(|()| futures::future::ready(Ok(())));
    match tokio::time::timeout_at(deadline.into(), work).await {
        Err(_) => bail!("{what}: the writes did not finish before the deadline"),
        Ok(result) => result?,
    }
    Ok(Written {
        elapsed: started.elapsed(),
        retries: retries.load(Ordering::Relaxed),
    })
}
