//! Read-your-writes: what the API writes, the next admission sees, even under a race.

use super::*;

#[tokio::test]
async fn a_stream_written_through_the_api_is_seen_by_the_very_next_admission() {
    let server = default_server();
    let api = Api::new(server, "fresh");
    let object = pod("cache", &[("redis", "redis:7")]);
    let review = || Review::create(POD, "fresh", object.clone());

    api.create_stream(
        "redis",
        true,
        json!([tag("7", "quay.io/example/redis:7", "Source")]),
    )
    .await;
    let pull_through = format!("{REGISTRY}/fresh/redis:7");
    let response = check(
        server,
        &review(),
        &with(&object, "/spec/containers/0/image", &pull_through),
    )
    .await;
    assert_eq!(
        response["warnings"],
        json!([format!(
            "spec.containers[0].image: \"redis:7\" not pinned: tag \"7\" of imagestream \
            fresh/redis is not imported yet; this server runs no importer (--no-importer): import \
            the tag elsewhere, or set its status.tags through the API; pulled by tag through the \
            integrated registry as {pull_through} (allowed by lookupPolicy.local=true)"
        )])
    );

    let digest = format!("quay.io/example/redis@{D1}");
    api.import("redis", &[("7", &digest, D1)]).await;
    check(
        server,
        &review(),
        &with(&object, "/spec/containers/0/image", &digest),
    )
    .await;

    api.delete_stream("redis").await;
    let response = check(server, &review(), &object).await;
    assert!(response.get("patch").is_none(), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_racing_stream_writes_see_each_write_once_it_returns_and_never_go_back() {
    let server = default_server();
    let api = Api::new(server, "racing");
    let object = pod("cache", &[("redis", "redis:7")]);
    api.create_stream(
        "redis",
        true,
        json!([tag("7", "quay.io/example/redis:7", "Source")]),
    )
    .await;
    let digest = |n: u64| format!("sha256:{n:064x}");
    let generation_of = |image: &str| -> u64 {
        let hex = image.rsplit_once("@sha256:").map_or("0", |(_, hex)| hex);
        u64::from_str_radix(hex, 16).expect("a digest this test wrote")
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // How many generations the reader saw: two or more, and it read while the writes went on.
    let generations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = {
        let (object, stop) = (object.clone(), stop.clone());
        let generations = generations.clone();
        tokio::spawn(async move {
            let mut newest = None;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let review = Review::create(POD, "racing", object.clone());
                let response = admit(server, &review).await;
                let image = patched(&object, &response)["spec"]["containers"][0]["image"].clone();
                let generation = generation_of(image.as_str().unwrap());
                if let Some(newest) = newest {
                    assert!(
                        generation >= newest,
                        "went back from {newest} to {generation}"
                    );
                }
                if newest != Some(generation) {
                    generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                newest = Some(generation);
            }
        })
    };
    // 20 writes at least, and more until the reader has seen two generations (or stopped on
    // a regression, or the patience ran out).
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    let seen = || generations.load(std::sync::atomic::Ordering::Relaxed);
    let mut n = 0;
    let more = |n| n < 20 || (seen() < 2 && tokio::time::Instant::now() < deadline);
    while more(n) && !reader.is_finished() {
        n += 1;
        let pinned = format!("quay.io/example/redis@{}", digest(n));
        api.import("redis", &[("7", &pinned, &digest(n))]).await;
        let response = admit(server, &Review::create(POD, "racing", object.clone())).await;
        let expected = with(&object, "/spec/containers/0/image", &pinned);
        assert_eq!(patched(&object, &response), expected, "write {n}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.await.expect("the reader saw no regression");
    assert!(
        seen() >= 2,
        "the reader saw {} generations of {n} written: it did not read while they were",
        seen()
    );
}
