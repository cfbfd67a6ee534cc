//! The workflows of Warpflow's examples, as a library.
//!
//! Each module is one example: its workflows, its activities (which act on the simulated
//! services of [`services`], never on the internet), a `registry` that binds them to a
//! world, and a `campaign` that runs it under faults with its oracles. Three things use
//! them: the runnable examples (`cargo run --example NAME`, files in this folder), the
//! tests in the repository's `tests/`, and `warpflow simulate`, which runs every
//! campaign listed by [`all`].

pub mod campaigns;
pub mod dataset_processing;
pub mod live;
pub mod money_transfer;
pub mod options;
pub mod service_monitoring;
pub mod services;
pub mod user_onboarding;

use warpflow_testkit::Campaign;

/// An example as `warpflow simulate` knows it.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// Its name: the name of its module and of its runnable example.
    pub name: &'static str,
    /// One line saying what it shows.
    pub summary: &'static str,
    /// Its fault campaign: the workload, the default fault mix and its oracles.
    pub campaign: fn() -> Campaign,
}

/// Every example, in the order of the guide.
pub fn all() -> Vec<Example> {
    vec![
        Example {
            name: "money_transfer",
            summary: "a saga: debit, credit, record, compensated in reverse order when a step fails",
            campaign: money_transfer::campaign,
        },
        Example {
            name: "user_onboarding",
            summary: "account, verification email, a week's wait for the click, then set-up; a status query and a cancel signal",
            campaign: user_onboarding::campaign,
        },
        Example {
            name: "service_monitoring",
            summary: "a health check every five minutes, alerts, and continue-as-new to keep each history small",
            campaign: service_monitoring::campaign,
        },
        Example {
            name: "dataset_processing",
            summary: "a long activity that heartbeats its progress and resumes from it after a worker crash",
            campaign: dataset_processing::campaign,
        },
    ]
}

/// The example called `name`.
pub fn find(name: &str) -> Option<Example> {
    all().into_iter().find(|e| e.name == name)
}
