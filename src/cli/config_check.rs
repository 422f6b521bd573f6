//! `medtap config check`: validate a config file and the asset list it
//! names.

use anyhow::Result;
use clap::Subcommand;
use medtap::config::{Config, DEFAULT_PATH};
use medtap::device::assets::AssetList;
use medtap::device::rules;
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
            let list = AssetList::load_configured(&cfg.identity)?;
            // The rules the sensor would load, and the asset list's classes
            // against them.
            let dir = cfg.policy.rules_dir().map_err(anyhow::Error::msg)?;
            let (classifier, loaded) = rules::load(dir)?;
            rules::asset_classes(
                list.as_ref(),
                &assets.display().to_string(),
                classifier.classes(),
            )?;
            let cx = medtap::policy::rules::Context {
                classes: classifier.classes(),
                assets: list.as_ref(),
                internal: cfg.identity.networks(),
                now: medtap::time::now(),
            };
            let policy = medtap::policy::rules::load(dir, &cx)?;
            match dir {
                Some(d) => println!(
                    "rules {}: ok, {} file(s)",
                    d.display(),
                    loaded.files.len() + policy.files.len() - 1
                ),
                None => println!("rules: the shipped ones only (no rules directory)"),
            }
            match list {
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
