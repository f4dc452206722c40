//! The security audit's findings end to end on a real server: impersonation is refused,
//! `--authz-file` rules limit users to namespaces, verbs and resources (with subresources), and
//! Secret names and namespaces are validated as kube-apiserver does.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{stream, streams_path, Server};

fn server() -> &'static Server {
    Server::shared()
}

#[test]
fn impersonation_headers_are_refused_with_kubes_forbidden() {
    let path = streams_path("authz-impersonate");
    let check = |header: &str, value: &str, message: &str, kind: &str| {
        let refused = server()
            .get(&path)
            .header(header, value)
            .send()
            .expect_status(403, "Forbidden");
        assert_eq!(refused["message"], message, "{header}");
        assert_eq!(refused["details"]["kind"], kind, "{header}");
        assert_eq!(refused["details"]["name"], value, "{header}");
    };
    let unsupported =
        "in API group \"\" at the cluster scope: impersonation is not supported by this server";
    check(
        "Impersonate-User",
        "bob",
        &format!("users \"bob\" is forbidden: User \"admin\" cannot impersonate resource \"users\" {unsupported}"),
        "users",
    );
    check(
        "Impersonate-Group",
        "system:masters",
        &format!("groups \"system:masters\" is forbidden: User \"admin\" cannot impersonate resource \"groups\" {unsupported}"),
        "groups",
    );
    check(
        "Impersonate-Uid",
        "42",
        &format!("uids \"42\" is forbidden: User \"admin\" cannot impersonate resource \"uids\" {unsupported}"),
        "uids",
    );
    check(
        "Impersonate-Extra-Scopes",
        "view",
        &format!("userextras \"view\" is forbidden: User \"admin\" cannot impersonate resource \"userextras/scopes\" {unsupported}"),
        "userextras",
    );
    // Without the headers the same caller is served.
    server().get(&path).send().expect(200);
}

#[test]
fn kubectl_as_another_user_is_refused_not_run_as_the_caller() {
    let namespace = "authz-kubectl-as";
    server().create(&streams_path(namespace), &stream(namespace, "app", &[]));
    // kubectl's discovery reads its documents raw, quoting a refusal only when it is text: so
    // the short name, the resolved name and `--raw` all say why.
    let expected = "Error from server (Forbidden): users \"bob\" is forbidden: User \"admin\" \
                    cannot impersonate resource \"users\" in API group \"\" at the cluster scope";
    let raw = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams");
    let commands: [&[&str]; 3] = [
        &["-n", namespace, "get", "is"],
        &["-n", namespace, "get", "imagestreams.image.openshift.io"],
        &["get", "--raw", &raw],
    ];
    for command in commands {
        let args: Vec<&str> = ["--as=bob"].iter().chain(command).copied().collect();
        let error = server().kubectl(&args).failure();
        assert!(error.contains(expected), "{command:?}: {error}");
        assert!(!error.contains("unknown"), "{command:?}: {error}");
    }
    // Clients that decode a Status still get one on every resource path.
    let refused = server()
        .get(&raw)
        .header("Impersonate-User", "bob")
        .send()
        .expect_status(403, "Forbidden");
    assert_eq!(refused["details"]["kind"], "users");
}

/// [`support::limited_server`] where alice may do every verb in `team-a` on `resources` (a
/// YAML list) only.
fn server_granting(resources: &str) -> (tempfile::TempDir, Server) {
    support::limited_server(&format!("  verbs: [\"*\"]\n  resources: {resources}\n"))
}

#[test]
fn kubectl_auth_can_i_and_whoami_answer_from_the_authz_file() {
    let (_dir, limited) = server_granting("[imagestreams]");
    // With a token file no kubeconfig is written: the flags say what one would.
    let ca = limited
        .data_dir
        .join("tls")
        .join(imagelookup::certs::CA_CERT_FILE);
    let as_alice = |args: &[&str]| {
        let output = std::process::Command::new(support::clients::kubectl_path())
            .args(["--server", &limited.url(), "--token", "alice-token"])
            .arg("--certificate-authority")
            .arg(&ca)
            .args(args)
            .env("HOME", &limited.data_dir)
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl starts");
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.is_empty(), "kubectl {args:?}: {stderr}");
        (output.status.code(), stdout)
    };
    let can_i = |verb: &str, resource: &str, namespace: &str| {
        as_alice(&["auth", "can-i", verb, resource, "-n", namespace])
    };
    assert_eq!(
        can_i("create", "imagestreams", "team-a"),
        (Some(0), "yes".into())
    );
    let no = |what: &str| {
        (
            Some(1),
            format!("no - no --authz-file rule lets \"alice\" {what}"),
        )
    };
    assert_eq!(
        can_i("create", "imagestreams", "team-b"),
        no("create imagestreams in namespace \"team-b\"")
    );
    assert_eq!(
        can_i("get", "secrets", "team-a"),
        no("get secrets in namespace \"team-a\"")
    );
    let status = as_alice(&[
        "auth",
        "can-i",
        "patch",
        "imagestreams",
        "--subresource=status",
        "-n",
        "team-a",
    ]);
    assert_eq!(
        status,
        no("patch imagestreams/status in namespace \"team-a\"")
    );

    let (code, whoami) = as_alice(&["auth", "whoami"]);
    assert_eq!(code, Some(0), "{whoami}");
    let rows: Vec<Vec<&str>> = whoami
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(rows.contains(&vec!["Username", "alice"]), "{whoami}");
    assert!(
        rows.contains(&vec!["Groups", "[dev", "system:authenticated]"]),
        "{whoami}"
    );

    let (code, listed) = as_alice(&["auth", "can-i", "--list", "-n", "team-a"]);
    assert_eq!(code, Some(0), "{listed}");
    assert!(
        listed.lines().any(|line| line.split_whitespace().eq([
            "imagestreams.*",
            "[]",
            "[]",
            "[*]"
        ])),
        "{listed}"
    );
    let (_, elsewhere) = as_alice(&["auth", "can-i", "--list", "-n", "team-b"]);
    assert!(!elsewhere.contains("imagestreams"), "{elsewhere}");

    // A JSON client, and a review asking nothing.
    let review = |spec: serde_json::Value| serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec});
    let reviews = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let asked = review(serde_json::json!({"resourceAttributes": {
        "namespace": "team-a", "verb": "list", "group": "image.openshift.io", "resource": "imagestreams"}}));
    let answered = limited
        .post(reviews, &asked)
        .token("alice-token")
        .send()
        .expect(201);
    assert_eq!(answered["status"]["allowed"], true, "{answered}");
    assert_eq!(answered["spec"], asked["spec"]);
    let empty = limited
        .post(reviews, &review(serde_json::json!({})))
        .token("alice-token")
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(
        empty["details"]["causes"][0]["field"], "spec.resourceAttributes",
        "{empty}"
    );
}

#[test]
fn a_rule_naming_imagestreams_withholds_secrets_and_stream_subresources() {
    let (_dir, limited) = server_granting("[imagestreams, imagestreamtags]");
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": "{\"auths\":{}}"},
    });
    limited
        .post("/api/v1/namespaces/team-a/secrets", &secret)
        .send()
        .expect(201);
    let created = limited
        .post(&streams_path("team-a"), &stream("team-a", "app", &[]))
        .token("alice-token")
        .send()
        .expect(201);
    let app = format!("{}/app", streams_path("team-a"));
    limited.get(&app).token("alice-token").send().expect(200);
    let tags = "/apis/image.openshift.io/v1/namespaces/team-a/imagestreamtags";
    limited.get(tags).token("alice-token").send().expect(200);
    let denied = [
        (
            "/api/v1/namespaces/team-a/secrets/pull".to_string(),
            "secrets",
        ),
        (format!("{app}/secrets"), "imagestreams/secrets"),
        (format!("{app}/layers"), "imagestreams/layers"),
    ];
    for (path, resource) in denied {
        let refused = limited
            .get(&path)
            .token("alice-token")
            .send()
            .expect_status(403, "Forbidden");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("cannot get resource \"{resource}\"")),
            "{message}"
        );
    }
    let refused = limited
        .put(&format!("{app}/status"), &created)
        .token("alice-token")
        .send()
        .expect_status(403, "Forbidden");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("cannot update resource \"imagestreams/status\""),
        "{refused}"
    );
    // ImageStreamTag writes are authorized before the body is read: garbage is a 403, not a
    // 400 showing the server parsed it.
    let (_dir2, no_tags) = server_granting("[imagestreams]");
    for (method, path) in [
        ("POST", tags.to_string()),
        ("PUT", format!("{tags}/app:v1")),
    ] {
        let refused = no_tags
            .call(method, &path)
            .header("Content-Type", "application/yaml")
            .body("{a: [unclosed")
            .token("alice-token")
            .send()
            .expect_status(403, "Forbidden");
        assert!(
            refused["message"].as_str().unwrap().contains("cannot "),
            "{method}: {refused}"
        );
    }
    no_tags.stop();
    limited.stop();
}

#[test]
fn secrets_with_names_or_namespaces_kubernetes_cannot_hold_are_422() {
    let body = |name: &str| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": "{\"auths\":{}}"},
        })
    };
    let check = |namespace: &str, name: &str, field: &str, reason: &str| {
        let path = format!("/api/v1/namespaces/{namespace}/secrets");
        let refused = server()
            .post(&path, &body(name))
            .send()
            .expect_status(422, "Invalid");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.starts_with("Secret ") && message.contains(field) && message.contains(reason),
            "{namespace}/{name}: {message}"
        );
    };
    let subdomain = "a lowercase RFC 1123 subdomain must consist of";
    let label = "a lowercase RFC 1123 label must consist of";
    check("sec-names", "UPPER", "metadata.name", subdomain);
    check("sec-names", "a_b c", "metadata.name", subdomain);
    check(
        "sec-names",
        &"a".repeat(300),
        "metadata.name",
        "must be no more than 253 characters",
    );
    check("sec-names", "..", "metadata.name", "may not be '..'");
    // (`%2E%2E` as a namespace is covered by the unit test: reqwest's URL parser resolves it
    // as `..` before sending.)
    check("UPPER", "s", "metadata.namespace", label);
    check("x%00y", "s", "metadata.namespace", label);
    let stored = server().get("/api/v1/secrets").send().expect(200);
    assert_eq!(stored["items"], serde_json::json!([]), "nothing was stored");
    server()
        .post(
            "/api/v1/namespaces/sec-names/secrets",
            &body("pull.example"),
        )
        .send()
        .expect(201);
}

#[test]
fn events_are_listed_to_whoever_may_list_the_namespaces_streams() {
    let check = |resources: &str, path: &str, refused: Option<&str>| {
        let (_dir, limited) = server_granting(resources);
        let answer = limited.get(path).token("alice-token").send();
        match refused {
            None => assert_eq!(answer.expect(200)["items"], serde_json::json!([])),
            Some(message) => {
                let status = answer.expect_status(403, "Forbidden");
                assert_eq!(status["message"], message, "{resources} {path}");
            }
        }
        limited.stop();
    };
    let denied = |scope: &str| {
        format!("events is forbidden: User \"alice\" cannot list resource \"events\" in API group \"\" {scope}")
    };
    check("[imagestreams]", "/api/v1/namespaces/team-a/events", None);
    let team_b = denied("in the namespace \"team-b\"");
    check(
        "[imagestreams]",
        "/api/v1/namespaces/team-b/events",
        Some(&team_b),
    );
    let cluster = denied("at the cluster scope");
    check("[imagestreams]", "/api/v1/events", Some(&cluster));
    let watch_denied = team_b.replace("cannot list", "cannot watch");
    check(
        "[imagestreams]",
        "/api/v1/namespaces/team-b/events?watch=1",
        Some(&watch_denied),
    );
    let team_a = denied("in the namespace \"team-a\"");
    check(
        "[secrets]",
        "/api/v1/namespaces/team-a/events",
        Some(&team_a),
    );
}

#[test]
fn an_event_list_takes_the_selectors_kubectl_describe_sends_and_refuses_other_fields() {
    let events = "/api/v1/namespaces/events-list/events";
    let described = format!(
        "{events}?fieldSelector=involvedObject.name%3Dweb,involvedObject.kind%3DImageStream"
    );
    let list = server().kubectl(&["get", "--raw", &described]).success();
    assert!(list.contains("\"EventList\""), "{list}");
    // Reflectors (kube-rs's watcher) refuse a list without one: nowhere to start watching.
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    let revision = listed["metadata"]["resourceVersion"].as_str();
    assert!(
        revision.is_some_and(|rv| rv.parse::<u64>().is_ok()),
        "{list}"
    );
    for query in ["", "?watch=1&timeoutSeconds=1"] {
        let separator = if query.is_empty() { "?" } else { "&" };
        let raw = format!("{events}{query}{separator}fieldSelector=spec.nodeName%3Dx");
        let refused = server().kubectl(&["get", "--raw", &raw]).failure();
        assert!(
            refused.contains("field label not supported: spec.nodeName"),
            "{raw}: {refused}"
        );
    }
}

#[test]
fn kubectl_watches_events_as_an_empty_stream_that_ends_at_its_timeout() {
    // A bounded watch ends cleanly once its timeout passes, having sent nothing.
    let raw = "/api/v1/namespaces/events-watch/events?watch=1&timeoutSeconds=1";
    let started = Instant::now();
    let stdout = server().kubectl(&["get", "--raw", raw]).success();
    assert_eq!(stdout, "", "no event is sent");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the watch stayed open"
    );
    // `get -w` keeps watching, with nothing to print and nothing to complain about.
    let mut watching = server()
        .kubectl_command(&["-n", "events-watch", "get", "events", "-w", "-v=6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let stderr = watching.stderr.take().expect("stderr is piped");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut logged = Vec::new();
    let deadline = Instant::now() + support::PATIENCE;
    while !logged.iter().any(|line: &String| watch_answered(line)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => logged.push(line),
            Err(_) => panic!("kubectl's watch was not answered: {logged:#?}"),
        }
    }
    // Watching: a server ending the stream now would have kubectl exit at once, saying why;
    // it is given a while to, and a busy machine can only make it look longer.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(2) {
        let exited = watching.try_wait().expect("poll kubectl");
        logged.extend(lines.try_iter());
        assert!(exited.is_none(), "kubectl stopped watching: {logged:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = watching.kill();
    let _ = watching.wait();
    // Its stderr is closed now: the rest of what it said.
    logged.extend(lines.iter());
    let complaints: Vec<&String> = logged.iter().filter(|l| l.contains("rror")).collect();
    assert!(complaints.is_empty(), "{logged:#?}");

    // A watch-list client asks for the initial events and waits for their end: it comes at once.
    let listing = "/api/v1/namespaces/events-watch/events?watch=1&sendInitialEvents=true\
                   &resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1";
    let stdout = server().kubectl(&["get", "--raw", listing]).success();
    let bookmark: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one event");
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "Event");
    let metadata = &bookmark["object"]["metadata"];
    assert_eq!(metadata["annotations"]["k8s.io/initial-events-end"], "true");
    assert!(metadata["resourceVersion"]
        .as_str()
        .is_some_and(|rv| rv.parse::<u64>().is_ok()));
}

/// Whether a line of `kubectl -v=6` logs a watch request answered 200.
fn watch_answered(line: &str) -> bool {
    line.contains("watch=true") && line.contains("200 OK")
}

/// An exported stream's own `ImageStreamImage` tags resolve from the status its create carries
/// (taken as written), so only a creator who may write the stream's status may use it: one
/// allowed to create streams alone gets the create refused as OpenShift refuses it.
#[test]
fn an_exported_status_is_used_only_from_a_creator_who_may_write_status() {
    let image = format!("sha256:{}", "e".repeat(64));
    let mut exported = stream("team-a", "app", &[]);
    exported["spec"]["tags"] = serde_json::json!([
        {"name": "prod", "from": {"kind": "ImageStreamImage", "name": format!("app@{image}")}}]);
    exported["status"] = serde_json::json!({"tags": [{"tag": "latest", "items": [
        {"created": "2026-01-01T00:00:00Z", "dockerImageReference": format!("quay.io/o/app@{image}"),
         "image": image, "generation": 1}]}]});
    let create_only = "  verbs: [create]\n  resources: [imagestreams]\n";
    let create = |rule: &str| {
        let (dir, limited) = support::limited_server(rule);
        let reply = limited
            .post(&streams_path("team-a"), &exported)
            .token("alice-token")
            .send();
        (dir, limited, reply)
    };
    let (_dir, limited, refused) = create(create_only);
    let message = refused.expect_status(422, "Invalid")["message"].to_string();
    assert!(message.contains("not found"), "{message}");
    // A null member (read as its zero value) does not keep the status for such a creator.
    let mut with_null = exported.clone();
    with_null["status"]["dockerImageRepository"] = serde_json::Value::Null;
    let tags = with_null["status"]["tags"].as_array_mut().unwrap();
    tags.push(serde_json::json!({"tag": "other", "items": null}));
    let reply = limited
        .post(&streams_path("team-a"), &with_null)
        .token("alice-token")
        .send();
    let message = reply.expect_status(422, "Invalid")["message"].to_string();
    assert!(message.contains("not found"), "{message}");
    // A status that cannot be read is refused as before, whatever the creator's rights.
    let mut malformed = exported.clone();
    malformed["spec"]["tags"] = serde_json::json!([]);
    malformed["status"] = serde_json::json!("x");
    let reply = limited
        .post(&streams_path("team-a"), &malformed)
        .token("alice-token")
        .send();
    reply.expect_status(400, "BadRequest");
    let (_dir, _, created) =
        create("  verbs: [create, update]\n  resources: [imagestreams, imagestreams/status]\n");
    let created = created.expect(201);
    assert_eq!(
        created["status"]["tags"][0]["items"][0]["image"],
        image.as_str()
    );
}
