//! The batch workflows' fault campaign: a parallel batch of 5 orders and a bulk run of 12
//! (two groups), each with declined cards among them, under the default fault mix. Every
//! oracle looks at the children too; on top of the order's own invariants, the admin must
//! have been alerted exactly when part of a batch failed, with the right count.

use super::model::{ADMIN_EMAIL, AdminAlert, BATCH_PARTIAL_FAILURE, BatchSummary};
use super::workflow::{BATCH_SIZE, ProcessBatchOrders, ProcessBulkOrders};
use crate::order_processing::campaign::{VERDICT_AFTER, shop_campaign, world_of};
use crate::order_processing::scenario::{DECLINED_CARD, Trouble};
use crate::order_processing::{FraudCheck, FraudVerdict, Order, World};
use serde_json::Value;
use warpflow_engine::WorkflowId;
use warpflow_testkit::{Campaign, RunReport, WorkloadCtx};

/// The parallel batch's workflow id.
pub const BATCH_ID: &str = "batch-1";

/// The bulk run's workflow id.
pub const BULK_ID: &str = "bulk-1";

/// The batch workflows' campaign. See the module documentation.
pub fn campaign() -> Campaign {
    let world = World::default();
    let arrange = world.clone();
    shop_campaign("batch_orders", super::registry(&world), &world)
        .workload(move |w| {
            let declined = Trouble::CardDeclined;
            let batch = orders("b", 5, &[(2, declined), (4, declined)], &arrange);
            w.start::<ProcessBatchOrders>(BATCH_ID, &batch);
            approve(w, &batch, 1);
            let bulk = orders("k", BATCH_SIZE + 2, &[(BATCH_SIZE + 2, declined)], &arrange);
            w.start::<ProcessBulkOrders>(BULK_ID, &bulk);
            approve(w, &bulk[..BATCH_SIZE], 1);
            // The second group starts once the first has settled, an hour in.
            approve(w, &bulk[BATCH_SIZE..], 2);
        })
        .invariant("admin alerted on partial failure", admin_alerted)
}

/// Orders `<prefix>1` to `<prefix><n>`, those numbered in `troubled` meeting their trouble
/// (arranged in `world`).
pub fn orders(prefix: &str, n: usize, troubled: &[(usize, Trouble)], world: &World) -> Vec<Order> {
    (1..=n)
        .map(|i| {
            let trouble = troubled
                .iter()
                .find(|(number, _)| *number == i)
                .map_or(Trouble::None, |(_, trouble)| *trouble);
            trouble.order(&format!("{prefix}{i}"), world)
        })
        .collect()
}

/// Approves each order with a good card `hours` × [`VERDICT_AFTER`] into the run.
fn approve(w: &mut WorkloadCtx, orders: &[Order], hours: u32) {
    for order in orders.iter().filter(|o| o.customer.card != DECLINED_CARD) {
        w.signal::<FraudCheck>(
            hours * VERDICT_AFTER,
            order.workflow_id(),
            &FraudVerdict::Approved,
        );
    }
}

/// Each batch that completed with failures alerted the admin once, with its counts; a batch
/// without failures did not.
fn admin_alerted(run: &RunReport) -> Result<(), String> {
    let world = world_of(run)?;
    let alerts: Vec<AdminAlert> = world
        .emails
        .iter()
        .filter(|m| m.to == ADMIN_EMAIL && m.template == BATCH_PARTIAL_FAILURE)
        .map(|m| serde_json::from_value(m.data.clone()).map_err(|e| format!("unreadable alert: {e}")))
        .collect::<Result<_, _>>()?;
    for id in [BATCH_ID, BULK_ID] {
        let Some(summary) = summary_of(run, id) else {
            continue;
        };
        let sent: Vec<&AdminAlert> = alerts.iter().filter(|a| a.batch == id).collect();
        match (summary.failed, sent.as_slice()) {
            (0, []) => {}
            (failed, [alert]) if alert.failed == failed && alert.errors == summary.failures => {}
            (failed, sent) => {
                return Err(format!(
                    "{id} had {failed} failed order(s) and sent these alerts: {sent:?}"
                ));
            }
        }
    }
    Ok(())
}

/// The summary a completed batch returned.
fn summary_of(run: &RunReport, id: &str) -> Option<BatchSummary> {
    let outcome = run.outcomes.get(&WorkflowId::new(id))?;
    let completed = outcome.get("completed").cloned().unwrap_or(Value::Null);
    serde_json::from_value(completed).ok()
}
