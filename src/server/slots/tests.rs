use super::*;

/// A connection idle since `idle_since` (`None`: busy), chosen before when `evicted`.
fn seen(id: u64, idle_since: Option<u64>, evicted: bool) -> Seen {
    Seen {
        id,
        idle_since,
        evicted,
    }
}

#[test]
fn the_connection_idle_longest_is_chosen_and_a_busy_one_never() {
    let check = |connections: &[Seen], expected: Choice| {
        assert_eq!(
            choose(connections.iter().copied()),
            expected,
            "{connections:?}"
        );
    };
    check(&[], Choice::AllBusy);
    check(
        &[seen(1, None, false), seen(2, None, false)],
        Choice::AllBusy,
    );
    check(
        &[seen(1, Some(50), false), seen(2, Some(20), false)],
        Choice::Evict(2),
    );
    check(
        &[seen(1, None, false), seen(2, Some(90), false)],
        Choice::Evict(2),
    );
    // One chosen before and still idle is closing: its slot is on the way.
    check(
        &[seen(1, Some(0), true), seen(2, Some(10), false)],
        Choice::Closing,
    );
    // One chosen before took a request meanwhile: it stays, another goes.
    check(
        &[seen(1, None, true), seen(2, Some(10), false)],
        Choice::Evict(2),
    );
}

#[test]
fn a_watch_keeps_a_connection_busy_and_another_request_only_until_it_stalls() {
    let activity = |watches, oldest_request, last_ended| Activity {
        watches,
        oldest_request,
        last_ended,
    };
    // (activity, now, idle since), stalled after 100 ms.
    let table = [
        (activity(0, None, 40), 500, Some(40)),
        (activity(1, None, 40), 500, None),
        (activity(1, Some(0), 40), 5_000, None),
        (activity(0, Some(450), 40), 500, None),
        (activity(0, Some(450), 40), 550, Some(550)),
        (activity(0, Some(300), 40), 900, Some(400)),
        // A request that ended after the other stalled: idle since that end.
        (activity(0, Some(300), 700), 900, Some(700)),
    ];
    for (activity, now, expected) in table {
        assert_eq!(
            idle_since(activity, now, 100),
            expected,
            "{activity:?} at {now}"
        );
    }
}

#[test]
fn the_idle_timer_sleeps_until_the_timeout_and_looks_again_while_busy() {
    let timeout = Duration::from_secs(90);
    let check = |idle: Option<u64>, expected: Option<u64>| {
        let wait = idle_wait(idle.map(Duration::from_secs), timeout);
        assert_eq!(wait, expected.map(Duration::from_secs), "idle {idle:?}");
    };
    check(Some(0), Some(90));
    check(Some(60), Some(30));
    check(Some(90), None);
    check(Some(200), None);
    check(None, Some(90));
}

#[test]
fn a_connection_is_idle_only_while_no_request_is_open() {
    let slots = Arc::new(Slots::new(Duration::from_secs(60), Duration::from_secs(10)));
    let registered = slots.register();
    let slot = registered.slot().clone();
    assert!(slot.idle_for().is_some());
    let (first, second) = (slot.busy(), slot.busy());
    drop(first);
    assert_eq!(slot.idle_for(), None);
    drop(second);
    assert!(slot
        .idle_for()
        .is_some_and(|idle| idle < Duration::from_secs(1)));
    assert_eq!(slots.len(), 1);
    drop(registered);
    assert_eq!(slots.len(), 0);
}

#[tokio::test]
async fn a_waiting_client_gets_the_slot_of_the_idle_connection_not_the_busy_one() {
    let slots = Arc::new(Slots::new(Duration::from_secs(60), Duration::from_secs(10)));
    let permits = Arc::new(Semaphore::new(2));
    let busy_permit = slots.admit(&permits).await.unwrap();
    let busy = slots.register();
    let _request = busy.slot().busy();
    let idle_permit = slots.admit(&permits).await.unwrap();
    let idle = slots.register();
    let (idle_slot, busy_slot) = (idle.slot().clone(), busy.slot().clone());
    // What a connection task does when its slot is evicted: close, freeing its permit.
    let closing = tokio::spawn(async move {
        idle_slot.evicted().await;
        drop((idle, idle_permit));
    });
    let admitted = tokio::time::timeout(Duration::from_secs(5), slots.admit(&permits)).await;
    assert!(admitted.is_ok_and(|permit| permit.is_some()));
    closing.await.unwrap();
    assert!(!busy_slot.evicted.load(Ordering::SeqCst));
    drop((busy, busy_permit));
}
