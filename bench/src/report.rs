//! `rtn-report`: the one place where `bench/run.sh`'s results become a report, and the small
//! helpers that script needs (a free port, how busy the machine is).
//!
//!   rtn-report port               # a free TCP port on 127.0.0.1
//!   rtn-report busy               # percent of all CPUs busy over half a second
//!   rtn-report summary DIR CAND   # the tables for every DIR/<scenario>-<label>-<rep>.json
//!
//! Every figure is the median over a scenario's repetitions (sums for counts), the candidate
//! (`gateway`, or a second Node peer) beside the Node peer of the same run, and their ratio.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rtn-report: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["port"] => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            println!("{port}");
        }
        ["busy"] => println!("{}", busy_pct(Duration::from_millis(500)).context("reading /proc/stat")?),
        ["summary", dir, cand] => summary(Path::new(dir), cand)?,
        _ => bail!("usage: rtn-report port | busy | summary DIR CANDIDATE-LABEL"),
    }
    Ok(())
}

/// Percent of all CPUs busy over `over` (from /proc/stat): other tenants' load skews every
/// number on a small machine, so each run records it.
pub fn busy_pct(over: Duration) -> Option<u64> {
    let snap = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        Some((v.iter().sum(), v.get(3)? + v.get(4)?))
    };
    let (t1, i1) = snap()?;
    std::thread::sleep(over);
    let (t2, i2) = snap()?;
    let total = (t2 - t1).max(1);
    Some(100 - (i2 - i1) * 100 / total)
}

/// One run's result: `<scenario>-<label>-<rep>.json` (scenario and label may contain `-`).
struct Run {
    scenario: String,
    label: String,
    v: Value,
}

fn load(dir: &Path) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
        let Some(label) = v["label"].as_str().map(str::to_string) else { continue };
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let Some((base, _rep)) = stem.rsplit_once('-') else { continue };
        let Some(scenario) = base.strip_suffix(&format!("-{label}")) else { continue };
        runs.push(Run { scenario: scenario.to_string(), label, v });
    }
    Ok(runs)
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_f64)
}

fn median(mut vals: Vec<f64>) -> Option<f64> {
    if vals.is_empty() {
        return None;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len();
    Some(if n % 2 == 1 { vals[n / 2] } else { (vals[n / 2 - 1] + vals[n / 2]) / 2.0 })
}

type Metric = fn(&Value) -> Option<f64>;

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
    /// A count or a size: no verdict.
    None,
}

#[derive(Clone, Copy, PartialEq)]
enum Agg {
    Median,
    Sum,
}

struct Row {
    scenario: &'static str,
    name: &'static str,
    metric: Metric,
    better: Better,
    agg: Agg,
    decimals: usize,
}

const fn row(scenario: &'static str, name: &'static str, metric: Metric, better: Better, decimals: usize) -> Row {
    Row { scenario, name, metric, better, agg: Agg::Median, decimals }
}

const fn sum(scenario: &'static str, name: &'static str, metric: Metric) -> Row {
    Row { scenario, name, metric, better: Better::Lower, agg: Agg::Sum, decimals: 0 }
}

fn p(q: &'static str) -> impl Fn(&Value) -> Option<f64> {
    move |v| f(v, &["latency_ms", q])
}

fn kib_per_conn(v: &Value, state: &str) -> Option<f64> {
    let before = f(v, &["server_rss_kib", "before"])?;
    let at = f(v, &["server_rss_kib", state])?;
    let n = f(v, &["clients_ready"]).filter(|&n| n > 0.0)?;
    Some((at - before) / n)
}

fn rows() -> Vec<Row> {
    use Better::*;
    let lost: Metric = |v| f(v, &["lost"]);
    let cpu: Metric = |v| f(v, &["server_cpu_us_per_delivery"]);
    let p50: Metric = |v| p("p50")(v);
    let p99: Metric = |v| p("p99")(v);
    let p999: Metric = |v| p("p999")(v);
    let connect: Metric = |v| f(v, &["connect_secs"]);
    let ready: Metric = |v| f(v, &["clients_ready"]);
    vec![
        row("connect", "clients ready", ready, None, 0),
        row("connect", "time to connect all (s)", connect, Lower, 2),
        row("connect", "server CPU to accept all (s)", |v| f(v, &["server_cpu_secs", "connect"]), Lower, 2),
        row("throughput", "deliveries/s", |v| f(v, &["deliveries_per_sec"]), Higher, 0),
        row("throughput", "server CPU us/delivery", cpu, Lower, 2),
        row("throughput", "latency p50 under burst (ms)", p50, Lower, 1),
        row("throughput", "latency p99 under burst (ms)", p99, Lower, 1),
        sum("throughput", "lost (sum of reps)", lost),
        sum("throughput", "closed early (sum of reps)", ended),
        row("throughput-stream", "deliveries/s", |v| f(v, &["deliveries_per_sec"]), Higher, 0),
        sum("throughput-stream", "lost (sum of reps)", lost),
        row("latency", "server CPU us/delivery", cpu, Lower, 2),
        row("latency", "p50 (ms)", p50, Lower, 2),
        row("latency", "p99 (ms)", p99, Lower, 2),
        row("latency", "p999 (ms)", p999, Lower, 2),
        sum("latency", "lost (sum of reps)", lost),
        row("trickle", "server CPU us/delivery", cpu, Lower, 2),
        row("trickle", "p50 (ms)", p50, Lower, 2),
        row("trickle", "p99 (ms)", p99, Lower, 2),
        row("trickle", "p999 (ms)", p999, Lower, 2),
        sum("trickle", "lost (sum of reps)", lost),
        row("idle", "connections", ready, None, 0),
        row("idle", "time to connect all (s)", connect, Lower, 2),
        row("idle", "RSS per connection, idle (KiB)", |v| kib_per_conn(v, "idle"), Lower, 2),
        row("idle", "RSS per connection, after 5 events (KiB)", |v| kib_per_conn(v, "after"), Lower, 2),
        row("idle", "RSS after 5 events (MiB)", |v| f(v, &["server_rss_kib", "after"]).map(|k| k / 1024.0), Lower, 1),
        sum("idle", "lost (sum of reps)", lost),
        row("backfill-stream", "RSS growth, peak (MiB)", backfill_growth, Lower, 1),
        row("backfill-stream", "clients connected", ready, None, 0),
    ]
}

fn ended(v: &Value) -> Option<f64> {
    Some(v["ended_early"].as_object()?.values().filter_map(Value::as_f64).sum())
}

fn backfill_growth(v: &Value) -> Option<f64> {
    Some((f(v, &["server_rss_kib", "peak"])? - f(v, &["server_rss_kib", "before"])?) / 1024.0)
}

fn fmt(v: Option<f64>, decimals: usize) -> String {
    match v {
        None => "-".into(),
        Some(v) if decimals == 0 => thousands(v.round() as i64),
        Some(v) => format!("{v:.decimals$}"),
    }
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let mut groups = vec![&digits[..head]];
    groups.extend(digits.as_bytes()[head..].chunks(3).map(|g| std::str::from_utf8(g).unwrap_or_default()));
    format!("{}{}", if n < 0 { "-" } else { "" }, groups.join(","))
}

/// A sweep step passes when every ready client got every event with p99 under 100 ms.
fn sweep_pass(v: &Value) -> bool {
    let all_ready = f(v, &["clients_ready"]) == f(v, &["clients"]);
    let planned = f(v, &["events_planned"]);
    all_ready
        && f(v, &["lost"]) == Some(0.0)
        && f(v, &["events_published"]) == planned
        && p("p99")(v).is_some_and(|p| p < 100.0)
}

fn summary(dir: &Path, cand: &str) -> anyhow::Result<()> {
    let runs = load(dir)?;
    let of = |scen: &str, label: &str| -> Vec<&Value> {
        runs.iter().filter(|r| r.scenario == scen && r.label == label).map(|r| &r.v).collect()
    };
    let agg = |row: &Row, label: &str| -> Option<f64> {
        let vals: Vec<f64> = of(row.scenario, label).into_iter().filter_map(row.metric).collect();
        match row.agg {
            Agg::Median => median(vals),
            Agg::Sum if vals.is_empty() => None,
            Agg::Sum => Some(vals.iter().sum()),
        }
    };
    let mut md = Vec::new();
    println!();
    println!("RealTimeNotify bench — {cand} vs the Node peer (medians of each scenario's repetitions)");
    println!("{:<17} {:<42} {:>12} {:>12} {:>7}", "scenario", "metric", cand, "node", "ratio");
    println!("{}", "-".repeat(94));
    for row in rows() {
        let (a, b) = (agg(&row, cand), agg(&row, "node"));
        if a.is_none() && b.is_none() {
            continue;
        }
        let ratio = match (a, b, row.agg) {
            (Some(a), Some(b), Agg::Median) if a != 0.0 && b != 0.0 && row.better != Better::None => {
                let better = if row.better == Better::Higher { a > b } else { a < b };
                format!("{:.2}x {}", a / b, if better { "better" } else { "worse" })
            }
            _ => String::new(),
        };
        let reps = of(row.scenario, cand).len().max(of(row.scenario, "node").len());
        println!(
            "{:<17} {:<42} {:>12} {:>12} {}",
            row.scenario,
            row.name,
            fmt(a, row.decimals),
            fmt(b, row.decimals),
            ratio
        );
        md.push(format!(
            "| {} ({reps} reps) | {} | {} | {} | {} |",
            row.scenario,
            row.name,
            fmt(a, row.decimals),
            fmt(b, row.decimals),
            ratio.split(' ').next().unwrap_or_default()
        ));
    }
    // The rate sweep: files sweep@<rate>-<label>-<rep>.json.
    let mut sweep: BTreeMap<(String, u64), (usize, usize, Vec<f64>)> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.scenario.starts_with("sweep@")) {
        let Ok(rate) = r.scenario["sweep@".len()..].parse::<u64>() else { continue };
        let e = sweep.entry((r.label.clone(), rate)).or_default();
        e.0 += 1;
        e.1 += usize::from(sweep_pass(&r.v));
        e.2.extend(p("p99")(&r.v));
    }
    if !sweep.is_empty() {
        println!("\nrate sweep (all clients get every event, p99 < 100 ms; a rate passes in most of its reps):");
        for label in [cand, "node"] {
            let steps: Vec<String> = sweep
                .iter()
                .filter(|((l, _), _)| l == label)
                .map(|((_, rate), (n, pass, p99))| {
                    format!(
                        "{rate}/s {} (p99 {} ms, {pass}/{n})",
                        if pass * 2 > *n { "ok" } else { "FAIL" },
                        fmt(median(p99.clone()), 1)
                    )
                })
                .collect();
            let best = sweep
                .iter()
                .filter(|((l, _), (n, pass, _))| l == label && pass * 2 > *n)
                .map(|((_, rate), _)| *rate)
                .max();
            println!(
                "  {label:<8} highest passing: {:>6}   {}",
                best.map_or("none".into(), |b| format!("{b}/s")),
                steps.join("; ")
            );
            md.push(format!(
                "| sweep | highest steady rate, all delivered, p99 < 100 ms ({label}) | {} | | |",
                best.map_or("none".into(), |b| format!("{b} ev/s"))
            ));
        }
    }
    let mut ended: BTreeMap<String, f64> = BTreeMap::new();
    for r in &runs {
        for (what, key) in [("", "ended_early"), ("connect: ", "connect_errors")] {
            for (k, n) in r.v[key].as_object().into_iter().flatten() {
                *ended.entry(format!("{} {}: {what}{k}", r.scenario, r.label)).or_default() +=
                    n.as_f64().unwrap_or(0.0);
            }
        }
    }
    if !ended.is_empty() {
        println!("\nconnections ended early / failed:");
        for (k, n) in ended {
            println!("  {k} x{n}");
        }
    }
    let noisy: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            f(&r.v, &["machine_busy_pct"]).filter(|&b| b > 25.0).map(|b| format!("{}-{} ({b}%)", r.scenario, r.label))
        })
        .collect();
    if !noisy.is_empty() {
        println!("\nWARNING: the machine was busy before {} of {} runs: {}", noisy.len(), runs.len(), noisy.join(", "));
    }
    println!("\n--- summary (markdown) ---");
    println!("| scenario | metric | {cand} | Node peer | ratio |");
    println!("|---|---|--:|--:|--:|");
    for line in md {
        println!("{line}");
    }
    println!("\nratio = {cand} / node.  Raw results: {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(thousands(1_305_123), "1,305,123");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn a_sweep_step_passes_only_with_everything_delivered_in_time() {
        let ok = serde_json::json!({"clients": 10, "clients_ready": 10, "lost": 0, "events_planned": 5,
            "events_published": 5, "latency_ms": {"p99": 12.0}});
        assert!(sweep_pass(&ok));
        let mut slow = ok.clone();
        slow["latency_ms"]["p99"] = 150.0.into();
        assert!(!sweep_pass(&slow));
        let mut lossy = ok.clone();
        lossy["lost"] = 1.into();
        assert!(!sweep_pass(&lossy));
    }
}
