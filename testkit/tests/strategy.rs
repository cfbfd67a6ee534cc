//! The proptest strategies (with the `proptest` feature): generated scripts drive mocks as
//! scripted, signal timings stay sorted within their horizon, fault plans come from the
//! simulator.
#![cfg(feature = "proptest")]

use futures::FutureExt;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::time::Duration;
use warpflow_engine::{ActivityError, Failure, Payload};
use warpflow_sim::{Sim, SimConfig, When};
use warpflow_testkit::strategy::{fault_plan, mock_outcome_with_panics, mock_script, seed, signal_timings};
use warpflow_testkit::{ActivityEnv, MockActivity, MockOutcome};

/// The application failure of an attempt.
fn application(got: Result<Payload, ActivityError>) -> Result<Failure, TestCaseError> {
    match got {
        Err(ActivityError::Application(f)) => Ok(f),
        other => Err(TestCaseError::fail(format!(
            "expected an application failure, got {other:?}"
        ))),
    }
}

proptest! {
    // A fixed seed: the same cases on every run.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x7e57),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_generated_script_is_played_attempt_by_attempt(
        script in mock_script(5, Duration::from_secs(120)),
        seed in seed(),
    ) {
        prop_assert!(script.len() <= 5);
        let sim = Sim::new(SimConfig::new(seed));
        let mock = MockActivity::from_script("step", script.clone()).with_clock(sim.clock()).returns("ok");
        for (i, outcome) in script.iter().enumerate() {
            let env = ActivityEnv::new().attempt(u32::try_from(i + 1).expect("small"));
            let run = env.clone();
            let attempt = mock.clone();
            let mut running = Box::pin(async move { run.run_definition(&attempt, "input").await });
            let got = match (&mut running).now_or_never() {
                Some(got) => got,
                None => {
                    if !matches!(outcome, MockOutcome::CompleteAfter(_)) {
                        env.cancel();
                    }
                    sim.run_until(running).expect("the simulation runs")
                }
            };
            match outcome {
                MockOutcome::Succeed | MockOutcome::CompleteAfter(_) => {
                    prop_assert_eq!(got, Ok("ok".into()));
                }
                MockOutcome::Fail { error_type, .. } => {
                    let f = application(got)?;
                    prop_assert_eq!((&f.error_type, f.non_retryable), (error_type, false));
                }
                MockOutcome::FailNonRetryable { error_type, .. } => {
                    let f = application(got)?;
                    prop_assert_eq!((&f.error_type, f.non_retryable), (error_type, true));
                }
                MockOutcome::TimeOut => prop_assert_eq!(got, Err(ActivityError::Cancelled)),
                MockOutcome::HeartbeatThenStall(details) => {
                    prop_assert_eq!(got, Err(ActivityError::Cancelled));
                    prop_assert_eq!(&env.heartbeats(), details);
                }
                MockOutcome::Panic(_) => prop_assert!(false, "mock_script generates no panics"),
            }
        }
        prop_assert_eq!(mock.calls().count(), script.len());
    }

    #[test]
    fn outcomes_with_panics_are_outcomes(outcome in mock_outcome_with_panics(Duration::from_secs(1))) {
        if let MockOutcome::CompleteAfter(d) = outcome {
            prop_assert!(d <= Duration::from_secs(1));
        }
    }

    #[test]
    fn signal_timings_are_sorted_within_the_horizon(signals in signal_timings(6, Duration::from_secs(3600))) {
        prop_assert!(signals.len() <= 6);
        prop_assert!(signals.windows(2).all(|w| w[0].0 <= w[1].0));
        prop_assert!(signals.iter().all(|(at, _)| *at <= Duration::from_secs(3600)));
    }

    #[test]
    fn fault_plans_are_the_simulator_s(plan in fault_plan(4, Duration::from_secs(60))) {
        prop_assert!(plan.len() <= 4);
        let within = |when: &When| matches!(when, When::At(d) if *d <= Duration::from_secs(60));
        prop_assert!(plan.faults.iter().all(|(when, _)| within(when)));
    }
}
