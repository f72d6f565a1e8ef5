//! The server's resident memory and CPU time: from `/proc/<pid>` when the pid is known, else
//! from its Prometheus `/metrics` (`process_resident_memory_bytes`,
//! `process_cpu_seconds_total`).

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::UsageError;
use crate::target::Target;

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, 100 on Linux's ABI).
const USER_HZ: f64 = 100.0;

/// Where server figures come from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// `/proc/<pid>/{stat,status}`.
    Pid(u32),
    /// A Prometheus endpoint on loopback.
    Metrics(String),
}

/// One reading.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    /// Resident set size, bytes.
    pub rss_bytes: Option<u64>,
    /// User + system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
}

impl Probe {
    /// `--server-pid` when given (it must exist), else `--metrics-url` or the target's
    /// `/metrics`.
    pub(crate) fn choose(
        pid: Option<u32>,
        metrics_url: Option<&str>,
        target: &Target,
    ) -> Result<Probe, UsageError> {
        if let Some(pid) = pid {
            if std::fs::metadata(format!("/proc/{pid}/stat")).is_err() {
                return Err(UsageError(format!("--server-pid {pid}: no such process")));
            }
            return Ok(Probe::Pid(pid));
        }
        match metrics_url {
            Some(url) => {
                Target::parse_http(url, "--metrics-url")?;
                Ok(Probe::Metrics(url.to_string()))
            }
            None => Ok(Probe::Metrics(target.metrics_url())),
        }
    }

    /// Every server process of a fan-out: `--server-pid`s (each must exist), then
    /// `--metrics-url`s; with neither, the `/metrics` of each distinct server among `targets`.
    pub(crate) fn choose_all(
        pids: &[u32],
        metrics_urls: &[String],
        targets: &[&Target],
    ) -> Result<Vec<Probe>, UsageError> {
        let mut probes = Vec::new();
        for &pid in pids {
            probes.push(Probe::choose(Some(pid), None, targets[0])?);
        }
        for url in metrics_urls {
            probes.push(Probe::choose(None, Some(url), targets[0])?);
        }
        if probes.is_empty() {
            for target in targets {
                let probe = Probe::Metrics(target.metrics_url());
                if !probes.iter().any(|p| p.same(&probe)) {
                    probes.push(probe);
                }
            }
        }
        Ok(probes)
    }

    fn same(&self, other: &Probe) -> bool {
        match (self, other) {
            (Probe::Pid(a), Probe::Pid(b)) => a == b,
            (Probe::Metrics(a), Probe::Metrics(b)) => a == b,
            _ => false,
        }
    }

    /// Reads the figures now; what cannot be read is `None`.
    pub async fn sample(&self) -> Sample {
        match self {
            Probe::Pid(pid) => Sample {
                rss_bytes: read(&format!("/proc/{pid}/status")).and_then(|s| vm_rss(&s)),
                cpu_seconds: read(&format!("/proc/{pid}/stat")).and_then(|s| cpu_seconds(&s)),
            },
            Probe::Metrics(url) => match fetch(url).await {
                Some(text) => Sample {
                    rss_bytes: metric(&text, "process_resident_memory_bytes").map(|v| v as u64),
                    cpu_seconds: metric(&text, "process_cpu_seconds_total"),
                },
                None => Sample::default(),
            },
        }
    }

    /// The server's soft open-files limit, when its pid is known.
    pub(crate) fn nofile_limit(&self) -> Option<u64> {
        let Probe::Pid(pid) = self else { return None };
        let limits = read(&format!("/proc/{pid}/limits"))?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line["Max open files".len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

/// Reads every probe now, in order.
pub(crate) async fn sample_all(probes: &[Probe]) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(probes.len());
    for probe in probes {
        samples.push(probe.sample().await);
    }
    samples
}

/// The sum of several processes' figures; a figure missing for any of them is missing.
pub(crate) fn total(samples: &[Sample]) -> Sample {
    let sum_rss = samples.iter().map(|s| s.rss_bytes).sum::<Option<u64>>();
    let sum_cpu = samples.iter().map(|s| s.cpu_seconds).sum::<Option<f64>>();
    let any = !samples.is_empty();
    Sample {
        rss_bytes: sum_rss.filter(|_| any),
        cpu_seconds: sum_cpu.filter(|_| any),
    }
}

/// A sentence when the server's open-files limit is below the sockets a run needs of it.
pub(crate) fn limit_note(probe: &Probe, sockets: u64) -> Option<String> {
    // Listeners, logs and the runtime need a few descriptors beside the sessions.
    const SPARE: u64 = 16;
    let limit = probe.nofile_limit()?;
    (limit < sockets + SPARE).then(|| {
        format!(
            "the server's open-files limit ({limit}) is below the {sockets} connections of this run: it caps the run"
        )
    })
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `VmRSS:   1234 kB` in `/proc/<pid>/status`, in bytes.
pub(crate) fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// utime + stime (fields 14 and 15) of `/proc/<pid>/stat`, in seconds.
pub(crate) fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The value of an unlabelled sample `name value` in Prometheus text.
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// GET over HTTP/1.0 (so no chunked body), loopback only; `None` on any failure.
pub(crate) async fn fetch(url: &str) -> Option<String> {
    let target = Target::parse_http(url, "--metrics-url").ok()?;
    let get = async {
        let mut tcp = tokio::net::TcpStream::connect(target.addr).await.ok()?;
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: text/plain\r\n\r\n",
            target.path, target.host
        );
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        tcp.read_to_end(&mut body).await.ok()?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.")
            .then_some(())
            .filter(|()| head.split_whitespace().nth(1) == Some("200"))?;
        Some(body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(3), get)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_proc_files_and_metrics() {
        assert_eq!(
            vm_rss("Name:\tx\nVmRSS:\t   1500 kB\nVmSwap: 0 kB\n"),
            Some(1_536_000)
        );
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        let me = read("/proc/self/stat").unwrap();
        assert!(cpu_seconds(&me).is_some());
        let text =
            "# HELP x\nprocess_resident_memory_bytes 123456\nprocess_cpu_seconds_total 1.5\n";
        assert_eq!(metric(text, "process_cpu_seconds_total"), Some(1.5));
        assert_eq!(metric(text, "process_resident_memory"), None);
    }

    #[test]
    fn several_servers_add_up_and_a_missing_figure_stays_missing() {
        let a = Sample {
            rss_bytes: Some(10),
            cpu_seconds: Some(1.5),
        };
        let b = Sample {
            rss_bytes: Some(5),
            cpu_seconds: None,
        };
        let t = total(&[a, a]);
        assert_eq!((t.rss_bytes, t.cpu_seconds), (Some(20), Some(3.0)));
        let t = total(&[a, b]);
        assert_eq!((t.rss_bytes, t.cpu_seconds), (Some(15), None));
        assert_eq!(total(&[]).rss_bytes, None);
    }

    #[test]
    fn default_probes_are_each_distinct_servers_metrics() {
        let one = Target::parse("ws://127.0.0.1:1/test-ws", "--url").unwrap();
        let two = Target::parse("ws://127.0.0.1:2/test-ws", "--subscribe-url").unwrap();
        let probes = Probe::choose_all(&[], &[], &[&one, &one, &two]).unwrap();
        let urls: Vec<_> = probes
            .iter()
            .map(|p| match p {
                Probe::Metrics(u) => u.as_str(),
                Probe::Pid(_) => "pid",
            })
            .collect();
        assert_eq!(
            urls,
            ["http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"]
        );
        let me = std::process::id();
        let probes = Probe::choose_all(&[me, me], &[], &[&one]).unwrap();
        assert_eq!(probes.len(), 2);
        assert!(Probe::choose_all(&[], &["ftp://x".into()], &[&one]).is_err());
    }
}
