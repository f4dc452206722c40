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
/// with where its image comes from when the resolver could trace it), or says which tag along
/// the chain holds an earlier image than the tag it follows, and why: a copy of another
/// stream's tag, or a tag of the same stream behind a status write. Pinned to several
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
    let earlier_copy = matches!(matched, Some((_, Some(Importing::EarlierCopy { .. }))));
    let mut text = match earlier_copy {
        // The tag it follows may hold a multi-arch image already: copying it comes first.
        true => format!(
            "{pinned}; it is an earlier copy of the tag it follows: tag it again, and if the \
             image it then copies has no build for {builds} either, import a multi-arch source \
             with importPolicy.importMode: PreserveOriginal or build the image for {builds}"
        ),
        false => format!(
            "{pinned}; import a multi-arch source with importPolicy.importMode: PreserveOriginal, \
             or build the image for {builds}"
        ),
    };
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

/// The detail for a pin `found` by lookup: which tag imports its image, or which tag along
/// the chain holds an earlier image than the tag it follows.
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
        Some(Importing::EarlierCopy { chain, stale }) => earlier_copy(&looked_up, &chain, stale),
    }
}

/// Why `chain[stale]` holds an earlier image than `chain[stale + 1]` has now: it copies
/// another stream's tag, taken only when its spec tag changes, or it follows a tag of its own
/// stream whose image came by a status write (which moves no tracking tag) or before the chain
/// last moved (imports and spec writes move a stream's whole chain).
fn earlier_copy(looked_up: &str, chain: &[TagAddress], stale: usize) -> String {
    let (Some(copy), Some(followed), Some(source)) =
        (chain.get(stale), chain.get(stale + 1), chain.last())
    else {
        return mode_belongs_on(&format!("image stream {looked_up}, or the tag it follows"));
    };
    let source = address(source);
    // Whether the mode is set already is not known here: name the tag, claim nothing more.
    let mode = format!("a multi-arch import belongs on {source}");
    if !copy.same_stream(followed) {
        let subject = match stale {
            0 => format!("image stream {looked_up}"),
            _ => format!("image stream {}, which {looked_up} follows,", address(copy)),
        };
        let followed = address(followed);
        return format!(
            "; {subject} holds an earlier copy of {followed}, which has another image now: a \
             tag copies another stream's tag only when its spec tag changes, so tag it again \
             once {source} has an image for those nodes ({mode})"
        );
    }
    // The tags of the stale tag's stream it follows, one after the other.
    let run = chain[stale..]
        .iter()
        .take_while(|tag| tag.same_stream(copy))
        .count();
    let end = stale + run - 1;
    let followed_chain = chain_text(&chain[..=end]);
    let it = match stale {
        0 => "it".to_string(),
        _ => address(copy),
    };
    match run {
        2 => format!(
            "; image stream {followed_chain}, which has another image now: tag {it} again ({mode})"
        ),
        _ => format!(
            "; image stream {followed_chain}, which has another image now (written to the status \
             alone, which moves no tag that follows it): tag {it} again ({mode})"
        ),
    }
}

/// `demo/web tag "x" follows demo/app tag "f2", which follows "f"`: a tag of the stream
/// before it is named by its tag alone.
fn chain_text(chain: &[TagAddress]) -> String {
    let mut text = chain.first().map(address).unwrap_or_default();
    for (hop, pair) in chain.windows(2).enumerate() {
        let [from, to] = pair else { continue };
        text.push_str(if hop == 0 {
            " follows "
        } else {
            ", which follows "
        });
        match (from.same_stream(to), hop) {
            (true, 0) => text.push_str(&format!("tag {:?}", to.tag)),
            (true, _) => text.push_str(&format!("{:?}", to.tag)),
            (false, _) => text.push_str(&address(to)),
        }
    }
    text
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
        let chain = vec![address("web", "prod"), address("app", "legacy")];
        check(
            Some(Importing::EarlierCopy { chain, stale: 0 }),
            "; image stream demo/web tag \"prod\" holds an earlier copy of demo/app tag \
             \"legacy\", which has another image now: a tag copies another stream's tag only \
             when its spec tag changes, so tag it again once demo/app tag \"legacy\" has an \
             image for those nodes (a multi-arch import belongs on demo/app tag \"legacy\"); \
             the rewrite stands",
        );
    }

    #[test]
    fn a_stale_tag_within_one_stream_is_told_to_tag_it_again() {
        let at = |stream: &str, tag: &str| TagAddress {
            namespace: "shop".into(),
            stream: stream.into(),
            tag: tag.into(),
        };
        let check = |chain: &[(&str, &str)], stale: usize, expected: &str| {
            let chain: Vec<_> = chain.iter().map(|(stream, tag)| at(stream, tag)).collect();
            let found = Match {
                namespace: "shop".into(),
                stream: chain[0].stream.clone(),
                tag: chain[0].tag.clone(),
                ..Match::default()
            };
            let importing = Importing::EarlierCopy { chain, stale };
            let warning = mismatch(
                "imp:f2",
                set(&["amd64"]),
                set(&["arm64"]),
                Some((&found, Some(importing))),
            );
            assert!(warning.contains(expected), "{}", &*warning);
            assert!(!warning.contains("another stream"), "{}", &*warning);
            let first = "\"imp:f2\" pinned to an image built for amd64, but the pod runs only on \
                         kubernetes.io/arch=arm64 nodes; it is an earlier copy of the tag it \
                         follows: tag it again, and if the image it then copies has no build \
                         for arm64 either, import a multi-arch source";
            assert!(warning.short().starts_with(first), "{}", warning.short());
        };
        let mode = "(a multi-arch import belongs on shop/imp tag \"multil\"); the rewrite stands";
        check(
            &[("imp", "f2"), ("imp", "f"), ("imp", "multil")],
            0,
            &format!(
                "; image stream shop/imp tag \"f2\" follows tag \"f\", which follows \
                 \"multil\", which has another image now (written to the status alone, which \
                 moves no tag that follows it): tag it again {mode}"
            ),
        );
        check(
            &[("web", "x"), ("imp", "f2"), ("imp", "f"), ("imp", "multil")],
            1,
            &format!(
                "; image stream shop/web tag \"x\" follows shop/imp tag \"f2\", which follows \
                 \"f\", which follows \"multil\", which has another image now (written to the \
                 status alone, which moves no tag that follows it): tag shop/imp tag \"f2\" \
                 again {mode}"
            ),
        );
        check(
            &[("imp", "f"), ("imp", "multil")],
            0,
            &format!(
                "; image stream shop/imp tag \"f\" follows tag \"multil\", which has another \
                 image now: tag it again {mode}"
            ),
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
