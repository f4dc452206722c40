use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;

use super::authority::BACKDATE;
use super::data_dir::{ensure_at, serving_problem, Outcome};
use super::files::write_serving;
use super::*;

fn read_bundle(paths: &CertPaths) -> Option<CertBundle> {
    Some(CertBundle {
        ca_cert_pem: fs::read_to_string(&paths.ca_cert).ok()?,
        cert_pem: fs::read_to_string(&paths.cert).ok()?,
        key_pem: fs::read_to_string(&paths.key).ok()?,
    })
}

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

/// What a data directory's `tls/` holds after a change to the files of a first start.
struct Case {
    name: &'static str,
    /// Changes the files of a first start (for `localhost` and the other local names) in the
    /// given directory, at the given time.
    change: fn(&Path, SystemTime),
    /// The names asked for at the next start.
    wanted: &'static [&'static str],
    expected: Expected,
}

/// What the next start does, by what it does to `ca.crt`.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// Nothing written.
    Kept,
    /// Nothing written, with a warning that this CA file cannot issue the next certificate,
    /// for a reason starting with this.
    KeptWithoutCa(&'static str, &'static str),
    /// The same `ca.crt`, a new serving certificate from it; the reason starts with this.
    Reissued(&'static str),
    /// A new CA, with a warning naming this file and a reason starting with this.
    Replaced(&'static str, &'static str),
    /// A new CA, without a warning.
    Created,
}

const LOCAL: &[&str] = &["localhost", "127.0.0.1", "::1"];
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn file(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_default()
}

/// The CA of a first start, read back from its files.
fn first_ca(dir: &Path, now: SystemTime) -> CertificateAuthority {
    let pem = |name| String::from_utf8(file(dir, name)).unwrap();
    CertificateAuthority::from_pem(&pem(CA_CERT_FILE), &pem(CA_KEY_FILE), now).unwrap()
}

/// Writes `ca` and a serving certificate from it, issued at `issued`, as a first start would.
fn write_ca(dir: &Path, ca: &CertificateAuthority, issued: SystemTime) {
    write_bundle(&ca.issue(&names(LOCAL), issued).unwrap(), dir).unwrap();
    fs::write(dir.join(CA_KEY_FILE), &ca.key_pem).unwrap();
}

fn check(case: Case) {
    let Case {
        name,
        change,
        wanted,
        expected,
    } = case;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join(DATA_DIR_SUBDIR);
    let now = SystemTime::now();
    let (_, first) = ensure_at(&dir, &names(LOCAL), now).unwrap();
    assert_eq!(first, Outcome::Created, "{name}: first start");
    change(&dir, now);
    let before: Vec<Vec<u8>> = [CA_CERT_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE]
        .map(|name| file(&dir, name))
        .into();
    let (paths, outcome) = ensure_at(&dir, &names(wanted), now).unwrap();
    let got = match &outcome {
        Outcome::Kept => Expected::Kept,
        Outcome::KeptWithoutCa(unusable) => match &expected {
            Expected::KeptWithoutCa(file, start)
                if unusable.file == *file && unusable.reason.starts_with(start) =>
            {
                Expected::KeptWithoutCa(file, start)
            }
            _ => panic!("{name}: {outcome:?}"),
        },
        Outcome::Created => Expected::Created,
        Outcome::Reissued { reason } => match &expected {
            Expected::Reissued(start) if reason.starts_with(start) => Expected::Reissued(start),
            _ => panic!("{name}: {outcome:?}"),
        },
        Outcome::Replaced(unusable) => match &expected {
            Expected::Replaced(file, start)
                if unusable.file == *file && unusable.reason.starts_with(start) =>
            {
                Expected::Replaced(file, start)
            }
            _ => panic!("{name}: {outcome:?}"),
        },
    };
    assert_eq!(got, expected, "{name}: {outcome:?}");
    let after = |name| file(&dir, name);
    let ca_kept = after(CA_CERT_FILE) == before[0] && after(CA_KEY_FILE) == before[1];
    let serving_kept = after(CERT_FILE) == before[2] && after(KEY_FILE) == before[3];
    match expected {
        Expected::Kept | Expected::KeptWithoutCa(..) => {
            assert!(ca_kept && serving_kept, "{name}: files changed")
        }
        Expected::Reissued(_) => assert!(ca_kept && !serving_kept, "{name}: CA changed"),
        Expected::Replaced(..) | Expected::Created => assert!(!ca_kept, "{name}: CA kept"),
    }
    let bundle = read_bundle(&paths).unwrap();
    let problem = serving_problem(
        &bundle.ca_cert_pem,
        &bundle.cert_pem,
        &bundle.key_pem,
        &names(wanted),
        now,
    );
    assert_eq!(problem, None, "{name}: what was written does not serve");
    let key_left_as_found = matches!(expected, Expected::KeptWithoutCa(..));
    if dir.join(CA_KEY_FILE).exists() && !key_left_as_found {
        first_ca(&dir, now); // the key written beside ca.crt is its key
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(after(CA_CERT_FILE));
    assert_eq!(
        after(CA_BUNDLE_FILE),
        encoded.into_bytes(),
        "{name}: caBundle"
    );
}

#[test]
fn a_serving_certificate_that_still_serves_is_kept() {
    check(Case {
        name: "restart",
        change: |_, _| {},
        wanted: LOCAL,
        expected: Expected::Kept,
    });
    check(Case {
        name: "ca.key missing (written before it was kept): said while it still serves",
        change: |dir, _| fs::remove_file(dir.join(CA_KEY_FILE)).unwrap(),
        wanted: LOCAL,
        expected: Expected::KeptWithoutCa(CA_KEY_FILE, "is missing"),
    });
    check(Case {
        name: "ca.key of another CA: said while it still serves",
        change: |dir, now| {
            let other = CertificateAuthority::new(now).unwrap();
            fs::write(dir.join(CA_KEY_FILE), &other.key_pem).unwrap();
        },
        wanted: LOCAL,
        expected: Expected::KeptWithoutCa(CA_KEY_FILE, "is not the key of"),
    });
}

#[test]
fn a_serving_certificate_that_cannot_serve_is_issued_again_from_the_same_ca() {
    let cases = [
        Case {
            name: "tls.crt missing",
            change: |dir, _| fs::remove_file(dir.join(CERT_FILE)).unwrap(),
            wanted: LOCAL,
            expected: Expected::Reissued("tls.crt is missing"),
        },
        Case {
            name: "tls.key missing",
            change: |dir, _| fs::remove_file(dir.join(KEY_FILE)).unwrap(),
            wanted: LOCAL,
            expected: Expected::Reissued("tls.key is missing"),
        },
        Case {
            name: "tls.crt garbage",
            change: |dir, _| fs::write(dir.join(CERT_FILE), "garbage\n").unwrap(),
            wanted: LOCAL,
            expected: Expected::Reissued("tls.crt and tls.key are not a pair"),
        },
        Case {
            name: "tls.key of another certificate",
            change: |dir, now| {
                let other = generate(&names(LOCAL), now).unwrap();
                fs::write(dir.join(KEY_FILE), other.key_pem).unwrap();
            },
            wanted: LOCAL,
            expected: Expected::Reissued("tls.crt and tls.key are not a pair"),
        },
        Case {
            name: "a name more",
            change: |_, _| {},
            wanted: &["localhost", "127.0.0.1", "::1", "api.local"],
            expected: Expected::Reissued("tls.crt does not serve api.local"),
        },
        Case {
            name: "tls.crt issued while the clock ran 2 hours ahead",
            change: |dir, now| {
                let ca = first_ca(dir, now);
                let issued = now + 2 * BACKDATE;
                write_serving(&ca.issue(&names(LOCAL), issued).unwrap(), dir).unwrap();
            },
            wanted: LOCAL,
            expected: Expected::Reissued("tls.crt does not serve localhost now"),
        },
        Case {
            name: "CA and tls.crt made while the clock ran 2 hours ahead: the CA is kept",
            change: |dir, now| {
                let created = now + 2 * BACKDATE;
                write_ca(dir, &CertificateAuthority::new(created).unwrap(), created);
            },
            wanted: LOCAL,
            expected: Expected::Reissued("tls.crt does not serve localhost now"),
        },
        Case {
            name: "tls.crt expiring in 10 days",
            change: |dir, now| {
                let ca = first_ca(dir, now);
                let issued = now + 10 * DAY - VALIDITY;
                write_serving(&ca.issue(&names(LOCAL), issued).unwrap(), dir).unwrap();
            },
            wanted: LOCAL,
            expected: Expected::Reissued("tls.crt does not serve localhost for the next 30 days"),
        },
    ];
    cases.into_iter().for_each(check);
}

#[test]
fn an_unusable_ca_is_replaced_with_a_warning_naming_its_file() {
    let cases = [
        Case {
            name: "ca.key missing, tls.crt missing",
            change: |dir, _| {
                fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
                fs::remove_file(dir.join(CERT_FILE)).unwrap();
            },
            wanted: LOCAL,
            expected: Expected::Replaced(CA_KEY_FILE, "is missing"),
        },
        Case {
            name: "ca.key garbage",
            change: |dir, _| {
                fs::write(dir.join(CA_KEY_FILE), "garbage\n").unwrap();
                fs::remove_file(dir.join(CERT_FILE)).unwrap();
            },
            wanted: LOCAL,
            expected: Expected::Replaced(CA_KEY_FILE, "holds no usable private key"),
        },
        Case {
            name: "ca.key of another CA",
            change: |dir, now| {
                let other = CertificateAuthority::new(now).unwrap();
                fs::write(dir.join(CA_KEY_FILE), other.key_pem).unwrap();
                fs::remove_file(dir.join(CERT_FILE)).unwrap();
            },
            wanted: LOCAL,
            expected: Expected::Replaced(CA_KEY_FILE, "is not the key of ca.crt"),
        },
        Case {
            name: "ca.crt garbage",
            change: |dir, _| fs::write(dir.join(CA_CERT_FILE), "garbage\n").unwrap(),
            wanted: LOCAL,
            expected: Expected::Replaced(CA_CERT_FILE, "holds no PEM certificate"),
        },
        Case {
            name: "ca.crt a serving certificate",
            change: |dir, _| {
                fs::copy(dir.join(CERT_FILE), dir.join(CA_CERT_FILE))
                    .map(drop)
                    .unwrap()
            },
            wanted: LOCAL,
            expected: Expected::Replaced(CA_CERT_FILE, "is not a CA certificate"),
        },
        Case {
            name: "CA expiring in 10 days",
            change: |dir, now| {
                let created = now + 10 * DAY - VALIDITY;
                write_ca(dir, &CertificateAuthority::new(created).unwrap(), created);
            },
            wanted: LOCAL,
            expected: Expected::Replaced(CA_CERT_FILE, "expires at"),
        },
        Case {
            name: "CA expired",
            change: |dir, now| {
                let created = now - DAY - VALIDITY;
                write_ca(dir, &CertificateAuthority::new(created).unwrap(), created);
            },
            wanted: LOCAL,
            expected: Expected::Replaced(CA_CERT_FILE, "expired at"),
        },
    ];
    cases.into_iter().for_each(check);
}

#[test]
fn only_a_missing_ca_is_created_without_a_warning() {
    check(Case {
        name: "ca.crt missing",
        change: |dir, _| fs::remove_file(dir.join(CA_CERT_FILE)).unwrap(),
        wanted: LOCAL,
        expected: Expected::Created,
    });
}

#[cfg(unix)]
#[test]
fn the_ca_key_is_readable_by_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    ensure_serving_certs(dir.path(), &[]).unwrap();
    let key = dir.path().join(DATA_DIR_SUBDIR).join(CA_KEY_FILE);
    let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
