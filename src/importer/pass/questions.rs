//! The registry questions of one pass: asked concurrently, a few at a time, and answered
//! into a map shared by the tags that import the same source.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use crate::api::ImageStream;
use crate::importer::outcome::{self, Failure, Imported};
use crate::importer::plan::{ImportMode, TagImport};
use crate::importer::secrets::ReadError;

/// Tuple of what makes two imports the same registry question within one pass.
pub(super) type SourceKey = (String, ImportMode, bool);

/// Registry questions one pass has in flight at once.
pub(super) const SOURCES_AT_ONCE: usize = 8;
/// How long a pass waits for every answer before writing those it has; also the least time
/// between two of its writes, so answers arriving together are written together.
pub(super) const EARLY_WRITE_AFTER: Duration = Duration::from_secs(1);

/// What each tag still to import adds to [`EARLY_WRITE_AFTER`]: a pass over a stream of 2,000
/// tags (about a megabyte) waits 41 s before its first early write, not one, and less before each
/// later one as fewer tags remain, since each write re-sends the whole stream to the store, the
/// index and every watcher.
const EARLY_WRITE_PER_TAG: Duration = Duration::from_millis(20);

/// How long a pass with `planned` imports waits before writing the answers it has.
pub(super) fn early_write_after(planned: usize) -> Duration {
    let planned = u32::try_from(planned).unwrap_or(u32::MAX);
    EARLY_WRITE_AFTER.saturating_add(EARLY_WRITE_PER_TAG.saturating_mul(planned))
}

/// A registry answer about one source, shared by the tags that import it.
#[derive(Clone, Debug)]
pub(super) struct Answer {
    /// What the registry said.
    pub outcome: Result<Imported, Failure>,
    /// The failure asks for a fix that leaves the tag's generation alone (a policy flag, a
    /// CA, a mirrored platform), so each tag's condition also says how to import it again.
    pub advise_reimport: bool,
    /// Not asked, as its registry was silent: when to ask again (sooner than the interval a
    /// failed tag otherwise waits).
    pub retry_in: Option<std::time::Duration>,
}

impl Answer {
    /// The outcome for `tag` of `stream`.
    pub fn for_tag(&self, stream: &ImageStream, tag: &str) -> Result<Imported, Failure> {
        match (&self.outcome, self.advise_reimport) {
            (Err(failure), true) => Err(outcome::with_reimport_advice(
                failure.clone(),
                stream.namespace(),
                stream.name(),
                tag,
            )),
            (outcome, _) => outcome.clone(),
        }
    }
}

/// What one pass has learnt and is still asking, kept across its re-reads of the stream.
pub(super) struct Pass<'a> {
    /// The answers so far.
    pub answers: HashMap<SourceKey, Answer>,
    /// The sources asked about, answered or not.
    pub asked: HashSet<SourceKey>,
    waiting: VecDeque<BoxFuture<'a, (SourceKey, Answer)>>,
    running: FuturesUnordered<BoxFuture<'a, (SourceKey, Answer)>>,
    /// The namespace's pull secrets, read once per pass when the first question is asked.
    pub secrets: Option<Result<Vec<Value>, ReadError>>,
    /// An answer arrived that no write has applied yet.
    unwritten: bool,
    /// When answers in hand are written even though others are still awaited; set by the
    /// first wait after a write (or the pass's start), from how many imports it plans.
    write_by: Option<Instant>,
}

impl<'a> Pass<'a> {
    /// A pass that has asked nothing yet; its first early write falls due from now.
    pub fn new() -> Self {
        Self {
            answers: HashMap::new(),
            asked: HashSet::new(),
            waiting: VecDeque::new(),
            running: FuturesUnordered::new(),
            secrets: None,
            unwritten: false,
            write_by: None,
        }
    }

    /// Queues `question`, which runs once fewer than [`SOURCES_AT_ONCE`] are running.
    pub fn ask(&mut self, question: BoxFuture<'a, (SourceKey, Answer)>) {
        self.waiting.push_back(question);
        self.top_up();
    }

    fn top_up(&mut self) {
        while self.running.len() < SOURCES_AT_ONCE {
            let Some(question) = self.waiting.pop_front() else {
                return;
            };
            self.running.push(question);
        }
    }

    /// Waits until every import of `imports` has an answer, or until `write_by` has passed
    /// with an answer not written yet: a source that hangs holds back only its own tags.
    pub async fn wait(&mut self, imports: &[TagImport]) {
        let planned = imports.len();
        let write_by = *self
            .write_by
            .get_or_insert_with(|| Instant::now() + early_write_after(planned));
        loop {
            let all = imports
                .iter()
                .all(|i| self.answers.contains_key(&source_key(i)));
            let due = Instant::now() >= write_by;
            if all || (due && self.unwritten) || self.running.is_empty() {
                return;
            }
            tokio::select! {
                Some((key, answer)) = self.running.next() => {
                    self.answers.insert(key, answer);
                    self.unwritten = true;
                    self.top_up();
                }
                () = tokio::time::sleep_until(write_by), if !due => {}
            }
        }
    }

    /// The imports of `imports` that have an answer.
    pub fn answered(&self, imports: &[TagImport]) -> Vec<TagImport> {
        let answered = |i: &&TagImport| self.answers.contains_key(&source_key(i));
        imports.iter().filter(answered).cloned().collect()
    }

    /// Notes that the answers in hand were applied (written, or found to change nothing).
    pub fn applied(&mut self) {
        self.unwritten = false;
        self.write_by = None;
    }
}

pub(super) fn source_key(import: &TagImport) -> SourceKey {
    (import.source.exact(), import.mode.clone(), import.insecure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::plan::Trigger;
    use crate::reference::ImageRef;
    use futures::FutureExt;

    fn import(tag: &str) -> TagImport {
        TagImport {
            tag: tag.into(),
            source: ImageRef::parse(&format!("quay.io/o/{tag}:1")).unwrap(),
            insecure: false,
            mode: ImportMode::legacy(),
            generation: 1,
            trigger: Trigger::Generation,
        }
    }

    /// A pass asking about `ready` (answered at once) and `hung` (never answered) sources.
    fn pass_with(ready: &[&TagImport], hung: &[&TagImport], write_by: Instant) -> Pass<'static> {
        let mut pass = Pass::new();
        pass.write_by = Some(write_by);
        let answer = Answer {
            retry_in: None,
            outcome: Ok(Imported {
                digest: "sha256:a".into(),
            }),
            advise_reimport: false,
        };
        for import in ready {
            let answered = (source_key(import), answer.clone());
            pass.ask(futures::future::ready(answered).boxed());
        }
        for _ in hung {
            pass.ask(futures::future::pending().boxed());
        }
        pass
    }

    #[test]
    fn the_wait_before_an_early_write_grows_with_the_tags_to_import() {
        assert_eq!(early_write_after(0), EARLY_WRITE_AFTER);
        assert_eq!(early_write_after(8), Duration::from_millis(1160));
        assert_eq!(early_write_after(2000), Duration::from_secs(41));
        assert!(early_write_after(usize::MAX) > Duration::from_secs(86_400));
    }

    #[tokio::test]
    async fn a_pass_waits_for_every_answer_until_it_is_due_to_write_what_it_has() {
        let (a, b) = (import("a"), import("b"));
        let imports = [a.clone(), b.clone()];
        let later = Instant::now() + Duration::from_secs(3600);
        let past = Instant::now();
        let check = |ready: &[&TagImport], hung: &[&TagImport], write_by, returns: bool| {
            let mut pass = pass_with(ready, hung, write_by);
            let imports = imports.clone();
            async move {
                let waited = tokio::time::timeout(Duration::from_millis(100), pass.wait(&imports));
                assert_eq!(waited.await.is_ok(), returns);
                pass.answered(&imports).len()
            }
        };
        assert_eq!(check(&[&a, &b], &[], later, true).await, 2, "all answered");
        assert_eq!(check(&[&a], &[&b], past, true).await, 1, "due: write a");
        assert_eq!(check(&[&a], &[&b], later, false).await, 1, "not due yet");
        assert_eq!(
            check(&[], &[&a, &b], past, false).await,
            0,
            "nothing to write"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_early_write_falls_due_by_the_imports_planned_and_again_after_each_write() {
        let (a, b) = (import("a"), import("b"));
        let imports = [a.clone(), b.clone()];
        let mut pass = pass_with(&[&a], &[&b], Instant::now());
        pass.write_by = None;
        let started = Instant::now();
        pass.wait(&imports).await;
        assert_eq!(
            started.elapsed(),
            early_write_after(2),
            "two imports planned"
        );
        pass.applied();
        assert_eq!(pass.write_by, None, "due again from the next wait");
        let started = Instant::now();
        let hung = tokio::time::timeout(Duration::from_secs(60), pass.wait(&imports[1..]));
        assert!(hung.await.is_err(), "nothing new to write: b is awaited");
        assert_eq!(pass.write_by, Some(started + early_write_after(1)));
    }
}
