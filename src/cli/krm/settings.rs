//! The settings of `resolve` a config object can carry: a `ResolveImages` object (`--config`,
//! a kustomize transformer's config, a KRM function's `functionConfig`) or a `ConfigMap` (what
//! `kpt fn eval … -- key=value` passes).

use serde_json::{Map, Value};

use crate::apiserver::unknown_fields::{self, FieldProblem};

/// The apiVersion of the `ResolveImages` config kind.
pub const CONFIG_API_VERSION: &str = "imagelookup.io/v1alpha1";

/// The config kind `resolve` reads its settings from.
pub const CONFIG_KIND: &str = "ResolveImages";

/// The keys a config may set, as written in it.
const KEYS: [&str; 4] = ["namespace", "imagestreams", "policy", "registryHostname"];

/// What `resolve` needs besides the manifests; `None` where a source leaves a setting alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The namespace of objects and streams that name none (`-n`).
    pub namespace: Option<Setting>,
    /// The ImageStreams file (`--imagestreams`).
    pub imagestreams: Option<Setting>,
    /// The ImagePolicyConfig file (`--policy`).
    pub policy: Option<Setting>,
    /// The integrated registry's host name (`--registry-hostname`).
    pub registry_hostname: Option<Setting>,
}

/// One setting's value and where it was given, to name both places when two disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The value.
    pub value: String,
    /// Where it was given: a flag, or a config's source.
    pub source: String,
}

impl Setting {
    /// `value`, given by `source`.
    pub fn new(value: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            source: source.into(),
        }
    }
}

/// The value of a setting, if set.
pub fn value(setting: &Option<Setting>) -> Option<&str> {
    setting.as_ref().map(|setting| setting.value.as_str())
}

/// Why a config could not be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The object is neither a `ResolveImages` nor a `ConfigMap`.
    #[error("{source_name}: the config is a {kind} of {api_version:?}; write a {CONFIG_KIND} of {CONFIG_API_VERSION:?} (settings under spec) or a ConfigMap (settings under data)")]
    NotAConfig {
        /// Where the config came from.
        source_name: String,
        /// Its kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// `spec` or `data` is not a mapping.
    #[error("{source_name}: {field} must be a mapping of settings")]
    NotAMapping {
        /// Where the config came from.
        source_name: String,
        /// `spec` or `data`.
        field: &'static str,
    },
    /// A key this command does not know (a typo would otherwise be ignored).
    #[error("{source_name}: unknown setting {key:?}; the settings are namespace, imagestreams, policy and registryHostname")]
    UnknownKey {
        /// Where the config came from.
        source_name: String,
        /// The key.
        key: String,
    },
    /// A setting whose value is not a string.
    #[error("{source_name}: {key} must be a string")]
    NotAString {
        /// Where the config came from.
        source_name: String,
        /// The key.
        key: String,
    },
    /// A setting naming a file names none.
    #[error("{key} is empty (given by {source_name}); name the file, or leave the setting out")]
    EmptyFile {
        /// The key, as a config writes it.
        key: &'static str,
        /// Where the empty value was given.
        source_name: String,
    },
    /// A key written twice in one config: YAML keeps the last, which would hide the first.
    #[error("{source_name}: {key} is written twice; keep one")]
    Duplicate {
        /// Where the config came from.
        source_name: String,
        /// The key.
        key: String,
    },
    /// Two sources set the same setting.
    #[error("{key} is set both by {first} and by {second}; set it in one place")]
    Conflict {
        /// The key, as a config writes it.
        key: &'static str,
        /// Where the first value was given.
        first: String,
        /// Where the second value was given.
        second: String,
    },
}

impl Settings {
    /// The settings a config object carries; `source_name` names it in errors. An empty object
    /// (a KRM orchestrator passing no `functionConfig`) sets nothing.
    pub fn from_config(config: &Value, source_name: &str) -> Result<Self, ConfigError> {
        let text = |field: &str| config.get(field).and_then(Value::as_str).unwrap_or("");
        let field = match (text("apiVersion"), text("kind")) {
            ("", "") if config.as_object().is_some_and(Map::is_empty) || config.is_null() => {
                return Ok(Self::default());
            }
            (CONFIG_API_VERSION, CONFIG_KIND) => "spec",
            ("v1", "ConfigMap") => "data",
            (api_version, kind) => {
                return Err(ConfigError::NotAConfig {
                    source_name: source_name.to_string(),
                    kind: kind.to_string(),
                    api_version: api_version.to_string(),
                })
            }
        };
        let settings = match config.get(field) {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(settings)) => settings,
            Some(_) => {
                return Err(ConfigError::NotAMapping {
                    source_name: source_name.to_string(),
                    field,
                })
            }
        };
        let mut read = Self::default();
        for (key, value) in settings {
            let Some(slot) = read.slot(key) else {
                return Err(ConfigError::UnknownKey {
                    source_name: source_name.to_string(),
                    key: key.clone(),
                });
            };
            let Some(value) = value.as_str() else {
                return Err(ConfigError::NotAString {
                    source_name: source_name.to_string(),
                    key: key.clone(),
                });
            };
            *slot = Some(Setting::new(value, source_name));
        }
        Ok(read)
    }

    /// These settings with those of `other` added; a setting both set is an error naming
    /// both places, rather than one silently winning.
    pub fn combine(mut self, mut other: Settings) -> Result<Self, ConfigError> {
        for key in KEYS {
            let (Some(mine), Some(theirs)) = (self.slot(key), other.slot(key)) else {
                continue;
            };
            match (mine.as_ref(), theirs.take()) {
                (Some(first), Some(second)) => {
                    return Err(ConfigError::Conflict {
                        key,
                        first: first.source.clone(),
                        second: second.source,
                    })
                }
                (None, given) => *mine = given,
                (Some(_), None) => {}
            }
        }
        Ok(self)
    }

    /// Refuses a file setting that names no file (`imagestreams: ""` would read as "cannot
    /// read ").
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let files = [
            ("imagestreams", &self.imagestreams),
            ("policy", &self.policy),
        ];
        for (key, setting) in files {
            if let Some(empty) = setting.as_ref().filter(|s| s.value.trim().is_empty()) {
                return Err(ConfigError::EmptyFile {
                    key,
                    source_name: empty.source.clone(),
                });
            }
        }
        Ok(())
    }

    /// The setting a config key names.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Setting>> {
        match key {
            "namespace" => Some(&mut self.namespace),
            "imagestreams" => Some(&mut self.imagestreams),
            "policy" => Some(&mut self.policy),
            "registryHostname" => Some(&mut self.registry_hostname),
            _ => None,
        }
    }
}

/// Refuses a setting written twice in the config at `at` (`spec` or `data`, under the path a
/// ResourceList nests it in) of `raw`, the text the config was read from, and the config or
/// its `spec`/`data` written twice: the parsed config keeps only the last of each.
pub fn check_duplicates(raw: &str, at: &[&str], source_name: &str) -> Result<(), ConfigError> {
    let problems = match crate::manifest::detect_format(raw) {
        crate::manifest::Format::Json => unknown_fields::check_json(raw.as_bytes(), None).ok(),
        crate::manifest::Format::Yaml => {
            unknown_fields::yaml_stream_duplicates(raw.as_bytes()).ok()
        }
    };
    for problem in problems.unwrap_or_default() {
        let FieldProblem::Duplicate(path) = problem else {
            continue;
        };
        if let Some(key) = at.iter().find_map(|settings| settings_key(&path, settings)) {
            return Err(ConfigError::Duplicate {
                source_name: source_name.to_string(),
                key: key.to_string(),
            });
        }
    }
    Ok(())
}

/// The key `path` names if it is the settings mapping `settings`, one of the mappings holding
/// it (`functionConfig`), or one setting in it.
fn settings_key<'p>(path: &'p str, settings: &str) -> Option<&'p str> {
    let holds = settings == path || settings.starts_with(&format!("{path}."));
    if holds {
        return Some(path);
    }
    let key = path.strip_prefix(settings)?.strip_prefix('.')?;
    (!key.contains('.')).then_some(key)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(config: Value, expected: Result<Settings, &str>) {
        let read = Settings::from_config(&config, "fn.yaml").map_err(|e| e.to_string());
        assert_eq!(read, expected.map_err(str::to_string), "{config}");
    }

    fn settings(namespace: &str, imagestreams: &str, source: &str) -> Settings {
        Settings {
            namespace: Some(Setting::new(namespace, source)),
            imagestreams: Some(Setting::new(imagestreams, source)),
            ..Settings::default()
        }
    }

    #[test]
    fn a_resolve_images_object_sets_what_its_spec_names() {
        let config = json!({"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND,
            "metadata": {"name": "pin"},
            "spec": {"namespace": "demo", "imagestreams": "streams.yaml"}});
        check(config, Ok(settings("demo", "streams.yaml", "fn.yaml")));
        let every = json!({"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND,
            "spec": {"policy": "p.yaml", "registryHostname": "r:5000"}});
        let expected = Settings {
            policy: Some(Setting::new("p.yaml", "fn.yaml")),
            registry_hostname: Some(Setting::new("r:5000", "fn.yaml")),
            ..Settings::default()
        };
        check(every, Ok(expected));
    }

    #[test]
    fn a_config_map_sets_what_its_data_names_as_kpt_passes_key_value_arguments() {
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "function-input"},
            "data": {"namespace": "demo", "imagestreams": "streams.yaml"}});
        check(config, Ok(settings("demo", "streams.yaml", "fn.yaml")));
    }

    #[test]
    fn no_config_and_an_empty_spec_set_nothing() {
        check(json!({}), Ok(Settings::default()));
        check(Value::Null, Ok(Settings::default()));
        let bare = json!({"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND});
        check(bare, Ok(Settings::default()));
    }

    #[test]
    fn a_config_of_another_kind_a_typo_or_a_number_is_refused_by_name() {
        check(
            json!({"apiVersion": "v1", "kind": "Secret", "data": {}}),
            Err("fn.yaml: the config is a Secret of \"v1\"; write a ResolveImages of \"imagelookup.io/v1alpha1\" (settings under spec) or a ConfigMap (settings under data)"),
        );
        check(
            json!({"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND, "spec": {"namespce": "x"}}),
            Err("fn.yaml: unknown setting \"namespce\"; the settings are namespace, imagestreams, policy and registryHostname"),
        );
        check(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"namespace": 7}}),
            Err("fn.yaml: namespace must be a string"),
        );
        check(
            json!({"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND, "spec": ["namespace"]}),
            Err("fn.yaml: spec must be a mapping of settings"),
        );
    }

    #[test]
    fn a_setting_written_twice_in_one_config_is_refused() {
        let twice = "apiVersion: imagelookup.io/v1alpha1\nkind: ResolveImages\nspec:\n  namespace: a\n  namespace: b\n";
        assert_eq!(
            check_duplicates(twice, &["spec", "data"], "pin.yaml").map_err(|e| e.to_string()),
            Err("pin.yaml: namespace is written twice; keep one".to_string())
        );
        let nested = "kind: ResourceList\nitems:\n- {kind: Pod, metadata: {name: a, name: b}}\nfunctionConfig:\n  data: {policy: p, imagestreams: s}\n";
        let at = ["functionConfig.spec", "functionConfig.data"];
        assert_eq!(
            check_duplicates(nested, &at, "list"),
            Ok(()),
            "items are not settings"
        );
        let json = r#"{"kind": "ResourceList", "functionConfig": {"data": {"policy": "p", "policy": "q"}}}"#;
        assert!(check_duplicates(json, &at, "list").is_err());
        let two_specs = "kind: ResolveImages\nspec: {namespace: a}\nspec: {namespace: b}\n---\n";
        assert_eq!(
            check_duplicates(two_specs, &["spec", "data"], "pin.yaml").map_err(|e| e.to_string()),
            Err("pin.yaml: spec is written twice; keep one".to_string()),
            "the mapping itself, and a trailing separator"
        );
        let two_configs = "kind: ResourceList\nfunctionConfig: {}\nfunctionConfig: {}\n";
        assert!(check_duplicates(two_configs, &at, "list").is_err());
    }

    #[test]
    fn a_file_setting_that_names_no_file_is_refused_naming_where_it_was_given() {
        let empty = Settings {
            imagestreams: Some(Setting::new("", "the ResourceList's functionConfig")),
            ..Settings::default()
        };
        assert_eq!(
            empty.check_files().unwrap_err().to_string(),
            "imagestreams is empty (given by the ResourceList's functionConfig); name the file, or leave the setting out"
        );
        assert_eq!(settings("demo", "s.yaml", "-n").check_files(), Ok(()));
    }

    #[test]
    fn combining_adds_settings_and_refuses_one_set_twice_naming_both_places() {
        let flags = Settings {
            namespace: Some(Setting::new("demo", "-n")),
            ..Settings::default()
        };
        let config = Settings {
            imagestreams: Some(Setting::new("s.yaml", "--config c.yaml")),
            ..Settings::default()
        };
        let combined = flags.clone().combine(config).unwrap();
        assert_eq!(value(&combined.namespace), Some("demo"));
        assert_eq!(value(&combined.imagestreams), Some("s.yaml"));
        let twice = flags.combine(settings("other", "s.yaml", "--config c.yaml"));
        assert_eq!(
            twice.unwrap_err().to_string(),
            "namespace is set both by -n and by --config c.yaml; set it in one place"
        );
    }
}
