//! `stompbox hash-password`: reads a password (the first line of standard input, without a
//! prompt) and prints its argon2id hash as a PHC string for `[auth] users = [{ name = "…",
//! password_hash = "…" }]`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use clap::Args;

use crate::UsageError;

#[derive(Debug, Args)]
pub(crate) struct HashPasswordArgs {
    /// Memory per hash in KiB (OWASP's minimum for argon2id is 19456).
    #[arg(long, default_value_t = 19_456, value_name = "KIB")]
    memory_kib: u32,
    /// Passes over the memory.
    #[arg(long, default_value_t = 2, value_name = "N")]
    iterations: u32,
}

pub(crate) fn run(args: &HashPasswordArgs) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("password (one line; it is shown as you type):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    println!("{}", hash(password, args)?);
    Ok(())
}

fn hash(password: &str, args: &HashPasswordArgs) -> anyhow::Result<String> {
    if password.is_empty() {
        return Err(UsageError("no password: standard input was empty".into()).into());
    }
    let params = Params::new(args.memory_kib, args.iterations, 1, None)
        .map_err(|e| UsageError(format!("--memory-kib/--iterations: {e}")))?;
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    use super::*;

    #[test]
    fn the_hash_is_an_argon2id_phc_string_that_verifies() {
        let args = HashPasswordArgs {
            memory_kib: 64,
            iterations: 1,
        };
        let phc = hash("correct horse", &args).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        assert!(hash("", &args).is_err());
        let bad = HashPasswordArgs {
            memory_kib: 1,
            iterations: 1,
        };
        assert!(hash("x", &bad).is_err());
    }
}
