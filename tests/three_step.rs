//! The W3/W5 benchmark workload (`three_step`) in virtual time: each run returns `key:a:b:c`,
//! and with an activity log every activity leaves exactly one line per execution — the count
//! the crash tests and the W5 benchmark rely on.

use std::collections::BTreeMap;
use warpflow_examples::three_step::{self, ActivityLog, ThreeStep};
use warpflow_testkit::TestEnv;

#[test]
fn each_run_returns_its_key_with_the_three_steps_and_logs_each_step_once() {
    let dir = std::env::temp_dir().join(format!("warpflow-three-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("activities.log");
    let _ = std::fs::remove_file(&log_path);
    let env = TestEnv::new(three_step::registry(ActivityLog::append_to(&log_path).unwrap()));

    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    let runs: Vec<_> = keys
        .iter()
        .map(|k| env.start::<ThreeStep>(k.as_str(), k).unwrap())
        .collect();
    for (key, run) in keys.iter().zip(&runs) {
        assert_eq!(env.result(run).unwrap(), three_step::expected_result(key));
    }

    let log = std::fs::read_to_string(&log_path).unwrap();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for line in log.lines() {
        *count.entry(line).or_default() += 1;
    }
    assert_eq!(count.len(), 15, "{log}");
    assert!(count.values().all(|&n| n == 1), "{log}");
    assert!(count.contains_key("k3 step_b"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
