//! The warning for a reference pinned to an image its pod's nodes cannot run.

use super::Warning;
use crate::admission::platform::{Architectures, ARCH_LABEL};
use crate::resolve::Match;

/// Why the warning was given, as a metric label.
pub(crate) const REASON: &str = "architecture_mismatch";

/// `written` was pinned to an image built for `image`, and the pod runs only on `required`
/// nodes. The advice names the tag that imported it (from `matched`), since re-importing it
/// with its index is the fix.
pub(crate) fn mismatch(
    written: &str,
    image: Architectures,
    required: Architectures,
    matched: Option<&Match>,
) -> Warning {
    let nodes = nodes(required);
    let tag = match matched {
        Some(found) if !found.tag.is_empty() => format!(
            "on image stream {}/{} tag {:?}",
            found.namespace, found.stream, found.tag
        ),
        _ => "on the image stream tag that imported it".to_string(),
    };
    let mut text = format!(
        "{written:?} pinned to an image built for {image}, but the pod runs only on {nodes} \
         nodes; set importPolicy.importMode: PreserveOriginal {tag} and import it again"
    );
    let short = text.len();
    text.push_str(
        " (or serve --default-import-mode PreserveOriginal); the rewrite stands: this is only \
         a warning",
    );
    Warning {
        text,
        short,
        reason: REASON,
    }
}

/// `kubernetes.io/arch=arm64`, or `kubernetes.io/arch in (arm64, s390x)`.
fn nodes(required: Architectures) -> String {
    let names = required.to_string();
    match names.contains('/') {
        false => format!("{ARCH_LABEL}={names}"),
        true => format!("{ARCH_LABEL} in ({})", names.replace('/', ", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Architectures {
        Architectures::from_names(names.iter().copied()).expect("known names")
    }

    #[test]
    fn the_warning_says_what_happened_and_which_tag_to_import_again_first() {
        let check = |required: &[&str], matched: Option<Match>, expected_short: &str| {
            let warning = mismatch("app:1", set(&["amd64"]), set(required), matched.as_ref());
            assert_eq!(warning.short(), expected_short);
            assert!(warning.contains("--default-import-mode PreserveOriginal"));
            assert_eq!(warning.reason(), REASON);
        };
        let matched = Match {
            namespace: "demo".into(),
            stream: "app".into(),
            tag: "1".into(),
            ..Match::default()
        };
        check(
            &["arm64"],
            Some(matched),
            "\"app:1\" pinned to an image built for amd64, but the pod runs only on \
             kubernetes.io/arch=arm64 nodes; set importPolicy.importMode: PreserveOriginal on \
             image stream demo/app tag \"1\" and import it again",
        );
        check(
            &["arm64", "s390x"],
            None,
            "\"app:1\" pinned to an image built for amd64, but the pod runs only on \
             kubernetes.io/arch in (arm64, s390x) nodes; set importPolicy.importMode: \
             PreserveOriginal on the image stream tag that imported it and import it again",
        );
    }
}
