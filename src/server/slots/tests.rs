use super::*;

/// The client of every connection here: only the eviction log reads it.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);

/// A connection past its handshake, idle since `idle_since` (`None`: busy), chosen before
/// when `evicted`.
fn seen(id: u64, idle_since: Option<u64>, evicted: bool) -> Seen {
    Seen {
        id,
        standing: idle_since.map_or(Standing::Busy, Standing::Idle),
        evicted,
    }
}

/// A connection in its TLS handshake since `accepted`, chosen before when `evicted`.
fn handshaking(id: u64, accepted: u64, evicted: bool) -> Seen {
    Seen {
        id,
        standing: Standing::Handshaking(accepted),
        evicted,
    }
}

#[test]
fn a_handshake_past_its_grace_then_the_connection_idle_longest_is_chosen_and_a_busy_one_never() {
    // At 10 s, handshakes evictable after 1 s.
    let check = |connections: &[Seen], expected: Choice| {
        assert_eq!(
            choose(connections.iter().copied(), 10_000, 1_000),
            expected,
            "{connections:?}"
        );
    };
    check(&[], Choice::Wait(None));
    check(
        &[seen(1, None, false), seen(2, None, false)],
        Choice::Wait(None),
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
    // A handshake past its grace goes before any idle connection, however long idle: it costs
    // its client nothing to open again.
    check(
        &[seen(1, Some(0), false), handshaking(2, 900, false)],
        Choice::Evict(2),
    );
    // The oldest handshake first: a real client's takes milliseconds, so it is the newest.
    check(
        &[
            handshaking(1, 300, false),
            handshaking(2, 100, false),
            handshaking(3, 200, false),
            seen(4, Some(0), false),
        ],
        Choice::Evict(2),
    );
    // Accepted in the same millisecond: the one accepted first.
    check(
        &[
            handshaking(7, 100, false),
            handshaking(5, 100, false),
            handshaking(6, 100, false),
        ],
        Choice::Evict(5),
    );
    check(
        &[seen(9, Some(100), false), seen(8, Some(100), false)],
        Choice::Evict(8),
    );
    // One chosen before is closing, whichever kind.
    check(
        &[handshaking(1, 100, true), handshaking(2, 50, false)],
        Choice::Closing,
    );
    check(
        &[seen(1, None, false), handshaking(2, 0, false)],
        Choice::Evict(2),
    );
    // A handshake younger than the grace is let finish: an idle connection goes instead, or
    // the client waits until the grace of the oldest ends, never evicting one mid-handshake.
    check(
        &[handshaking(1, 9_500, false), seen(2, Some(5_000), false)],
        Choice::Evict(2),
    );
    // Nor a connection idle for less than the grace: one that has just completed its
    // handshake (idle since then) and is about to send its first request, as a flood's young
    // handshakes are let finish. The client waits until the soonest grace ends.
    check(
        &[handshaking(1, 9_500, false), seen(2, Some(9_995), false)],
        Choice::Wait(Some(10_500)),
    );
    check(
        &[seen(1, Some(9_200), false), seen(2, Some(9_400), false)],
        Choice::Wait(Some(10_200)),
    );
    check(
        &[
            seen(1, None, false),
            handshaking(2, 9_500, false),
            handshaking(3, 9_200, false),
        ],
        Choice::Wait(Some(10_200)),
    );
    check(
        &[handshaking(1, 9_000, false), seen(2, Some(0), false)],
        Choice::Evict(1),
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
    let registered = slots.register(PEER);
    let slot = registered.slot().clone();
    slot.handshaken();
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
    let busy = slots.register(PEER);
    busy.slot().handshaken();
    let _request = busy.slot().busy();
    let idle_permit = slots.admit(&permits).await.unwrap();
    let idle = slots.register(PEER);
    idle.slot().handshaken();
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
