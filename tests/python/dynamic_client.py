"""Drives the Python `kubernetes` and `openshift` DynamicClients against an imagelookup server.

Usage: dynamic_client.py <kubeconfig> <scenario> <namespace>

Each scenario does what a user of the client would do and prints one JSON object of what it
observed; the Rust test (tests/api_python.rs) asserts on it. Errors from the server are
recorded as their HTTP status, not raised, so the test sees them.
"""

import json
import sys

import kubernetes
from kubernetes import config, dynamic
from kubernetes.client import api_client
from kubernetes.dynamic.exceptions import DynamicApiError

API_VERSION = "image.openshift.io/v1"


def client(kubeconfig, flavour=dynamic.DynamicClient):
    configuration = kubernetes.client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return flavour(api_client.ApiClient(configuration=configuration))


def streams(dyn):
    return dyn.resources.get(api_version=API_VERSION, kind="ImageStream")


def stream(name, tags=(), labels=None):
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageStream",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"tags": [tag(t) for t in tags]},
    }


def tag(name):
    return {"name": name, "reference": True,
            "from": {"kind": "DockerImage", "name": "quay.io/example/py:" + name}}


def status_of(call):
    """The HTTP status a call ended with: 200-ish on success, the error's code otherwise."""
    try:
        call()
        return 200
    except DynamicApiError as error:
        return error.status


def crud(dyn, ns):
    isr = streams(dyn)
    created = isr.create(body=stream("py-a", labels={"app": "py"}), namespace=ns)
    isr.create(body=stream("py-b", labels={"app": "other"}), namespace=ns)
    by_label = isr.get(namespace=ns, label_selector="app=py")
    fetched = isr.get(name="py-a", namespace=ns)
    body = fetched.to_dict()
    body["metadata"]["labels"]["replaced"] = "yes"
    replaced = isr.replace(body=body, namespace=ns)
    deleted = isr.delete(name="py-a", namespace=ns)
    return {
        "created_uid": created.metadata.uid,
        "created_generation": created.metadata.generation,
        "by_label": [item.metadata.name for item in by_label.items],
        "list_resource_version": by_label.metadata.resourceVersion,
        "fetched_uid": fetched.metadata.uid,
        "replaced_labels": replaced.metadata.labels.to_dict(),
        "replaced_rv_changed": replaced.metadata.resourceVersion != fetched.metadata.resourceVersion,
        "deleted_status": deleted.status,
        "get_after_delete": status_of(lambda: isr.get(name="py-a", namespace=ns)),
        "create_existing": status_of(lambda: isr.create(body=stream("py-b"), namespace=ns)),
    }


def patches(dyn, ns):
    isr = streams(dyn)
    isr.create(body=stream("py-p", tags=["v1"]), namespace=ns)
    strategic = isr.patch(body={"spec": {"tags": [tag("v2")]}}, name="py-p", namespace=ns)
    merged = isr.patch(body={"metadata": {"labels": {"m": "1"}}}, name="py-p", namespace=ns,
                       content_type="application/merge-patch+json")
    json_patched = isr.patch(body=[{"op": "replace", "path": "/spec/lookupPolicy/local", "value": True}],
                             name="py-p", namespace=ns, content_type="application/json-patch+json")
    status = isr.status.get(name="py-p", namespace=ns)
    digest = "sha256:" + "a" * 64
    event = {"created": "2026-01-01T00:00:00Z", "dockerImageReference": "quay.io/example/py@" + digest,
             "image": digest, "generation": 1}
    status_patched = isr.status.patch(body={"status": {"tags": [{"tag": "extra", "items": [event]}]},
                                            "spec": {"tags": []}},
                                      name="py-p", namespace=ns)
    return {
        "strategic_tags": [t.name for t in strategic.spec.tags],
        "merged_labels": merged.metadata.labels.to_dict(),
        "json_local": json_patched.spec.lookupPolicy.local,
        "generation": json_patched.metadata.generation,
        "status_get_kind": status.kind,
        "status_tags_before": [t.tag for t in status.status.tags],
        "status_tags_after": [t.tag for t in status_patched.status.tags],
        "spec_tags_after_status_patch": [t.name for t in status_patched.spec.tags],
    }


def apply(dyn, ns):
    isr = streams(dyn)
    config = {"apiVersion": API_VERSION, "kind": "ImageStream",
              "metadata": {"name": "py-ssa", "namespace": ns},
              "spec": {"lookupPolicy": {"local": True}}}
    created = isr.server_side_apply(body=config, name="py-ssa", namespace=ns, field_manager="py")
    rival = json.loads(json.dumps(config))
    rival["spec"]["lookupPolicy"]["local"] = False
    conflict = None
    try:
        isr.server_side_apply(body=rival, name="py-ssa", namespace=ns, field_manager="rival")
    except DynamicApiError as error:
        conflict = {"status": error.status, "body": json.loads(error.body)}
    forced = isr.server_side_apply(body=rival, name="py-ssa", namespace=ns, field_manager="rival",
                                   force_conflicts=True)
    return {
        "created_local": created.spec.lookupPolicy.local,
        "created_managers": [e.manager for e in created.metadata.managedFields],
        "conflict": conflict,
        "forced_local": forced.spec.lookupPolicy.local,
        "forced_managers": sorted(e.manager for e in forced.metadata.managedFields),
    }


def watch(dyn, ns):
    isr = streams(dyn)
    first = isr.create(body=stream("py-w1"), namespace=ns)
    isr.patch(body={"metadata": {"labels": {"changed": "yes"}}}, name="py-w1", namespace=ns,
              content_type="application/merge-patch+json")
    isr.create(body=stream("py-w2"), namespace=ns)
    isr.delete(name="py-w2", namespace=ns)
    since = []
    for event in isr.watch(namespace=ns, resource_version=first.metadata.resourceVersion, timeout=5):
        since.append([event["type"], event["object"].metadata.name])
        if event["type"] == "DELETED":
            break
    current = []
    for event in isr.watch(namespace=ns, timeout=1):
        current.append([event["type"], event["object"].metadata.name])
    return {"since_create": since, "from_now": current}


def openshift_client(kubeconfig, ns):
    from openshift.dynamic import DynamicClient

    oc = client(kubeconfig, DynamicClient)
    isr = streams(oc)
    body = stream("py-oc", tags=["v1"])
    body["metadata"]["namespace"] = ns
    applied = oc.apply(isr, body=body, namespace=ns)
    body["spec"]["tags"].append(tag("v2"))
    reapplied = oc.apply(isr, body=body, namespace=ns)
    listed = isr.get(namespace=ns)
    return {
        "applied_annotations": sorted(applied.metadata.annotations.to_dict()),
        "reapplied_tags": [t.name for t in reapplied.spec.tags],
        "listed": [item.metadata.name for item in listed.items],
    }


def roots(kubeconfig, _ns):
    """The typed clients' reachability checks: they ask for `/version/`, `/api/`, `/apis/`."""
    configuration = kubernetes.client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    api = api_client.ApiClient(configuration=configuration)
    version = kubernetes.client.VersionApi(api).get_code()
    core = kubernetes.client.CoreApi(api).get_api_versions()
    groups = kubernetes.client.ApisApi(api).get_api_versions()
    return {
        "major": version.major,
        "core_versions": core.versions,
        "groups": [group.name for group in groups.groups],
    }


def main():
    kubeconfig, scenario, namespace = sys.argv[1:4]
    if scenario == "openshift":
        result = openshift_client(kubeconfig, namespace)
    elif scenario == "roots":
        result = roots(kubeconfig, namespace)
    else:
        scenarios = {"crud": crud, "patches": patches, "apply": apply, "watch": watch}
        result = scenarios[scenario](client(kubeconfig), namespace)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
