//! `medtap config check`: validate a config file.

use anyhow::Result;
use clap::Subcommand;
use medtap::config::{Config, DEFAULT_PATH};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a config file; errors name the key and line
    Check {
        /// Config file
        #[arg(value_name = "PATH", default_value = DEFAULT_PATH)]
        path: PathBuf,
    },
}

pub fn run(c: ConfigCommand) -> Result<ExitCode> {
    match c {
        ConfigCommand::Check { path } => {
            Config::load(&path)?;
            println!("{}: ok", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
