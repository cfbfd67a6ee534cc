//! W1's test binary of twenty tests (`BENCHMARKS.md`): each is a whole time-skipping test of
//! the order workflow with its own `TestEnv` (fresh env, run to result, assert, the default
//! replay check), half waiting 24 hours for an approval that never comes, half 30 days.
//! Time the binary: `cargo test --release -p warpflow-testkit --test w1_suite`.

mod support;

use support::w1::{self, Order};
use warpflow_testkit::TestEnv;

/// The order is never approved: after `hours` it refunds the charge and releases the
/// reservation, and says so.
fn unapproved_order_is_compensated(order_id: &str, hours: u64) {
    let world = w1::World::default();
    let env = TestEnv::new(w1::registry(&world));
    let order = env
        .start::<Order>(order_id, &(order_id.to_owned(), hours))
        .expect("started");
    assert_eq!(env.result(&order).expect("result"), "fraud_timeout");
    let effects: Vec<String> = world.lock().expect("world").iter().cloned().collect();
    let expected = [
        format!("charge_payment:{order_id}"),
        format!("refund_payment:chg-{order_id}"),
        format!("release_inventory:res-{order_id}"),
        format!("reserve_inventory:{order_id}"),
    ];
    assert_eq!(
        effects, expected,
        "reserved and charged, then refunded and released"
    );
}

macro_rules! w1_tests {
    ($($name:ident: $hours:expr;)*) => {$(
        #[test]
        fn $name() {
            unapproved_order_is_compensated(stringify!($name), $hours);
        }
    )*};
}

w1_tests! {
    order_01_24h: 24; order_02_24h: 24; order_03_24h: 24; order_04_24h: 24; order_05_24h: 24;
    order_06_24h: 24; order_07_24h: 24; order_08_24h: 24; order_09_24h: 24; order_10_24h: 24;
    order_11_30d: 720; order_12_30d: 720; order_13_30d: 720; order_14_30d: 720; order_15_30d: 720;
    order_16_30d: 720; order_17_30d: 720; order_18_30d: 720; order_19_30d: 720; order_20_30d: 720;
}
