//! Generators for the webhook property tests: image references, arbitrary JSON biased towards
//! the keys admission reads, and AdmissionReviews whose objects keep their images where their
//! kind does (and, now and then, somewhere else or as junk).

use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Image references: the ones the index knows, registry references, digests, and garbage.
fn image() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "mysql",
        "mysql:8",
        "mysql:5.7",
        "mysql:9",
        "mysql:latest",
        "php",
        "ruby:3",
        "nosuch:1",
        "docker.io/library/nginx:1",
        "registry.local:5000/ns/mysql:8",
        "quay.io/elsewhere/mysql:8",
        "mysql@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "mysql:8@sha256:abc",
        "quay.io/o/m@sha256:zz",
        "",
        ":",
        "@",
        "a:b:c",
        "UPPER:Case",
        "mÿsql:ünï",
        "//",
        "mysql:",
        "ns/mysql:8",
    ]);
    let resolvable = prop::sample::select(vec!["mysql", "mysql:8", "mysql:5.7", "mysql:9"]);
    prop_oneof![
        4 => resolvable.prop_map(str::to_string),
        4 => known.prop_map(str::to_string),
        2 => "[a-z0-9:/@._-]{0,40}",
        1 => ".{0,24}",
    ]
}

/// Arbitrary JSON, with keys biased towards the ones admission looks at.
pub(super) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        image().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "spec",
        "template",
        "metadata",
        "containers",
        "initContainers",
        "ephemeralContainers",
        "image",
        "name",
        "volumes",
        "reference",
        "from",
        "kind",
        "namespace",
        "annotations",
        "ownerReferences",
        "controller",
        "jobTemplate",
        "source",
        "images",
        "strategy",
        "dockerStrategy",
        "alpha.image.policy.openshift.io/resolve-names",
        "~1/",
    ]);
    prop_oneof![3 => known.prop_map(str::to_string), 1 => ".{0,8}"]
}

/// A container: usually well formed, sometimes not an object or with odd field types.
fn container() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["a", "b", "c", ""]).prop_map(Value::from);
    let well_formed =
        (name, image()).prop_map(|(name, image)| json!({"name": name, "image": image}));
    prop_oneof![8 => well_formed, 1 => json_value()]
}

/// Where a pod runs: nothing, a node selector, a required node affinity, or junk in either.
fn placement() -> impl Strategy<Value = Value> {
    let arch = prop::sample::select(vec!["arm64", "arm64", "amd64", "sparc", ""]);
    let arch = arch.prop_map(Value::from);
    let selector = arch
        .clone()
        .prop_map(|arch| json!({"kubernetes.io/arch": arch}));
    let operator = prop::sample::select(vec!["In", "In", "NotIn", "Exists"]);
    let expression = (operator, prop::collection::vec(arch, 0..3)).prop_map(
        |(op, values)| json!({"key": "kubernetes.io/arch", "operator": op, "values": values}),
    );
    let term = prop::collection::vec(expression, 1..3).prop_map(|e| json!({"matchExpressions": e}));
    let affinity = prop::collection::vec(term, 1..3).prop_map(|terms| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": terms}}})
    });
    prop_oneof![
        2 => Just(json!({})),
        3 => selector.prop_map(|selector| json!({"nodeSelector": selector})),
        3 => affinity.prop_map(|affinity| json!({"affinity": affinity})),
        1 => json_value().prop_map(|junk| json!({"nodeSelector": junk.clone(), "affinity": junk})),
    ]
}

fn pod_spec() -> impl Strategy<Value = Value> {
    let list = || prop::collection::vec(container(), 0..3);
    let volume = image().prop_map(|image| json!({"name": "v", "image": {"reference": image}}));
    (
        list(),
        list(),
        list(),
        prop::collection::vec(volume, 0..2),
        json_value(),
        placement(),
    )
        .prop_map(|(containers, init, ephemeral, volumes, junk, placement)| {
            let mut spec = json!({"containers": containers, "initContainers": init,
                   "ephemeralContainers": ephemeral, "volumes": volumes, "x-junk": junk});
            if let (Some(spec), Value::Object(placement)) = (spec.as_object_mut(), placement) {
                spec.extend(placement);
            }
            spec
        })
}

fn build_reference() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(vec![
        "DockerImage",
        "ImageStreamTag",
        "ImageStreamImage",
        "Other",
        "",
    ]);
    let namespace = prop::option::of(prop::sample::select(vec!["ns", "other", ""]));
    (kind, image(), namespace).prop_map(|(kind, name, namespace)| {
        let mut from = json!({"kind": kind, "name": name});
        if let Some(namespace) = namespace {
            from["namespace"] = json!(namespace);
        }
        from
    })
}

fn build_spec() -> impl Strategy<Value = Value> {
    let strategy = prop::sample::select(vec!["dockerStrategy", "sourceStrategy", "customStrategy"]);
    (
        prop::collection::vec(build_reference(), 0..3),
        strategy,
        build_reference(),
    )
        .prop_map(|(sources, strategy, from)| {
            let images: Vec<Value> = sources
                .into_iter()
                .map(|from| json!({"from": from}))
                .collect();
            json!({"source": {"images": images}, "strategy": {strategy: {"from": from}}})
        })
}

/// An `image.openshift.io/triggers` annotation: triggers from tags with and without images,
/// at container fields of any pod spec path by name or index (some naming no container, some
/// not an image), sometimes paused or twice on one field; or text that is no list of triggers.
fn triggers() -> impl Strategy<Value = String> {
    let from = prop::sample::select(vec![
        "mysql:8",
        "mysql:5.7",
        "ruby:3",
        "php:latest",
        "nope:1",
    ]);
    let base = prop::sample::select(vec![
        "spec.",
        "spec.template.spec.",
        "spec.jobTemplate.spec.template.spec.",
    ]);
    let field = prop::sample::select(vec![
        r#"containers[?(@.name=="a")].image"#,
        r#"containers[?(@.name=="c")].image"#,
        "containers[0].image",
        "containers[1]image",
        "initContainers[0].image",
        "containers[0].name",
        "volumes[0].image",
    ]);
    let trigger =
        (from, base, field, prop::bool::weighted(0.2)).prop_map(|(from, base, field, paused)| {
            json!({"from": {"kind": "ImageStreamTag", "name": from},
                   "fieldPath": format!("{base}{field}"), "paused": paused})
        });
    let list = prop::collection::vec(trigger, 0..3).prop_map(|list| Value::from(list).to_string());
    prop_oneof![8 => list, 1 => ".{0,12}"]
}

/// Metadata with, sometimes, the resolve-names annotation, triggers and a controlling owner.
fn metadata() -> impl Strategy<Value = Value> {
    let owned = prop::bool::weighted(0.15);
    let junk = prop::option::weighted(0.2, json_value());
    let triggers = prop::option::weighted(0.3, triggers());
    (any::<bool>(), owned, junk, triggers).prop_map(|(forced, owned, junk, triggers)| {
        let mut metadata = json!({"name": "obj"});
        if forced {
            metadata["annotations"] = json!({"alpha.image.policy.openshift.io/resolve-names": "*"});
        }
        if let Some(triggers) = triggers {
            metadata["annotations"]["image.openshift.io/triggers"] = Value::from(triggers);
        }
        if owned {
            metadata["ownerReferences"] = json!([{"kind": "ReplicaSet", "controller": true}]);
        }
        if let Some(junk) = junk {
            metadata["labels"] = junk;
        }
        metadata
    })
}

/// `(group, kind, resource)`, including kinds without images, unknown ones, and (one time in
/// ten) a kind that does not match its group or resource.
fn kind() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    let groups = prop::sample::select(vec!["", "apps", "batch", "build.openshift.io", "x"]);
    let kinds = prop::sample::select(vec!["Pod", "Deployment", "CronJob", "Build", "Widget"]);
    let resources = prop::sample::select(vec!["pods", "deployments", "builds", "*", ""]);
    prop_oneof![
        9 => consistent_kind(),
        1 => (groups, kinds, resources),
    ]
}

fn consistent_kind() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    prop::sample::select(vec![
        ("", "Pod", "pods"),
        ("", "PodTemplate", "podtemplates"),
        ("", "ReplicationController", "replicationcontrollers"),
        ("apps", "Deployment", "deployments"),
        ("apps", "StatefulSet", "statefulsets"),
        ("batch", "Job", "jobs"),
        ("batch", "CronJob", "cronjobs"),
        ("build.openshift.io", "Build", "builds"),
        ("build.openshift.io", "BuildConfig", "buildconfigs"),
        ("", "ConfigMap", "configmaps"),
        ("example.com", "Widget", "widgets"),
    ])
}

/// An object of `kind` with its images where that kind keeps them, or somewhere else.
fn object_of(kind: &'static str) -> BoxedStrategy<Value> {
    let spec: BoxedStrategy<Value> = match kind {
        "Build" | "BuildConfig" => build_spec().boxed(),
        "Pod" => pod_spec().boxed(),
        "CronJob" => (metadata(), pod_spec())
            .prop_map(|(metadata, spec)| {
                json!({"jobTemplate": {"spec": {"template": {"metadata": metadata, "spec": spec}}}})
            })
            .boxed(),
        _ => (metadata(), pod_spec())
            .prop_map(|(metadata, spec)| json!({"template": {"metadata": metadata, "spec": spec}}))
            .boxed(),
    };
    let spec = prop_oneof![9 => spec, 1 => json_value()];
    (metadata(), spec)
        .prop_map(|(metadata, spec)| {
            let mut object = Map::new();
            object.insert("metadata".into(), metadata);
            object.insert("spec".into(), spec.clone());
            object.insert("template".into(), json!({"spec": spec}));
            Value::Object(object)
        })
        .boxed()
}

/// An AdmissionReview body with random operation, subresource, namespace and objects.
pub(super) fn admission_review() -> impl Strategy<Value = Value> {
    kind().prop_flat_map(|(group, kind, resource)| {
        let operation = prop_oneof![
            4 => Just("CREATE"),
            3 => Just("UPDATE"),
            1 => prop::sample::select(vec!["DELETE", "CONNECT", "X"]),
        ];
        let subresource = prop::option::weighted(
            0.2,
            prop::sample::select(vec!["ephemeralcontainers", "status", "exec"]),
        );
        let namespace = prop_oneof![
            8 => Just(Some("ns")),
            1 => prop::option::of(prop::sample::select(vec!["other", ""])),
        ];
        let old = prop::option::of(object_of(kind));
        (
            object_of(kind),
            old,
            operation,
            subresource,
            namespace,
            any::<bool>(),
        )
            .prop_map(
                move |(object, old, operation, subresource, namespace, dry_run)| {
                    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "request": {"uid": "u", "kind": {"group": group, "version": "v1", "kind": kind},
                        "resource": {"group": group, "version": "v1", "resource": resource},
                        "subResource": subresource, "namespace": namespace, "name": "obj",
                        "operation": operation, "object": object, "oldObject": old,
                        "dryRun": dry_run}})
                },
            )
    })
}
