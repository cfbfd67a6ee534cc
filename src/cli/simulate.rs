//! `warpflow simulate`: runs fault campaigns over a catalogue of named workloads (the bundled
//! examples, or a user's own), with a progress bar, and prints one report: seeds, workflows,
//! faults injected by kind, oracle checks, virtual and wall time, throughput, and every
//! failure with its seed, shrunk plan and the command that reruns it.

use super::fault_mix;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};
use warpflow_engine::time::human_duration;
use warpflow_testkit::{CampaignReport, NamedCampaign};

/// Seeds per workload when neither `--seeds` nor `--seed` is given.
pub const DEFAULT_SEEDS: u64 = 100;

/// What `simulate` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct SimulateArgs {
    /// Seeds per workload.
    pub seeds: Option<u64>,
    /// Exactly this seed (to reproduce a failure).
    pub seed: Option<u64>,
    /// Only this workload.
    pub workflow: Option<String>,
    /// The fault mix (see `fault_mix`).
    pub faults: Option<String>,
    /// How this program is invoked, for the rerun commands in the report.
    pub program: String,
}

/// The outcome: the report text and whether every oracle held.
#[derive(Debug)]
pub struct Outcome {
    /// The report.
    pub text: String,
    /// True when nothing failed.
    pub passed: bool,
}

/// Lists the catalogue.
pub fn list(catalogue: &[NamedCampaign]) -> String {
    let width = catalogue.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::from("workflows:\n");
    for c in catalogue {
        let _ = writeln!(out, "  {:width$}  {}", c.name, c.summary);
    }
    out.push_str("fault mixes (--faults):\n");
    for (name, what) in fault_mix::PRESETS {
        let _ = writeln!(out, "  {name:10}  {what}");
    }
    out
}

/// Runs the selected campaigns. Bad arguments are an `Err` naming what is wrong.
pub fn run(catalogue: &[NamedCampaign], args: &SimulateArgs) -> Result<Outcome, String> {
    let selected = select(catalogue, args.workflow.as_deref())?;
    let rates = args.faults.as_deref().map(fault_mix::parse).transpose()?;
    if args.seeds == Some(0) {
        return Err("--seeds must be at least 1".to_owned());
    }
    let (first_seed, seeds) = match (args.seed, args.seeds) {
        (Some(seed), _) => (seed, 1),
        (None, n) => (0, n.unwrap_or(DEFAULT_SEEDS)),
    };
    let progress = ProgressBar::new(seeds * selected.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} seeds  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut reports = Vec::new();
    for named in &selected {
        progress.set_message(named.name);
        let name = named.name;
        let program = args.program.clone();
        let faults_flag = args
            .faults
            .as_ref()
            .map(|mix| format!(" --faults '{mix}'"))
            .unwrap_or_default();
        let mut campaign = (named.campaign)()
            .seed_range(first_seed, seeds)
            .reproduce_command(move |seed| {
                format!("{program} simulate --workflow {name} --seed {seed}{faults_flag}")
            });
        if let Some(rates) = rates {
            campaign = campaign.faults(rates);
        }
        // Called once per seed.
        let report = campaign.run_with_progress(|_| progress.inc(1));
        reports.push((name, report));
    }
    progress.finish_and_clear();
    Ok(render(&reports, started.elapsed()))
}

fn select(catalogue: &[NamedCampaign], workflow: Option<&str>) -> Result<Vec<NamedCampaign>, String> {
    if catalogue.is_empty() {
        return Err("no workflows to simulate: the catalogue is empty".to_owned());
    }
    match workflow {
        None => Ok(catalogue.to_vec()),
        Some(name) => catalogue
            .iter()
            .find(|c| c.name == name)
            .map(|c| vec![*c])
            .ok_or_else(|| {
                let known: Vec<&str> = catalogue.iter().map(|c| c.name).collect();
                format!("unknown workflow `{name}`; known workflows: {}", known.join(", "))
            }),
    }
}

fn render(reports: &[(&str, CampaignReport)], wall: Duration) -> Outcome {
    let mut out = String::new();
    let mut faults: BTreeMap<&str, usize> = BTreeMap::new();
    let mut oracles: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut seeds, mut workflows, mut failures) = (0, 0, 0);
    let mut virtual_time = Duration::ZERO;
    let width = reports.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    out.push_str("warpflow simulate\n");
    for (name, report) in reports {
        let _ = writeln!(
            out,
            "  {name:width$}  {:>4} seeds  {:>6} workflows  {:>5} faults  {}",
            report.seeds.len(),
            report.workflows_run,
            report.faults_injected(),
            if report.failures.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} FAILED", report.failures.len())
            }
        );
        seeds += report.seeds.len();
        workflows += report.workflows_run;
        failures += report.failures.len();
        virtual_time += report.virtual_time;
        for (kind, n) in &report.faults_by_kind {
            *faults.entry(kind).or_default() += n;
        }
        for (oracle, n) in &report.oracle_checks {
            *oracles.entry(oracle).or_default() += n;
        }
    }
    let join = |m: &BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total_faults: usize = faults.values().sum();
    let _ = writeln!(out, "seeds run:         {seeds}");
    let _ = writeln!(
        out,
        "workflows run:     {workflows} (under faults; fault-free baselines not counted)"
    );
    let _ = writeln!(out, "faults injected:   {total_faults} ({})", join(&faults));
    let _ = writeln!(out, "oracles checked:   {}", join(&oracles));
    let _ = writeln!(out, "virtual time:      {}", human_duration(virtual_time));
    let _ = writeln!(out, "wall time:         {:.2} s", wall.as_secs_f64());
    let secs = wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "throughput:        {:.0} workflows/s, {:.0}x faster than real time",
        workflows as f64 / secs,
        virtual_time.as_secs_f64() / secs
    );
    if failures == 0 {
        out.push_str("result:            every oracle held\n");
    } else {
        let _ = writeln!(out, "result:            {failures} failure(s)\n");
        for (_, report) in reports {
            for failure in &report.failures {
                let _ = write!(out, "{failure}");
            }
        }
    }
    Outcome {
        text: out,
        passed: failures == 0,
    }
}
