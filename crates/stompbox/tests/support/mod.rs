//! What the binary's tests share.

// Not every test file that includes `support` runs a server.
#[allow(dead_code)]
pub(crate) mod serve;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;

/// The child's stderr, line by line on a channel (read by a thread of its own, so the child
/// never blocks on a full pipe); the channel ends with the process.
pub(crate) fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let Some(stderr) = child.stderr.take() else {
        panic!("the child's stderr is not piped")
    };
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}
