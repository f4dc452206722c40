//! Storage: the store trait and its embedded and etcd backends.
