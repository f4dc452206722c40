//! `imagelookup resolve` as a command: the manifests and settings read (flags, `--config`, a
//! ResourceList's `functionConfig`), the streams and policy loaded, the outcome reported on
//! stderr and written to stdout. The resolving itself is `super::resolve`'s, and pure.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::{fail_input, krm, load_streams, print_stdout, resolve_documents, Context};
use super::{Finding, Outcome, ResolveArgs};
use crate::api::policy::ImagePolicyConfig;
use crate::manifest::{self, Documents, ManifestError, Position, RenderError, Rendered};
use crate::resolve::Index;

/// Runs `resolve`: reads the manifests and settings, resolves, writes the result (a KRM
/// `ResourceList` with its results), and returns the exit code.
pub(super) fn run(args: ResolveArgs) -> ExitCode {
    let filename = match &args.filename {
        Some(filename) => filename.as_str(),
        // A filter started by hand would wait for input nobody is going to type.
        None if std::io::stdin().is_terminal() => {
            return fail_input(&"no manifests: give -f FILE, or pipe them in");
        }
        None => "-",
    };
    let given = args.settings();
    if let Err(error) = one_stdin_reader(filename, args.config.as_deref(), &given) {
        return fail_input(&error);
    }
    let text = match manifest::read_text(filename) {
        Ok(text) => text,
        Err(error) => return fail_input(&error),
    };
    let runs = match manifest::detect_format(&text) {
        manifest::Format::Yaml => manifest::runs::split(&text, manifest::runs::DOCUMENTS_PER_RUN),
        manifest::Format::Json => vec![text.as_str()],
    };
    let documents = match runs.as_slice() {
        [_] => manifest::parse(&text, filename),
        _ => manifest::parse_yaml_run(runs[0], filename, Position::default())
            .map_err(|in_run| whole_text_error(&text, filename, in_run)),
    };
    let documents = match documents.and_then(|documents| as_written(documents, &text, filename)) {
        Ok(documents) => documents,
        Err(error) => return fail_input(&error),
    };
    // A ResourceList is one document: a stream of several runs is none.
    let resource_list = krm::resource_list(&documents)
        .filter(|_| runs.len() == 1)
        .map(|list| (list, text.as_str()));
    let settings = resolve_settings(&args, resource_list)
        .and_then(|settings| one_stdin_reader(filename, None, &settings).map(|()| settings));
    let settings = match settings {
        Ok(settings) => settings,
        Err(error) => return fail_input(&error),
    };
    // An empty namespace (`-n ""`, kpt's `namespace=`) is none given, as kubectl reads it.
    let namespace = krm::value(&settings.namespace)
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE);
    let registry_hostname = krm::value(&settings.registry_hostname).unwrap_or("");
    let imagestreams = krm::value(&settings.imagestreams);
    let loaded = load_streams(imagestreams, registry_hostname, namespace)
        .map_err(|e| e.to_string())
        .and_then(|streams| Ok((streams, load_policy(krm::value(&settings.policy))?)));
    let ((config, index), policy) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return fail_input(&error),
    };
    let context = Context {
        policy: &policy,
        config: &config,
        index: &index,
        default_namespace: namespace,
    };
    // Rules that can never rewrite anything first: they explain unchanged objects.
    let mut notices = crate::api::policy::warnings(&policy);
    notices.extend(streams_notice(imagestreams, &index));
    let notices: Vec<&str> = notices.iter().map(String::as_str).collect();
    if resource_list.is_some() {
        let outcome = resolve_documents(&documents, &context);
        report(&outcome, &notices);
        // A KRM function answers even a rejection with its list, whose results say why.
        let results = krm::results(&outcome.findings, &notices);
        let rendered = krm::render(&documents, &outcome.patches, results);
        return finish(&outcome, rendered);
    }
    let (outcome, rendered) = match resolve_runs(documents, &runs, &text, filename, &context) {
        Ok(resolved) => resolved,
        Err(error) => return fail_input(&error),
    };
    report(&outcome, &notices);
    if outcome.rejected() {
        return ExitCode::from(1);
    }
    finish(&outcome, rendered)
}

/// Resolves and writes back `text`, cut into `runs` (see [`manifest::runs`]), run by run, the
/// first already read as `first`: only one run's documents are held at a time. Stops at the
/// first run that cannot be written back; a run that cannot be read fails the whole, with the
/// error the whole text gives (its line numbers count from the stream's start).
fn resolve_runs(
    first: Documents,
    runs: &[&str],
    text: &str,
    filename: &str,
    context: &Context<'_>,
) -> Result<(Outcome, Result<Rendered, RenderError>), ManifestError> {
    let mut outcome = Outcome::default();
    let mut written = Rendered::default();
    let mut documents = first;
    let mut rest = runs.iter().skip(1);
    loop {
        let resolved = resolve_documents(&documents, context);
        // Only warnings and rejections are reported outside a ResourceList: the rewrites
        // (a few hundred bytes each) are not kept.
        let reported = resolved
            .findings
            .into_iter()
            .filter(|finding| !matches!(finding, Finding::Rewritten(..)));
        outcome.findings.extend(reported);
        match manifest::render(&documents, &resolved.patches) {
            Ok(rendered) => {
                written.text.push_str(&rendered.text);
                written.reformatted.extend(rendered.reformatted);
            }
            Err(error) => return Ok((outcome, Err(error))),
        }
        let Some(run) = rest.next() else {
            return Ok((outcome, Ok(written)));
        };
        documents = match manifest::parse_yaml_run(run, filename, documents.end()) {
            Ok(next) => next,
            Err(in_run) => return Err(whole_text_error(text, filename, in_run)),
        };
    }
}

/// The error reading the whole of `text` gives, for a run of it that could not be read: its
/// positions count from the stream's start, and it is what a stream read whole always said.
/// Read whole only on this path; a run's own error if the whole reads after all.
fn whole_text_error(text: &str, filename: &str, in_run: ManifestError) -> ManifestError {
    manifest::parse(text, filename).err().unwrap_or(in_run)
}

/// Writes what was rendered (its reformatting notices on stderr), or why it could not be;
/// exits 1 when an object was rejected.
fn finish<E: std::fmt::Display>(outcome: &Outcome, rendered: Result<Rendered, E>) -> ExitCode {
    let printed = match rendered {
        Ok(rendered) => {
            for notice in &rendered.reformatted {
                eprintln!("warning: {notice}");
            }
            print_stdout(&rendered.text)
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    match outcome.rejected() {
        true => ExitCode::from(1),
        false => printed,
    }
}

/// Why nothing can resolve, when no stream was given or the file holds none (an export from the
/// wrong context, an empty `List`): every reference then stays as written.
fn streams_notice(imagestreams: Option<&str>, index: &Index) -> Option<String> {
    match imagestreams {
        None => Some(
            "no imagestreams were given, so no reference can resolve: name the ImageStreams \
             file with --imagestreams, or imagestreams in the config"
                .to_string(),
        ),
        Some(path) if index.is_empty() => Some(format!(
            "{path} holds no ImageStream, so no reference can resolve: check the file (an \
             export of the right cluster and namespace: kubectl get is -n NAMESPACE -o yaml)"
        )),
        Some(_) => None,
    }
}

/// Writes the warnings and rejections to stderr, one line each.
fn report(outcome: &Outcome, notices: &[&str]) {
    for notice in notices {
        eprintln!("warning: {notice}");
    }
    for warning in outcome.warnings() {
        eprintln!("warning: {warning}");
    }
    for rejection in outcome.rejections() {
        eprintln!("error: {rejection}");
    }
}

/// Refuses settings that read standard input twice: the first reader takes all of it and the
/// others read nothing (an empty ImageStreams file pins nothing, and only warns).
fn one_stdin_reader(
    manifests: &str,
    config: Option<&str>,
    settings: &krm::Settings,
) -> Result<(), String> {
    let mut readers = Vec::new();
    if manifests == "-" {
        readers.push("the manifests (-f -, or none given)".to_string());
    }
    if config == Some("-") {
        readers.push("--config -".to_string());
    }
    for setting in [&settings.imagestreams, &settings.policy]
        .into_iter()
        .flatten()
    {
        if setting.value == "-" {
            readers.push(format!("{} -", setting.source));
        }
    }
    match readers.len() {
        0 | 1 => Ok(()),
        _ => Err(format!(
            "standard input would be read by {}: only one of them can read it; give the others \
             as files",
            readers.join(" and ")
        )),
    }
}

/// The namespace of objects and streams that name none, when nothing sets it.
const DEFAULT_NAMESPACE: &str = "default";

/// `documents`, read from `text` again as kustomize and kpt read it when they are a YAML
/// `ResourceList` (YAML 1.2: a plain `on` in an item is a string there, a boolean to kubectl).
fn as_written(
    documents: Documents,
    text: &str,
    filename: &str,
) -> Result<Documents, ManifestError> {
    match (documents.format, krm::resource_list(&documents)) {
        (manifest::Format::Yaml, Some(_)) => manifest::parse_resource_list(text, filename),
        _ => Ok(documents),
    }
}

/// The settings of the command line, `--config` and a ResourceList's `functionConfig` (with the
/// text the list was read from) together; one setting given by two of them is an error.
fn resolve_settings(
    args: &ResolveArgs,
    resource_list: Option<(&serde_json::Value, &str)>,
) -> Result<krm::Settings, String> {
    let mut settings = args.settings();
    if let Some(path) = &args.config {
        let text = manifest::read_text(path).map_err(|e| e.to_string())?;
        let documents = manifest::parse(&text, path).map_err(|e| e.to_string())?;
        let [config] = documents.items.as_slice() else {
            return Err(format!("{path}: the config must be one document"));
        };
        let source = format!("--config {path}");
        krm::check_duplicates(&text, &["spec", "data"], &source).map_err(|e| e.to_string())?;
        let read = krm::Settings::from_config(config, &source).map_err(|e| e.to_string())?;
        settings = settings.combine(read).map_err(|e| e.to_string())?;
    }
    if let Some((list, text)) = resource_list {
        let at = ["functionConfig.spec", "functionConfig.data"];
        let source = krm::FUNCTION_CONFIG;
        krm::check_duplicates(text, &at, source).map_err(|e| e.to_string())?;
        let read = krm::function_config_settings(list).map_err(|e| e.to_string())?;
        settings = settings.combine(read).map_err(|e| e.to_string())?;
    }
    settings.check_files().map_err(|e| e.to_string())?;
    if let Some(setting) = &settings.registry_hostname {
        super::check_registry_hostname(&setting.value)
            .map_err(|why| format!("{}: {why}", setting.source))?;
    }
    Ok(settings)
}

/// Reads an ImagePolicyConfig file, or OpenShift's defaults without one.
fn load_policy(path: Option<&str>) -> Result<ImagePolicyConfig, String> {
    let Some(path) = path else {
        return Ok(ImagePolicyConfig::default());
    };
    let text = manifest::read_text(path).map_err(|e| e.to_string())?;
    ImagePolicyConfig::from_yaml(&text).map_err(|e| format!("{path}: {e}"))
}
