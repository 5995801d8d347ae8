//! The `herald` command line: `serve`, `genconfig`, `gentoken`, `checkconfig`, `version`.
//!
//! `serve` is run by `main`; the other commands are implemented here so `main` only dispatches.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value, json};

use crate::config::{self, Config, Loaded, Validated};
use crate::jwt::JwtVerifier;

/// File read by `gentoken` and `checkconfig` when `--config` is not given, as in Centrifugo.
pub const DEFAULT_CONFIG_FILE: &str = "config.json";

/// Default `gentoken --ttl`: one week, in seconds.
pub const DEFAULT_TOKEN_TTL: i64 = 7 * 24 * 3600;

/// Herald: a real-time messaging server speaking Centrifugo's protocol, API and configuration.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without one, help is printed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Prints the top-level help (for a bare `herald`).
    pub fn print_help() -> anyhow::Result<()> {
        use clap::CommandFactory;
        Cli::command().print_help().context("printing help")?;
        println!();
        Ok(())
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Write a starting configuration file with fresh secrets.
    Genconfig(GenconfigArgs),
    /// Print an HS256 connection token for a user, signed with client.token.hmac_secret_key.
    Gentoken(GentokenArgs),
    /// Load and validate a configuration; fail on unknown keys or invalid values.
    Checkconfig(CheckconfigArgs),
    /// Print the version.
    Version,
}

/// `herald serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (.json, .yaml, .yml or .toml). Without it Herald runs the local
    /// development profile on 127.0.0.1:8000 (anonymous clients, open channels, API without key),
    /// plus HERALD_* / CENTRIFUGO_* environment variables.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Port to listen on, overriding http_server.port.
    #[arg(short, long, value_name = "N")]
    pub port: Option<u16>,
    /// Address to bind, overriding http_server.address ("" or 0.0.0.0 for all interfaces).
    #[arg(short, long, value_name = "A")]
    pub address: Option<String>,
}

impl ServeArgs {
    /// Applies `--port` / `--address` to a loaded configuration (before `validate`).
    pub fn apply_overrides(&self, config: &mut Config) {
        if let Some(port) = self.port {
            config.http_server.port = port;
        }
        if let Some(address) = &self.address {
            config.http_server.address = address.clone();
        }
    }
}

/// `herald genconfig`.
#[derive(Debug, Clone, Args)]
pub struct GenconfigArgs {
    /// File to write; it must not exist yet.
    #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG_FILE)]
    pub config: PathBuf,
}

/// `herald gentoken`.
#[derive(Debug, Clone, Args)]
pub struct GentokenArgs {
    /// User id (the `sub` claim); empty for an anonymous user.
    #[arg(short, long, value_name = "U")]
    pub user: String,
    /// Lifetime in seconds; 0 or less for a token without expiry.
    #[arg(short, long, value_name = "SECONDS", default_value_t = DEFAULT_TOKEN_TTL, allow_negative_numbers = true)]
    pub ttl: i64,
    /// Configuration file; default `config.json` if it exists, else the environment only.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only the token.
    #[arg(short, long)]
    pub quiet: bool,
    /// A channel for the `channels` claim: the connection is subscribed to it on connect (a
    /// server-side subscription, what a unidirectional client relies on). Repeat for several.
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
}

/// `herald checkconfig`.
#[derive(Debug, Clone, Args)]
pub struct CheckconfigArgs {
    /// File to check.
    #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG_FILE)]
    pub config: PathBuf,
}

/// What `serve` needs, loaded and checked.
#[derive(Debug)]
pub struct ServeConfig {
    /// Hub options and server settings.
    pub validated: Validated,
    /// Token verifier built from the configured keys.
    pub verifier: JwtVerifier,
    /// Unimplemented features in use (one line each), then unknown keys and variables, to log
    /// as warnings.
    pub warnings: Vec<String>,
}

/// Loads, overrides, validates and builds the verifier for `serve` (the sequence documented in
/// [`crate::config`]). A bad configuration fails with every problem `herald checkconfig` would
/// report except unknown keys and variables, which are only warnings here.
pub fn load_serve_config(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let mut loaded = config::load_all(args.config.as_deref(), config::process_env())?;
    args.apply_overrides(&mut loaded.config);
    let validated = fatal_problems(&mut loaded)?;
    let verifier = JwtVerifier::from_config(&validated.tokens)?;
    let mut warnings = loaded.notes();
    warnings.extend(loaded.warnings());
    Ok(ServeConfig {
        validated,
        verifier,
        warnings,
    })
}

/// Type errors ([`Loaded::errors`]) and validation errors together, or the validated settings.
fn fatal_problems(loaded: &mut Loaded) -> Result<Validated, config::ConfigError> {
    let mut problems = std::mem::take(&mut loaded.errors);
    match loaded.config.validate() {
        Ok(validated) if problems.is_empty() => return Ok(validated),
        Ok(_) => {}
        Err(err) => problems.push(err),
    }
    Err(config::ConfigError::combine(problems).expect("a problem was found"))
}

/// `herald version`: the text it prints.
pub fn version_string() -> String {
    format!("herald {}", env!("CARGO_PKG_VERSION"))
}

/// `herald genconfig`: writes [`config::default_config_file`] (in the format of the file's
/// extension), refusing to overwrite.
pub fn run_genconfig(args: &GenconfigArgs) -> anyhow::Result<()> {
    let Some(format) = config::Format::from_path(&args.config) else {
        bail!(
            "{}: use a .json, .yaml, .yml or .toml file name",
            args.config.display()
        );
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.config)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist)",
                args.config.display()
            )
        })?;
    file.write_all(config::default_config_file_in(format).as_bytes())
        .with_context(|| format!("writing {}", args.config.display()))?;
    println!("configuration written to {}", args.config.display());
    Ok(())
}

/// `herald gentoken`: prints a token for `--user`.
pub fn run_gentoken(args: &GentokenArgs) -> anyhow::Result<()> {
    let path = match &args.config {
        Some(path) => Some(path.as_path()),
        None => Some(Path::new(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
    };
    let loaded = config::load(path, config::process_env())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    let now = i64::try_from(now).context("system clock out of range")?;
    let token = generate_token(&loaded.config, &args.user, &args.channels, args.ttl, now)?;
    if args.quiet {
        print!("{token}");
    } else {
        let who = if args.user.is_empty() {
            "anonymous user".to_owned()
        } else {
            format!("user \"{}\"", args.user)
        };
        let expiry = if args.ttl > 0 {
            format!("with expiration TTL {}s", args.ttl)
        } else {
            "without expiration".to_owned()
        };
        println!("HMAC SHA-256 JWT for {who} {expiry}:\n{token}");
    }
    Ok(())
}

/// An HS256 connection token as Centrifugo's `gentoken` builds it: `sub`, `iat`, `exp` when
/// `ttl > 0`, and the configured `user_id_claim` set to the user too; `channels` when given.
pub fn generate_token(
    config: &Config,
    user: &str,
    channels: &[String],
    ttl: i64,
    now: i64,
) -> anyhow::Result<String> {
    let token = &config.client.token;
    if token.hmac_secret_key.is_empty() {
        bail!(
            "no HMAC secret configured (client.token.hmac_secret_key): gentoken only signs HS256 \
             tokens; with RSA or ECDSA keys, sign tokens with your own tooling"
        );
    }
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), json!(user));
    claims.insert("iat".to_owned(), json!(now));
    if ttl > 0 {
        claims.insert("exp".to_owned(), json!(now.saturating_add(ttl)));
    }
    if !token.user_id_claim.is_empty() {
        claims.insert(token.user_id_claim.clone(), json!(user));
    }
    if !channels.is_empty() {
        claims.insert("channels".to_owned(), json!(channels));
    }
    let key = jsonwebtoken::EncodingKey::from_secret(token.hmac_secret_key.as_bytes())
        .context("reading the HMAC secret")?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &Value::Object(claims),
        &key,
    )
    .context("signing the token")
}

/// `herald checkconfig`: prints every problem and fails if there is any.
pub fn run_checkconfig(args: &CheckconfigArgs) -> anyhow::Result<()> {
    let (problems, notes) = check_config_with_notes(&args.config, config::process_env());
    for note in &notes {
        eprintln!("note: {note}");
    }
    if problems.is_empty() {
        println!("{}: configuration is valid", args.config.display());
        return Ok(());
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    bail!(
        "{}: {} problem(s) found",
        args.config.display(),
        problems.len()
    )
}

/// Every problem of the configuration at `path` with `env` applied, one line each, each naming
/// its key or variable: values of the wrong type, unknown keys and variables, invalid values and
/// keys. Only a file that cannot be read or parsed stops the check early.
pub fn check_config(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    check_config_with_notes(path, env).0
}

/// [`check_config`]'s problems, and one note per Centrifugo feature the file uses that Herald
/// does not implement yet ([`Loaded::notes`]). Notes are not problems: such a file is valid,
/// and clients that use those features are refused with Centrifugo's codes.
pub fn check_config_with_notes(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> (Vec<String>, Vec<String>) {
    let loaded: Loaded = match config::load_all(Some(path), env) {
        Ok(loaded) => loaded,
        Err(err) => return (vec![err.to_string()], Vec::new()),
    };
    let notes = loaded.notes();
    let mut problems: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    problems.extend(loaded.warnings());
    // Keys of the wrong type were read as their defaults, so the rest still validates.
    match loaded.config.validate() {
        Ok(validated) => {
            if let Err(err) = JwtVerifier::from_config(&validated.tokens) {
                problems.extend(err.problems().iter().map(ToString::to_string));
            }
        }
        Err(err) => problems.extend(err.problems().iter().map(ToString::to_string)),
    }
    (problems, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, load_str};
    use herald_hub::TokenVerifier;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("herald-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn parses_subcommands() {
        let cli = Cli::try_parse_from(["herald", "serve", "-c", "c.yaml", "--port", "9000"])
            .expect("parses");
        match cli.command {
            Some(Command::Serve(args)) => {
                assert_eq!(args.config.as_deref(), Some(Path::new("c.yaml")));
                assert_eq!(args.port, Some(9000));
                assert_eq!(args.address, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from(["herald", "gentoken", "--user", "42"]).expect("parses");
        match cli.command {
            Some(Command::Gentoken(args)) => {
                assert_eq!(args.user, "42");
                assert_eq!(args.ttl, DEFAULT_TOKEN_TTL);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli =
            Cli::try_parse_from(["herald", "gentoken", "-u", "1", "-t", "-1"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::Gentoken(GentokenArgs { ttl: -1, .. }))
        ));
        assert!(
            Cli::try_parse_from(["herald", "gentoken"]).is_err(),
            "--user is required"
        );
        let cli = Cli::try_parse_from(["herald"]).expect("parses");
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["herald", "checkconfig"]).expect("parses");
        assert!(
            matches!(cli.command, Some(Command::Checkconfig(a)) if a.config == Path::new("config.json"))
        );
        assert!(matches!(
            Cli::try_parse_from(["herald", "version"])
                .expect("parses")
                .command,
            Some(Command::Version)
        ));
    }

    #[test]
    fn serve_overrides() {
        let mut config = Config::default();
        ServeArgs {
            config: None,
            port: Some(1234),
            address: Some("0.0.0.0".to_owned()),
        }
        .apply_overrides(&mut config);
        assert_eq!(config.http_server.port, 1234);
        assert_eq!(config.http_server.address, "0.0.0.0");
    }

    #[test]
    fn generated_token_verifies() {
        let loaded = load_str(
            r#"{"client": {"token": {"hmac_secret_key": "s", "user_id_claim": "uid"}}}"#,
            Format::Json,
            Vec::new(),
        )
        .expect("loads");
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_secs(),
        )
        .expect("fits");
        let token = generate_token(&loaded.config, "42", &[], 3600, now).expect("signs");
        let validated = loaded.config.validate().expect("validates");
        let verifier = JwtVerifier::from_config(&validated.tokens).expect("builds");
        let claims = verifier.verify_connect_token(&token).expect("valid");
        assert_eq!(claims.user, "42");
        assert_eq!(claims.expire_at, Some(now + 3600));

        let forever =
            generate_token(&loaded.config, "", &["news".to_owned()], 0, now).expect("signs");
        let claims = verifier.verify_connect_token(&forever).expect("valid");
        assert_eq!(claims.expire_at, None);
        assert_eq!(claims.channels, vec!["news".to_owned()]);

        let err = generate_token(&Config::default(), "1", &[], 60, now).expect_err("no secret");
        assert!(
            err.to_string().contains("client.token.hmac_secret_key"),
            "{err}"
        );
    }

    /// A configuration with one unknown key, type errors in two sections and one invalid value.
    const FOUR_PROBLEMS: &str = r#"{
        "client": {"ping_interval": 25, "token": {"hmac_secret_key": "s"}},
        "http_server": {"port": "eight thousand"},
        "channel": {"namespaces": [{"name": "chat"}, {"name": "news", "histroy_size": 10}]},
        "log": {"level": "loud"}
    }"#;

    #[test]
    fn checkconfig_reports_every_problem_at_once() {
        let dir = temp_dir("four");
        let path = dir.join("config.json");
        std::fs::write(&path, FOUR_PROBLEMS).expect("write");
        let problems = check_config(&path, Vec::new());
        let expected = [
            "client.ping_interval: bare number 25 is not a duration",
            "http_server.port: invalid type: string \"eight thousand\", expected u16",
            "unknown configuration key channel.namespaces[1].histroy_size (ignored)",
            "log.level: unknown level \"loud\"",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(
                problem.starts_with(start),
                "{problem:?} should start with {start:?}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn serve_refuses_with_the_same_messages() {
        let dir = temp_dir("serve");
        let path = dir.join("config.json");
        std::fs::write(&path, FOUR_PROBLEMS).expect("write");
        let err = load_serve_config(&ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .expect_err("bad config");
        let fatal: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
        let mut reported = check_config(&path, Vec::new());
        reported.retain(|p| !p.starts_with("unknown configuration key"));
        assert_eq!(fatal, reported);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn genconfig_then_checkconfig() {
        let dir = temp_dir("gen");
        let path = dir.join("config.json");
        std::fs::remove_file(&path).ok();
        run_genconfig(&GenconfigArgs {
            config: path.clone(),
        })
        .expect("writes");
        let err = run_genconfig(&GenconfigArgs {
            config: path.clone(),
        })
        .expect_err("refuses to overwrite");
        assert!(err.to_string().contains("must not exist"), "{err}");
        assert!(check_config(&path, Vec::new()).is_empty());

        let bad = dir.join("bad.json");
        std::fs::write(
            &bad,
            r#"{"client": {"tokne": {}, "ping_interval": "1s"}, "engine": {"type": "cassandra"},
                "channel": {"namespaces": [{"name": "x"}]}}"#,
        )
        .expect("write");
        let problems = check_config(&bad, vec![("HERALD_NOPE".to_owned(), "1".to_owned())]);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("client.tokne")));
        assert!(problems.iter().any(|p| p.contains("HERALD_NOPE")));
        assert!(problems.iter().any(|p| p.contains("engine.type")));
        assert!(problems.iter().any(|p| p.contains("client.pong_timeout")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("channel.namespaces[0].name"))
        );

        let pem = dir.join("pem.yaml");
        std::fs::write(
            &pem,
            "client:\n  token:\n    rsa_public_key: nope\n  subscription_token:\n    \
             enabled: true\n    ecdsa_public_key: nope\n",
        )
        .expect("write");
        let problems = check_config(&pem, Vec::new());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("client.token.rsa_public_key"));
        assert!(problems[1].starts_with("client.subscription_token.ecdsa_public_key"));

        std::fs::write(&pem, "client:\n  token:\n    rsa_public_key: nope\n").expect("write");
        let problems = check_config(&pem, Vec::new());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("client.token.rsa_public_key"));

        assert_eq!(check_config(&dir.join("missing.json"), Vec::new()).len(), 1);
        let yaml = dir.join("c.yaml");
        run_genconfig(&GenconfigArgs {
            config: yaml.clone(),
        })
        .expect("writes yaml");
        assert!(check_config(&yaml, Vec::new()).is_empty());
        let err = run_genconfig(&GenconfigArgs {
            config: dir.join("c.ini"),
        })
        .expect_err("unknown format");
        assert!(err.to_string().contains(".toml"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
