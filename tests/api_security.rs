//! The security audit's findings end to end on a real server: impersonation is refused.

mod support;

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
    // kubectl's discovery reports a refused discovery document as `Forbidden: unknown`,
    // whatever the Status says; `--raw` skips discovery and shows the message.
    let error = server()
        .kubectl(&[
            "--as=bob",
            "-n",
            namespace,
            "get",
            "imagestreams.image.openshift.io",
        ])
        .failure();
    assert!(error.contains("Error from server (Forbidden)"), "{error}");
    let raw = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams");
    let error = server()
        .kubectl(&["--as=bob", "get", "--raw", &raw])
        .failure();
    assert!(
        error.contains("User \"admin\" cannot impersonate resource \"users\""),
        "{error}"
    );
}
