use super::*;

fn source(spec: &str) -> ImageRef {
    ImageRef::parse(spec).unwrap()
}

#[test]
fn a_missing_child_of_an_index_is_named_with_its_platform() {
    let listed_by = source("127.0.0.1:5000/demo/multi:v1");
    let check = |os: &str, arch: &str, variant: &str, mode: ImportMode, message: &str| {
        let child = Child {
            digest: "sha256:c".into(),
            os: os.into(),
            architecture: arch.into(),
            variant: variant.into(),
            ..Child::default()
        };
        let error = missing(ImportError::NotFound, &listed_by, &child, &mode);
        assert!(error.advises_a_fix());
        let failure = error.failure(&listed_by);
        assert_eq!(
            (failure.reason.as_str(), failure.message.as_str()),
            ("NotFound", message)
        );
    };
    let listed = "manifest sha256:c ({}) listed by \"127.0.0.1:5000/demo/multi:v1\" not found";
    let with = |platform: &str| listed.replace("{}", platform);
    check(
        "linux",
        "arm64",
        "",
        ImportMode::PreserveOriginal,
        &format!(
            "{}; mirror linux/arm64 to that repository, or set importPolicy.importMode: \
             Legacy to import one platform",
            with("linux/arm64")
        ),
    );
    check(
        "linux",
        "arm",
        "v7",
        ImportMode::legacy(),
        &format!(
            "{}; mirror linux/arm/v7 to that repository",
            with("linux/arm/v7")
        ),
    );
    check(
        "",
        "",
        "",
        ImportMode::PreserveOriginal,
        &format!(
            "{}; mirror no platform given to that repository, or set \
             importPolicy.importMode: Legacy to import one platform",
            with("no platform given")
        ),
    );
    let child = Child::default();
    let timeout = ImportError::Timeout(Duration::from_secs(1));
    let kept = missing(timeout, &listed_by, &child, &ImportMode::legacy());
    assert!(
        matches!(kept, ImportError::Timeout(_)),
        "only a 404 is a missing child"
    );
}

#[test]
fn failures_use_openshift_reasons_and_messages() {
    let check = |error: ImportError, reason: &str, message: &str| {
        let failure = error.failure(&source("127.0.0.1:5000/demo/app:v9"));
        assert_eq!(
            (failure.reason.as_str(), failure.message.as_str()),
            (reason, message)
        );
    };
    check(
        ImportError::NotFound,
        "NotFound",
        "dockerimage.image.openshift.io \"127.0.0.1:5000/demo/app:v9\" not found",
    );
    check(
        ImportError::Unauthorized,
        "Unauthorized",
        "you may not have access to the container image \"127.0.0.1:5000/demo/app:v9\"",
    );
    check(
        ImportError::Timeout(Duration::from_secs(3)),
        "InternalError",
        "Internal error occurred: 127.0.0.1:5000/demo/app:v9: timed out after 3s",
    );
    let hub = ImportError::NotFound.failure(&source("mysql:nope"));
    assert!(hub.message.contains("\"docker.io/library/mysql:nope\""));
}

#[test]
fn cryptic_tls_failures_are_found_in_the_client_s_error_chain_and_say_what_to_do() {
    /// A client's error over an I/O error over tokio-rustls's I/O error over `tls`, as
    /// reqwest's and hyper's are.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Client(#[source] std::io::Error);
    let chain = |tls: rustls::Error| {
        let tokio_rustls = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        Client(std::io::Error::other(tokio_rustls))
    };
    let plain = chain(rustls::Error::InvalidMessage(
        rustls::InvalidMessage::InvalidContentType,
    ));
    let untrusted = chain(rustls::Error::InvalidCertificate(
        rustls::CertificateError::UnknownIssuer,
    ));
    let expired = chain(rustls::Error::InvalidCertificate(
        rustls::CertificateError::Expired,
    ));
    let refused = Client(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    let cases = [
        (&plain, Some("set importPolicy.insecure: true on the tag")),
        (&untrusted, Some("--registry-ca-file")),
        (&expired, None),
        (&refused, None),
    ];
    for (error, fix) in cases {
        let hint = TransportHint::of_error(error);
        assert_eq!(
            hint.map(|hint| hint.fix(Subject::Tag).contains(fix.unwrap_or("-"))),
            fix.map(|_| true)
        );
        let error = ImportError::Transport {
            message: crate::store::message_chain(error),
            hint,
        };
        assert_eq!(error.advises_a_fix(), fix.is_some(), "{error}");
        if let Some(fix) = fix {
            assert!(error.to_string().contains(fix), "{error}");
        }
    }
    assert!(!ImportError::NotFound.advises_a_fix());
    assert!(!ImportError::Unauthorized.advises_a_fix());
}

#[test]
fn an_insecure_tag_s_failure_leads_with_plain_http_and_never_advises_insecure() {
    let plain_answer =
        "error sending request for url (https://127.0.0.1:18656/v2/slow/manifests/v1): \
         client error (Connect): received corrupt message of type InvalidContentType";
    let check = |https: Option<ImportError>, http: ImportError, message: &str| {
        let error = match https {
            Some(https) => ImportError::EveryScheme {
                https: Box::new(https),
                https_took: Duration::from_secs(20),
                http: Box::new(http),
            },
            None => http,
        };
        let failure = error.failure(&source("127.0.0.1:18656/slow:v1"));
        let expected = format!("Internal error occurred: 127.0.0.1:18656/slow:v1: {message}");
        assert_eq!(failure.message, expected);
    };
    let refused = || ImportError::transport("tcp connect error: Connection refused");
    let https_no_answer = ImportError::NoAnswer {
        connect: true,
        message: "client error (Connect): operation timed out".into(),
    };
    check(
        Some(ImportError::Transport {
            message: plain_answer.into(),
            hint: Some(TransportHint::PlainHttp),
        }),
        ImportError::Timeout(Duration::from_secs(30)),
        &format!(
            "over plain HTTP: timed out after 30s; before that, over HTTPS (failed after \
             20s): {plain_answer}: the registry answered in plain HTTP (server gave HTTP \
             response to HTTPS client)"
        ),
    );
    check(
        Some(https_no_answer),
        refused(),
        "over plain HTTP: tcp connect error: Connection refused; before that, over HTTPS \
         (failed after 20s): client error (Connect): operation timed out",
    );
    check(
        Some(refused()),
        refused(),
        "over plain HTTP: tcp connect error: Connection refused; before that, over HTTPS \
         (failed after 20s): tcp connect error: Connection refused",
    );
    // A tag that is not insecure tried HTTPS alone: there the advice is the fix.
    check(
        None,
        ImportError::Transport {
            message: plain_answer.into(),
            hint: Some(TransportHint::PlainHttp),
        },
        &format!(
            "{plain_answer}: the registry answered in plain HTTP (server gave HTTP response \
             to HTTPS client); set importPolicy.insecure: true on the tag to import over HTTP"
        ),
    );
}

fn server_with(code: u16, message: &str) -> OciDistributionError {
    OciDistributionError::ServerError {
        code,
        url: "u".into(),
        message: message.into(),
    }
}

#[test]
fn a_registry_s_words_are_quoted_to_512_bytes_never_relayed_whole() {
    // An internal service's error page, which a tag pointed at it would otherwise carry into
    // a condition any reader of the stream sees.
    let page = format!("internal: {}", "é".repeat(40_000));
    for error in [
        classify(server_with(500, &page)),
        classify(server_with(429, &page)),
    ] {
        let message = error.to_string();
        assert!(message.len() < 1_000, "{} bytes", message.len());
        assert!(message.contains("internal: éé"), "{message}");
        assert!(message.contains("more bytes)"), "{message}");
    }
    let short = classify(server_with(500, "busy"));
    assert!(!short.to_string().contains("more bytes"), "{short}");
}

#[test]
fn registry_status_codes_map_to_reasons() {
    let server = |code| OciDistributionError::ServerError {
        code,
        url: "u".into(),
        message: "m".into(),
    };
    assert!(matches!(classify(server(404)), ImportError::NotFound));
    assert!(matches!(classify(server(403)), ImportError::Unauthorized));
    assert!(matches!(classify(server(500)), ImportError::Registry(_)));
    assert!(matches!(classify(server(429)), ImportError::RateLimited(_)));
    let envelope: oci_client::errors::OciEnvelope = serde_json::from_str(
        r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}"#,
    )
    .unwrap();
    let limited = OciDistributionError::RegistryError {
        envelope,
        url: "u".into(),
    };
    let limited = classify(limited);
    assert!(matches!(limited, ImportError::RateLimited(_)), "{limited}");
    assert!(limited.is_rate_limited());
    assert_eq!(limited.retry_in(), Some(crate::importer::silent::QUIET));
    // What a bare or plain-text 429 says reads on one line, without an empty ": ".
    let said = |message: &str| classify(server_with(429, message)).to_string();
    assert!(said("").starts_with("the registry limits its rate (429 Too Many Requests): "));
    assert!(said("slow down\n")
        .starts_with("the registry limits its rate (429 Too Many Requests: slow down): "));
    assert!(said("a\n  b").contains("(429 Too Many Requests: a b)"));
    let page = "<html>\n<head><title>429 Too Many Requests</title></head>\n</html>";
    assert!(said(page).starts_with("the registry limits its rate (429 Too Many Requests): "));
    let unauthorized = OciDistributionError::UnauthorizedError { url: "u".into() };
    assert!(matches!(classify(unauthorized), ImportError::Unauthorized));
}

#[test]
fn causes_tell_apart_what_the_condition_folds_into_internal_error() {
    let source = source("quay.io/o/app:1");
    let check = |error: ImportError, reason: &str, cause: &str| {
        assert_eq!(error.failure(&source).reason.as_str(), reason, "{error}");
        assert_eq!(error.cause(), cause, "{error}");
    };
    check(
        ImportError::Timeout(Duration::from_secs(30)),
        "InternalError",
        "timeout",
    );
    check(
        ImportError::NoAnswer {
            connect: true,
            message: "connect timed out".into(),
        },
        "InternalError",
        "unreachable",
    );
    check(
        ImportError::RateLimited(String::new()),
        "InternalError",
        "rate_limited",
    );
    check(
        ImportError::transport("invalid peer certificate: UnknownIssuer"),
        "InternalError",
        "transport",
    );
    check(ImportError::Unauthorized, "Unauthorized", "unauthorized");
    // Judged by the last place tried, as the condition is.
    let every = ImportError::EverySource(vec![
        (
            "mirror.local/o/app:1".into(),
            ImportError::Timeout(Duration::from_secs(1)),
        ),
        ("quay.io/o/app:1".into(), ImportError::NotFound),
    ]);
    check(every, "NotFound", "not_found");
}
