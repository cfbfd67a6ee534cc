//! Property: whatever a workflow does (activities, timers, signals, patches, side effects,
//! parallel branches, races) and however its activities turn out, the history it produces
//! replays to the same commands — cold, task by task, and resumed live at every task.

mod support;

use futures::future::{Either, join_all, select};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use support::workflows::{Echo, ten_seconds};
use support::{Injection, Recorder};
use warpflow_engine::Payload;
use warpflow_engine::workflow::{Signal, Workflow, WorkflowCtx};
use warpflow_engine::{Failure, Registry, Replayer, WorkflowResult};

/// One step of a generated workflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Op {
    Activity(u8),
    Timer(u32),
    WaitSignal,
    Patch(u8),
    SideEffect(u32),
    Random,
    Parallel(u8),
    RaceActivityAgainstTimer(u32),
}

struct Poke;
impl Signal for Poke {
    const NAME: &'static str = "poke";
    type Input = u32;
}

struct Scripted;
impl Workflow for Scripted {
    const NAME: &'static str = "scripted";
    type Input = Vec<Op>;
    type Output = Vec<String>;

    async fn run(ctx: WorkflowCtx, ops: Vec<Op>) -> WorkflowResult<Vec<String>> {
        let pokes = ctx.signal_channel::<Poke>();
        let mut log = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            let activity = |name: String| ctx.activity::<Echo>(name).start_to_close(ten_seconds()).start();
            let entry = match op {
                Op::Activity(n) => format!("{:?}", activity(format!("a{i}-{n}")).await),
                Op::Timer(secs) => {
                    ctx.sleep(Duration::from_secs(u64::from(secs))).await;
                    format!("slept {secs}")
                }
                Op::WaitSignal => match select(pokes.recv(), ctx.sleep(Duration::from_secs(3600))).await {
                    Either::Left((poke, _)) => format!("poke {poke:?}"),
                    Either::Right(((), _)) => "no poke".to_owned(),
                },
                Op::Patch(id) => {
                    let patched = ctx.patched(&format!("p{id}"));
                    if patched {
                        activity(format!("patched{id}")).await.ok();
                    }
                    format!("patched {patched}")
                }
                Op::SideEffect(v) => format!("effect {}", ctx.side_effect(|| v)?),
                Op::Random => format!("random {} {}", ctx.random(), ctx.uuid()),
                Op::Parallel(n) => {
                    let all = join_all((0..n).map(|k| activity(format!("p{i}-{k}")))).await;
                    format!("parallel {}", all.iter().filter(|r| r.is_ok()).count())
                }
                Op::RaceActivityAgainstTimer(secs) => {
                    let work = activity(format!("race{i}"));
                    let timer = ctx.sleep(Duration::from_secs(u64::from(secs)));
                    match select(work, timer).await {
                        Either::Left((result, timer)) => {
                            timer.cancel();
                            format!("activity won {}", result.is_ok())
                        }
                        Either::Right(((), work)) => {
                            work.cancel();
                            "timer won".to_owned()
                        }
                    }
                }
            };
            log.push(entry);
        }
        Ok(log)
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Activity),
        2 => (1u32..100_000).prop_map(Op::Timer),
        1 => Just(Op::WaitSignal),
        1 => (0u8..3).prop_map(Op::Patch),
        1 => any::<u32>().prop_map(Op::SideEffect),
        1 => Just(Op::Random),
        1 => (0u8..4).prop_map(Op::Parallel),
        1 => (1u32..100).prop_map(Op::RaceActivityAgainstTimer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn recorded_histories_replay_identically(
        ops in prop::collection::vec(op(), 0..10),
        failures in prop::collection::vec(any::<bool>(), 16),
        pokes in prop::collection::vec((2u32..12, any::<u32>()), 0..3),
    ) {
        let registry = Registry::new().with_workflow::<Scripted>();
        let mut calls = 0usize;
        let script = move |_: &str, input: &Payload| {
            calls += 1;
            if failures[calls % failures.len()] {
                Err(Failure::new("Generated", "generated failure"))
            } else {
                Ok(input.clone())
            }
        };
        let mut recorder = Recorder::new(registry.clone(), "scripted", Payload::from(json!(ops)), Box::new(script));
        let mut pokes = pokes;
        pokes.sort();
        for (task, value) in pokes {
            recorder.inject(task, Injection::Signal { name: "poke".into(), input: Payload::from(json!(value)) });
        }
        let history = recorder.run().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(history.terminal_event().is_some(), "the workflow ran to the end");
        let replayer = Replayer::new(registry);
        if let Err(e) = replayer.check(&history) {
            return Err(TestCaseError::fail(format!("{e}\n{:#?}", history.events)));
        }
    }
}
