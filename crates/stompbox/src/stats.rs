//! `stompbox stats [--url URL]`: a running server's close analytics, from its `/api/stats`; for
//! a node in a cluster, also every node's and the cluster's summed close codes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::UsageError;

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The server's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8081", value_name = "URL")]
    url: String,
    /// Print the raw JSON.
    #[arg(long)]
    json: bool,
}

/// A plain HTTP/1.1 GET (loopback and LAN use; no TLS).
fn get(base: &str, path: &str) -> anyhow::Result<String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| UsageError(format!("--url `{base}`: expected http://HOST:PORT")))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority)
        .with_context(|| format!("connecting to {authority} (is `stompbox serve` running?)"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .context("reading the response")?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        anyhow::bail!("{path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

pub(crate) fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let body = get(&args.url, "/api/stats")?;
    let v: Value = serde_json::from_str(&body).context("parsing /api/stats")?;
    if args.json {
        println!("{v:#}");
        return Ok(());
    }
    println!(
        "sessions open: {}   opened since start: {}",
        v["sessionsOpen"], v["sessionsOpened"]
    );
    println!("\ncloses by code:");
    print_closes(&v["closes"]);
    print_idle("abnormal closes (no Close frame)", &v["abnormalIdle"]);
    let findings = v["idleTimeouts"].as_array().cloned().unwrap_or_default();
    if findings.is_empty() {
        println!("\nno idle timeout detected on the path to clients");
    } else {
        println!("\nidle timeouts detected on the path to clients:");
        for f in findings {
            let secs = f["idleSeconds"].as_f64().unwrap_or(0.0);
            println!(
                "  about {secs:.1} s ({} sessions): keep heartbeats below {:.0} s, or raise that timeout",
                f["sessions"],
                f["adviceSeconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
    if let Some(cluster) = v.get("cluster") {
        print_cluster(cluster);
    }
    Ok(())
}

fn print_closes(closes: &Value) {
    println!("  {:>5}  {:<28} {:<8} {:>8}", "code", "name", "by", "count");
    for c in closes.as_array().into_iter().flatten() {
        println!(
            "  {:>5}  {:<28} {:<8} {:>8}",
            c["code"].to_string(),
            c["name"].as_str().unwrap_or("-"),
            c["closedBy"].as_str().unwrap_or("-"),
            c["count"].to_string()
        );
    }
}

fn print_idle(title: &str, idle: &Value) {
    println!("\n{title}: {}, server silence before them:", idle["count"]);
    let mut previous = 0;
    for b in idle["buckets"].as_array().into_iter().flatten() {
        let n = b["count"].as_u64().unwrap_or(0);
        if n > previous {
            let le = b["le"]
                .as_f64()
                .map_or("+Inf".to_string(), |l| format!("{l} s"));
            println!("  <= {le:>7}: {}", n - previous);
        }
        previous = n;
    }
}

/// The `cluster` section: one line per node, then the cluster's close codes and idle times.
fn print_cluster(cluster: &Value) {
    let name = cluster["name"].as_str().unwrap_or("?");
    let this = cluster["node"].as_str().unwrap_or("");
    if cluster["available"].as_bool() != Some(true) {
        println!(
            "\ncluster `{name}`: the other nodes' figures are unavailable ({}); the figures above are this node's ({this})",
            cluster["error"].as_str().unwrap_or("no reason given")
        );
        return;
    }
    let nodes = cluster["nodes"].as_array().cloned().unwrap_or_default();
    let read_at = cluster["readAtMs"].as_u64().unwrap_or(0);
    println!(
        "\ncluster `{name}`: {} node(s); the figures above are this node's ({this})",
        nodes.len()
    );
    println!(
        "  {:<16}  {:<21} {:>8} {:>8} {:>8} {:>8}  {:>6}",
        "node", "listen", "open", "opened", "closed", "abnormal", "age"
    );
    for n in &nodes {
        let id = n["node"].as_str().unwrap_or("?");
        let closed: u64 = n["closes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["count"].as_u64())
            .sum();
        let age = read_at.saturating_sub(n["timeMs"].as_u64().unwrap_or(read_at));
        println!(
            "  {:<16}  {:<21} {:>8} {:>8} {:>8} {:>8}  {:>6.1} s{}",
            id,
            n["listen"].as_str().unwrap_or("-"),
            n["sessionsOpen"].to_string(),
            n["sessionsOpened"].to_string(),
            closed,
            n["abnormalIdle"]["count"].to_string(),
            age as f64 / 1000.0,
            if id == this { "  (this node)" } else { "" }
        );
    }
    let total = &cluster["total"];
    println!(
        "\ncluster sessions open: {}   opened since the nodes started: {}",
        total["sessionsOpen"], total["sessionsOpened"]
    );
    println!("\ncluster closes by code (all nodes):");
    print_closes(&total["closes"]);
    print_idle(
        "cluster abnormal closes (no Close frame)",
        &total["abnormalIdle"],
    );
    let findings = total["idleTimeouts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if findings.is_empty() {
        println!("\nno idle timeout detected by any node");
    } else {
        println!("\nidle timeouts detected by the nodes:");
        for f in findings {
            println!(
                "  about {:.1} s ({} sessions on {} node(s)): keep heartbeats below {:.0} s, or raise that timeout",
                f["idleSeconds"].as_f64().unwrap_or(0.0),
                f["sessions"],
                f["nodes"].as_array().map_or(0, Vec::len),
                f["adviceSeconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
}
