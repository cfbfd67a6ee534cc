//! Seeds and how to rerun them: `WARPFLOW_SEED` overrides a test's seed, and every failure
//! says which seed failed and the one-line command that reruns it.

/// The seed used when neither the test nor `WARPFLOW_SEED` gives one.
pub const DEFAULT_SEED: u64 = 0x5EED;

/// A seed and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The value.
    pub value: u64,
    /// True when it came from `WARPFLOW_SEED`.
    pub from_env: bool,
}

impl Seed {
    /// `WARPFLOW_SEED` if set (decimal or `0x` hex), else `explicit`, else [`DEFAULT_SEED`].
    /// An unparsable `WARPFLOW_SEED` is ignored with a message on stderr.
    pub fn resolve(explicit: Option<u64>) -> Seed {
        if let Ok(text) = std::env::var("WARPFLOW_SEED") {
            match parse_seed(&text) {
                Some(value) => {
                    return Seed {
                        value,
                        from_env: true,
                    };
                }
                None => eprintln!("warpflow: ignoring WARPFLOW_SEED={text:?}: not a number"),
            }
        }
        Seed {
            value: explicit.unwrap_or(DEFAULT_SEED),
            from_env: false,
        }
    }
}

/// Parses a seed written in decimal or as `0x` hex.
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// "seed N; rerun with: WARPFLOW_SEED=N cargo test THIS_TEST -- --exact", naming the current
/// test when the test harness named the thread after it.
pub fn rerun_hint(seed: u64) -> String {
    let test = std::thread::current().name().unwrap_or("<test name>").to_owned();
    format!("seed {seed}; rerun with: WARPFLOW_SEED={seed} cargo test {test} -- --exact")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed("0x2a"), Some(42));
        assert_eq!(parse_seed(" 7 "), Some(7));
        assert_eq!(parse_seed("seven"), None);
    }

    #[test]
    fn the_rerun_hint_names_the_seed_and_the_test() {
        let hint = rerun_hint(99);
        assert!(hint.contains("WARPFLOW_SEED=99 cargo test"), "{hint}");
        assert!(
            hint.contains("the_rerun_hint_names_the_seed_and_the_test"),
            "{hint}"
        );
    }
}
