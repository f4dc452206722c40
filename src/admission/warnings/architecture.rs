//! The warning for a reference pinned to an image its pod's nodes cannot run.

use super::Warning;
use crate::admission::platform::{Architectures, ARCH_LABEL};
use crate::resolve::{Importing, Match, TagAddress};

/// Why the warning was given, as a metric label.
pub(crate) const REASON: &str = "architecture_mismatch";

/// `written` was pinned to an image built for `image`, and the pod runs only on `required`
/// nodes. Pinned to one architecture, two fixes may be the one: the tag's source is a
/// multi-arch index that Legacy import narrowed to one child (import it with
/// PreserveOriginal), or the image has no build for those nodes; the detail says the mode
/// belongs to the tag that imports the image and names it (`matched` is the tag looked up,
/// with where its image comes from when the resolver could trace it), or says that the tag
/// holds an earlier copy of another stream's tag and must be tagged again. Pinned to several
/// (an index kept whole, or one manifest its index lists for several platforms), nothing is
/// left to import: the image lacks a build for those nodes.
pub(crate) fn mismatch(
    written: &str,
    image: Architectures,
    required: Architectures,
    matched: Option<(&Match, Option<Importing>)>,
) -> Warning {
    let nodes = nodes(required);
    let builds = required.to_string().replace('/', " or ");
    let pinned = format!(
        "{written:?} pinned to an image built for {image}, but the pod runs only on {nodes} nodes"
    );
    if image.len() > 1 {
        let text = format!(
            "{pinned}; the image has no build for {builds}: build one, or run \
             the pod on nodes the image has a build for"
        );
        let short = text.len();
        return Warning {
            text: format!("{text}; the rewrite stands: this is only a warning"),
            short,
            reason: REASON,
        };
    }
    let mut text = format!(
        "{pinned}; import a multi-arch source with importPolicy.importMode: PreserveOriginal, or \
         build the image for {builds}"
    );
    let short = text.len();
    let detail = match matched {
        None => mode_belongs_on("the image stream tag that imported it"),
        Some((found, importing)) => importing_detail(found, importing),
    };
    text.push_str(&detail);
    text.push_str("; the rewrite stands: this is only a warning");
    Warning {
        text,
        short,
        reason: REASON,
    }
}

/// Where the import mode belongs, naming the tag that imports the image.
fn mode_belongs_on(tag: &str) -> String {
    format!(
        "; the mode belongs on the tag that imports the image ({tag}), and takes effect when it \
         is imported again; serve --default-import-mode reaches only tags written after it is \
         set"
    )
}

/// The detail for a pin `found` by lookup: which tag imports its image, or that it is an
/// earlier copy of another stream's tag.
fn importing_detail(found: &Match, importing: Option<Importing>) -> String {
    let looked_up = format!("{}/{} tag {:?}", found.namespace, found.stream, found.tag);
    match importing {
        None => mode_belongs_on(&format!("image stream {looked_up}, or the tag it follows")),
        Some(Importing::Tag(importing)) => {
            let importing = address(&importing);
            match importing == looked_up {
                true => mode_belongs_on(&format!("image stream {looked_up}")),
                false => mode_belongs_on(&format!(
                    "image stream {importing}, which {looked_up} follows"
                )),
            }
        }
        Some(Importing::EarlierCopy { source }) => {
            let source = address(&source);
            format!(
                "; image stream {looked_up} holds an earlier copy of {source}, which has \
                 another image now: a tag copies another stream's tag only when its spec tag \
                 changes, so tag it again once {source} has an image for those nodes (the mode \
                 belongs on {source}, and takes effect when it is imported again)"
            )
        }
    }
}

/// `namespace/stream tag "tag"`.
fn address(tag: &TagAddress) -> String {
    format!("{}/{} tag {:?}", tag.namespace, tag.stream, tag.tag)
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
    fn the_warning_says_what_happened_both_fixes_and_which_tag_imports_it() {
        let check = |required: &[&str], matched: Option<Match>, short: &str, tag: &str| {
            let matched = matched.as_ref().map(|found| (found, None));
            let warning = mismatch("app:1", set(&["amd64"]), set(required), matched);
            assert_eq!(warning.short(), short);
            assert!(warning.contains(tag), "{}", &*warning);
            assert!(warning.contains("--default-import-mode reaches only tags written after"));
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
             kubernetes.io/arch=arm64 nodes; import a multi-arch source with \
             importPolicy.importMode: PreserveOriginal, or build the image for arm64",
            "(image stream demo/app tag \"1\", or the tag it follows)",
        );
        check(
            &["arm64", "s390x"],
            None,
            "\"app:1\" pinned to an image built for amd64, but the pod runs only on \
             kubernetes.io/arch in (arm64, s390x) nodes; import a multi-arch source with \
             importPolicy.importMode: PreserveOriginal, or build the image for arm64 or s390x",
            "(the image stream tag that imported it)",
        );
    }

    #[test]
    fn the_tag_that_imports_the_image_is_named_when_the_chain_of_followed_tags_is_known() {
        let found = Match {
            namespace: "demo".into(),
            stream: "web".into(),
            tag: "prod".into(),
            ..Match::default()
        };
        let address = |stream: &str, tag: &str| TagAddress {
            namespace: "demo".into(),
            stream: stream.into(),
            tag: tag.into(),
        };
        let check = |importing: Option<Importing>, expected: &str| {
            let warning = mismatch(
                "web:prod",
                set(&["amd64"]),
                set(&["arm64"]),
                Some((&found, importing)),
            );
            assert!(warning.contains(expected), "{}", &*warning);
        };
        check(
            Some(Importing::Tag(address("app", "legacy"))),
            "belongs on the tag that imports the image (image stream demo/app tag \"legacy\", \
             which demo/web tag \"prod\" follows)",
        );
        check(
            Some(Importing::Tag(address("web", "prod"))),
            "belongs on the tag that imports the image (image stream demo/web tag \"prod\"), and",
        );
        check(
            None,
            "(image stream demo/web tag \"prod\", or the tag it follows)",
        );
        let source = address("app", "legacy");
        check(
            Some(Importing::EarlierCopy { source }),
            "; image stream demo/web tag \"prod\" holds an earlier copy of demo/app tag \
             \"legacy\", which has another image now: a tag copies another stream's tag only \
             when its spec tag changes, so tag it again once demo/app tag \"legacy\" has an \
             image for those nodes (the mode belongs on demo/app tag \"legacy\", and takes \
             effect when it is imported again); the rewrite stands",
        );
    }

    #[test]
    fn an_image_built_for_several_architectures_is_told_to_build_not_to_import_again() {
        let warning = mismatch("app:1", set(&["amd64", "s390x"]), set(&["arm64"]), None);
        assert_eq!(
            warning.short(),
            "\"app:1\" pinned to an image built for amd64/s390x, but the pod runs only on \
             kubernetes.io/arch=arm64 nodes; the image has no build for arm64: build one, or \
             run the pod on nodes the image has a build for"
        );
        assert!(!warning.contains("PreserveOriginal"), "{}", &*warning);
    }
}
