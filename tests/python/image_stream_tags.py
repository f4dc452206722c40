"""Reads ImageStreamTags with the `openshift` DynamicClient, as a pipeline script would, then
moves one tag's source with the client's default patch (strategic merge), and annotates it with
the `kubernetes` client's custom-objects API (which sends the name escaped: `db%3A8`).

Usage: image_stream_tags.py <kubeconfig> <namespace> <stream:tag> <missing stream:tag>

Prints one JSON object of what it read; the Rust test (tests/api_istag.rs) asserts on it.
"""

import json
import sys

import kubernetes
from kubernetes import config
from kubernetes.client import api_client
from kubernetes.dynamic.exceptions import DynamicApiError
from openshift.dynamic import DynamicClient


def main():
    kubeconfig, namespace, name, missing = sys.argv[1:5]
    configuration = kubernetes.client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    oc = DynamicClient(api_client.ApiClient(configuration=configuration))
    istags = oc.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamTag")
    listed = istags.get(namespace=namespace)
    one = istags.get(name=name, namespace=namespace)
    try:
        istags.get(name=missing, namespace=namespace)
        missing_status = 200
    except DynamicApiError as error:
        missing_status = error.status
    moved = {"tag": {"from": {"kind": "DockerImage", "name": "quay.io/example/db:8.1"}}}
    patched = istags.patch(body=moved, name=name, namespace=namespace)
    custom = kubernetes.client.CustomObjectsApi(api_client.ApiClient(configuration=configuration))
    annotation = {"metadata": {"annotations": {"patched-by": "custom-objects"}}}
    annotated = custom.patch_namespaced_custom_object(
        "image.openshift.io", "v1", namespace, "imagestreamtags", name, annotation)
    print(json.dumps({
        "list_kind": listed.kind,
        "listed": [item.metadata.name for item in listed.items],
        "reference": one.image.dockerImageReference,
        "missing_status": missing_status,
        "patched_from": patched.tag["from"].name,
        "annotated": annotated["metadata"]["annotations"],
    }))


if __name__ == "__main__":
    main()
