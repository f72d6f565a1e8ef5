//! The progress bar on stderr (indicatif), hidden when stderr is not a terminal or with --json.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that may be hidden.
pub(crate) struct Bar(ProgressBar);

impl Bar {
    /// Shown only when `enabled` and stderr is a terminal.
    pub(crate) fn new(enabled: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if enabled && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        if let Ok(style) = ProgressStyle::with_template("{prefix:>11} [{bar:30}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(bar)
    }

    /// Starts a stage of `len` steps.
    pub(crate) fn stage(&self, name: &'static str, len: u64) {
        self.0.set_prefix(name);
        self.0.set_length(len);
        self.0.set_position(0);
    }

    /// Moves to `pos` with a message.
    pub(crate) fn update(&self, pos: u64, msg: String) {
        self.0.set_position(pos);
        self.0.set_message(msg);
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
