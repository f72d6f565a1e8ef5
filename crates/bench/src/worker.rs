//! A worker: holds its share of the connections on one thread (a current-thread runtime and a
//! `LocalSet`), reports progress as JSON lines, and ends when told to or when its input closes.
//!
//! `stompbox bench worker` runs one as a process (stdin/stdout); `--workers 0` runs one as a
//! thread of the main process over in-memory pipes. The protocol is the same.

use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::proto::{Command, Event, WorkerReport, WorkerSpec};
use crate::session::{self, Ctx};

/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// How long connections get to close at the end.
const FINISH_TIMEOUT: Duration = Duration::from_secs(4);

/// `stompbox bench worker`: the spec and commands on stdin, events on stdout. Exits when stdin
/// closes, so a worker never outlives the main process.
pub(crate) fn process_main() -> anyhow::Result<()> {
    let _ = crate::limits::raise_nofile();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the worker's runtime")?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(
        &runtime,
        serve(BufReader::new(tokio::io::stdin()), tokio::io::stdout()),
    );
    // Do not wait for connections still being torn down.
    std::process::exit(i32::from(result.is_err()))
}

/// A worker on a thread of this process, talking over in-memory pipes: returns the writer of
/// its input, the reader of its output, and the thread.
pub(crate) fn spawn_thread() -> anyhow::Result<(
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    std::thread::JoinHandle<()>,
)> {
    let (to_worker, worker_in) = tokio::io::duplex(64 * 1024);
    let (worker_out, from_worker) = tokio::io::duplex(64 * 1024);
    let thread = std::thread::Builder::new()
        .name("bench-worker".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let local = tokio::task::LocalSet::new();
            let _ = local.block_on(&runtime, serve(BufReader::new(worker_in), worker_out));
        })
        .context("starting a worker thread")?;
    Ok((to_worker, from_worker, thread))
}

/// The worker's loop. Must run inside a `LocalSet`.
pub(crate) async fn serve(
    input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let mut lines = input.lines();
    let first = lines
        .next_line()
        .await?
        .context("no worker spec on stdin")?;
    let spec: WorkerSpec = serde_json::from_str(&first).context("a bad worker spec")?;
    let count = spec.count;
    let base = spec.first;
    let (fatal_tx, mut fatal_rx) = mpsc::unbounded_channel();
    let ctx = Rc::new(Ctx::new(spec, fatal_tx));
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = (0..count)
        .map(|i| tokio::task::spawn_local(session::run(ctx.clone(), base + i, stop_rx.clone())))
        .collect();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut ready = false;
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else {
                    return Ok(()); // The main process is gone.
                };
                match serde_json::from_str::<Command>(&line).context("a bad worker command")? {
                    Command::Window { t0, t1 } => {
                        ctx.window.set((t0, t1));
                        send(&mut output, &Event::WindowSet).await?;
                    }
                    Command::Finish => break,
                }
            }
            _ = tick.tick() => {
                let counters = ctx.stats.borrow().counters.clone();
                let done = counters.connected + counters.failed >= count as u64;
                send(&mut output, &Event::Progress(counters.clone())).await?;
                if done && !ready {
                    ready = true;
                    let first_error = ctx.stats.borrow().first_error.clone();
                    send(&mut output, &Event::Ready { counters, first_error }).await?;
                }
            }
            Some(message) = fatal_rx.recv() => {
                send(&mut output, &Event::Fatal { message }).await?;
            }
        }
    }
    ctx.stopping.set(true);
    let _ = stop_tx.send(true);
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let _ = tokio::time::timeout(FINISH_TIMEOUT, async {
        for task in tasks {
            let _ = task.await;
        }
    })
    .await;
    for task in aborts {
        task.abort();
    }
    let report = {
        let s = ctx.stats.borrow();
        WorkerReport {
            counters: s.counters.clone(),
            close_codes: s.close_codes.iter().map(|(c, n)| (*c, *n)).collect(),
            first_error: s.first_error.clone(),
            first_close: s.first_close.clone(),
            latency_us: s.latency_us.iter().map(crate::hist::encode).collect(),
        }
    };
    send(&mut output, &Event::Report(Box::new(report))).await?;
    Ok(())
}

async fn send(output: &mut (impl AsyncWrite + Unpin), event: &Event) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    output.write_all(&line).await?;
    output.flush().await?;
    Ok(())
}
