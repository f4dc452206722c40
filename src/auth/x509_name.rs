//! Just enough DER to read the subject common name of an X.509 certificate.
//!
//! Request-header authentication allows front proxies by the CN of their client certificate
//! (kube's `--requestheader-allowed-names`); rustls verifies the chain but exposes no subject,
//! and a full X.509 parser is not a dependency. A certificate is
//! `SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial, signature, issuer, validity,
//! subject, … }, … }`, and the subject is a sequence of sets of `(OID, value)` pairs.

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const EXPLICIT_VERSION: u8 = 0xa0;
/// 2.5.4.3, `id-at-commonName`.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// UTF8String, PrintableString, T61String, IA5String: the string types CNs are written in.
const STRING_TAGS: &[u8] = &[0x0c, 0x13, 0x14, 0x16];

/// The subject common name of a DER certificate; the last one when there are several, as Go's
/// `pkix.Name` keeps. `None` for a certificate without one or bytes that are not a certificate.
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    let (certificate, _) = read(der, SEQUENCE)?;
    let (tbs, _) = read(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&EXPLICIT_VERSION) {
        rest = skip(rest)?;
    }
    // Serial number, signature algorithm, issuer, validity.
    for _ in 0..4 {
        rest = skip(rest)?;
    }
    let (subject, _) = read(rest, SEQUENCE)?;
    common_name_of(subject)
}

fn common_name_of(mut names: &[u8]) -> Option<String> {
    let mut found = None;
    while !names.is_empty() {
        let (set, rest) = read(names, SET)?;
        names = rest;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (attribute, rest) = read(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = read(attribute, OID)?;
            if oid == COMMON_NAME {
                found = Some(string_of(value)?);
            }
        }
    }
    found
}

fn string_of(value: &[u8]) -> Option<String> {
    let (&tag, _) = value.split_first()?;
    if !STRING_TAGS.contains(&tag) {
        return None;
    }
    let (text, _) = read(value, tag)?;
    String::from_utf8(text.to_vec()).ok()
}

/// Skips one element of any tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    let (&tag, _) = input.split_first()?;
    read(input, tag).map(|(_, rest)| rest)
}

/// One element with `tag`: its contents and what follows it.
fn read(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        // Long form, up to four length bytes: certificates are far smaller than 4 GiB.
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let bytes = rest.get(..count)?;
            let length = bytes
                .iter()
                .fold(0usize, |length, &b| (length << 8) | usize::from(b));
            (length, &rest[count..])
        }
        _ => return None,
    };
    let contents = rest.get(..length)?;
    Some((contents, &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(common_names: &[&str]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["proxy.test".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "system:masters");
        // rcgen keeps one value per type: a second CN needs the same OID as a custom type.
        let types = [
            rcgen::DnType::CommonName,
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 3]),
        ];
        for (name, dn_type) in common_names.iter().zip(types) {
            let value = rcgen::DnValue::Utf8String(name.to_string());
            params.distinguished_name.push(dn_type, value);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn check(der: &[u8], expected: Option<&str>) {
        assert_eq!(subject_common_name(der).as_deref(), expected);
    }

    #[test]
    fn common_name_is_read_from_the_subject() {
        check(
            &certificate(&["front-proxy-client"]),
            Some("front-proxy-client"),
        );
    }

    #[test]
    fn subject_without_a_common_name_has_none() {
        check(&certificate(&[]), None);
    }

    #[test]
    fn last_common_name_wins_like_go() {
        check(&certificate(&["first", "second"]), Some("second"));
    }

    #[test]
    fn bytes_that_are_not_a_certificate_have_none() {
        let der = certificate(&["front-proxy-client"]);
        check(&der[..der.len() / 2], None);
        check(b"not a certificate", None);
        check(&[], None);
        check(&[0x30, 0x85, 1, 2, 3, 4, 5], None);
    }
}
