//! Policy modes, skips, UPDATE rules, resolve-names, dry run and audit annotations.

use super::*;

#[tokio::test]
async fn required_mode_rejects_unresolvable_references_with_openshifts_422_causes_and_says_why() {
    let server = required_server();
    seed(server, "strict").await;
    let object = pod(
        "web",
        &[
            ("a", "mysql:8"),
            ("b", "docker.io/library/nginx:1"),
            ("c", "nosuch:1"),
        ],
    );
    let response = admit(server, &Review::create(POD, "strict", object)).await;
    assert_eq!(response["allowed"], false);
    assert!(response.get("patch").is_none(), "{response}");
    let status = &response["status"];
    assert_eq!(status["code"], 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "Pod \"web\" is invalid: [spec.containers[1].image: Forbidden: this image is prohibited \
         by policy: (docker.io/library/nginx:1) could not be resolved to an exact image \
         reference, spec.containers[2].image: Forbidden: this image is prohibited by policy: ]"
    );
    let forbidden = |field: &str, message: &str| {
        json!({"reason": "FieldValueForbidden", "field": field,
               "message": format!("Forbidden: this image is prohibited by policy: {message}")})
    };
    assert_eq!(
        status["details"],
        json!({"name": "web", "kind": "Pod", "causes": [
            forbidden("spec.containers[1].image", "(docker.io/library/nginx:1) could not be \
                resolved to an exact image reference"),
            forbidden("spec.containers[2].image", ""),
        ]})
    );
    let must_resolve = "the image policy requires every image to resolve";
    assert_eq!(
        response["warnings"],
        json!([
            format!(
                "spec.containers[1].image: \"docker.io/library/nginx:1\" rejected: not an \
                 image stream name; pin the image by digest; {must_resolve}: \
                 \"docker.io/library/nginx:1\" has a registry or namespace and the integrated \
                 registry is \"registry.local:5000\", so it is not looked up; only \
                 single-segment names such as \"mysql:8\" (or any name on an object annotated \
                 resolve-names) resolve through an imagestream"
            ),
            format!(
                "spec.containers[2].image: \"nosuch:1\" rejected: namespace \"strict\" has no \
                 image stream \"nosuch\"; create the stream there, or pin the image by digest; \
                 {must_resolve}, and lookup searches only the object's namespace"
            ),
        ])
    );
}

#[tokio::test]
async fn a_required_denial_of_a_deployment_names_its_group_and_template_fields() {
    let server = required_server();
    let object = deployment("web", json!({}), &[("nginx", "nginx")]);
    let review = Review::create(DEPLOYMENT, "strict-apps", object);
    let response = admit(server, &review).await;
    assert_eq!(response["allowed"], false, "{response}");
    let field = "spec.template.spec.containers[0].image";
    assert_eq!(
        response["status"]["details"],
        json!({"name": "web", "group": "apps", "kind": "Deployment", "causes": [
            {"reason": "FieldValueForbidden", "field": field,
             "message": "Forbidden: this image is prohibited by policy: "}]})
    );
    let warning = response["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.starts_with(&format!("{field}: \"nginx\" rejected: "))
            && warning.contains("namespace \"strict-apps\" has no image stream \"nginx\""),
        "{response}"
    );
}

#[tokio::test]
async fn required_mode_still_pins_when_every_reference_resolves() {
    let server = required_server();
    seed(server, "strict-ok").await;
    let object = pod("web", &[("a", "mysql:8")]);
    let expected = with(&object, "/spec/containers/0/image", MYSQL_8);
    check(server, &Review::create(POD, "strict-ok", object), &expected).await;
}

#[tokio::test]
async fn attempt_mode_passes_unresolvable_references_through_and_warns_about_lookup_off() {
    let server = default_server();
    seed(server, "attempt").await;
    let object = pod(
        "web",
        &[
            ("a", "ruby:3"),
            ("b", "docker.io/library/nginx:1"),
            ("c", "nosuch:1"),
        ],
    );
    let response = check(
        server,
        &Review::create(POD, "attempt", object.clone()),
        &object,
    )
    .await;
    assert!(response.get("patch").is_none(), "{response}");
    assert_eq!(
        response["warnings"],
        json!([
            "spec.containers[0].image: \"ruby:3\" not rewritten: image stream \"ruby\" has \
                spec.lookupPolicy.local false; set it to true, or annotate the pod template (or \
                the object, if it has none) with alpha.image.policy.openshift.io/resolve-names: \
                \"*\", the only value that counts"
        ])
    );
}

#[tokio::test]
async fn a_controller_owned_pod_is_left_alone() {
    let server = default_server();
    seed(server, "owned").await;
    let mut object = pod("web-abc12", &[("a", "mysql:8")]);
    object["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
        "kind": "ReplicaSet", "name": "web-abc", "uid": "u", "controller": true}]);
    let response = check(
        server,
        &Review::create(POD, "owned", object.clone()),
        &object,
    )
    .await;
    assert!(response.get("patch").is_none(), "{response}");

    // The same pod without a controlling owner is pinned: the skip is about the owner.
    object["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let expected = with(&object, "/spec/containers/0/image", MYSQL_8);
    check(server, &Review::create(POD, "owned", object), &expected).await;
}

#[tokio::test]
async fn an_update_resolves_only_changed_containers() {
    let server = default_server();
    seed(server, "updates").await;
    let old = deployment("web", json!({}), &[("db", "mysql:8")]);
    let object = deployment(
        "web",
        json!({}),
        &[("db", "mysql:8"), ("cache", "mysql:5.7")],
    );
    let expected = with(
        &object,
        "/spec/template/spec/containers/1/image",
        &mysql_57("updates"),
    );
    check(
        server,
        &Review::update(DEPLOYMENT, "updates", old, object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_job_is_pinned_on_create_but_never_rewritten_on_update() {
    let server = default_server();
    seed(server, "jobs").await;
    let created = job("once", "mysql:8");
    let expected = with(&created, "/spec/template/spec/containers/0/image", MYSQL_8);
    check(
        server,
        &Review::create(JOB, "jobs", created.clone()),
        &expected,
    )
    .await;

    let changed = with(
        &created,
        "/spec/template/spec/containers/0/image",
        "mysql:5.7",
    );
    let response = check(
        server,
        &Review::update(JOB, "jobs", created, changed.clone()),
        &changed,
    )
    .await;
    assert!(response.get("patch").is_none(), "{response}");
}

#[tokio::test]
async fn the_resolve_names_annotation_forces_lookup_even_when_added_on_update() {
    let server = default_server();
    seed(server, "forced").await;
    let forced = json!({"annotations": {"alpha.image.policy.openshift.io/resolve-names": "*"}});
    let containers = [("a", "ruby:3"), ("b", "quay.io/elsewhere/ruby:3")];
    let object = deployment("web", forced.clone(), &containers);
    let expected = with(
        &with(&object, "/spec/template/spec/containers/0/image", RUBY_3),
        "/spec/template/spec/containers/1/image",
        RUBY_3,
    );
    check(
        server,
        &Review::create(DEPLOYMENT, "forced", object.clone()),
        &expected,
    )
    .await;

    // Adding the annotation to a stored Deployment re-resolves its unchanged images.
    let old = deployment("web", json!({}), &containers);
    check(
        server,
        &Review::update(DEPLOYMENT, "forced", old, object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_dry_run_is_answered_exactly_like_the_real_request() {
    let server = default_server();
    seed(server, "dryrun").await;
    let object = pod("web", &[("a", "mysql:8"), ("b", "ruby:3")]);
    let real = admit(server, &Review::create(POD, "dryrun", object.clone())).await;
    let mut dry = Review::create(POD, "dryrun", object);
    dry.dry_run = true;
    let mut dry_response = admit(server, &dry).await;
    assert_ne!(dry_response["uid"], real["uid"]);
    dry_response["uid"] = real["uid"].clone();
    assert_eq!(dry_response, real);
    assert!(patch_of(&real).is_some(), "{real}");
}

#[tokio::test]
async fn an_already_pinned_pod_gets_no_patch() {
    let server = default_server();
    seed(server, "pinned").await;
    let object = pod("web", &[("a", "mysql:8")]);
    let first = admit(server, &Review::create(POD, "pinned", object.clone())).await;
    let pinned = patched(&object, &first);
    let again = admit(server, &Review::create(POD, "pinned", pinned)).await;
    assert_eq!(again["allowed"], true);
    assert!(again.get("patch").is_none(), "{again}");
    assert!(again.get("patchType").is_none(), "{again}");
    assert!(again.get("auditAnnotations").is_none(), "{again}");
}

#[tokio::test]
async fn audit_annotations_record_each_original_and_resolved_reference() {
    let server = default_server();
    seed(server, "audit").await;
    let object = pod("web", &[("a", "mysql:8"), ("b", "mysql:5.7")]);
    let response = admit(server, &Review::create(POD, "audit", object)).await;
    let rewrites = audit_rewrites(&response);
    let summary: Vec<(&str, &str, &str)> = rewrites
        .iter()
        .map(|rewrite| {
            let text = |key: &str| rewrite[key].as_str().unwrap_or_default();
            (text("path"), text("from"), text("to"))
        })
        .collect();
    let local = mysql_57("audit");
    assert_eq!(
        summary,
        [
            ("spec.containers[0].image", "mysql:8", MYSQL_8),
            ("spec.containers[1].image", "mysql:5.7", local.as_str()),
        ]
    );
    assert!(
        rewrites.iter().all(|rewrite| rewrite["reason"] != ""),
        "{rewrites:?}"
    );
    assert!(response["auditAnnotations"].get("unresolved").is_none());
}

#[tokio::test]
async fn audit_annotations_keep_why_a_reference_was_not_pinned() {
    let server = default_server();
    seed(server, "audit-unresolved").await;
    let object = pod("web", &[("a", "mysql:8"), ("b", "mysql:nope")]);
    let response = admit(server, &Review::create(POD, "audit-unresolved", object)).await;
    // Both written (the missing tag pulled by tag through the integrated registry), one pinned.
    assert_eq!(audit_rewrites(&response).len(), 2, "{response}");
    let text = response["auditAnnotations"]["unresolved"]
        .as_str()
        .unwrap_or_else(|| panic!("an unresolved audit annotation: {response}"));
    let unresolved: Vec<String> = serde_json::from_str(text).expect("a JSON list of strings");
    assert_eq!(unresolved.len(), 1, "{unresolved:?}");
    assert!(
        unresolved[0].starts_with("spec.containers[1].image"),
        "{unresolved:?}"
    );
    // The same sentence the creator was warned with.
    let warnings = response["warnings"].as_array().expect("a warning");
    assert_eq!(warnings[0].as_str(), Some(unresolved[0].as_str()));
}

#[tokio::test]
async fn a_custom_resource_is_pinned_at_the_pod_spec_path_its_policy_rule_gives() {
    let server = custom_resources_server();
    seed(server, "rollouts").await;
    let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": pod_spec(&[("db", "mysql:8"), ("web", "nginx")])}}});
    let target = Target {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "Rollout",
        resource: "rollouts",
        subresource: None,
    };
    let review = Review::create(target.clone(), "rollouts", rollout.clone());
    let expected = with(&rollout, "/spec/template/spec/containers/0/image", MYSQL_8);
    let response = check(server, &review, &expected).await;
    assert_eq!(
        audit_rewrites(&response)[0]["path"],
        "spec.template.spec.containers[0].image"
    );

    // The same kind on a server whose policy does not locate it is admitted unchanged.
    seed(default_server(), "rollouts").await;
    let unlocated = admit(default_server(), &review).await;
    assert_eq!(unlocated["allowed"], true, "{unlocated}");
    assert!(unlocated.get("patch").is_none(), "{unlocated}");
}
