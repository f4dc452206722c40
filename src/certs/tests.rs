use std::fs;
use std::time::SystemTime;

use super::authority::BACKDATE;
use super::files::read_bundle;
use super::verify::covers;
use super::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn check_verifies(bundle: &CertBundle, name: &str, expected: bool) {
    let verified = verify_serving_cert(
        &bundle.ca_cert_pem,
        &bundle.cert_pem,
        name,
        SystemTime::now(),
    );
    assert_eq!(verified.is_ok(), expected, "{name}: {verified:?}");
}

#[test]
fn service_dns_names_cover_every_in_cluster_form() {
    assert_eq!(
        service_dns_names("imagelookup", "infra"),
        names(&[
            "imagelookup",
            "imagelookup.infra",
            "imagelookup.infra.svc",
            "imagelookup.infra.svc.cluster.local",
        ])
    );
}

#[test]
fn ca_verifies_serving_cert_for_each_san_and_no_other_name() {
    let sans = names(&["svc.ns.svc", "*.apps.example.com", "10.0.0.1", "::1"]);
    let bundle = generate(&sans, SystemTime::now()).unwrap();
    for (name, expected) in [
        ("svc.ns.svc", true),
        ("route.apps.example.com", true),
        ("10.0.0.1", true),
        ("::1", true),
        ("svc.other.svc", false),
        ("10.0.0.2", false),
        ("127.0.0.1", false),
    ] {
        check_verifies(&bundle, name, expected);
    }
}

#[test]
fn one_ca_issues_certificates_that_all_verify_under_it() {
    let ca = CertificateAuthority::new(SystemTime::now()).unwrap();
    let first = ca.issue(&names(&["one.test"]), SystemTime::now()).unwrap();
    let second = ca.issue(&names(&["two.test"]), SystemTime::now()).unwrap();
    assert_eq!(first.ca_cert_pem, ca.cert_pem());
    assert_ne!(first.cert_pem, second.cert_pem);
    assert_ne!(first.key_pem, second.key_pem);
    check_verifies(&first, "one.test", true);
    check_verifies(&second, "two.test", true);
    check_verifies(&second, "one.test", false);
}

#[test]
fn another_ca_does_not_verify_the_serving_cert() {
    let first = generate(&names(&["localhost"]), SystemTime::now()).unwrap();
    let second = generate(&names(&["localhost"]), SystemTime::now()).unwrap();
    let mixed = CertBundle {
        ca_cert_pem: second.ca_cert_pem,
        ..first
    };
    check_verifies(&mixed, "localhost", false);
}

#[test]
fn serving_cert_expires_after_the_validity_period() {
    let now = SystemTime::now();
    let bundle = generate(&names(&["localhost"]), now).unwrap();
    let verify_at =
        |at| verify_serving_cert(&bundle.ca_cert_pem, &bundle.cert_pem, "localhost", at);
    assert!(verify_at(now + VALIDITY - Duration::from_secs(60)).is_ok());
    assert!(verify_at(now + VALIDITY + Duration::from_secs(60)).is_err());
    assert!(verify_at(now - BACKDATE - Duration::from_secs(60)).is_err());
}

#[test]
fn certificates_issued_later_end_with_their_ca() {
    let start = SystemTime::now();
    let ca = CertificateAuthority::new(start).unwrap();
    let later = start + Duration::from_secs(5 * 365 * 24 * 60 * 60);
    let bundle = ca.issue(&names(&["localhost"]), later).unwrap();
    let verify_at = |at| verify_serving_cert(ca.cert_pem(), &bundle.cert_pem, "localhost", at);
    assert!(verify_at(start + VALIDITY - Duration::from_secs(60)).is_ok());
    assert!(verify_at(start + VALIDITY + Duration::from_secs(60)).is_err());
}

#[test]
fn invalid_or_missing_sans_are_rejected() {
    let rejected = generate(&names(&["bad name\u{e9}"]), SystemTime::now()).unwrap_err();
    assert!(
        matches!(rejected, CertError::InvalidSubjectAltName { .. }),
        "{rejected}"
    );
    let empty = generate(&[], SystemTime::now()).unwrap_err();
    assert!(matches!(empty, CertError::NoSubjectAltNames), "{empty}");
}

#[test]
fn webhook_certs_are_written_with_a_matching_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_webhook_certs("hook", "ns", &names(&["10.1.2.3"]), dir.path()).unwrap();
    let ca_pem = fs::read_to_string(&paths.ca_cert).unwrap();
    let encoded = fs::read_to_string(&paths.ca_bundle).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(decoded, ca_pem.as_bytes());
    let bundle = read_bundle(&paths).unwrap();
    check_verifies(&bundle, "hook.ns.svc.cluster.local", true);
    check_verifies(&bundle, "10.1.2.3", true);
    check_verifies(&bundle, "localhost", false);
}

#[cfg(unix)]
#[test]
fn private_key_file_is_readable_by_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_webhook_certs("hook", "ns", &[], dir.path()).unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&paths.key), 0o600);
}

#[test]
fn ensure_serving_certs_reuses_certs_that_still_cover_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let first = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
    let written = fs::read(&first.cert).unwrap();
    let second = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
    assert_eq!(first, second);
    assert_eq!(fs::read(&second.cert).unwrap(), written);
    check_verifies(&read_bundle(&second).unwrap(), "::1", true);
}

#[test]
fn ensure_serving_certs_replaces_certs_missing_a_name_or_broken() {
    let dir = tempfile::tempdir().unwrap();
    let first = ensure_serving_certs(dir.path(), &[]).unwrap();
    let original = fs::read(&first.cert).unwrap();
    let widened = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
    let replaced = fs::read(&widened.cert).unwrap();
    assert_ne!(replaced, original);
    check_verifies(&read_bundle(&widened).unwrap(), "api.local", true);
    fs::write(&widened.key, "not a key").unwrap();
    let repaired = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
    assert_ne!(fs::read(&repaired.cert).unwrap(), replaced);
    assert!(covers(
        &read_bundle(&repaired).unwrap(),
        &names(&["api.local"]),
        SystemTime::now()
    ));
}
