//! Stream rules: defaulting, validation, generations and status tags (openshift-semantics §4).
