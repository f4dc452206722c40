//! `imagelookup image-info`: one image looked up as the importer would import it (its
//! mirrors, CAs and global pull secret, `insecure` and the import mode), printed as `oc image
//! info` prints it: for checking a registry setup before a stream depends on it, and for
//! seeing why an import fails without writing a stream.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use super::registries::RegistryArgs;
use super::serve::DefaultImportMode;
use super::{fail_input, print_stdout, OutputFormat};
use crate::importer::credentials::Keyring;
use crate::importer::manifest::{Child, Content};
use crate::importer::plan::ImportMode;
use crate::importer::registry::{Fetched, ImportError, RegistryClient, Subject};
use crate::reference::ImageRef;

/// Arguments of `image-info`.
#[derive(Debug, clap::Args)]
pub struct ImageInfoArgs {
    /// The image, e.g. `quay.io/org/app:v1` or `quay.io/org/app@sha256:…`.
    pub reference: String,
    /// Reach the registry without verifying its certificate, or over plain HTTP, as a tag's
    /// `importPolicy.insecure: true` does.
    #[arg(long)]
    pub insecure: bool,
    /// `Legacy` records the linux/amd64 image of an index, `PreserveOriginal` the index.
    #[arg(long, value_enum, default_value = "Legacy")]
    pub import_mode: DefaultImportMode,
    /// How long each registry call may take, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// The registry CAs, mirrors and credentials, as `serve` takes them.
    #[command(flatten)]
    pub registries: RegistryArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Looks the image up; exit code 0 when found, 1 when the registries refused or failed (with
/// `-o json`, the failure is printed on stdout as well), 2 for bad input.
pub fn run(args: ImageInfoArgs) -> ExitCode {
    crate::tls::install_crypto_provider();
    let source = match ImageRef::parse(&args.reference) {
        Ok(source) => source,
        Err(error) => return fail_input(&format!("{:?}: {error}", args.reference)),
    };
    let reading = match args.registries.read() {
        Ok(reading) => reading,
        Err(error) => return fail_input(&format!("{error:#}")),
    };
    for note in &reading.notes {
        eprintln!("warning: {note}");
    }
    let mode = match args.import_mode {
        DefaultImportMode::Legacy => ImportMode::legacy(),
        DefaultImportMode::PreserveOriginal => ImportMode::PreserveOriginal,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let client = RegistryClient::new(timeout, reading.config.fixed());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail_input(&format!("cannot start: {error}")),
    };
    let keyring = Keyring::default();
    let fetch = client.fetch(&source, &mode, args.insecure, &keyring, false);
    match runtime.block_on(fetch) {
        Ok(fetched) => {
            let info = info(&source, &fetched);
            print_stdout(&match args.output {
                OutputFormat::Text => to_text(&info),
                OutputFormat::Json => info.to_string() + "\n",
            })
        }
        Err(error) => {
            let message = error.message_for(Subject::Lookup);
            eprintln!("error: {}: {message}", source.exact());
            if let OutputFormat::Json = args.output {
                // A write error is said on stderr; the lookup's failure is the exit code.
                let _ = print_stdout(&(failure_info(&source, &error).to_string() + "\n"));
            }
            ExitCode::from(1)
        }
    }
}

/// What was found, as JSON: what the import would record and where it came from.
fn info(source: &ImageRef, fetched: &Fetched) -> Value {
    let recorded = fetched.images.first();
    let manifests: Vec<Value> = match recorded.map(|image| &image.manifest.content) {
        Some(Content::Index { children }) => children
            .iter()
            .map(|child| {
                json!({"digest": child.digest, "mediaType": child.media_type, "os": child.os,
                       "architecture": child.architecture, "variant": child.variant})
            })
            .collect(),
        _ => Vec::new(),
    };
    let architectures = match recorded.map(|image| &image.manifest.content) {
        Some(Content::Index { children }) => platforms_of(children),
        _ => recorded
            .map(|image| image.architectures.clone())
            .unwrap_or_default(),
    };
    json!({
        "name": source.exact(),
        "digest": fetched.digest,
        "dockerImageReference": recorded.map(|image| image.reference.as_str()),
        "mediaType": recorded.map(|image| image.manifest.media_type.as_str()),
        "architectures": architectures,
        "pulledFrom": fetched.pulled_from,
        "mirror": fetched.from_mirror,
        "manifests": manifests,
    })
}

/// The architectures an index lists, each once in its order, leaving out entries that name
/// none or `unknown` (buildx's attestations).
fn platforms_of(children: &[Child]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for child in children {
        let name = &child.architecture;
        if !name.is_empty() && name != "unknown" && !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// A failed lookup, as JSON: the image, the error as text mode says it, and each place's
/// answer: the mirrors tried before the source and the source, or the source alone.
fn failure_info(source: &ImageRef, error: &ImportError) -> Value {
    let attempt = |place: &str, error: &ImportError| json!({"from": place, "error": error.message_for(Subject::Lookup)});
    let attempts: Vec<Value> = match error {
        ImportError::EverySource(attempts) => attempts
            .iter()
            .map(|(place, error)| attempt(place, error))
            .collect(),
        _ => vec![attempt(&source.exact(), error)],
    };
    json!({
        "name": source.exact(),
        "error": error.message_for(Subject::Lookup),
        "attempts": attempts,
    })
}

/// `info` as aligned lines.
fn to_text(info: &Value) -> String {
    let field = |name: &str| info[name].as_str().unwrap_or("").to_string();
    let mut pulled_from = field("pulledFrom");
    if info["mirror"] == true {
        pulled_from.push_str(" (a mirror)");
    }
    let architectures: Vec<&str> = info["architectures"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut lines = vec![
        ("Name", field("name")),
        ("Digest", field("digest")),
        ("Image", field("dockerImageReference")),
        ("Media Type", field("mediaType")),
        ("Pulled From", pulled_from),
    ];
    if !architectures.is_empty() {
        lines.push(("Architectures", architectures.join(", ")));
    }
    let mut text: String = lines
        .iter()
        .map(|(name, value)| format!("{:<15}{value}\n", format!("{name}:")))
        .collect();
    let manifests = info["manifests"].as_array().cloned().unwrap_or_default();
    if !manifests.is_empty() {
        text.push_str("Manifests:\n");
    }
    for manifest in manifests {
        let platform = [
            &manifest["os"],
            &manifest["architecture"],
            &manifest["variant"],
        ]
        .iter()
        .filter_map(|part| part.as_str().filter(|p| !p.is_empty()))
        .collect::<Vec<_>>()
        .join("/");
        let digest = manifest["digest"].as_str().unwrap_or("");
        text.push_str(&format!("  {digest}  {platform}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_output_aligns_the_fields_and_lists_an_indexs_platforms() {
        let info = json!({
            "name": "quay.io/org/app:v1", "digest": "sha256:aa",
            "dockerImageReference": "quay.io/org/app@sha256:aa",
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "architectures": [], "pulledFrom": "mirror.local/org/app:v1", "mirror": true,
            "manifests": [
                {"digest": "sha256:bb", "os": "linux", "architecture": "arm64", "variant": "v8"},
                {"digest": "sha256:cc", "os": "linux", "architecture": "amd64", "variant": ""}]});
        assert_eq!(
            to_text(&info),
            "Name:          quay.io/org/app:v1\n\
             Digest:        sha256:aa\n\
             Image:         quay.io/org/app@sha256:aa\n\
             Media Type:    application/vnd.oci.image.index.v1+json\n\
             Pulled From:   mirror.local/org/app:v1 (a mirror)\n\
             Manifests:\n  \
             sha256:bb  linux/arm64/v8\n  \
             sha256:cc  linux/amd64\n"
        );
    }

    fn child(architecture: &str) -> Child {
        Child {
            digest: format!("sha256:{architecture}"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            architecture: architecture.into(),
            os: "linux".into(),
            variant: String::new(),
        }
    }

    #[test]
    fn an_index_s_architectures_are_its_platforms_once_each_without_attestations() {
        // (the architectures the index lists, what is printed)
        let cases: [(&[&str], &[&str]); 4] = [
            (&[], &[]),
            (&["arm64", "amd64"], &["arm64", "amd64"]),
            (&["amd64", "unknown", "amd64", ""], &["amd64"]),
            (&["unknown"], &[]),
        ];
        for (listed, expected) in cases {
            let children: Vec<Child> = listed.iter().map(|a| child(a)).collect();
            assert_eq!(platforms_of(&children), expected, "{listed:?}");
        }
    }

    #[test]
    fn a_failed_lookup_in_json_names_the_image_the_error_and_each_place_s_answer() {
        let source = ImageRef::parse("quay.io/org/app:v1").unwrap();
        let alone = failure_info(&source, &ImportError::NotFound);
        assert_eq!(alone["name"], "quay.io/org/app:v1");
        assert_eq!(
            alone["error"],
            ImportError::NotFound.message_for(Subject::Lookup)
        );
        assert_eq!(
            alone["attempts"],
            json!([{"from": "quay.io/org/app:v1",
                    "error": ImportError::NotFound.message_for(Subject::Lookup)}])
        );
        let every = ImportError::EverySource(vec![
            ("mirror.local/org/app:v1".into(), ImportError::Unauthorized),
            ("quay.io/org/app:v1".into(), ImportError::NotFound),
        ]);
        let tried = failure_info(&source, &every);
        assert_eq!(tried["error"], every.message_for(Subject::Lookup));
        assert_eq!(
            tried["attempts"],
            json!([
                {"from": "mirror.local/org/app:v1",
                 "error": ImportError::Unauthorized.message_for(Subject::Lookup)},
                {"from": "quay.io/org/app:v1",
                 "error": ImportError::NotFound.message_for(Subject::Lookup)},
            ])
        );
    }
}
