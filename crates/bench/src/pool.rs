//! The main process's side of its workers: start them (processes, or threads with
//! `--workers 0`), send commands, read their events, and make sure none outlives the run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::proto::{Command, Counters, Event, WorkerReport, WorkerSpec};

/// How long set-up may go without a single connection set up or failed before the run gives up
/// (a connection's own set-up gives up after a minute, so this is always reached by progress
/// or by failures while the workers are alive).
const SETUP_STALL: Duration = Duration::from_secs(90);

/// How the workers run.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Child processes of this executable (`<exe> bench worker`).
    Processes(PathBuf),
    /// Threads of this process.
    Threads,
}

enum Line {
    Event(Event),
    Gone(String),
}

struct Worker {
    input: Option<Box<dyn AsyncWrite + Unpin + Send>>,
    child: Option<tokio::process::Child>,
}

/// Running workers.
pub(crate) struct Pool {
    workers: Vec<Worker>,
    lines: mpsc::UnboundedReceiver<(usize, Line)>,
    /// The latest counters of each worker.
    pub(crate) latest: Vec<Counters>,
    reported: Vec<bool>,
}

impl Pool {
    /// Starts one worker per spec and hands each its spec.
    pub(crate) async fn start(specs: Vec<WorkerSpec>, mode: &Mode) -> anyhow::Result<Pool> {
        let (tx, lines) = mpsc::unbounded_channel();
        let mut pool = Pool {
            workers: Vec::new(),
            lines,
            latest: vec![Counters::default(); specs.len()],
            reported: vec![false; specs.len()],
        };
        for (i, spec) in specs.iter().enumerate() {
            let (input, output, child): (Box<dyn AsyncWrite + Unpin + Send>, _, _) = match mode {
                Mode::Processes(exe) => {
                    let mut child = tokio::process::Command::new(exe)
                        .args(["bench", "worker"])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::inherit())
                        .kill_on_drop(true)
                        .spawn()
                        .with_context(|| format!("starting worker process {}", exe.display()))?;
                    let input = child.stdin.take().context("worker stdin")?;
                    let output = child.stdout.take().context("worker stdout")?;
                    (
                        Box::new(input),
                        Box::new(output) as Box<dyn AsyncRead + Unpin + Send>,
                        Some(child),
                    )
                }
                Mode::Threads => {
                    let (input, output, _thread) = crate::worker::spawn_thread()?;
                    (Box::new(input), Box::new(output) as Box<_>, None)
                }
            };
            tokio::spawn(read_lines(i, output, tx.clone()));
            pool.workers.push(Worker {
                input: Some(input),
                child,
            });
            let mut line = serde_json::to_vec(spec)?;
            line.push(b'\n');
            pool.write(i, &line).await?;
        }
        Ok(pool)
    }

    /// How many workers.
    pub(crate) fn len(&self) -> usize {
        self.workers.len()
    }

    async fn write(&mut self, i: usize, line: &[u8]) -> anyhow::Result<()> {
        let input = self.workers[i]
            .input
            .as_mut()
            .context("worker input closed")?;
        input
            .write_all(line)
            .await
            .with_context(|| format!("worker {i} is gone"))?;
        input.flush().await?;
        Ok(())
    }

    /// Sends a command to every worker.
    pub(crate) async fn send_all(&mut self, command: &Command) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(command)?;
        line.push(b'\n');
        for i in 0..self.workers.len() {
            self.write(i, &line).await?;
        }
        Ok(())
    }

    /// The sum of the workers' latest counters.
    pub(crate) fn totals(&self) -> Counters {
        Counters::sum(&self.latest)
    }

    /// The next event; progress is recorded, a fatal event or a vanished worker is an error.
    pub(crate) async fn next(&mut self) -> anyhow::Result<(usize, Event)> {
        loop {
            let Some((i, line)) = self.lines.recv().await else {
                bail!("every worker is gone");
            };
            return match line {
                Line::Event(Event::Fatal { message }) => bail!("{message}"),
                Line::Event(event) => {
                    match &event {
                        Event::Progress(c) | Event::Ready { counters: c, .. } => {
                            self.latest[i] = c.clone();
                        }
                        Event::Report(_) => self.reported[i] = true,
                        _ => {}
                    }
                    Ok((i, event))
                }
                Line::Gone(_) if self.reported[i] => continue,
                Line::Gone(why) => bail!("worker {i} ended unexpectedly: {why}"),
            };
        }
    }

    /// Waits until every worker has sent an event that `pick` accepts, calling `progress` with
    /// the totals as they come. Gives up when `stall` passes without an event that changes
    /// the totals' `progressed` figure (or without any event at all), naming `what`.
    pub(crate) async fn wait_each<T>(
        &mut self,
        what: &str,
        stall: Duration,
        mut pick: impl FnMut(Event) -> Option<T>,
        mut progress: impl FnMut(&Counters),
    ) -> anyhow::Result<Vec<T>> {
        let mut got: Vec<Option<T>> = (0..self.len()).map(|_| None).collect();
        let mut deadline = Instant::now() + stall;
        let mut mark = progressed(&self.totals());
        while got.iter().any(Option::is_none) {
            let (i, event) = match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(next) => next?,
                Err(_) => bail!(
                    "the workers did not {what} in time (no progress for {} s)",
                    stall.as_secs()
                ),
            };
            if let Event::Progress(_) = event {
                progress(&self.totals());
            }
            let now = progressed(&self.totals());
            if now != mark {
                mark = now;
                deadline = Instant::now() + stall;
            }
            if let Some(t) = pick(event) {
                got[i] = Some(t);
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// Waits until every worker has set up its connections, calling `progress` with the totals;
    /// returns the first failure. A slow server is given all the time it needs as long as
    /// connections keep being set up (or failing): the wait ends only after [`SETUP_STALL`]
    /// without any.
    pub(crate) async fn wait_ready(
        &mut self,
        what: &str,
        progress: impl FnMut(&Counters),
    ) -> anyhow::Result<Option<String>> {
        let pick = |e| match e {
            Event::Ready { first_error, .. } => Some(first_error),
            _ => None,
        };
        let errors = self.wait_each(what, SETUP_STALL, pick, progress).await?;
        Ok(errors.into_iter().flatten().next())
    }

    /// Asks every worker to close its connections and report; ends them.
    pub(crate) async fn finish(mut self) -> anyhow::Result<Vec<WorkerReport>> {
        self.send_all(&Command::Finish).await?;
        let reports = self
            .wait_each(
                "report",
                Duration::from_secs(15),
                |e| match e {
                    Event::Report(r) => Some(*r),
                    _ => None,
                },
                |_| {},
            )
            .await?;
        self.stop().await;
        Ok(reports)
    }

    /// Closes the workers' input (they exit on EOF), waits briefly, then kills what is left.
    pub(crate) async fn stop(&mut self) {
        for w in &mut self.workers {
            w.input = None;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for w in &mut self.workers {
            if let Some(child) = &mut w.child {
                if tokio::time::timeout_at(deadline, child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
                w.child = None;
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(child) = &mut w.child {
                let _ = child.start_kill();
            }
        }
    }
}

async fn read_lines(
    i: usize,
    output: impl AsyncRead + Unpin,
    tx: mpsc::UnboundedSender<(usize, Line)>,
) {
    let mut lines = BufReader::new(output).lines();
    let why = loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<Event>(&line) {
                Ok(event) => {
                    if tx.send((i, Line::Event(event))).is_err() {
                        return;
                    }
                }
                Err(e) => break format!("unreadable output {line:?}: {e}"),
            },
            Ok(None) => break "its output closed".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    let _ = tx.send((i, Line::Gone(why)));
}

/// What changes while set-up goes on: connections set up or given up, and retries.
fn progressed(c: &Counters) -> (u64, u64, u64) {
    (c.connected, c.failed, c.retried)
}
