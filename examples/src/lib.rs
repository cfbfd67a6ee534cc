//! The workflows of Warpflow's examples, as a library.
//!
//! Each module is one example: its workflows, its activities (which act on the simulated
//! services of [`services`], never on the internet), a `registry` that binds them to a
//! world, and a `campaign` that runs it under faults with its oracles. Three things use
//! them: the runnable examples (`cargo run --example NAME`, files in this folder), the
//! tests in the repository's `tests/`, and `warpflow simulate`, which runs every
//! campaign listed by [`all`].

pub mod batch_orders;
pub mod campaigns;
pub mod dataset_processing;
pub mod live;
pub mod local;
pub mod money_transfer;
pub mod options;
pub mod order_processing;
pub mod service_monitoring;
pub mod services;
pub mod three_step;
pub mod user_onboarding;
pub mod versioned_order;

/// An example as `warpflow simulate` knows it: its name (that of its module and of its
/// runnable example), a one-line summary, and its fault campaign.
pub use warpflow_testkit::NamedCampaign as Example;

/// Every example, in the order of the guide.
pub fn all() -> Vec<Example> {
    vec![
        Example {
            name: "order_processing",
            summary: "reserve, charge, wait up to 24 h for a fraud check, then ship or refund and release",
            campaign: order_processing::campaign,
        },
        Example {
            name: "batch_orders",
            summary: "one child order workflow per order, in parallel or ten at a time; the admin hears of failures",
            campaign: batch_orders::campaign,
        },
        Example {
            name: "versioned_order",
            summary: "version 2 of the order workflow adds a step behind patched(); version 1's runs still replay",
            campaign: versioned_order::campaign,
        },
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
