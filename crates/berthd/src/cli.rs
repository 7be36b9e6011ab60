//! Command-line flags. Their names are an interface: other tooling depends on them.

use std::path::PathBuf;

use berth_config::{Config, ConfigError, Overrides, Source, defaults};
use clap::{Parser, ValueEnum};

/// berthd: a Kubernetes CRI v1 runtime.
#[derive(Debug, Parser)]
#[command(name = "berthd", version, about)]
pub struct Cli {
    /// Config file (TOML). A missing default file means built-in defaults; a missing named
    /// file is an error.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Persistent state directory (metadata, images).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Volatile state directory (socket, lock, pinned namespaces).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// CRI socket path [default: <state>/berth.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event: time, level, message, fields.
    Text,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The config file (or defaults) with the flags applied over it.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let source = match &self.config {
            Some(path) => Source::Named(path.clone()),
            None => Source::Default(defaults::CONFIG_FILE.into()),
        };
        Config::load(
            &source,
            &Overrides {
                root: self.root.clone(),
                state: self.state.clone(),
                socket: self.socket.clone(),
            },
        )
    }
}
