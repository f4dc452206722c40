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
//! ```
//!
//! Without a policy file every authenticated user may do everything.
//!
//! Requests from a front proxy (the kube-apiserver aggregating our API) are authenticated by
//! [`requestheader`]. Authorization is always this policy file: delegated authorization
//! (a SubjectAccessReview to the kube-apiserver) is not done. Impersonation (`kubectl --as`) is
//! refused with 403: see [`impersonation`].

pub mod impersonation;
pub mod requestheader;
mod x509_name;

use std::collections::HashMap;

use serde::Deserialize;

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// The user's uid.
    pub uid: String,
    /// The user's groups.
    pub groups: Vec<String>,
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
}

impl TokenAuthenticator {
    /// Parses a static token CSV (`token,user,uid,"g1,g2"`); blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, AuthFileError> {
        let mut users_by_token = HashMap::new();
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
            let groups = fields.get(3).map(|g| split_groups(g)).unwrap_or_default();
            let user = UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
            };
            users_by_token.insert(fields[0].clone(), user);
        }
        Ok(Self { users_by_token })
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

/// One grant: who, where, which verbs.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct PolicyRule {
    /// User names this rule applies to.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups this rule applies to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Namespaces it grants, or `*`.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Verbs it grants (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`), or `*`.
    #[serde(default)]
    pub verbs: Vec<String>,
}

/// The authorization policy: a request is allowed when any rule grants it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Policy {
    /// The grants.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// What a request wants to do, for authorization and for the 403 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes<'a> {
    /// The verb (`get`, `list`, `watch`, `create`, …).
    pub verb: &'a str,
    /// The resource, with the subresource if any (`imagestreams/status`).
    pub resource: &'a str,
    /// The API group (`image.openshift.io`, or `""`).
    pub group: &'a str,
    /// The namespace, or `""` for cluster-scoped and all-namespaces requests.
    pub namespace: &'a str,
    /// The object name, if the request names one.
    pub name: &'a str,
}

impl Policy {
    /// Parses a policy from YAML or JSON text.
    pub fn parse(text: &str) -> Result<Self, AuthFileError> {
        serde_norway::from_str(text).map_err(|e| AuthFileError::Policy(e.to_string()))
    }

    /// Whether the user may do what the attributes describe.
    pub fn allows(&self, user: &UserInfo, attributes: &Attributes<'_>) -> bool {
        self.rules.iter().any(|rule| rule.grants(user, attributes))
    }
}

impl PolicyRule {
    fn grants(&self, user: &UserInfo, attributes: &Attributes<'_>) -> bool {
        let applies = self.users.iter().any(|u| u == "*" || *u == user.name)
            || self
                .groups
                .iter()
                .any(|g| g == "*" || user.groups.contains(g));
        applies
            && covers(&self.namespaces, attributes.namespace)
            && covers(&self.verbs, attributes.verb)
    }
}

/// `*` covers everything; otherwise an exact member. An empty namespace (cluster-wide request)
/// is covered only by `*`.
fn covers(granted: &[String], wanted: &str) -> bool {
    granted
        .iter()
        .any(|g| g == "*" || (!wanted.is_empty() && g == wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserInfo {
        UserInfo {
            name: "alice".into(),
            uid: "1".into(),
            groups: vec!["dev".into()],
        }
    }

    fn attrs<'a>(verb: &'a str, namespace: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            resource: "imagestreams",
            group: "image.openshift.io",
            namespace,
            name: "demo",
        }
    }

    #[test]
    fn token_file_lines_parse_with_quoted_groups() {
        let tokens =
            TokenAuthenticator::parse("# c\n\nabc,alice,1,\"dev,ops\"\nxyz,bob,2\n").unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.authenticate("abc").unwrap().groups, ["dev", "ops"]);
        assert!(tokens.authenticate("xyz").unwrap().groups.is_empty());
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
    fn bearer_tokens_are_taken_from_the_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn policy_limits_users_to_namespaces_and_verbs() {
        let policy = Policy::parse(
            "rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: [get, list, watch]\n\
             - groups: [admins]\n  namespaces: ['*']\n  verbs: ['*']\n",
        )
        .unwrap();
        assert!(policy.allows(&alice(), &attrs("get", "team-a")));
        assert!(!policy.allows(&alice(), &attrs("create", "team-a")));
        assert!(!policy.allows(&alice(), &attrs("get", "team-b")));
        assert!(
            !policy.allows(&alice(), &attrs("list", "")),
            "all-namespaces needs '*'"
        );
        let admin = UserInfo {
            name: "root".into(),
            uid: "0".into(),
            groups: vec!["admins".into()],
        };
        assert!(policy.allows(&admin, &attrs("delete", "")));
    }
}
