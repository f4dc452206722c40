//! `imagelookup image-info` from the built binary against the test registries: one image
//! looked up as the importer would import it, through mirrors and with the global pull secret.

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use serde_json::{json, Value};

use super::registry::{open_registry, protected_registry};

/// Runs `imagelookup image-info <args>` off the test's runtime.
async fn image_info(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_imagelookup"))
            .arg("image-info")
            .args(args)
            .output()
            .expect("run imagelookup image-info")
    })
    .await
    .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn an_image_is_looked_up_through_its_mirror_with_the_global_pull_secret() {
    let protected = protected_registry();
    let pushed = protected.push_image("info/app", "v1", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    let host = protected.host();
    let sets = format!(
        "kind: ImageTagMirrorSet\nmetadata: {{name: info}}\nspec:\n  imageTagMirrors:\n  \
         - source: 127.0.0.1:1/info\n    mirrors: [{host}/info]\n"
    );
    let auth = base64::engine::general_purpose::STANDARD.encode("user:s3cret");
    let config = json!({"auths": {host.clone(): {"auth": auth}}}).to_string();
    let args = vec![
        "127.0.0.1:1/info/app:v1".to_string(),
        "--insecure".into(),
        "--mirror-sets".into(),
        write(dir.path(), "sets.yaml", &sets),
        "--global-pull-secret".into(),
        write(dir.path(), "config.json", &config),
        "-o".into(),
        "json".into(),
    ];
    let output = image_info(args.clone()).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["digest"], pushed.digest.as_str());
    assert_eq!(
        info["dockerImageReference"],
        format!("127.0.0.1:1/info/app@{}", pushed.digest)
    );
    assert_eq!(info["pulledFrom"], format!("{host}/info/app:v1"));
    assert_eq!(info["mirror"], true);

    // Without the credential the mirror refuses, and the answer of each place is said.
    let without = args[..4].to_vec();
    let output = image_info(without).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("from {host}/info/app:v1")) && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );
    // In JSON too, on stdout, for the tools that read it.
    let mut without_json = args[..4].to_vec();
    without_json.extend(["-o".to_string(), "json".into()]);
    let output = image_info(without_json).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failed: Value = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!(failed["name"], "127.0.0.1:1/info/app:v1");
    let places: Vec<&str> = failed["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["from"].as_str().unwrap())
        .collect();
    assert_eq!(
        places,
        [
            format!("{host}/info/app:v1").as_str(),
            "127.0.0.1:1/info/app:v1"
        ]
    );
}

#[tokio::test]
async fn an_index_kept_whole_lists_its_platforms() {
    let open = open_registry();
    let (index, arm, amd) = open.push_index("info/multi", "v1").await;
    let output = image_info(vec![
        format!("{}/info/multi:v1", open.host()),
        "--insecure".into(),
        "--import-mode".into(),
        "PreserveOriginal".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("Digest:        {index}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "Manifests:\n  {}  linux/arm64\n  {}  linux/amd64\n",
            arm.digest, amd.digest
        )),
        "{stdout}"
    );
    let output = image_info(vec![
        format!("{}/info/multi:v1", open.host()),
        "--insecure".into(),
        "--import-mode".into(),
        "PreserveOriginal".into(),
        "-o".into(),
        "json".into(),
    ])
    .await;
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["digest"], index.as_str());
    assert_eq!(info["architectures"], json!(["arm64", "amd64"]));
}

#[tokio::test]
async fn bad_input_exits_2_and_a_missing_image_exits_1() {
    let open = open_registry();
    let output = image_info(vec!["Not A Reference".into()]).await;
    assert_eq!(output.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let broken = write(
        dir.path(),
        "sets.yaml",
        "kind: Secret\nmetadata: {name: s}\n",
    );
    let output = image_info(vec!["quay.io/a/b:c".into(), "--mirror-sets".into(), broken]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a mirror set"));
    let missing = format!("{}/info/missing:v1", open.host());
    let output = image_info(vec![missing, "--insecure".into()]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("info/missing"), "{stderr}");

    // A plain-HTTP registry without --insecure: the advice names this command's flag.
    let pushed = format!("{}/info/plain:v1", open.host());
    open.push_image("info/plain", "v1", "amd64").await;
    let output = image_info(vec![pushed]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pass --insecure to import over HTTP"),
        "{stderr}"
    );
    assert!(!stderr.contains("importPolicy"), "{stderr}");
}
