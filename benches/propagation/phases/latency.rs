//! Phase 3: the latency of single template edits, one after another, until both
//! members show them.

use crate::objects::{apply_fcm, cm_name};
use crate::report::{Report, ms, secs};
use crate::views::{View, Views, wait_met};
use crate::{Env, REQUEST_TIMEOUT, progress};
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

impl Env {
    /// 3. Latency of single edits, one after another.
    pub(crate) async fn latency(&self, report: &mut Report, views: &Views) -> Result<()> {
        let (n, edits) = (self.args.objects, self.args.latency_edits);
        if n == 0 || edits == 0 {
            return Ok(());
        }
        progress(format!("latency: {edits} single edits"));
        let api = self.fcm_api();
        let mut latencies = Vec::with_capacity(edits);
        let phase_start = Instant::now();
        for k in 0..edits {
            let i = rand::random_range(0..n);
            let value = format!("l{k}");
            for view in &views.cms {
                view.expect(HashMap::from([(cm_name(i), Some(value.clone()))]));
            }
            let started = Instant::now();
            tokio::time::timeout(REQUEST_TIMEOUT, apply_fcm(&api, i, &value))
                .await
                .with_context(|| format!("latency edit {k}: the host did not answer"))?
                .with_context(|| format!("latency edit {k}"))?;
            let cms: Vec<&View> = views.cms.iter().collect();
            let done = wait_met(
                &cms,
                started + Duration::from_secs(30),
                &format!("edit {k} of {}", cm_name(i)),
            )
            .await?;
            latencies.push(done.saturating_duration_since(started));
            if (k + 1) % 50 == 0 {
                progress(format!("  {} edits done", k + 1));
            }
        }
        latencies.sort();
        let pick = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
        let (p50, p99, max) = (pick(0.50), pick(0.99), latencies[latencies.len() - 1]);
        let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
        report.set(
            "latency",
            json!({
                "edits": edits, "p50_ms": p50.as_secs_f64() * 1e3, "p99_ms": p99.as_secs_f64() * 1e3,
                "max_ms": max.as_secs_f64() * 1e3, "mean_ms": mean.as_secs_f64() * 1e3,
                "min_ms": latencies[0].as_secs_f64() * 1e3,
            }),
        );
        report.row(
            "3. latency: one template edit until both members show it",
            format!("p50 **{}**, p99 **{}**, max {}", ms(p50), ms(p99), ms(max)),
            format!(
                "{edits} edits of random objects, sequential (min {}, mean {}, {} in total)",
                ms(latencies[0]),
                ms(mean),
                secs(phase_start.elapsed())
            ),
        );
        Ok(())
    }
}
