//! `medtap config check`: validate a config file and the asset list it
//! names.

use anyhow::Result;
use clap::Subcommand;
use medtap::config::{Config, DEFAULT_PATH};
use medtap::device::assets::AssetList;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a config file and its asset list ([identity] assets); errors
    /// name the file, line and key
    Check {
        /// Config file
        #[arg(value_name = "PATH", default_value = DEFAULT_PATH)]
        path: PathBuf,
    },
}

pub fn run(c: ConfigCommand) -> Result<ExitCode> {
    match c {
        ConfigCommand::Check { path } => {
            let cfg = Config::load(&path)?;
            println!("{}: ok", path.display());
            let assets = &cfg.identity.assets;
            match AssetList::load_configured(&cfg.identity)? {
                Some(list) => println!("{}: ok, {} device(s)", assets.display(), list.len()),
                None if assets.as_os_str().is_empty() => {
                    println!("asset list: none (assets = \"\")")
                }
                None => println!("asset list: none ({} does not exist)", assets.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
