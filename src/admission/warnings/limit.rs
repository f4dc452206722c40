//! The warnings of one response, fitted to kube-apiserver's limits (KEP-1693;
//! k8s.io/apiserver `endpoints/filters/warning.go`): once a response's warnings total more
//! than 4,096 characters it cuts each to 256, wherever that falls, and drops those past the
//! total. Sending each warning's short form instead keeps its advice; the total counts other
//! webhooks' warnings too, which this cannot know.

use super::Warning;

/// kube-apiserver's limits on a response's warnings (KEP-1693; k8s.io/apiserver
/// `endpoints/filters/warning.go`): once they total more than this many characters, it cuts
/// each to [`ITEM_CHARS`], and drops those past the total.
const TOTAL_CHARS: usize = 4 * 1024;
/// What kube-apiserver keeps of each warning once the total is over [`TOTAL_CHARS`].
const ITEM_CHARS: usize = 256;

/// The warnings of one response, and the whole sentences when those were shortened.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Fitted {
    /// What the response carries.
    pub response: Vec<String>,
    /// Every warning whole, each after its field path; empty when `response` is that already.
    pub whole: Vec<String>,
}

/// The warnings of one response, each after its field path: whole when they fit within
/// kube-apiserver's total, else in short form, so that it cuts none of them mid-sentence; if
/// even the short forms do not fit, the first ones that do and a count of the rest. The whole
/// sentences are kept beside a shortened answer (for the audit annotation).
pub(crate) fn for_response<'a>(found: impl IntoIterator<Item = (String, &'a Warning)>) -> Fitted {
    let found: Vec<(String, &Warning)> = found.into_iter().collect();
    let whole: Vec<String> = found
        .iter()
        .map(|(path, warning)| format!("{path}: {warning}"))
        .collect();
    if total(&whole) <= TOTAL_CHARS {
        return Fitted {
            response: whole,
            whole: Vec::new(),
        };
    }
    let short = found
        .iter()
        .map(|(path, warning)| at_most_an_item(format!("{path}: {}", warning.short())))
        .collect();
    Fitted {
        response: within_total(short),
        whole,
    }
}

fn total(lines: &[String]) -> usize {
    lines.iter().map(|line| line.chars().count()).sum()
}

/// A short form longer than kube-apiserver keeps (only with very long names) ends at a word,
/// marked, rather than where it would be cut.
fn at_most_an_item(line: String) -> String {
    // One character is kept for the ellipsis.
    let Some((kept, _)) = line.char_indices().nth(ITEM_CHARS - 1) else {
        return line;
    };
    if line[kept..].chars().count() == 1 {
        return line;
    }
    let end = line[..kept].rfind(' ').unwrap_or(kept);
    format!("{}…", &line[..end])
}

/// The first lines that fit within the total with a last line counting the rest.
fn within_total(mut lines: Vec<String>) -> Vec<String> {
    if total(&lines) <= TOTAL_CHARS {
        return lines;
    }
    let mut used = 0;
    let mut kept = 0;
    for line in &lines {
        let room = left_out(lines.len() - kept - 1).chars().count();
        let length = line.chars().count();
        if used + length + room > TOTAL_CHARS {
            break;
        }
        used += length;
        kept += 1;
    }
    let rest = lines.len() - kept;
    lines.truncate(kept);
    lines.push(left_out(rest));
    lines
}

fn left_out(count: usize) -> String {
    let warnings = if count == 1 { "warning" } else { "warnings" };
    format!(
        "{count} more {warnings} left out to stay within kube-apiserver's limit of \
         {TOTAL_CHARS} characters of warnings per request"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::decide;
    use crate::admission::fixtures::{containers, create, mk_workload, DEPLOYMENT};
    use crate::admission::resolver::StreamResolver;
    use crate::api::policy::ImagePolicyConfig;
    use crate::api::ImageStream;
    use crate::resolve::{Importer, Index, ResolverConfig};

    const HOST: &str = "image-registry.openshift-image-registry.svc:5000";

    /// `ns/mysql`, local, with 300 imported tags, spec tag "9" not imported yet and spec tag
    /// "pinned" reference-only.
    fn many_tags() -> Index {
        let events = |tag: String| {
            json!({"tag": tag, "items": [{"created": "2024-01-01T00:00:00Z",
            "dockerImageReference": "quay.io/o/mysql:1", "image": format!("sha256:{:064}", 1), "generation": 1}]})
        };
        let spec = |name: &str, reference: bool| {
            json!({"name": name, "reference": reference,
            "from": {"kind": "DockerImage", "name": format!("quay.io/o/mysql:{name}")}})
        };
        let stream = json!({"metadata": {"namespace": "ns", "name": "mysql"},
            "spec": {"lookupPolicy": {"local": true}, "tags": [spec("9", false), spec("pinned", true)]},
            "status": {"dockerImageRepository": format!("{HOST}/ns/mysql"),
                       "tags": (0..300).map(|n| events(format!("v1.0.{n}"))).collect::<Vec<_>>()}});
        let stream: ImageStream = serde_json::from_value(stream).expect("a valid stream");
        std::iter::once(stream).collect()
    }

    /// The warnings for a Deployment with these images, resolved in `many_tags`.
    fn warnings_for(images: &[String]) -> Vec<String> {
        decision_for(images).warnings
    }

    /// The decision for a Deployment with these images, resolved in `many_tags`.
    fn decision_for(images: &[String]) -> crate::admission::Decision {
        let named: Vec<(String, &str)> = images
            .iter()
            .enumerate()
            .map(|(i, image)| (format!("c{i}"), image.as_str()))
            .collect();
        let named: Vec<(&str, &str)> = named
            .iter()
            .map(|(name, image)| (name.as_str(), *image))
            .collect();
        let deployment = mk_workload(
            "/spec/template/spec",
            json!({"containers": containers(&named)}),
        );
        let config = ResolverConfig {
            registry_hostname: HOST.to_string(),
            importer: Importer::Disabled,
        };
        let streams = many_tags();
        let resolver = StreamResolver {
            config: &config,
            streams: &streams,
        };
        decide(
            &create(DEPLOYMENT, &deployment),
            &ImagePolicyConfig::default(),
            &resolver,
        )
    }

    fn check_short(warnings: &[String], advice: &[&str]) {
        assert!(
            total(warnings) <= TOTAL_CHARS,
            "{} characters",
            total(warnings)
        );
        for (warning, advice) in warnings.iter().zip(advice) {
            assert!(
                warning.chars().count() <= ITEM_CHARS && warning.ends_with(advice),
                "{warning}"
            );
        }
    }

    #[test]
    fn warnings_within_the_total_are_sent_whole() {
        let warnings = warnings_for(&["mysql:typo".to_string(), "mysql:9".to_string()]);
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].ends_with("(allowed by lookupPolicy.local=true)"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("\"v1.0.5\" and 294 more"),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn past_the_total_each_warning_is_sent_short_so_it_still_ends_in_its_advice() {
        let mut images: Vec<String> = (0..14).map(|n| format!("mysql:typo{n}")).collect();
        images.extend(["mysql:9".to_string(), "mysql:pinned".to_string()]);
        let warnings = warnings_for(&images);
        let typo = "check the tag name, or add the tag to spec.tags";
        let mut advice = vec![typo; 14];
        advice.push("import the tag elsewhere, or set its status.tags through the API");
        advice.push("set reference: false on the spec tag to import it and pin a digest");
        assert_eq!(warnings.len(), 16);
        check_short(&warnings, &advice);
        assert_eq!(
            warnings[0],
            "spec.template.spec.containers[0].image: \"mysql:typo0\" not pinned: imagestream \
             ns/mysql has no tag \"typo0\"; check the tag name, or add the tag to spec.tags"
        );
    }

    #[test]
    fn past_the_total_even_when_short_the_first_warnings_are_sent_and_the_rest_counted() {
        let images: Vec<String> = (0..40).map(|n| format!("mysql:typo{n}")).collect();
        let warnings = warnings_for(&images);
        let (last, sent) = warnings.split_last().unwrap();
        check_short(
            sent,
            &["check the tag name, or add the tag to spec.tags"; 40],
        );
        assert!(total(&warnings) <= TOTAL_CHARS);
        let expected = format!(
            "{} more warnings left out to stay within kube-apiserver's limit of 4096 characters \
             of warnings per request",
            40 - sent.len()
        );
        assert_eq!(last, &expected);
        assert_eq!(
            left_out(1),
            expected
                .replacen(&(40 - sent.len()).to_string(), "1", 1)
                .replace("warnings left", "warning left")
        );
    }

    #[test]
    fn the_audit_annotation_keeps_every_warning_whole_when_the_answer_shortens_them() {
        let images: Vec<String> = (0..40).map(|n| format!("mysql:typo{n}")).collect();
        let decision = decision_for(&images);
        assert!(decision.warnings.len() < 40, "shortened for the answer");
        let annotations = decision.audit_annotations().expect("warnings are audited");
        let annotations: std::collections::BTreeMap<String, String> =
            serde_json::from_str(annotations.get()).unwrap();
        let audited: Vec<String> =
            serde_json::from_str(&annotations[crate::admission::AUDIT_UNRESOLVED]).unwrap();
        assert_eq!(audited.len(), 40);
        assert!(
            audited[39].contains("\"v1.0.5\" and 294 more"),
            "whole, with the detail the short form leaves out: {}",
            audited[39]
        );
    }

    #[test]
    fn a_short_form_longer_than_kube_apiserver_keeps_ends_at_a_word() {
        let check = |line: String, expected: &str| assert_eq!(at_most_an_item(line), expected);
        let words = "word ".repeat(60);
        check(
            words.trim_end()[..ITEM_CHARS].to_string(),
            &words[..ITEM_CHARS],
        );
        check(
            words.clone(),
            &format!("{}…", "word ".repeat(51).trim_end()),
        );
        assert!(at_most_an_item(words).chars().count() <= ITEM_CHARS);
    }
}
