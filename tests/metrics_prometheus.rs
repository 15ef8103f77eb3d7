//! A real Prometheus server scrapes the operator while federated objects
//! propagate; its HTTP API must then report the expected sync metrics.

mod common;

use common::{Controller, Testbed, eventually, free_port};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A Prometheus server on 127.0.0.1 scraping one target every second; stopped when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    fn start(target: u16) -> Prometheus {
        let binary = std::env::var_os("PROMETHEUS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
        assert!(
            binary.is_file(),
            "no Prometheus server at {} (Debian package `prometheus`; .ci/run installs it, or set PROMETHEUS)",
            binary.display()
        );
        let dir = TempDir(std::env::temp_dir().join(format!("kfed-prometheus-{}", std::process::id())));
        std::fs::create_dir_all(dir.0.join("data")).expect("temp dir");
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n- job_name: kfed\n  static_configs:\n  - targets: ['127.0.0.1:{target}']\n"
        );
        std::fs::write(dir.0.join("prometheus.yml"), config).expect("config");
        let port = free_port();
        let log = std::fs::File::create(dir.0.join("prometheus.log")).expect("log");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", dir.0.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, port, _dir: dir };
        eventually("Prometheus to be ready", WAIT, || {
            prometheus.get("/-/ready").ok().map(|_| ())
        });
        prometheus
    }

    fn get(&self, path: &str) -> Result<String, String> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "--max-time",
                "5",
                &format!("http://127.0.0.1:{}{path}", self.port),
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("curl {path}: {}", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The value of an instant PromQL query that returns one sample (None when it returns none).
    fn query(&self, promql: &str) -> Option<f64> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "--max-time",
                "5",
                "--get",
                &format!("http://127.0.0.1:{}/api/v1/query", self.port),
            ])
            .args(["--data-urlencode", &format!("query={promql}")])
            .output()
            .ok()?;
        let body: Value = serde_json::from_slice(&out.stdout).ok()?;
        assert_eq!(body["status"], "success", "query {promql} failed: {body}");
        let result = &body["data"]["result"];
        if body["data"]["resultType"] == "scalar" {
            return result[1].as_str()?.parse().ok();
        }
        let series = result.as_array()?;
        assert!(series.len() <= 1, "query {promql} returned several series: {body}");
        series.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits until a scrape newer than now has been stored, so queries see the present.
    fn wait_fresh_scrape(&self) {
        let start = self.query("time()").unwrap_or_default();
        eventually("a fresh scrape", WAIT, || {
            (self.query("timestamp(up{job=\"kfed\"})")? > start + 1.0).then_some(())
        });
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_sync_metrics() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-metrics";
    tb.federated_namespace(ns, &members);
    let metrics_port = free_port();
    let address = format!("127.0.0.1:{metrics_port}");
    let controller = Controller::start(&tb, "metrics", &["--metrics-bind-address", &address]);
    let prometheus = Prometheus::start(metrics_port);
    eventually("the operator to be scraped and ready", WAIT, || {
        (prometheus.query("up{job=\"kfed\"}")? == 1.0).then_some(())
    });
    eventually("the operator's /readyz", WAIT, || {
        prometheus
            .query("kfed_joined_clusters")
            .filter(|n| *n >= 2.0)
            .map(|_| ())
    });

    let created =
        "sum(kfed_member_operations_total{kind=\"federatedconfigmap\",operation=\"create\",result=\"success\"})";
    let latency_count = "sum(kfed_propagation_latency_seconds_count{kind=\"federatedconfigmap\"})";
    prometheus.wait_fresh_scrape();
    let created_before = prometheus.query(created).unwrap_or(0.0);
    let measured_before = prometheus.query(latency_count).unwrap_or(0.0);

    const OBJECTS: usize = 10;
    let items: Vec<Value> = (0..OBJECTS)
        .map(|i| {
            json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
                "metadata": {"name": format!("m-{i}"), "namespace": ns},
                "spec": {"template": {"data": {"i": i.to_string()}}, "placement": {"clusters": [{"name": "member1"}, {"name": "member2"}]}}
            })
        })
        .collect();
    tb.apply(
        "host",
        &json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
    for i in 0..OBJECTS {
        for member in &members[..2] {
            eventually(&format!("m-{i} in {member}"), WAIT, || {
                tb.get(member, "configmap", Some(ns), &format!("m-{i}"))
            });
        }
    }
    eventually("every object's status to be written", WAIT, || {
        (0..OBJECTS)
            .all(|i| {
                tb.get("host", "federatedconfigmap", Some(ns), &format!("m-{i}"))
                    .is_some_and(|o| common::propagation(&o).0.as_deref() == Some("True"))
            })
            .then_some(())
    });
    prometheus.wait_fresh_scrape();

    let created_now = prometheus.query(created).expect("member creates are exported");
    assert_eq!(
        created_now - created_before,
        (OBJECTS * 2) as f64,
        "one create per object and member"
    );
    let measured_now = prometheus
        .query(latency_count)
        .expect("propagation latency is exported");
    assert_eq!(
        measured_now - measured_before,
        OBJECTS as f64,
        "one propagation latency per object"
    );
    let p99 = prometheus
        .query("histogram_quantile(0.99, sum by (le) (kfed_propagation_latency_seconds_bucket{kind=\"federatedconfigmap\"}))")
        .expect("latency quantile");
    assert!(p99 > 0.0 && p99 < 30.0, "propagation p99 {p99}s");
    for member in &members[..2] {
        assert_eq!(
            prometheus.query(&format!("kfed_cluster_ready{{cluster=\"{member}\"}}")),
            Some(1.0),
            "{member} ready"
        );
        let probes = prometheus.query(&format!(
            "kfed_cluster_health_probe_duration_seconds_count{{cluster=\"{member}\"}}"
        ));
        assert!(probes.is_some_and(|n| n > 0.0), "{member} probes are timed");
    }
    let errors = prometheus
        .query("sum(kfed_reconciles_total{kind=\"federatedconfigmap\",result=\"error\"})")
        .unwrap_or(0.0);
    assert_eq!(errors, 0.0, "no failed reconciles");
    assert!(
        prometheus
            .query("sum(kfed_reconciles_total{kind=\"federatedconfigmap\",result=\"success\"})")
            .is_some_and(|n| n >= OBJECTS as f64)
    );
    assert!(
        prometheus
            .query("sum(kfed_host_writes_total{kind=\"federatedconfigmap\",type=\"status\"})")
            .is_some_and(|n| n >= OBJECTS as f64)
    );
    assert!(
        prometheus
            .query("process_resident_memory_bytes{job=\"kfed\"}")
            .is_some_and(|n| n > 1e6)
    );

    // A converged federation: further scrapes show no new member writes, only skips.
    let writes = "sum(kfed_member_operations_total)";
    let writes_before = prometheus.query(writes).expect("writes");
    tb.kubectl_ok("member1", &["delete", "configmap", "m-0", "-n", ns]);
    eventually("m-0 recreated", WAIT, || {
        tb.get("member1", "configmap", Some(ns), "m-0")
    });
    prometheus.wait_fresh_scrape();
    assert_eq!(
        prometheus.query(writes).expect("writes") - writes_before,
        1.0,
        "exactly one write repairs the deleted object"
    );

    // Deleting them costs exactly one finalizer write per object on the host: kfed's
    // JSON patch; a reconcile that follows on a member's delete event sends none.
    let finalizer_patches = |tb: &Testbed| -> u64 {
        tb.writes("host")
            .iter()
            .filter(|(series, _)| {
                series.contains("verb=\"PATCH\"")
                    && series.contains("resource=\"federatedconfigmaps\"")
                    && series.contains("subresource=\"\"")
            })
            .map(|(_, n)| n)
            .sum()
    };
    let patches_before = finalizer_patches(&tb);
    let names: Vec<String> = (0..OBJECTS).map(|i| format!("m-{i}")).collect();
    let mut args = vec!["delete", "federatedconfigmap", "-n", ns, "--wait=false"];
    args.extend(names.iter().map(String::as_str));
    tb.kubectl_ok("host", &args);
    eventually("the federated objects to be gone", WAIT, || {
        let left = tb.kubectl_ok("host", &["get", "federatedconfigmaps", "-n", ns, "-o", "name"]);
        left.trim().is_empty().then_some(())
    });
    for member in &members[..2] {
        eventually("the member objects to be gone", WAIT, || {
            let left = tb.kubectl_ok(member, &["get", "configmaps", "-n", ns, "-o", "name"]);
            (!left.contains("configmap/m-")).then_some(())
        });
    }
    // A second release attempt would follow the member's delete event within moments.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        finalizer_patches(&tb) - patches_before,
        OBJECTS as u64,
        "finalizer patches to the host for {OBJECTS} deletes"
    );
    drop(prometheus);
    controller.stop();
}
