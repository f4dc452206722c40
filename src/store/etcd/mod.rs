//! The etcd backend: several replicas of the server share one store.
//!
//! # Why the JSON gateway, not gRPC
//!
//! etcd serves its v3 API both as gRPC and, on the same port, as JSON over HTTP/1.1 (the
//! grpc-gateway: `POST /v3/kv/range`, `/v3/kv/txn`, `/v3/watch`, …). The usual Rust client,
//! `etcd-client`, generates its gRPC code with `tonic-build` at build time, which needs the
//! `protoc` compiler: a machine with only the Rust toolchain could no longer `cargo build`.
//! The gateway needs nothing but the HTTP client hyper already gives us, and its JSON is the
//! protobuf messages field for field, so the semantics are etcd's own. The price: JSON and
//! base64 instead of protobuf (values grow by a third on the wire), one HTTP/1.1 connection
//! per concurrent call and per watch instead of multiplexed HTTP/2 streams, and no auth
//! tokens or member discovery (neither of which this backend uses). Leases, for leader
//! election ([`elector`]), are renewed with one-shot keepalive calls instead of one stream.
//!
//! # Mapping onto the [`Store`] contract
//!
//! - Keys are `<prefix><store key>` with a configurable prefix ([`DEFAULT_PREFIX`]), so one
//!   etcd can host several installations.
//! - The store revision *is* etcd's revision. It starts at 1 (an empty etcd) and also moves
//!   with writes outside the prefix: revisions increase but are not consecutive.
//! - Values are stored without `metadata.resourceVersion`; reads stamp it with the key's mod
//!   revision, as the kube-apiserver does.
//! - create = txn `create_revision(key) == 0`; update/delete = txn `version(key) > 0` (and
//!   `mod_revision(key) == expected`), whose failure branch reads the key to tell
//!   [`Error::NotFound`] from [`Error::Conflict`].
//! - list = one Range, at `revision` for [`ReadAt::Exact`]; "compacted" → [`Error::Expired`].
//! - watch = a gateway watch from `after + 1` with `prev_kv`; a compaction cancels it →
//!   [`Error::Expired`]. A broken connection is resumed from the last delivered revision.
//! - [`Store::current_revision`] is the newest revision seen in any answer, kept fresh by a
//!   background watch on the prefix.
//! - [`Store::elector`]: a lease and a key `<prefix>leases/<role>` bound to it ([`elector`]).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use super::{
    lead::Elector, pages::readable, size, Error, EventStream, ListOptions, ListPage, Object,
    ReadAt, Result, Store,
};

mod client;
mod compactor;
mod config;
mod connector;
mod elector;
mod lease_wire;
mod stream;
mod tls_files;
mod values;
mod wire;

pub use compactor::Compactions;
pub use config::{ConfigError, Endpoint, EtcdConfig, DEFAULT_PREFIX};

use client::{CallError, Transport};
use values::{decode, for_storage, not_found, precondition_failure, preconditions, written};
use wire::{RangeResponse, TxnResponse};

/// How often [`Store::wait_for_revision`] asks etcd for its revision while waiting.
const REVISION_POLL: Duration = Duration::from_millis(100);

/// The etcd-backed [`Store`]; see the module documentation.
pub struct EtcdStore {
    inner: Arc<Inner>,
    /// Dropped with the store: ends every watch stream.
    _closed: watch::Sender<()>,
    /// The task keeping [`Store::current_revision`] fresh; aborted on drop.
    follower: tokio::task::AbortHandle,
}

/// What the store, its watch streams and its revision follower share.
pub(super) struct Inner {
    transport: Transport,
    prefix: String,
    /// The newest etcd revision seen.
    revision: watch::Sender<u64>,
    /// Whether etcd answers, as the revision follower last found ([`stream::follow`]): watches
    /// end when it turns false, since a silent etcd looks like a quiet one to a watcher.
    alive: watch::Sender<bool>,
    /// Bumped each time etcd is found rewound (restored or replaced): every watch ends.
    rewinds: watch::Sender<u64>,
    /// Closed when the [`EtcdStore`] is dropped.
    closed: watch::Receiver<()>,
    /// See [`EtcdConfig::silence_probe`].
    silence_probe: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.inner.prefix)
            .field("revision", &*self.inner.revision.borrow())
            .finish()
    }
}

impl EtcdStore {
    /// Connects to `config`'s etcd: checks that an endpoint answers and learns its revision.
    /// Must run inside a tokio runtime (it spawns the revision follower).
    pub async fn connect(config: &EtcdConfig) -> Result<Self> {
        let transport = Transport::new(config).map_err(Error::internal)?;
        let (closed_tx, closed) = watch::channel(());
        let inner = Arc::new(Inner {
            transport,
            prefix: config.prefix.clone(),
            revision: watch::Sender::new(0),
            alive: watch::Sender::new(true),
            rewinds: watch::Sender::new(0),
            closed,
            silence_probe: config.silence_probe,
        });
        inner.fetch_revision().await?;
        let follower = tokio::spawn(stream::follow(inner.clone())).abort_handle();
        Ok(Self {
            inner,
            _closed: closed_tx,
            follower,
        })
    }

    /// Compacts etcd's history below `revision` (for every key, not only this prefix), as an
    /// operator's `etcdctl compact` would; lists and watches at older revisions then expire.
    pub async fn compact(&self, revision: u64) -> Result<()> {
        let _: Value = self
            .inner
            .call("/v3/kv/compaction", &wire::compaction(revision))
            .await?;
        Ok(())
    }

    /// The key prefix of this installation.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

// === impl Inner ===

impl Inner {
    /// Calls the gateway and records the revision in the answer's header.
    async fn call<T: serde::de::DeserializeOwned + HasHeader>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T> {
        let answer: T = self
            .transport
            .call(path, body)
            .await
            .map_err(call_failure)?;
        self.observe(answer.revision());
        Ok(answer)
    }

    async fn range(&self, body: &Value) -> Result<RangeResponse, CallError> {
        let answer: RangeResponse = self.transport.call("/v3/kv/range", body).await?;
        self.observe(answer.header.revision);
        Ok(answer)
    }

    async fn txn(&self, body: &Value) -> Result<TxnResponse> {
        self.call("/v3/kv/txn", body).await
    }

    /// Records a revision seen in an answer; the newest one is the current revision.
    fn observe(&self, revision: u64) {
        self.revision.send_if_modified(|current| {
            let newer = revision > *current;
            if newer {
                *current = revision;
            }
            newer
        });
    }

    /// etcd answered a watch at `revision`, below one it answered that watch's earlier streams
    /// at: it was restored from a backup or replaced. The current revision follows it down, and
    /// the first to notice says so.
    fn rewound(&self, revision: u64) {
        let lowered = self.revision.send_if_modified(|current| {
            let lower = revision < *current;
            if lower {
                *current = revision;
            }
            lower
        });
        if lowered {
            self.rewinds.send_modify(|count| *count += 1);
            tracing::warn!(
                revision,
                "etcd's revision went back: it was restored from a backup or replaced; watches \
                 end with 410 and their clients (the admission index too) list again"
            );
        }
    }

    /// Records whether etcd answers; says so when that changes.
    fn set_alive(&self, alive: bool) {
        let changed = self.alive.send_if_modified(|current| {
            let changed = *current != alive;
            *current = alive;
            changed
        });
        match (changed, alive) {
            (true, true) => tracing::info!("etcd answers again"),
            (true, false) => {
                tracing::warn!("etcd stopped answering; watches end until it answers again")
            }
            (false, _) => {}
        }
    }

    /// Asks etcd for its current revision (a linearizable read of one key).
    async fn fetch_revision(&self) -> Result<u64> {
        // Internal, with the call's error inside: `connect_failure` takes it apart.
        let answer = self
            .range(&wire::get(self.prefix.as_bytes()))
            .await
            .map_err(Error::internal)?;
        Ok(answer.header.revision)
    }

    fn etcd_key(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.prefix).into_bytes()
    }

    /// The store key of an etcd key under this prefix.
    fn store_key(&self, etcd_key: &[u8]) -> Option<String> {
        let key = etcd_key.strip_prefix(self.prefix.as_bytes())?;
        String::from_utf8(key.to_vec()).ok()
    }

    /// Decodes a stored value into an [`Object`] at `revision`.
    fn object(&self, kv: &wire::KeyValue, revision: u64) -> Result<Object> {
        let key = self
            .store_key(&kv.key)
            .ok_or_else(|| Error::internal("etcd answered with a key outside the prefix"))?;
        decode(key, &kv.value, revision)
    }

    /// Why a list at `requested` failed: compaction, a future revision, or anything else.
    async fn list_error(&self, error: CallError, requested: u64) -> Error {
        match &error {
            CallError::Gateway(gateway) if gateway.is_compacted() => Error::Expired {
                requested,
                compacted: stream::compacted_revision(self)
                    .await
                    .unwrap_or(requested + 1),
            },
            CallError::Gateway(gateway) if gateway.is_future_revision() => {
                Error::TooLargeResourceVersion {
                    requested,
                    current: self.fetch_revision().await.unwrap_or(0),
                }
            }
            _ => call_failure(error),
        }
    }
}

/// Answers whose header carries the revision.
trait HasHeader {
    fn revision(&self) -> u64;
}

impl HasHeader for TxnResponse {
    fn revision(&self) -> u64 {
        self.header.revision
    }
}

impl HasHeader for Value {
    fn revision(&self) -> u64 {
        let revision = &self["header"]["revision"];
        revision.as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
    }
}

/// Why [`EtcdStore::connect`] failed, without the endpoint a transport error names and without
/// `internal error`, for a message that names every endpoint it was given.
pub(crate) fn connect_failure(error: &Error) -> String {
    let Error::Internal(cause) = error else {
        return error.to_string();
    };
    match cause.downcast_ref::<CallError>() {
        Some(call) => call.reason(),
        None => crate::store::error::message_chain(cause.as_ref()),
    }
}

/// A failed call as a store error. etcd unreachable, not answering in time, without a leader
/// or out of space is [`Error::Unavailable`]: the client's to know, with what to do (kube-apiserver
/// passes etcd's own words on likewise); a write etcd finds too large is [`Error::TooLarge`].
/// Anything else is internal.
fn call_failure(error: CallError) -> Error {
    let advice = match &error {
        CallError::Unreachable { .. } => {
            return Error::Unreachable(format!(
                "the store cannot reach etcd ({error}): check that etcd is running and \
                 reachable, then retry (the request never reached etcd, so nothing was changed)"
            ));
        }
        // The connection may have broken after the request went out.
        CallError::Http { .. } => {
            "check that etcd is running and reachable, then retry (if this was a write, it may \
             still have been applied: read the object before writing it again)"
        }
        CallError::Timeout { .. } => {
            "check etcd's health (etcdctl endpoint health), then retry (if this was a write, it \
             may still have been applied: read the object before writing it again)"
        }
        CallError::Gateway(gateway) if gateway.is_out_of_space() => {
            "etcd's database is full: compact and defragment it, disarm its NOSPACE alarm \
             (etcdctl alarm disarm), then retry"
        }
        // etcd's "request timed out" and "leader changed" come with this code too.
        CallError::Gateway(gateway) if gateway.is_unavailable() => {
            "check etcd's health (etcdctl endpoint health), then retry (if this was a write, it \
             may still have been applied: read the object before writing it again)"
        }
        CallError::Gateway(gateway) if gateway.is_too_large() => {
            return Error::TooLarge(format!(
                "etcd refused the write as too large ({error}): the object is over etcd's request \
                 limit (--max-request-bytes, 1.5 MiB by default): make it smaller (fewer spec tags, \
                 shorter annotations, old status.tags items removed with a status update)"
            ));
        }
        CallError::Gateway(_) => return Error::internal(error),
    };
    Error::Unavailable(format!("the store cannot reach etcd ({error}): {advice}"))
}

// === impl Store ===

#[async_trait]
impl Store for EtcdStore {
    fn current_revision(&self) -> u64 {
        *self.inner.revision.borrow()
    }

    fn revision_epoch(&self) -> u64 {
        *self.inner.rewinds.borrow()
    }

    async fn get(&self, key: &str) -> Result<Object> {
        let inner = &self.inner;
        let answer = inner
            .range(&wire::get(&inner.etcd_key(key)))
            .await
            .map_err(call_failure)?;
        match answer.kvs.first() {
            Some(kv) => inner.object(kv, kv.mod_revision),
            None => Err(not_found(key)),
        }
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        let inner = &self.inner;
        let start = inner.etcd_key(prefix);
        let end = wire::prefix_end(&start);
        let from = match &options.start_after {
            Some(after) => [inner.etcd_key(after), vec![0]].concat().max(start),
            None => start,
        };
        // etcd reads revision 0 as "current"; its revision 1 is the empty store.
        let (requested, at) = match options.at {
            ReadAt::Current => (0, 0),
            ReadAt::Exact(revision) => (revision, revision.max(1)),
        };
        let limit = options.limit.map_or(0, |limit| limit.get());
        let answer = match inner.range(&wire::range(&from, &end, at, limit)).await {
            Ok(answer) => answer,
            Err(error) => return Err(inner.list_error(error, requested).await),
        };
        let objects = answer
            .kvs
            .iter()
            .map(|kv| inner.object(kv, kv.mod_revision));
        let (items, unreadable) = readable(objects, options.skip_unreadable)?;
        let revision = match options.at {
            ReadAt::Current => answer.header.revision,
            ReadAt::Exact(revision) => revision,
        };
        Ok(ListPage {
            items,
            revision,
            more: answer.more,
            unreadable,
        })
    }

    async fn create(&self, key: &str, value: Value) -> Result<Object> {
        let etcd_key = self.inner.etcd_key(key);
        let (value, bytes) = for_storage(value)?;
        size::check_len(key, bytes.len())?;
        let answer = self
            .inner
            .txn(&wire::txn(
                vec![wire::absent(&etcd_key)],
                wire::put_op(&etcd_key, &bytes),
                wire::get_op(&etcd_key),
            ))
            .await
            .map_err(|error| values::sized(error, key, bytes.len()))?;
        match answer.succeeded {
            true => written(key, value, answer.header.revision),
            false => Err(Error::AlreadyExists {
                key: key.to_string(),
            }),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Value,
        expected_revision: Option<u64>,
    ) -> Result<Object> {
        let etcd_key = self.inner.etcd_key(key);
        let (value, bytes) = for_storage(value)?;
        let checked = size::check_len(key, bytes.len());
        size::allow_if_not_growing(self, key, &value, checked).await?;
        let answer = self
            .inner
            .txn(&wire::txn(
                preconditions(&etcd_key, expected_revision),
                wire::put_op(&etcd_key, &bytes),
                wire::get_op(&etcd_key),
            ))
            .await
            .map_err(|error| values::sized(error, key, bytes.len()))?;
        match answer.succeeded {
            true => written(key, value, answer.header.revision),
            false => Err(precondition_failure(key, expected_revision, &answer)),
        }
    }

    async fn delete(&self, key: &str, expected_revision: Option<u64>) -> Result<Object> {
        let etcd_key = self.inner.etcd_key(key);
        let answer = self
            .inner
            .txn(&wire::txn(
                preconditions(&etcd_key, expected_revision),
                wire::delete_op(&etcd_key),
                wire::get_op(&etcd_key),
            ))
            .await?;
        if !answer.succeeded {
            return Err(precondition_failure(key, expected_revision, &answer));
        }
        let last = answer
            .responses
            .first()
            .and_then(|op| op.response_delete_range.as_ref())
            .and_then(|delete| delete.prev_kvs.first())
            .ok_or_else(|| Error::internal("etcd deleted without returning the last state"))?;
        match decode(key.to_string(), &last.value, answer.header.revision) {
            // Deleted all the same (the API's unsafe delete of an unreadable document).
            Err(Error::Corrupt(unreadable)) => Ok(unreadable.stand_in(answer.header.revision)),
            decoded => decoded,
        }
    }

    async fn watch(&self, prefix: &str, after_revision: u64) -> Result<EventStream> {
        stream::watch(self.inner.clone(), prefix, after_revision).await
    }

    fn elector(&self) -> Arc<dyn Elector> {
        Arc::new(elector::EtcdElector {
            inner: self.inner.clone(),
        })
    }

    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> Result<u64> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut revisions = self.inner.revision.subscribe();
        loop {
            let current = *revisions.borrow_and_update();
            if current >= revision {
                return Ok(current);
            }
            // Writes through other replicas reach this one's follower a moment later: ask.
            let fresh = tokio::time::timeout_at(deadline, self.inner.fetch_revision()).await;
            if let Ok(Ok(fresh)) = fresh {
                if fresh >= revision {
                    return Ok(fresh);
                }
            }
            let poll = (tokio::time::Instant::now() + REVISION_POLL).min(deadline);
            tokio::select! {
                _ = revisions.changed() => {}
                _ = tokio::time::sleep_until(poll) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::TooLargeResourceVersion {
                    requested: revision,
                    current: self.current_revision(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_no_endpoint_took_is_known_unsaved_and_a_broken_one_may_have_been_saved() {
        let unreachable = call_failure(CallError::Unreachable {
            endpoint: "http://etcd-0:2379".into(),
            error: "connection refused".into(),
        });
        let broken = call_failure(CallError::Http {
            endpoint: "http://etcd-0:2379".into(),
            error: "connection closed before message completed".into(),
        });
        assert!(
            matches!(unreachable, Error::Unreachable(_)),
            "{unreachable}"
        );
        assert!(matches!(broken, Error::Unavailable(_)), "{broken}");
        for error in [&unreachable, &broken] {
            assert!(
                error.to_string().contains("check that etcd is running"),
                "{error}"
            );
        }
        assert!(
            unreachable.to_string().contains("so nothing was changed"),
            "{unreachable}"
        );
        assert!(
            !unreachable.to_string().contains("may still"),
            "{unreachable}"
        );
        assert!(
            broken.to_string().contains("may still have been applied"),
            "{broken}"
        );
    }
}
