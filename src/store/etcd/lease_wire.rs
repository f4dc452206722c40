//! The JSON shapes of etcd's lease calls through the gateway, and the requests the elector
//! sends. Pure: no I/O.
//!
//! Lease IDs are int64s, so the gateway writes them as strings; they are kept as the decimal
//! text they arrived as and sent back verbatim. `/v3/lease/keepalive` is a bidirectional
//! stream: one request in the body gives one answer line, wrapped in `result`, and the stream
//! ends with the request body.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::wire::{int64, put_op, Header};

/// `/v3/lease/grant`'s answer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(super) struct GrantResponse {
    #[serde(default)]
    pub(super) header: Header,
    /// The new lease.
    #[serde(default, rename = "ID")]
    pub(super) id: String,
    /// The TTL granted, in seconds (etcd may raise a short one to its minimum).
    #[serde(default, rename = "TTL", deserialize_with = "seconds")]
    pub(super) ttl: Duration,
    /// Why the grant failed, if it did.
    #[serde(default)]
    pub(super) error: String,
}

/// One answer line of `/v3/lease/keepalive`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(super) struct KeepAliveLine {
    #[serde(default)]
    pub(super) result: Option<KeepAliveResponse>,
    #[serde(default)]
    pub(super) error: Option<Value>,
}

/// A renewal: the lease's fresh TTL; zero (left out) when the lease no longer exists.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(super) struct KeepAliveResponse {
    #[serde(default, rename = "ID")]
    pub(super) id: String,
    #[serde(default, rename = "TTL", deserialize_with = "seconds")]
    pub(super) ttl: Duration,
}

impl KeepAliveLine {
    /// The renewed TTL, zero when the lease is gone, or the stream's error.
    pub(super) fn ttl(&self) -> Result<Duration, String> {
        match (&self.result, &self.error) {
            (Some(result), None) => Ok(result.ttl),
            (_, Some(error)) => Err(error.to_string()),
            (None, None) => Err("etcd answered a keepalive with nothing".to_string()),
        }
    }
}

/// A lease of `ttl` (whole seconds, at least one), with an ID etcd chooses.
pub(super) fn grant(ttl: Duration) -> Value {
    json!({"TTL": ttl.as_secs().max(1).to_string(), "ID": "0"})
}

/// One renewal, or the revocation, of lease `id`.
pub(super) fn lease(id: &str) -> Value {
    json!({"ID": id})
}

/// A put bound to lease `id`, as a txn op: the key goes when the lease does.
pub(super) fn put_with_lease_op(key: &[u8], value: &[u8], id: &str) -> Value {
    let mut op = put_op(key, value);
    op["request_put"]["lease"] = Value::from(id);
    op
}

/// An int64 count of seconds ([`int64`]: a string or a number; etcd's -1 reads as zero).
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    int64(deserializer).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers captured from etcd 3.4.23.
    const GRANT: &str = r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"7","raft_term":"2"},"ID":"7587879335925917445","TTL":"15"}"#;
    const RENEWED: &str = r#"{"result":{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"7","raft_term":"2"},"ID":"7587879335925917445","TTL":"15"}}"#;
    const GONE: &str = r#"{"result":{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"8","raft_term":"2"},"ID":"7587879335925917445"}}"#;
    const FAILED: &str = r#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#;

    #[test]
    fn grants_decode_the_id_as_text_and_the_ttl_in_seconds() {
        let grant: GrantResponse = serde_json::from_str(GRANT).unwrap();
        assert_eq!(
            (grant.id.as_str(), grant.ttl, grant.header.revision),
            ("7587879335925917445", Duration::from_secs(15), 7)
        );
    }

    #[test]
    fn keepalive_lines_give_the_fresh_ttl_zero_when_gone_or_the_error() {
        let check = |line: &str, expected: Result<u64, &str>| {
            let line: KeepAliveLine = serde_json::from_str(line).unwrap();
            let ttl = line.ttl().map(|ttl| ttl.as_secs());
            match expected {
                Ok(secs) => assert_eq!(ttl, Ok(secs), "{line:?}"),
                Err(part) => assert!(ttl.unwrap_err().contains(part), "{line:?}"),
            }
        };
        check(RENEWED, Ok(15));
        check(GONE, Ok(0));
        check(FAILED, Err("no leader"));
        check("{}", Err("nothing"));
        check(r#"{"result":{"TTL":"-1"}}"#, Ok(0));
    }

    #[test]
    fn lease_requests_send_ids_and_ttls_as_strings() {
        let check = |request: Value, expected: Value| assert_eq!(request, expected);
        check(
            grant(Duration::from_millis(2_500)),
            json!({"TTL": "2", "ID": "0"}),
        );
        check(grant(Duration::ZERO), json!({"TTL": "1", "ID": "0"}));
        check(lease("42"), json!({"ID": "42"}));
        check(
            put_with_lease_op(b"/x/a", b"me", "42"),
            json!({"request_put": {"key": "L3gvYQ==", "value": "bWU=", "lease": "42"}}),
        );
    }
}
