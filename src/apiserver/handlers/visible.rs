//! The streams a writer's tag sources are looked up in.
//!
//! A tag copying a stream in another namespace needs the writer's right to read it; a refused
//! source is also not looked up, so the refusal reads the same whether or not the stream or
//! the image exists (OpenShift looks it up anyway, which tells any tenant what another holds).

use crate::resolve::{CompactStream, StreamLookup};
use crate::strategy::Authorize;

/// `streams` as seen by a writer in `namespace`: a stream in another namespace that
/// `authorize` refuses is absent.
pub(super) struct Visible<'a> {
    /// Every stream.
    pub streams: &'a dyn StreamLookup,
    /// The namespace written to, whose streams need no check (OpenShift checks none).
    pub namespace: &'a str,
    /// The writer's right to read a stream of another namespace.
    pub authorize: Authorize<'a>,
}

impl StreamLookup for Visible<'_> {
    fn stream(&self, namespace: &str, name: &str) -> Option<&CompactStream> {
        if namespace != self.namespace && !(self.authorize)(namespace, name) {
            return None;
        }
        self.streams.stream(namespace, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ImageStream;
    use crate::resolve::Index;

    fn check(namespace: &str, name: &str, allowed: bool) -> bool {
        let mut index = Index::default();
        for (namespace, name) in [("own", "app"), ("other", "app")] {
            let mut stream = ImageStream::default();
            stream.metadata.namespace = Some(namespace.to_string());
            stream.metadata.name = Some(name.to_string());
            index.upsert(stream);
        }
        let authorize = |_: &str, _: &str| allowed;
        let visible = Visible {
            streams: &index,
            namespace: "own",
            authorize: &authorize,
        };
        visible.stream(namespace, name).is_some()
    }

    #[test]
    fn a_refused_stream_of_another_namespace_is_absent() {
        assert!(!check("other", "app", false));
        assert!(check("other", "app", true));
    }

    #[test]
    fn streams_of_the_written_namespace_need_no_right() {
        assert!(check("own", "app", false));
        assert!(!check("own", "missing", true));
    }
}
