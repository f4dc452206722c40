//! Server-side apply conflicts: fields another manager owns that an apply would change, and
//! the 409 kube-apiserver answers with (`fieldmanager/internal/conflict.go`).

use super::error::{ConflictCause, PatchError};
use super::fieldset::{path_string, FieldSet};
use super::managed_fields::ManagedFields;

/// A conflicting field: the owner as conflict messages describe it, and the field path.
pub(super) type Conflict = (String, String);

/// Every field another manager owns that this apply changes.
pub(super) fn find(others: &ManagedFields, changed: &FieldSet) -> Vec<Conflict> {
    let mut conflicts: Vec<(String, String)> = others
        .0
        .iter()
        .flat_map(|entry| {
            let owner = entry.describe();
            entry
                .fields
                .intersection(changed)
                .iter()
                .map(move |path| (owner.clone(), path_string(path)))
                .collect::<Vec<_>>()
        })
        .collect();
    conflicts.sort();
    conflicts
}

/// The 409 of `internal.NewConflictError`.
pub(super) fn error(conflicts: Vec<Conflict>) -> PatchError {
    let message = match conflicts.as_slice() {
        [(owner, field)] => format!("Apply failed with 1 conflict: conflict with {owner}: {field}"),
        many => {
            let mut lines = Vec::new();
            for (index, (owner, field)) in many.iter().enumerate() {
                if index == 0 || many[index - 1].0 != *owner {
                    lines.push(format!("conflicts with {owner}:"));
                }
                lines.push(format!("- {field}"));
            }
            format!(
                "Apply failed with {} conflicts: {}",
                many.len(),
                lines.join("\n")
            )
        }
    };
    let causes = conflicts
        .into_iter()
        .map(|(owner, field)| ConflictCause {
            message: format!("conflict with {owner}"),
            field,
        })
        .collect();
    PatchError::Conflict { message, causes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(owner: &str, field: &str) -> Conflict {
        (owner.to_string(), field.to_string())
    }

    #[test]
    fn one_conflict_is_named_inline() {
        let error = error(vec![conflict("\"kubectl\"", ".spec.lookupPolicy.local")]);
        assert_eq!(
            error.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.lookupPolicy.local"
        );
        assert_eq!(error.code(), 409);
    }

    #[test]
    fn several_conflicts_are_listed_per_manager() {
        let csa = "\"kubectl-client-side-apply\" using image.openshift.io/v1";
        let error = error(vec![
            conflict(csa, ".spec.lookupPolicy.local"),
            conflict(csa, ".spec.tags[name=\"latest\"].from"),
            conflict("\"argocd\"", ".metadata.labels.app"),
        ]);
        let PatchError::Conflict { message, causes } = error else {
            panic!("expected a conflict, got {error:?}");
        };
        assert_eq!(
            message,
            format!(
                "Apply failed with 3 conflicts: conflicts with {csa}:\n- .spec.lookupPolicy.local\n\
                 - .spec.tags[name=\"latest\"].from\nconflicts with \"argocd\":\n- .metadata.labels.app"
            )
        );
        assert_eq!(causes[2].message, "conflict with \"argocd\"");
        assert_eq!(causes[2].field, ".metadata.labels.app");
    }
}
