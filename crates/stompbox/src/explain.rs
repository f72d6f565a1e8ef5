//! `stompbox explain CODE [--lang en|zh]` and `stompbox explain --all`.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use stompbox_closecode::{Lang, explain, lookup, parse_code, table};

use crate::UsageError;

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The close code, e.g. 1006.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    code: Option<String>,
    /// Print the whole registry as a table.
    #[arg(long)]
    all: bool,
    /// Language: en or zh.
    #[arg(long, default_value = "en", value_parser = parse_lang)]
    lang: Lang,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse::<Lang>().map_err(|e| e.to_string())
}

pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<()> {
    let text = match &args.code {
        None => table(args.lang),
        Some(raw) => {
            let code = parse_code(raw).map_err(|e| UsageError(e.to_string()))?;
            if lookup(code).is_none() {
                return Err(
                    UsageError(format!("{code} is not a close code in the registry")).into(),
                );
            }
            explain(code, args.lang)
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .context("writing to stdout")?;
    Ok(())
}
