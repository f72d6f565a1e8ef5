//! Latency histograms (µs) and their transport between processes: hdrhistogram's V2 format in
//! base64.

use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// 1 µs to one hour, three significant digits.
pub(crate) fn new() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"))
    })
}

/// V2 + base64.
pub(crate) fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into memory only fails for histograms hdrhistogram cannot represent.
    if V2Serializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Adds an encoded histogram to `into`.
pub(crate) fn merge(into: &mut Histogram<u64>, encoded: &str) -> anyhow::Result<()> {
    if encoded.is_empty() {
        return Ok(());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("a worker's histogram is not base64")?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("a worker's histogram does not decode: {e:?}"))?;
    into.add(&h)
        .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histograms_survive_the_trip_and_merge() {
        let mut a = new();
        a.record(100).unwrap();
        a.record(2000).unwrap();
        let mut total = new();
        merge(&mut total, &encode(&a)).unwrap();
        merge(&mut total, &encode(&a)).unwrap();
        merge(&mut total, "").unwrap();
        assert_eq!(total.len(), 4);
        assert!(total.max() >= 2000);
        assert!(merge(&mut total, "!!").is_err());
    }
}
