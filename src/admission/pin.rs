//! Where pod specs are pinned: on the workloads' pod templates, as OpenShift does, or on each
//! Pod (`serve --pin=pods`), so that GitOps tools find the workloads exactly as git has them.
//!
//! ```text
//!                      Templates (default)        Pods
//! Pod, not owned       resolved                   resolved
//! Pod, owned           skipped: ControllerOwned   resolved
//! pod template kinds   resolved (owned: skipped)  skipped: PodTemplate
//! Build, BuildConfig   resolved (owned: skipped)  resolved (owned: skipped)
//! ```
//!
//! Ephemeral containers are resolved on owned Pods under both: they never come from a template.
//! Not part of `ImagePolicyConfig`, which is OpenShift's schema: it is a `serve` flag.

use super::decision::Skip;
use super::locate::Shape;

/// Where admission pins the references of pod specs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pin {
    /// OpenShift's behaviour: workload templates are resolved, and objects with a controlling
    /// owner are skipped, since the owner's template was resolved already.
    #[default]
    Templates,
    /// Every Pod is resolved, owned or not, and pod templates (workloads, CronJobs,
    /// PodTemplates) are left as written. Builds and BuildConfigs are handled as under
    /// `Templates`.
    Pods,
}

impl Pin {
    /// Why an object of `shape` (`None`: a kind without images) is skipped under this pin, once
    /// the policy covers it; `owned` says whether it has a controlling owner, asked only when
    /// that matters.
    pub(crate) fn skip(self, shape: Option<Shape>, owned: impl FnOnce() -> bool) -> Option<Skip> {
        match (self, shape) {
            (Self::Pods, Some(Shape::Pods { template: None, .. })) => None,
            (
                Self::Pods,
                Some(Shape::Pods {
                    template: Some(_), ..
                }),
            ) => Some(Skip::PodTemplate),
            _ if owned() => Some(Skip::ControllerOwned),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::locate;

    /// `(group, kind, owned, skip under Templates, skip under Pods)`.
    type Row = (&'static str, &'static str, bool, Option<Skip>, Option<Skip>);

    fn check(table: &[Row]) {
        for &(group, kind, owned, templates, pods) in table {
            let shape = locate::shape(group, kind);
            for (pin, expected) in [(Pin::Templates, templates), (Pin::Pods, pods)] {
                let actual = pin.skip(shape, || owned);
                assert_eq!(actual, expected, "{pin:?} {group}/{kind} owned={owned}");
            }
        }
    }

    #[test]
    fn pods_mode_resolves_every_pod_and_leaves_pod_templates_to_them() {
        use Skip::{ControllerOwned as Owned, PodTemplate as Template};
        check(&[
            ("", "Pod", false, None, None),
            ("", "Pod", true, Some(Owned), None),
            ("apps", "Deployment", false, None, Some(Template)),
            ("apps", "ReplicaSet", true, Some(Owned), Some(Template)),
            (
                "",
                "ReplicationController",
                true,
                Some(Owned),
                Some(Template),
            ),
            ("batch", "CronJob", false, None, Some(Template)),
            ("batch", "Job", true, Some(Owned), Some(Template)),
            ("", "PodTemplate", false, None, Some(Template)),
            (
                "apps.openshift.io",
                "DeploymentConfig",
                false,
                None,
                Some(Template),
            ),
            ("build.openshift.io", "Build", false, None, None),
            (
                "build.openshift.io",
                "Build",
                true,
                Some(Owned),
                Some(Owned),
            ),
            ("build.openshift.io", "BuildConfig", false, None, None),
            ("", "ConfigMap", true, Some(Owned), Some(Owned)),
            ("", "ConfigMap", false, None, None),
        ]);
    }

    #[test]
    fn ownership_is_not_read_when_the_kind_decides() {
        let pod = locate::shape("", "Pod");
        let deployment = locate::shape("apps", "Deployment");
        for shape in [pod, deployment] {
            Pin::Pods.skip(shape, || panic!("ownership read for {shape:?}"));
        }
        assert_eq!(Pin::default(), Pin::Templates);
    }
}
