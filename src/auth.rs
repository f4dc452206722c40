//! Authentication (static bearer tokens) and authorization (a namespace/verb policy file).
//!
//! Tokens use kube-apiserver's static token CSV: `token,user,uid,"group1,group2"`. The policy
//! file is YAML or JSON:
//!
//! ```yaml
//! rules:
//! - groups: ["system:masters"]      # or users: [alice]
//!   namespaces: ["*"]               # "*" or a list; cluster-scoped requests need "*"
//!   verbs: ["*"]                    # or e.g. [get, list, watch]
//! - users: [alice]
//!   namespaces: [team-a]
//!   verbs: [get, list, watch]
//!   resources: [imagestreams, imagestreamtags, imagestreams/layers]  # default ["*"]
//!   apiGroups: [image.openshift.io]  # default ["*"]; "" is the core group (secrets, events)
//! ```
//!
//! `resources` names a resource (`imagestreams`, `secrets`, …) or one of its subresources
//! (`imagestreams/status`, `imagestreams/secrets`, `imagestreams/layers`); as in RBAC, a
//! resource does not grant its subresources, `*` grants everything and `*/status` every
//! resource's `status`. `apiGroups` limits a rule to resources of those groups, as in RBAC;
//! without it a rule grants resources of every group, and without `resources` every resource,
//! Secrets included. Any other key (`resourceNames`, a typo), an API group this server does not
//! serve, or a resource it does not serve fails start-up: a rule this file cannot express must
//! not be read as a broader one.
//!
//! Without a policy file every authenticated user may do everything.
//!
//! Requests from a front proxy (the kube-apiserver aggregating our API) are authenticated by
//! [`requestheader`]. Authorization is always this policy file: delegated authorization
//! (a SubjectAccessReview to the kube-apiserver) is not done. Impersonation (`kubectl --as`) is
//! refused with 403: see [`impersonation`].

pub mod client_certs;
pub mod impersonation;
mod policy;
pub mod requestheader;
mod x509_name;

pub use policy::{denial, Attributes, Policy, PolicyRule};

use std::collections::HashMap;

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// The user's uid.
    pub uid: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// Vouched for by the front proxy (the kube-apiserver's aggregator): the cluster's RBAC
    /// authorized this request, and only this request; what else the user may do there this
    /// server cannot tell.
    pub delegated: bool,
}

/// Why a token or policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// A token file line is malformed.
    #[error("token file line {line}: {message}")]
    TokenLine {
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The policy file does not parse.
    #[error("policy file is not valid: {0}")]
    Policy(String),
}

/// Bearer tokens and the users they stand for.
#[derive(Clone, Debug, Default)]
pub struct TokenAuthenticator {
    users_by_token: HashMap<String, UserInfo>,
    repeats: Vec<RepeatedToken>,
}

/// A token file line whose token an earlier line already listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepeatedToken {
    /// The repeating line, from 1; its user is the one the token authenticates.
    pub line: usize,
    /// The last earlier line with the same token.
    pub earlier_line: usize,
}

/// The group of every user a token authenticates, as kube-apiserver adds it.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

impl TokenAuthenticator {
    /// Lines whose token an earlier line already listed (the later line wins).
    pub fn repeated_tokens(&self) -> &[RepeatedToken] {
        &self.repeats
    }

    /// Parses a static token CSV (`token,user,uid,"g1,g2"`); blank lines and `#` comments are skipped.
    /// A token listed twice takes the later line's user, as in kube-apiserver; the caller, who
    /// knows the file, warns about [`TokenAuthenticator::repeated_tokens`].
    pub fn parse(text: &str) -> Result<Self, AuthFileError> {
        let mut users_by_token = HashMap::new();
        let mut line_by_token = HashMap::new();
        let mut repeats = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |message: &str| AuthFileError::TokenLine {
                line: index + 1,
                message: message.to_string(),
            };
            let fields = split_csv_line(line).map_err(|m| error(&m))?;
            if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
                return Err(error("expected token,user,uid[,\"group1,group2\"]"));
            }
            let mut groups: Vec<String> =
                fields.get(3).map(|g| split_groups(g)).unwrap_or_default();
            // kube-apiserver's: every user it authenticates is in it, so a policy rule written
            // for it, as an RBAC binding would be, matches them.
            if !groups.iter().any(|group| group == AUTHENTICATED_GROUP) {
                groups.push(AUTHENTICATED_GROUP.to_string());
            }
            let user = UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
                delegated: false,
            };
            if let Some(earlier_line) = line_by_token.insert(fields[0].clone(), index + 1) {
                repeats.push(RepeatedToken {
                    line: index + 1,
                    earlier_line,
                });
            }
            users_by_token.insert(fields[0].clone(), user);
        }
        Ok(Self {
            users_by_token,
            repeats,
        })
    }

    /// The user a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<&UserInfo> {
        self.users_by_token.get(token)
    }

    /// Number of known tokens.
    pub fn len(&self) -> usize {
        self.users_by_token.len()
    }

    /// Whether no token is known.
    pub fn is_empty(&self) -> bool {
        self.users_by_token.is_empty()
    }
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn split_groups(groups: &str) -> Vec<String> {
    groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(String::from)
        .collect()
}

/// Splits one CSV line, honouring double quotes (`""` inside quotes is a quote).
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            ('"', _) => in_quotes = !in_quotes,
            (',', false) => fields.push(std::mem::take(&mut current).trim().to_string()),
            (c, _) => current.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quote".to_string());
    }
    fields.push(current.trim().to_string());
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_of_comments_and_blank_lines_lists_no_token() {
        assert!(TokenAuthenticator::parse("# rotated\n\n")
            .unwrap()
            .is_empty());
        assert!(!TokenAuthenticator::parse("t,alice,1\n").unwrap().is_empty());
    }

    #[test]
    fn token_file_lines_parse_with_quoted_groups_and_every_user_is_authenticated() {
        let text = "# c\n\nabc,alice,1,\"dev,ops\"\nxyz,bob,2\nsys,carol,3,system:authenticated\n";
        let tokens = TokenAuthenticator::parse(text).unwrap();
        assert_eq!(tokens.len(), 3);
        let groups = |token: &str| tokens.authenticate(token).unwrap().groups.clone();
        assert_eq!(groups("abc"), ["dev", "ops", AUTHENTICATED_GROUP]);
        assert_eq!(groups("xyz"), [AUTHENTICATED_GROUP]);
        assert_eq!(groups("sys"), [AUTHENTICATED_GROUP], "listed once");
        assert!(tokens.authenticate("nope").is_none());
    }

    #[test]
    fn malformed_token_lines_name_the_line() {
        let error = TokenAuthenticator::parse("ok,u,1\nonlytoken\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "token file line 2: expected token,user,uid[,\"group1,group2\"]"
        );
        let error = TokenAuthenticator::parse("t,u,1,\"open")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "token file line 1: unterminated quote");
    }

    #[test]
    fn a_repeated_token_takes_the_later_line_and_is_reported_by_line() {
        let tokens =
            TokenAuthenticator::parse("dup,first,4\nok,u,1\n\ndup,second,5,\"system:masters\"\n")
                .unwrap();
        assert_eq!(tokens.authenticate("dup").unwrap().name, "second");
        assert_eq!(
            tokens.repeated_tokens(),
            [RepeatedToken {
                line: 4,
                earlier_line: 1
            }]
        );
        let unique = TokenAuthenticator::parse("a,u,1\nb,u,1\n").unwrap();
        assert!(unique.repeated_tokens().is_empty());
    }

    #[test]
    fn bearer_tokens_are_taken_from_the_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
