//! `POST …/imagestreamimports` (what `oc import-image` sends) against the real registry, on
//! one server shared by these tests and started with `--no-importer`: every import here is
//! the API's own, none the controller's.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::*;
use imagelookup::importer::tag_order::MAX_TAGS_PER_REPOSITORY;

/// The shared server: where it listens and how to reach it.
struct Shared {
    addr: std::net::SocketAddr,
    token: String,
    ca: Vec<u8>,
    kubeconfig: PathBuf,
}

/// Starts the server once, on a runtime of its own that outlives every test's.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (started, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                // Sources under `mirrors::UPSTREAM` are pulled from the open registry.
                let conf = std::env::temp_dir().join(format!(
                    "imagelookup-isimport-registries-{}.conf",
                    std::process::id()
                ));
                std::fs::write(&conf, mirrors::upstream_mirrored_at(open_registry())).unwrap();
                let conf = conf.to_str().unwrap();
                let args = [
                    "--store",
                    "memory:",
                    "--no-importer",
                    "--registries-conf",
                    conf,
                ];
                let server = InProcess::start(&args).await;
                let ca = std::fs::read(server.data_file("tls/ca.crt")).unwrap();
                let shared = Shared {
                    addr: server.addr,
                    token: server.token.clone(),
                    ca,
                    kubeconfig: server.kubeconfig(),
                };
                started.send(shared).unwrap();
                std::future::pending::<()>().await;
            });
        });
        wait.recv().expect("the shared server starts")
    })
}

impl Shared {
    /// Sends `method` to `path` (with `body`) as the admin: the status and the JSON answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let client = reqwest::Client::builder()
            .tls_backend_rustls()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca).unwrap())
            .build()
            .unwrap();
        let mut request = client
            .request(method, format!("https://{}{path}", self.addr))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn import(&self, namespace: &str, body: &Value) -> (u16, Value) {
        let path = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports");
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Runs the pinned kubectl against the server: success and its stdout (stderr on failure).
    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let kubectl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/kubectl");
        let output = std::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs (make test installs it into .venv)");
        let text = match output.status.success() {
            true => output.stdout,
            false => output.stderr,
        };
        (
            output.status.success(),
            String::from_utf8_lossy(&text).into_owned(),
        )
    }
}

/// An ImageStreamImport of stream `name`: `images` are `(from, to)`, over plain HTTP.
fn isi(name: &str, import: bool, images: &[(&str, &str)]) -> Value {
    let images: Vec<Value> = images
        .iter()
        .map(|(from, to)| {
            json!({"from": {"kind": "DockerImage", "name": from}, "to": {"name": to},
                   "importPolicy": {"insecure": true}})
        })
        .collect();
    json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport",
           "metadata": {"name": name}, "spec": {"import": import, "images": images}})
}

fn stream_path(namespace: &str, name: &str) -> String {
    format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}")
}

#[tokio::test]
async fn an_import_without_import_answers_the_digest_and_writes_nothing() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/isi-dry", "v1", "amd64").await;
    let from = format!("{}/demo/isi-dry:v1", registry.host());
    let server = shared();

    let (status, answer) = server
        .import("isi-dry", &isi("app", false, &[(&from, "v1")]))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["kind"], "ImageStreamImport");
    let image = &answer["status"]["images"][0];
    assert_eq!(image["status"]["status"], "Success", "{answer}");
    assert_eq!(image["tag"], "v1");
    assert_eq!(image["image"]["metadata"]["name"], json!(pushed.digest));
    let pinned = format!("{}/demo/isi-dry@{}", registry.host(), pushed.digest);
    assert_eq!(image["image"]["dockerImageReference"], json!(pinned));
    assert_eq!(answer["status"].get("import"), None);

    let (status, _) = server.get(&stream_path("isi-dry", "app")).await;
    assert_eq!(status, 404, "no stream is created");
    let (status, _) = server
        .get(&format!(
            "/apis/image.openshift.io/v1/images/{}",
            pushed.digest
        ))
        .await;
    assert_eq!(status, 404, "no image is stored");
    // The import names the stream it would write: the stream's name rules apply first.
    for bad in ["team/app", "Bad_Name"] {
        let (status, refused) = server
            .import("isi-dry", &isi(bad, false, &[(&from, "v1")]))
            .await;
        assert_eq!(
            (status, &refused["reason"]),
            (422, &json!("Invalid")),
            "{bad}: {refused}"
        );
        assert_eq!(refused["details"]["kind"], "ImageStreamImport", "{refused}");
    }
    let collection = "/apis/image.openshift.io/v1/namespaces/isi-dry/imagestreamimports";
    // Bodies are read as Go's decoder reads them: no array where a struct belongs, and
    // fieldValidation=Strict refuses a member the schema lacks.
    let mut shaped = isi("shaped", true, &[(&from, "v1")]);
    shaped["spec"]["images"][0]["to"] = json!(["v1"]);
    let (status, refused) = server.import("isi-dry", &shaped).await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("Go struct field ImageImportSpec.spec.images.to"),
        "{message}"
    );
    let (status, _) = server.get(&stream_path("isi-dry", "shaped")).await;
    assert_eq!(status, 404, "nothing is imported");
    let mut unknown = isi("app", false, &[(&from, "v1")]);
    unknown["spec"]["images"][0]["bogus"] = json!(1);
    let strict = format!("{collection}?fieldValidation=Strict");
    let (status, refused) = server
        .call(reqwest::Method::POST, &strict, Some(&unknown))
        .await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    let expected = r#"ImageStreamImport in version "v1" cannot be handled as a ImageStreamImport: strict decoding error: unknown field "spec.images[0].bogus""#;
    assert_eq!(message, expected);
    // Without a directive the member is dropped, and the answer carries the spec as decoded.
    let (status, answer) = server.import("isi-dry", &unknown).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["spec"]["images"][0].get("bogus"), None, "{answer}");
    assert_eq!(answer["spec"]["images"][0]["to"], json!({"name": "v1"}));
    let (status, refused) = server.get(collection).await;
    assert_eq!(
        (status, &refused["reason"]),
        (405, &json!("MethodNotAllowed"))
    );
}

#[tokio::test]
async fn an_import_creates_the_stream_and_a_missing_tag_fails_alone() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/isi-new", "v2", "amd64").await;
    let from = format!("{}/demo/isi-new:v2", registry.host());
    let missing = format!("{}/demo/isi-new:nope", registry.host());
    let server = shared();

    let body = isi("app", true, &[(&missing, "nope"), (&from, "v2")]);
    let (status, answer) = server.import("isi-new", &body).await;
    assert_eq!(status, 201, "{answer}");
    let failed = &answer["status"]["images"][0]["status"];
    assert_eq!(
        (&failed["status"], &failed["reason"], &failed["code"]),
        (&json!("Failure"), &json!("NotFound"), &json!(404))
    );
    assert_eq!(
        failed["message"],
        json!(format!(
            "dockerimage.image.openshift.io \"{missing}\" not found"
        ))
    );
    assert_eq!(answer["status"]["images"][1]["status"]["status"], "Success");
    let stream = &answer["status"]["import"];
    assert_eq!(stream["kind"], "ImageStream", "{answer}");
    assert!(
        stream["metadata"]["annotations"]["openshift.io/image.dockerRepositoryCheck"].is_string()
    );

    let (status, stored) = server.get(&stream_path("isi-new", "app")).await;
    assert_eq!(status, 200);
    let tags = stored["status"]["tags"].as_array().unwrap();
    let tag = |name: &str| tags.iter().find(|t| t["tag"] == name).unwrap().clone();
    assert_eq!(tag("v2")["items"][0]["image"], json!(pushed.digest));
    assert_eq!(tag("v2")["items"][0]["generation"], 1);
    assert_eq!(tag("nope")["conditions"][0]["type"], "ImportSuccess");
    assert_eq!(tag("nope")["conditions"][0]["reason"], "NotFound");
    let spec_tags: Vec<&str> = stored["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        spec_tags,
        ["nope", "v2"],
        "a failed image still gets its spec tag"
    );

    let (ok, reference) = tokio::task::spawn_blocking(|| {
        shared().kubectl(&[
            "get",
            "istag",
            "app:v2",
            "-n",
            "isi-new",
            "-o",
            "jsonpath={.image.dockerImageReference}",
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{reference}");
    assert_eq!(
        reference,
        format!("{}/demo/isi-new@{}", registry.host(), pushed.digest)
    );
}

#[tokio::test]
async fn an_import_answers_its_own_image_not_one_another_namespace_stored_from_elsewhere() {
    let registry = open_registry();
    let private = "demo/isi-private";
    let pushed = registry
        .push_image_to_each(&[private, "demo/isi-public"], "v1", "amd64")
        .await;
    let server = shared();
    let first = format!("{}/{private}:v1", registry.host());
    let (status, answer) = server
        .import("isi-team-a", &isi("app", true, &[(&first, "v1")]))
        .await;
    assert_eq!(status, 201, "{answer}");
    let created = &answer["status"]["images"][0]["image"];
    assert_eq!(
        created["dockerImageReference"],
        json!(format!("{}/{private}@{}", registry.host(), pushed.digest))
    );
    assert!(
        created["metadata"]["uid"].is_string(),
        "this import created it: {created}"
    );

    // The same digest from another repository, into another namespace: OpenShift answers the
    // import's own Image, not the stored one, which names team-a's private source.
    let second = format!("{}/demo/isi-public:v1", registry.host());
    let (status, answer) = server
        .import("isi-team-b", &isi("app", true, &[(&second, "v1")]))
        .await;
    assert_eq!(status, 201, "{answer}");
    let image = &answer["status"]["images"][0]["image"];
    assert_eq!(
        image["dockerImageReference"],
        json!(format!(
            "{}/demo/isi-public@{}",
            registry.host(),
            pushed.digest
        )),
        "{image}"
    );
    assert_eq!(image["metadata"]["name"], json!(pushed.digest));
    for identity in ["uid", "resourceVersion"] {
        assert!(image["metadata"][identity].is_null(), "{identity}: {image}");
    }
    assert!(!answer.to_string().contains(private), "{answer}");
}

#[tokio::test]
async fn an_image_without_a_target_is_imported_to_the_tag_its_source_names() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/isi-to", "v3", "amd64").await;
    let from = format!("{}/demo/isi-to:v3", registry.host());
    let server = shared();

    let mut body = isi("app", true, &[(&from, "unused")]);
    let image = body["spec"]["images"][0].as_object_mut().unwrap();
    image.remove("to");
    let (status, answer) = server.import("isi-to", &body).await;
    assert_eq!(status, 201, "{answer}");
    // The answer carries the spec as OpenShift's defaulters leave it.
    let spec = &answer["spec"]["images"][0];
    assert_eq!(spec["to"], json!({"name": "v3"}), "{answer}");
    assert_eq!(spec["referencePolicy"], json!({"type": "Source"}));
    let (status, stored) = server.get(&stream_path("isi-to", "app")).await;
    assert_eq!(status, 200);
    assert_eq!(stored["spec"]["tags"][0]["name"], "v3", "{stored}");
    assert_eq!(
        stored["spec"]["tags"][0]["referencePolicy"]["type"],
        "Source"
    );
    let items = &stored["status"]["tags"][0]["items"];
    assert_eq!(items[0]["image"], json!(pushed.digest), "{stored}");
}

/// What a bare `oc import-image app:v2` sends for a stream that has the tag: the tag's own
/// source, the stream's resourceVersion as a precondition.
#[tokio::test]
async fn re_importing_an_existing_spec_tag_records_its_new_image() {
    let registry = open_registry();
    let first = registry.push_image("demo/isi-again", "v2", "amd64").await;
    let from = format!("{}/demo/isi-again:v2", registry.host());
    let server = shared();
    let (status, created) = server
        .import("isi-again", &isi("app", true, &[(&from, "v2")]))
        .await;
    assert_eq!(status, 201, "{created}");

    let second = registry.push_image("demo/isi-again", "v2", "amd64").await;
    let (_, stream) = server.get(&stream_path("isi-again", "app")).await;
    let mut body = isi("app", true, &[(&from, "v2")]);
    body["metadata"]["resourceVersion"] = stream["metadata"]["resourceVersion"].clone();
    let (status, answer) = server.import("isi-again", &body).await;
    assert_eq!(status, 201, "{answer}");
    let events = &answer["status"]["import"]["status"]["tags"][0]["items"];
    let images: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, [second.digest.as_str(), first.digest.as_str()]);
    assert_eq!(events[0]["generation"], 2);
    assert_eq!(
        answer["status"]["import"]["spec"]["tags"][0]["generation"],
        2
    );

    let (status, refused) = server.import("isi-again", &body).await;
    assert_eq!(
        (status, &refused["reason"]),
        (409, &json!("Conflict")),
        "{refused}"
    );
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("the image stream was updated from"),
        "{message}"
    );
}

#[tokio::test]
async fn a_repository_import_lists_the_tags_past_fifty_as_additional() {
    let registry = open_registry();
    let names: Vec<String> = (0..52).map(|i| format!("t{i:02}")).collect();
    let tags: Vec<&str> = names.iter().map(String::as_str).collect();
    let pushed = registry
        .push_image_tags("demo/isi-repo", &tags, "amd64")
        .await;
    let server = shared();
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport",
        "metadata": {"name": "all"},
        "spec": {"import": true, "repository": {
            "from": {"kind": "DockerImage", "name": format!("{}/demo/isi-repo", registry.host())},
            "importPolicy": {"insecure": true}}}});
    let (status, answer) = server.import("isi-repo", &body).await;
    assert_eq!(status, 201, "{answer}");
    let repository = &answer["status"]["repository"];
    assert_eq!(repository["status"]["status"], "Success", "{repository}");
    assert_eq!(
        repository["images"].as_array().unwrap().len(),
        MAX_TAGS_PER_REPOSITORY
    );
    assert_eq!(repository["additionalTags"], json!(["t50", "t51"]));
    assert_eq!(
        repository["images"][0]["image"]["metadata"]["name"],
        json!(pushed.digest)
    );
    let spec_tags = answer["status"]["import"]["spec"]["tags"]
        .as_array()
        .unwrap();
    assert_eq!(spec_tags.len(), MAX_TAGS_PER_REPOSITORY);
    let from = format!("{}/demo/isi-repo:t00", registry.host());
    assert_eq!(spec_tags[0]["from"]["name"], json!(from));
}

#[tokio::test]
async fn include_manifest_answers_the_manifest_and_config_read_but_stores_neither() {
    use sha2::{Digest, Sha256};
    let registry = open_registry();
    let pushed = registry
        .push_image("demo/isi-manifest", "v1", "amd64")
        .await;
    let from = format!("{}/demo/isi-manifest:v1", registry.host());
    let mut body = isi("app", true, &[(&from, "asked"), (&from, "not-asked")]);
    body["spec"]["images"][0]["includeManifest"] = json!(true);
    body["spec"]["repository"] = json!({"includeManifest": true,
        "from": {"kind": "DockerImage", "name": format!("{}/demo/isi-manifest", registry.host())},
        "importPolicy": {"insecure": true}});
    let (status, answer) = shared().import("isi-manifest", &body).await;
    assert_eq!(status, 201, "{answer}");
    let digest_of = |text: &Value| format!("sha256:{:x}", Sha256::digest(text.as_str().unwrap()));
    let asked = [
        &answer["status"]["images"][0]["image"],
        &answer["status"]["repository"]["images"][0]["image"],
    ];
    for image in asked {
        assert_eq!(
            digest_of(&image["dockerImageManifest"]),
            pushed.digest,
            "{image}"
        );
        assert_eq!(
            digest_of(&image["dockerImageConfig"]),
            pushed.config,
            "{image}"
        );
    }
    let not_asked = &answer["status"]["images"][1]["image"];
    assert_eq!(not_asked["metadata"]["name"], json!(pushed.digest));
    assert_eq!(not_asked.get("dockerImageManifest"), None, "{not_asked}");
    assert_eq!(not_asked.get("dockerImageConfig"), None, "{not_asked}");
    let image_path = format!("/apis/image.openshift.io/v1/images/{}", pushed.digest);
    let (status, stored) = shared().get(&image_path).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored.get("dockerImageManifest"), None, "{stored}");
    assert_eq!(stored.get("dockerImageConfig"), None, "{stored}");
}

#[tokio::test]
async fn kubectl_creates_an_import_from_a_file_and_prints_the_answer() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/isi-kubectl", "v1", "amd64").await;
    let from = format!("{}/demo/isi-kubectl:v1", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("isimport.yaml");
    let yaml = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStreamImport\nmetadata:\n  name: app\n  \
         namespace: isi-kubectl\nspec:\n  import: true\n  images:\n  - from:\n      kind: \
         DockerImage\n      name: {from}\n    to:\n      name: v1\n    importPolicy:\n      \
         insecure: true\n"
    );
    std::fs::write(&file, yaml).unwrap();
    let path = file.display().to_string();
    let (ok, printed) = tokio::task::spawn_blocking(move || {
        shared().kubectl(&["create", "-f", &path, "-o", "yaml"])
    })
    .await
    .unwrap();
    assert!(ok, "{printed}");
    let answer: Value = serde_norway::from_str(&printed).unwrap();
    assert_eq!(answer["kind"], "ImageStreamImport");
    assert_eq!(answer["status"]["images"][0]["status"]["status"], "Success");
    assert_eq!(
        answer["status"]["import"]["status"]["tags"][0]["items"][0]["image"],
        json!(pushed.digest)
    );
}

#[tokio::test]
async fn an_import_asked_through_the_api_reads_the_mirrors_of_registries_conf() {
    let registry = open_registry();
    let pushed = registry.push_image("mirrored/isi", "v1", "amd64").await;
    let from = format!("{}/isi:v1", mirrors::UPSTREAM);
    let server = shared();

    let (status, answer) = server
        .import("isi-mirror", &isi("app", false, &[(&from, "v1")]))
        .await;
    assert_eq!(status, 201, "{answer}");
    let image = &answer["status"]["images"][0];
    assert_eq!(image["status"]["status"], "Success", "{answer}");
    let pinned = format!("{}/isi@{}", mirrors::UPSTREAM, pushed.digest);
    assert_eq!(image["image"]["dockerImageReference"], json!(pinned));
}

/// The bytes the store's refusal (a 413) says the written object would have had.
fn refused_size(refused: &Value) -> usize {
    let message = refused["message"].as_str().unwrap_or_default();
    let (_, after) = message.split_once(" would be ").expect("the size is named");
    after.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_import_into_a_stream_grown_to_the_store_s_limit_drops_its_oldest_history() {
    let registry = open_registry();
    registry.push_image("demo/isi-full", "v1", "amd64").await;
    let from = format!("{}/demo/isi-full:v1", registry.host());
    let server = shared();
    let body = isi("app", true, &[(&from, "v1")]);
    let (status, created) = server.import("isi-full", &body).await;
    assert_eq!(status, 201, "{created}");

    let path = stream_path("isi-full", "app");
    let (_, mut stream) = server.get(&path).await;
    let tags = stream["status"]["tags"].as_array_mut().unwrap();
    tags.push(long_history("old", 6_000));
    let status_path = format!("{path}/status");
    let (status, mut stream) = server
        .call(reqwest::Method::PUT, &status_path, Some(&stream))
        .await;
    assert_eq!(status, 200, "{stream}");
    // Padded to 100 bytes under the limit, told by how far over a first try was.
    let over = 250_000;
    stream["metadata"]["annotations"]["padding"] = json!("x".repeat(over));
    let (status, refused) = server
        .call(reqwest::Method::PUT, &path, Some(&stream))
        .await;
    assert_eq!(status, 413, "{refused}");
    let padding = over - (refused_size(&refused) - (store::MAX_OBJECT_BYTES - 100));
    stream["metadata"]["annotations"]["padding"] = json!("x".repeat(padding));
    let (status, padded) = server
        .call(reqwest::Method::PUT, &path, Some(&stream))
        .await;
    assert_eq!(status, 200, "{padded}");

    let pushed = registry.push_image("demo/isi-full", "v1", "amd64").await;
    let mut body = isi("app", true, &[(&from, "v1")]);
    body["metadata"]["resourceVersion"] = padded["metadata"]["resourceVersion"].clone();
    let (status, answer) = server.import("isi-full", &body).await;
    assert_eq!(status, 201, "{}", answer["message"]);
    let (_, stored) = server.get(&path).await;
    let tags = stored["status"]["tags"].as_array().unwrap();
    let items = |name: &str| {
        let tag = tags.iter().find(|t| t["tag"] == name).unwrap();
        tag["items"].as_array().unwrap().clone()
    };
    assert_eq!(items("v1")[0]["image"], json!(pushed.digest));
    let old = items("old");
    assert!(old.len() < 5_900, "the oldest history went: {}", old.len());
    assert_eq!(old[0]["image"], json!(format!("sha256:{:064}", 5_999)));
    let oldest_kept = format!("sha256:{:064}", 6_000 - old.len());
    assert_eq!(old.last().unwrap()["image"], json!(oldest_kept));
}
