//! Node architectures: the set an image runs on, the set a pod spec requires, and whether a pin
//! leaves them sharing none (anchors §4.6).
//!
//! Legacy import pins a multi-arch tag to its linux/amd64 child; a pod that schedules only on
//! arm64 nodes then crash-loops with `exec format error`. Reading a requirement is
//! conservative: a selector or affinity term it cannot read with certainty counts as no
//! requirement, so a warning is only given when the pod can certainly not run the image.

use std::fmt;

use serde_json::Value;

use super::locate::member;

/// The node affinity that must hold for a pod to be scheduled.
const REQUIRED: &str = "requiredDuringSchedulingIgnoredDuringExecution";

/// The node label Kubernetes sets to the node's `GOARCH`.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";

/// The architectures a set can name: Go's `GOARCH` values of Linux nodes. A name outside this
/// list makes a set unknown, never a mismatch: `wasm` above all, which no node's label names
/// and which a Wasm runtime on any node runs.
const NAMES: [&str; 13] = [
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "loong64", "mips", "mipsle",
    "mips64", "mips64le", "ppc64",
];

/// What a node of one architecture also runs, as containerd's default platform matcher allows:
/// 32-bit x86 on amd64, 32-bit arm on arm64. Counting them keeps a warning certain.
const ALSO_RUNS: [(&str, &str); 2] = [("amd64", "386"), ("arm64", "arm")];

/// A set of architectures, two bytes: the live image index keeps one per image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Architectures(u16);

impl Architectures {
    /// The set of the one architecture `name`, or `None` for a name outside `NAMES`.
    pub fn of(name: &str) -> Option<Self> {
        let bit = NAMES.iter().position(|known| *known == name)?;
        Some(Self(1 << bit))
    }

    /// The set of `names`; `None` when there are none or any is outside `NAMES`.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut set = Self::default();
        for name in names {
            set = set.union(Self::of(name)?);
        }
        (!set.is_empty()).then_some(set)
    }

    /// Whether the set names no architecture.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many architectures the set names.
    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Both sets' architectures.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The architectures in both sets.
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    fn names(self) -> impl Iterator<Item = &'static str> {
        let bits = self.0;
        NAMES
            .iter()
            .enumerate()
            .filter(move |(bit, _)| bits & (1 << bit) != 0)
            .map(|(_, name)| *name)
    }
}

/// `amd64` or `amd64/s390x`.
impl fmt::Display for Architectures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// Whether a pod that runs only on `required` certainly cannot run an image built for
/// `image`: both known, and no required node runs any of the image's architectures.
pub(crate) fn mismatch(required: Architectures, image: Architectures) -> bool {
    !required.is_empty() && !image.is_empty() && runnable(required).intersection(image).is_empty()
}

/// The architectures nodes of `nodes` run: their own, and what each also runs.
fn runnable(nodes: Architectures) -> Architectures {
    ALSO_RUNS.iter().fold(nodes, |runs, (node, also)| {
        let node = Architectures::of(node).expect("a known name");
        match nodes.intersection(node).is_empty() {
            true => runs,
            false => runs.union(Architectures::of(also).expect("a known name")),
        }
    })
}

/// The architectures `spec` (a pod spec) lets its pod run on, when they are certain: its
/// `nodeSelector`'s `kubernetes.io/arch`, narrowed by the required node affinity. `None` when
/// either says nothing certain, or together they allow no node at all (that pod does not
/// schedule: not this warning's business).
pub(crate) fn required(spec: &Value) -> Option<Architectures> {
    let selected = member(spec, "nodeSelector")
        .and_then(|selector| member(selector, ARCH_LABEL))
        .and_then(Value::as_str)
        .and_then(Architectures::of);
    let affinity = from_affinity(spec);
    let required = match (selected, affinity) {
        (Some(selected), Some(affinity)) => selected.intersection(affinity),
        (selected, affinity) => selected.or(affinity)?,
    };
    (!required.is_empty()).then_some(required)
}

/// The required node affinity's terms are alternatives: the pod runs on an architecture only
/// some term allows, so every term must name its architectures for the set to be certain.
fn from_affinity(spec: &Value) -> Option<Architectures> {
    // Member by member: `Value::pointer` allocates a string per token, and `member` scans a
    // small object rather than hash the key. Most pod specs stop at the first step.
    let affinity = member(spec, "affinity")?;
    let required = member(member(affinity, "nodeAffinity")?, REQUIRED)?;
    let terms = member(required, "nodeSelectorTerms")?.as_array()?;
    if terms.is_empty() {
        return None;
    }
    terms
        .iter()
        .try_fold(Architectures::default(), |allowed, term| {
            Some(allowed.union(term_architectures(term)?))
        })
}

/// A term's expressions all apply: each well-formed `In` on the architecture label narrows the
/// set. Any other expression on it (`NotIn`, `Exists`, an unknown name) is left out, which
/// only widens the set, so the answer stays certain.
fn term_architectures(term: &Value) -> Option<Architectures> {
    let expressions = member(term, "matchExpressions")?.as_array()?;
    let mut allowed: Option<Architectures> = None;
    for expression in expressions {
        let on_arch = member(expression, "key").and_then(Value::as_str) == Some(ARCH_LABEL);
        let is_in = member(expression, "operator").and_then(Value::as_str) == Some("In");
        if !(on_arch && is_in) {
            continue;
        }
        let Some(values) = member(expression, "values").and_then(Value::as_array) else {
            continue;
        };
        let names: Option<Vec<&str>> = values.iter().map(Value::as_str).collect();
        let Some(set) = names.and_then(Architectures::from_names) else {
            continue;
        };
        allowed = Some(allowed.map_or(set, |allowed| allowed.intersection(set)));
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(names: &[&str]) -> Architectures {
        Architectures::from_names(names.iter().copied()).expect("known names")
    }

    fn term(expressions: Value) -> Value {
        json!({"matchExpressions": expressions})
    }

    fn arch_in(values: &[&str]) -> Value {
        json!({"key": ARCH_LABEL, "operator": "In", "values": values})
    }

    fn with_terms(terms: Vec<Value>) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": terms}}}})
    }

    #[test]
    fn a_pod_spec_requires_the_architectures_its_selector_and_affinity_certainly_allow() {
        let check = |spec: Value, expected: Option<&[&str]>| {
            let expected = expected.map(set);
            assert_eq!(required(&spec), expected, "{spec}");
        };
        let arm = Some(&["arm64"][..]);
        check(json!({}), None);
        check(json!({"nodeSelector": {ARCH_LABEL: "arm64"}}), arm);
        check(json!({"nodeSelector": {"kubernetes.io/os": "linux"}}), None);
        check(json!({"nodeSelector": {ARCH_LABEL: "sparc"}}), None);
        check(json!({"nodeSelector": {ARCH_LABEL: 64}}), None);
        check(json!({"nodeSelector": "arm64"}), None);
        check(with_terms(vec![term(json!([arch_in(&["arm64"])]))]), arm);
        let both = with_terms(vec![
            term(json!([arch_in(&["arm64"])])),
            term(json!([arch_in(&["s390x"])])),
        ]);
        check(both, Some(&["arm64", "s390x"]));
        let one_term_open = with_terms(vec![
            term(json!([arch_in(&["arm64"])])),
            term(json!([{"key": "zone", "operator": "In", "values": ["a"]}])),
        ]);
        check(one_term_open, None);
        let narrowed = term(json!([arch_in(&["arm64", "amd64"]), arch_in(&["arm64"])]));
        check(with_terms(vec![narrowed]), arm);
        let not_in = json!({"key": ARCH_LABEL, "operator": "NotIn", "values": ["amd64"]});
        check(with_terms(vec![term(json!([not_in]))]), None);
        let widened = term(json!([arch_in(&["arm64"]), arch_in(&["arm64", "sparc"])]));
        check(with_terms(vec![widened]), arm);
        check(with_terms(vec![]), None);
        check(with_terms(vec![json!({"matchFields": []})]), None);
        let mut selected_and_affine = with_terms(vec![term(json!([arch_in(&["arm64", "amd64"])]))]);
        selected_and_affine["nodeSelector"] = json!({ARCH_LABEL: "arm64"});
        check(selected_and_affine, arm);
        let mut unschedulable = with_terms(vec![term(json!([arch_in(&["amd64"])]))]);
        unschedulable["nodeSelector"] = json!({ARCH_LABEL: "arm64"});
        check(unschedulable, None);
    }

    #[test]
    fn a_pin_mismatches_only_when_both_sets_are_known_and_share_none() {
        let check = |required: &[&str], image: &[&str], expected: bool| {
            let known = |names: &[&str]| Architectures::from_names(names.iter().copied());
            let (required, image) = (
                known(required).unwrap_or_default(),
                known(image).unwrap_or_default(),
            );
            assert_eq!(mismatch(required, image), expected, "{required} {image}");
        };
        check(&["arm64"], &["amd64"], true);
        check(&["arm64", "s390x"], &["amd64"], true);
        check(&["arm64"], &["amd64", "arm64"], false);
        check(&["arm64"], &[], false);
        check(&[], &["amd64"], false);
        // What containerd runs beside a node's own architecture is no mismatch.
        check(&["amd64"], &["386"], false);
        check(&["arm64"], &["arm"], false);
        check(&["386"], &["amd64"], true);
        check(&["s390x"], &["arm"], true);
        // A Wasm image names no node architecture: unknown, never warned about.
        assert_eq!(Architectures::of("wasm"), None);
    }

    #[test]
    fn sets_read_only_known_names_and_print_in_a_fixed_order() {
        let check = |names: &[&str], expected: Option<&str>| {
            let set = Architectures::from_names(names.iter().copied());
            assert_eq!(
                set.map(|set| set.to_string()).as_deref(),
                expected,
                "{names:?}"
            );
        };
        check(&["s390x", "amd64"], Some("amd64/s390x"));
        check(&["arm64"], Some("arm64"));
        check(&["arm64", "sparc"], None);
        check(&[], None);
    }
}
