//! A stored document that cannot be read (damaged on disk, or written to etcd by something
//! else): the server still becomes ready with every other stream in its admission index, a
//! read of the damaged object says which it is and how to remove it, and the unsafe delete
//! kube-apiserver offers (`ignoreStoreReadErrorWithClusterBreakingPotential`) removes it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::process::spawn_serve;
use redb::ReadableTable as _;
use serde_json::{json, Value};

const STREAMS: &str = "/apis/image.openshift.io/v1/namespaces/shop/imagestreams";
const UNSAFE: &str = "ignoreStoreReadErrorWithClusterBreakingPotential=true";

fn client() -> reqwest::Client {
    common::setup();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The status and JSON body of a request.
async fn call(request: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn stream(name: &str) -> Value {
    json!({
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"lookupPolicy": {"local": true}}
    })
}

/// Overwrites the stored document of `key` in the store file with bytes that are not JSON,
/// keeping its revision: what a damaged page or a foreign writer leaves.
fn damage(data_dir: &Path, key: &str) {
    const OBJECTS: redb::TableDefinition<&str, (u64, &[u8])> =
        redb::TableDefinition::new("objects");
    let db = redb::Database::open(data_dir.join("store")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut objects = txn.open_table(OBJECTS).unwrap();
        let revision = objects
            .get(key)
            .unwrap()
            .expect("the key is stored")
            .value()
            .0;
        objects
            .insert(key, (revision, &b"{\"metadata\": garbage"[..]))
            .unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stream_is_reported_left_out_of_admission_and_deleted_only_unsafely() {
    let dir = common::temp_dir();
    let client = client();
    {
        let server = spawn_serve(dir.path(), &["--no-importer"], &[]);
        let url = format!("{}{STREAMS}", server.base);
        for name in ["good", "bad"] {
            let created = call(client.post(&url).json(&stream(name)), &server.token).await;
            assert_eq!(created.0, 201, "{created:?}");
        }
        // Dropping the guard kills the server: the creates were acknowledged, so durable.
    }
    damage(dir.path(), "imagestreams/shop/bad");

    // Alice may delete, but not unsafely: kube-apiserver asks for a verb of its own. She is
    // added to the token file the first start generated, whose user keeps every right.
    let tokens = dir.path().join("tokens.csv");
    let generated = std::fs::read_to_string(&tokens).unwrap();
    let admin = generated.split(',').nth(1).expect("token,user,…");
    std::fs::write(
        &tokens,
        format!("{}\nalice-token,alice,2\n", generated.trim_end()),
    )
    .unwrap();
    let policy = dir.path().join("policy.yaml");
    let rules = format!(
        "rules:\n- users: [{admin}]\n  namespaces: ['*']\n  verbs: ['*']\n\
         - users: [alice]\n  namespaces: [shop]\n  verbs: [get, list, delete]\n"
    );
    std::fs::write(&policy, rules).unwrap();
    let flags = ["--no-importer", "--authz-file", policy.to_str().unwrap()];
    let server = spawn_serve(dir.path(), &flags, &[]);
    let (base, token) = (server.base.clone(), server.token.clone());
    let ready = common::eventually("the server to become ready", || async {
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        (response.status() == 200).then_some(())
    });
    ready.await;
    let metrics = client.get(format!("{base}/metrics")).bearer_auth(&token);
    let metrics = metrics.send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("imagelookup_index_unreadable_streams 1"),
        "{metrics}"
    );
    assert!(metrics.contains("imagelookup_index_streams 1"), "{metrics}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        log.contains("imagestreams/shop/bad") && log.contains("cannot be read"),
        "{log}"
    );

    let good = call(client.get(format!("{base}{STREAMS}/good")), &token).await;
    assert_eq!(good.0, 200, "{good:?}");
    let bad_url = format!("{base}{STREAMS}/bad");
    for read in [bad_url.clone(), format!("{base}{STREAMS}")] {
        let (status, body) = call(client.get(&read), &token).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (500, Some("InternalError"))
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("the stored object imagestreams/shop/bad cannot be read (not json")
                && message.contains(UNSAFE.trim_end_matches("=true")),
            "{message}"
        );
    }

    // An ordinary delete cannot read what it deletes; an unsafe one cannot be a dry run.
    let plain = call(client.delete(&bad_url), &token).await;
    assert_eq!(plain.0, 500, "{plain:?}");
    let dry = format!("{bad_url}?{UNSAFE}&dryRun=All");
    let (status, body) = call(client.delete(&dry), &token).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (422, Some("Invalid")),
        "{body}"
    );
    assert_eq!(body["details"]["causes"][0]["field"], "dryRun", "{body}");

    // Only for what cannot be read, and never for a collection, as kube-apiserver has it.
    let refusals = [
        (
            format!("{base}{STREAMS}/good?{UNSAFE}"),
            "is exclusively used to delete corrupt object(s)",
        ),
        (
            format!("{base}{STREAMS}?{UNSAFE}"),
            "is not allowed with DELETECOLLECTION",
        ),
    ];
    for (url, words) in refusals {
        let (status, body) = call(client.delete(&url), &token).await;
        let message = body["message"].as_str().unwrap_or_default();
        assert_eq!(status, 422, "{body}");
        assert!(message.contains(words), "{body}");
    }
    assert_eq!(
        call(client.get(format!("{base}{STREAMS}/good")), &token)
            .await
            .0,
        200
    );
    let alice = call(client.delete(format!("{bad_url}?{UNSAFE}")), "alice-token").await;
    assert_eq!(alice.0, 403, "{alice:?}");
    let message = alice.1["message"].as_str().unwrap();
    assert!(
        message.contains("cannot unsafe-delete-ignore-read-errors"),
        "{message}"
    );
    let deleted = call(client.delete(format!("{bad_url}?{UNSAFE}")), &token).await;
    assert_eq!(
        (deleted.0, deleted.1["status"].as_str()),
        (200, Some("Success")),
        "{deleted:?}"
    );
    assert_eq!(call(client.get(&bad_url), &token).await.0, 404);
    let cleared = common::eventually("the unreadable gauge to clear", || async {
        let metrics = client.get(format!("{base}/metrics")).bearer_auth(&token);
        let text = metrics.send().await.ok()?.text().await.ok()?;
        text.contains("imagelookup_index_unreadable_streams 0")
            .then_some(())
    });
    cleared.await;
    let (status, list) = call(client.get(format!("{base}{STREAMS}")), &token).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["good"]);
    let recreated = call(
        client.post(format!("{base}{STREAMS}")).json(&stream("bad")),
        &token,
    );
    assert_eq!(recreated.await.0, 201);
}
