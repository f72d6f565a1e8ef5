//! `stompbox stats [--url URL]`: a running server's close analytics, from its `/api/stats`.

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
    println!("  {:>5}  {:<28} {:<8} {:>8}", "code", "name", "by", "count");
    for c in v["closes"].as_array().into_iter().flatten() {
        println!(
            "  {:>5}  {:<28} {:<8} {:>8}",
            c["code"],
            c["name"].as_str().unwrap_or("-"),
            c["closedBy"].as_str().unwrap_or("-"),
            c["count"]
        );
    }
    let idle = &v["abnormalIdle"];
    println!(
        "\nabnormal closes (no Close frame): {}, server silence before them:",
        idle["count"]
    );
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
    Ok(())
}
