//! The registry side of an import: every question asked once, a few at a time, with the
//! namespace's pull secrets, and the Image objects of the answers (stored for a real import).

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use jiff::Timestamp;
use serde_json::Value;

use super::{ImportRequest, SOURCES_AT_ONCE};
use crate::api::ImageStream;
use crate::apiserver::isimport::{self, split_repository_tags, Found, ImageStreamImport, Outcome};
use crate::apiserver::state::ApiState;
use crate::importer::image::{image_object, store_image, ImageRecord};
use crate::importer::on_request::Credentials;
use crate::importer::outcome::{Failure, ImportReason};
use crate::importer::plan::ImportMode;
use crate::importer::registry::Fetched;
use crate::reference::ImageRef;

/// What makes two images one registry question.
pub(super) type SourceKey = (String, ImportMode, bool);

/// What the registries said.
pub(super) struct Answers {
    /// By source.
    pub(super) images: HashMap<SourceKey, Result<Fetched, Failure>>,
    /// The repository's listing: each chosen tag's answer, and the tags left out.
    pub(super) repository: Option<Listing>,
    /// The sources some image of the import wants manifests of (`includeManifest`).
    pub(super) with_manifests: HashSet<SourceKey>,
}

pub(super) type Listing = Result<(Vec<(String, SourceKey)>, Vec<String>), Failure>;

/// Asks the registries every question of `isi`, a few at a time.
pub(super) async fn ask(
    state: &ApiState,
    request: &ImportRequest<'_>,
    isi: &ImageStreamImport,
    existing: Option<&ImageStream>,
) -> Answers {
    let credentials = match state
        .pull_secrets
        .list(state.store.as_ref(), request.namespace)
        .await
    {
        Ok(secrets) => Credentials {
            secrets,
            unreadable: None,
        },
        Err(error) => Credentials {
            secrets: Vec::new(),
            unreadable: Some(error.to_string()),
        },
    };
    let default_mode = state.strategy.default_import_mode.as_str();
    let mut questions: Vec<(SourceKey, ImageRef)> = isi
        .spec
        .images
        .iter()
        .filter_map(|image| image_key(image, default_mode, existing))
        .collect();
    let mut with_manifests: HashSet<SourceKey> = isi
        .spec
        .images
        .iter()
        .filter(|image| image.include_manifest)
        .filter_map(|image| Some(image_key(image, default_mode, existing)?.0))
        .collect();
    let mut repository = None;
    if let Some(spec) = &isi.spec.repository {
        let listing = match spec.repository() {
            None => Err(Failure {
                reason: ImportReason::Invalid,
                message: "the repository does not parse".into(),
            }),
            Some(repo) => {
                let insecure = spec.import_policy.insecure;
                let listed = state.imports.list_tags(&repo, insecure, &credentials).await;
                listed.map(|tags| {
                    let (chosen, additional) = split_repository_tags(tags);
                    let mode = spec.mode(default_mode);
                    let keyed: Vec<(String, SourceKey)> = chosen
                        .into_iter()
                        .map(|tag| {
                            let mut source = repo.clone();
                            source.tag = tag.clone();
                            let key = (source.exact(), mode.clone(), insecure);
                            if spec.include_manifest {
                                with_manifests.insert(key.clone());
                            }
                            questions.push((key.clone(), source));
                            (tag, key)
                        })
                        .collect();
                    (keyed, additional)
                })
            }
        };
        repository = Some(listing);
    }
    let mut asked = HashSet::new();
    questions.retain(|(key, _)| asked.insert(key.clone()));
    let asks = questions.into_iter().map(|(key, source)| {
        let (credentials, configs) = (&credentials, with_manifests.contains(&key));
        async move {
            let (_, mode, insecure) = &key;
            let fetched = state
                .imports
                .fetch(&source, mode, *insecure, credentials, configs)
                .await;
            (key, fetched)
        }
    });
    let images = futures::stream::iter(asks)
        .buffer_unordered(SOURCES_AT_ONCE)
        .collect()
        .await;
    Answers {
        images,
        repository,
        with_manifests,
    }
}

/// Each source found as the answer shows it: its Image objects, stored when `stored`, with
/// their manifests and configs (never stored) for the sources some image wants them of.
pub(super) async fn found_images(
    state: &ApiState,
    answers: &Answers,
    stored: bool,
) -> HashMap<SourceKey, Outcome> {
    let mut found = HashMap::new();
    for (key, fetched) in &answers.images {
        let outcome = match fetched {
            Err(failure) => Err(failure.clone()),
            Ok(fetched) => {
                let mut objects = Vec::new();
                for record in &fetched.images {
                    let mut object = image_of(state, record, stored).await;
                    if answers.with_manifests.contains(key) {
                        with_manifest(&mut object, record);
                    }
                    objects.push(object);
                }
                let image = objects.remove(0);
                let manifests = match key.1 {
                    ImportMode::PreserveOriginal => objects,
                    ImportMode::Legacy(_) => Vec::new(),
                };
                Ok(Found {
                    digest: fetched.digest.clone(),
                    image,
                    manifests,
                })
            }
        };
        found.insert(key.clone(), outcome);
    }
    found
}

/// The Image object of `record`: as stored when `stored` and this import created it, else as
/// it would be, without identity. An Image of that digest stored already is not shown, as
/// OpenShift answers `AlreadyExists` with the import's own: it may have been imported from
/// another source, another namespace's, which this caller may not know of.
async fn image_of(state: &ApiState, record: &ImageRecord, stored: bool) -> Value {
    if stored {
        if let Some(created) = store_image(state.store.as_ref(), record).await {
            return created;
        }
    }
    let mut image = image_object(record, "", Timestamp::now());
    if let Some(metadata) = image["metadata"].as_object_mut() {
        metadata.remove("uid");
    }
    image
}

/// `image` with the manifest and config `record` was read with, as OpenShift's importer
/// fills `dockerImageManifest` and `dockerImageConfig`.
fn with_manifest(image: &mut Value, record: &ImageRecord) {
    image["dockerImageManifest"] = record.manifest_body.clone().into();
    if let Some(config) = &record.config_body {
        image["dockerImageConfig"] = config.clone().into();
    }
}

/// The question an image of the import asks.
pub(super) fn image_key(
    image: &isimport::ImageImportSpec,
    default_mode: &str,
    existing: Option<&ImageStream>,
) -> Option<(SourceKey, ImageRef)> {
    let source = image.source()?;
    let key = (
        source.exact(),
        image.mode(default_mode, existing),
        image.import_policy.insecure,
    );
    Some((key, source))
}
