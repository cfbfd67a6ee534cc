//! `--faults MIX`: a named preset, optionally followed by `kind=rate` overrides, or just the
//! overrides (on top of no faults). `default,crash_engine=0.01` or `drop_message=0.05`.

use warpflow_sim::FaultRates;

/// The presets, with what they stress.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "default",
        "every fault kind at modest rates (the test kit's default mix)",
    ),
    ("none", "no faults: the fault-free runs only"),
    ("crashes", "worker and engine crashes"),
    ("storage", "failed commits and lost commit replies"),
    ("network", "lost, duplicated and unanswered messages, partitions"),
    ("activities", "activity failures and timeouts"),
    ("heavy", "every fault kind at four times the default rates"),
];

/// Parses a fault mix. Errors name the offending part and what would be accepted.
pub fn parse(mix: &str) -> Result<FaultRates, String> {
    let mut parts = mix.split(',').map(str::trim).peekable();
    let mut rates = match parts.peek() {
        Some(first) if !first.contains('=') => {
            let rates = preset(first)
                .ok_or_else(|| format!("unknown fault mix `{first}`; known mixes: {}", preset_names()))?;
            parts.next();
            rates
        }
        _ => FaultRates::none(),
    };
    for part in parts {
        let (kind, rate) = part.split_once('=').ok_or_else(|| {
            format!("`{part}` in --faults: expected KIND=RATE after the first item (a preset name)")
        })?;
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("`{part}` in --faults: `{rate}` is not a number"))?;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!(
                "`{part}` in --faults: a rate is a probability between 0 and 1"
            ));
        }
        set(&mut rates, kind.trim(), rate)?;
    }
    Ok(rates)
}

fn preset(name: &str) -> Option<FaultRates> {
    let default = FaultRates::default();
    let none = FaultRates::none();
    Some(match name {
        "default" => default,
        "none" => none,
        "crashes" => FaultRates {
            crash_worker: 0.01,
            crash_engine: 0.005,
            ..none
        },
        "storage" => FaultRates {
            fail_commit: 0.03,
            lose_commit_reply: 0.03,
            ..none
        },
        "network" => FaultRates {
            drop_message: 0.05,
            duplicate_request: 0.05,
            lose_reply: 0.03,
            partition: 0.005,
            ..none
        },
        "activities" => FaultRates {
            activity_failure: 0.05,
            activity_timeout: 0.02,
            ..none
        },
        "heavy" => default.scaled(4.0),
        _ => return None,
    })
}

/// Every rate by the name the command line uses for it.
fn fields(rates: &mut FaultRates) -> [(&'static str, &mut f64); 10] {
    [
        ("crash_worker", &mut rates.crash_worker),
        ("crash_engine", &mut rates.crash_engine),
        ("fail_commit", &mut rates.fail_commit),
        ("lose_commit_reply", &mut rates.lose_commit_reply),
        ("drop_message", &mut rates.drop_message),
        ("duplicate_request", &mut rates.duplicate_request),
        ("lose_reply", &mut rates.lose_reply),
        ("partition", &mut rates.partition),
        ("activity_failure", &mut rates.activity_failure),
        ("activity_timeout", &mut rates.activity_timeout),
    ]
}

fn set(rates: &mut FaultRates, kind: &str, rate: f64) -> Result<(), String> {
    let mut known = Vec::new();
    for (name, field) in fields(rates) {
        if name == kind {
            *field = rate;
            return Ok(());
        }
        known.push(name);
    }
    Err(format!(
        "unknown fault kind `{kind}` in --faults; known kinds: {}",
        known.join(", ")
    ))
}

fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_alone_is_that_preset() {
        assert_eq!(parse("default").unwrap(), FaultRates::default());
        assert_eq!(parse("none").unwrap(), FaultRates::none());
        for (name, _) in PRESETS {
            assert!(parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn overrides_apply_to_the_preset_or_to_no_faults() {
        let rates = parse("default, crash_engine=0.5").unwrap();
        assert_eq!(rates.crash_engine, 0.5);
        assert_eq!(rates.drop_message, FaultRates::default().drop_message);
        let rates = parse("drop_message=0.25").unwrap();
        assert_eq!(
            rates,
            FaultRates {
                drop_message: 0.25,
                ..FaultRates::none()
            }
        );
    }

    #[test]
    fn heavy_is_four_times_default() {
        let heavy = parse("heavy").unwrap();
        assert_eq!(heavy.drop_message, FaultRates::default().drop_message * 4.0);
    }

    #[test]
    fn bad_mixes_name_what_is_wrong() {
        assert!(
            parse("stormy")
                .unwrap_err()
                .contains("unknown fault mix `stormy`")
        );
        assert!(
            parse("default,warp=0.1")
                .unwrap_err()
                .contains("unknown fault kind `warp`")
        );
        assert!(
            parse("drop_message=lots")
                .unwrap_err()
                .contains("`lots` is not a number")
        );
        assert!(parse("drop_message=1.5").unwrap_err().contains("between 0 and 1"));
        assert!(parse("default,none").unwrap_err().contains("expected KIND=RATE"));
    }
}
