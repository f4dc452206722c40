//! A pulled body's digest, checked against the digest its reference names and the one the
//! registry says (`Docker-Content-Digest`): an image is recorded under a digest only when its
//! bytes hash to it.

use sha2::{Sha256, Sha384, Sha512};

use super::error::ImportError;

/// The digest of `body`: the registry's (`said`), which the distribution spec makes canonical,
/// else the reference's (`named`), else its SHA-256; each one given must match the bytes.
pub(super) fn checked(
    body: &[u8],
    said: Option<&str>,
    named: Option<&str>,
) -> Result<String, ImportError> {
    for expected in [named, said].into_iter().flatten() {
        let actual = of(body, expected)?;
        if actual != expected {
            return Err(ImportError::Registry(format!(
                "the registry sent content whose digest is {actual}, not {expected}"
            )));
        }
    }
    Ok(said
        .or(named)
        .map_or_else(|| hashed::<Sha256>("sha256", body), str::to_string))
}

/// `body`'s digest in the algorithm `like` names.
fn of(body: &[u8], like: &str) -> Result<String, ImportError> {
    let algorithm = like.split_once(':').map_or("", |(algorithm, _)| algorithm);
    match algorithm {
        "sha256" => Ok(hashed::<Sha256>(algorithm, body)),
        "sha384" => Ok(hashed::<Sha384>(algorithm, body)),
        "sha512" => Ok(hashed::<Sha512>(algorithm, body)),
        _ => Err(ImportError::Registry(format!(
            "the digest {like:?} is not of sha256, sha384 or sha512"
        ))),
    }
}

fn hashed<D: sha2::Digest>(algorithm: &str, body: &[u8]) -> String {
    let hex: String = D::digest(body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{algorithm}:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"{}";
    const SHA256: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn a_body_is_recorded_under_a_digest_only_when_it_hashes_to_it() {
        let sha512 = hashed::<Sha512>("sha512", BODY);
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<&'a str, &'a str>);
        let cases: Vec<Case<'_>> = vec![
            (None, None, Ok(SHA256)),
            (Some(SHA256), None, Ok(SHA256)),
            (None, Some(SHA256), Ok(SHA256)),
            (Some(SHA256), Some(SHA256), Ok(SHA256)),
            // The registry's digest is canonical when both are given, in another algorithm.
            (Some(&sha512), Some(SHA256), Ok(&sha512)),
            (Some(other), None, Err("whose digest is sha256:4413")),
            (None, Some(other), Err("whose digest is sha256:4413")),
            (Some(SHA256), Some(other), Err("not sha256:0000")),
            (
                Some("md5:abc"),
                None,
                Err("not of sha256, sha384 or sha512"),
            ),
            (Some("nonsense"), None, Err("not of sha256")),
        ];
        for (said, named, expected) in cases {
            let got = checked(BODY, said, named).map_err(|e| e.to_string());
            match (&got, expected) {
                (Ok(digest), Ok(want)) => assert_eq!(digest, want, "{said:?} {named:?}"),
                (Err(message), Err(want)) => {
                    assert!(message.contains(want), "{said:?} {named:?}: {message}")
                }
                _ => panic!("{said:?} {named:?}: {got:?}"),
            }
        }
    }
}
