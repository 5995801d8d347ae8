//! Everything that can be wrong with a configuration, each naming the file, variable or key.

use std::path::PathBuf;

/// Why a configuration could not be loaded or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's extension is not one Herald reads.
    #[error(
        "config file {}: unsupported format (use a .json, .yaml, .yml or .toml file)",
        path.display()
    )]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid JSON, YAML or TOML, or its top level is not an object.
    #[error("config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An environment override could not be applied.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable, e.g. `HERALD_CLIENT_CONCURRENCY`.
        var: String,
        /// What is wrong with its value.
        message: String,
    },
    /// A key has a value of the wrong type or an invalid value.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key path, e.g. `client.ping_interval` or `channel.namespaces[1].history_ttl`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A Centrifugo feature that Herald recognises but does not implement yet.
    #[error("{key} {value} is not supported yet")]
    Unsupported {
        /// Dotted key path, e.g. `engine.type`.
        key: String,
        /// The refused value, e.g. `redis`.
        value: String,
    },
    /// Several problems found in one pass; each is listed on its own line.
    #[error("{}", list(.0))]
    Multiple(Vec<ConfigError>),
}

fn list(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The individual problems: the list of a [`ConfigError::Multiple`], else just this one.
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            Self::Multiple(errors) => errors.iter().collect(),
            other => vec![other],
        }
    }

    /// Like [`ConfigError::problems`], by value.
    pub fn into_problems(self) -> Vec<ConfigError> {
        match self {
            Self::Multiple(errors) => errors,
            other => vec![other],
        }
    }

    /// `Ok` for no problems, else the error [`ConfigError::combine`] makes of them.
    pub fn check(problems: Vec<ConfigError>) -> Result<(), ConfigError> {
        Self::combine(problems).map_or(Ok(()), Err)
    }

    /// `None` for no problems, the problem itself for one, else [`ConfigError::Multiple`]
    /// (flat: a `Multiple` among `problems` contributes its own list).
    pub fn combine(problems: Vec<ConfigError>) -> Option<ConfigError> {
        let mut flat: Vec<ConfigError> = problems
            .into_iter()
            .flat_map(ConfigError::into_problems)
            .collect();
        match flat.len() {
            0 => None,
            1 => Some(flat.remove(0)),
            _ => Some(Self::Multiple(flat)),
        }
    }
}
