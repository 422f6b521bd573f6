//! `medtap rules check [DIR]`: validate the rule files and the asset list
//! together, naming file, line and key for each problem; `medtap rules
//! classes`: the device classes with their DB3205/T Appendix B attributes
//! and the grade Table B.1 computes from them.

use super::load_config;
use super::table::{self, escape};
use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use medtap::device::rules;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Check the shipped rules, a rules directory (device_classes.toml,
    /// fingerprints.toml, medical_vendors.toml, policy.toml) and the asset
    /// list together
    Check {
        /// Rules directory [default: the config's policy.rules_dir]
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Asset list to check against the classes [default: the config's identity.assets]
        #[arg(long, value_name = "FILE")]
        assets: Option<PathBuf>,
        /// Config file [default: /etc/medtap/medtap.toml if it exists]
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// List the policy's suppressions (rule, device, peer, until, reason,
    /// where written), saying which have expired
    Suppressions {
        /// Rules directory [default: the config's policy.rules_dir]
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Asset list (suppressions may name devices by asset name)
        /// [default: the config's identity.assets]
        #[arg(long, value_name = "FILE")]
        assets: Option<PathBuf>,
        /// Config file [default: /etc/medtap/medtap.toml if it exists]
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Print the device classes with their attributes and computed grades
    Classes {
        /// Language of the class names
        #[arg(long, value_enum, default_value_t = Lang::En)]
        lang: Lang,
        /// Rules directory whose device_classes.toml changes the shipped classes
        /// (empty for none) [default: the config's policy.rules_dir]
        #[arg(long, value_name = "DIR", value_parser = super::any_path())]
        rules: Option<PathBuf>,
        /// Config file [default: /etc/medtap/medtap.toml if it exists]
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

/// Language of `rules classes`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Lang {
    /// English.
    En,
    /// Chinese.
    Zh,
}

pub fn run(c: RulesCommand) -> Result<ExitCode> {
    match c {
        RulesCommand::Check {
            dir,
            assets,
            config,
        } => {
            let cfg = load_config(config.as_deref())?;
            let dir = rules_dir(dir, &cfg)?;
            let assets = assets_given(assets, &cfg);
            if let Some(d) = dir.as_ref().filter(|d| !d.is_dir()) {
                eprintln!(
                    "medtap: {} is not a directory",
                    escape(&d.display().to_string())
                );
                return Ok(ExitCode::from(1));
            }
            let mut report = rules::check(dir.as_deref(), assets.as_deref());
            check_policy(dir.as_deref(), assets.as_deref(), &cfg, &mut report);
            for line in &report.ok {
                println!("{}", escape(line));
            }
            for p in &report.problems {
                eprintln!("{}", escape(p));
            }
            if report.problems.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("medtap: {} problem(s)", report.problems.len());
                Ok(ExitCode::from(1))
            }
        }
        RulesCommand::Suppressions {
            dir,
            assets,
            config,
        } => {
            let cfg = load_config(config.as_deref())?;
            let dir = rules_dir(dir, &cfg)?;
            let assets = assets_given(assets, &cfg);
            let list = assets
                .as_deref()
                .map(medtap::device::assets::AssetList::load)
                .transpose()?;
            let (classifier, _) = rules::load(dir.as_deref())?;
            let now = medtap::time::now();
            let cx = medtap::policy::rules::Context {
                classes: classifier.classes(),
                assets: list.as_ref(),
                internal: cfg.identity.networks(),
                now,
            };
            let policy = medtap::policy::rules::load(dir.as_deref(), &cx)?;
            let peer = |p: &Option<medtap::policy::rules::Peer>| match p {
                Some(medtap::policy::rules::Peer::Mac(m)) => m.text().as_str().to_string(),
                Some(medtap::policy::rules::Peer::Ip(ip)) => ip.to_string(),
                _ => "any".to_string(),
            };
            let mut expired = 0;
            table::print(
                &[
                    "rule", "device", "peer", "until", "status", "reason", "where",
                ],
                policy.suppressions.iter().map(|s| {
                    let over = s.until.is_some_and(|u| u < now);
                    expired += usize::from(over);
                    vec![
                        s.rule.id().to_string(),
                        peer(&s.device),
                        peer(&s.peer),
                        s.until_text.clone().unwrap_or_else(|| "-".into()),
                        if over { "EXPIRED" } else { "active" }.to_string(),
                        s.reason.clone(),
                        s.at.clone(),
                    ]
                }),
            )?;
            if expired > 0 {
                eprintln!(
                    "medtap: {expired} suppression(s) expired: they silence nothing now; remove or renew them"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Classes {
            lang,
            rules: dir,
            config,
        } => {
            let cfg = load_config(config.as_deref())?;
            let dir = rules_dir(dir, &cfg)?;
            let (classifier, _) = rules::load(dir.as_deref())?;
            let zh = matches!(lang, Lang::Zh);
            let header: &[&str] = if zh {
                &[
                    "id",
                    "名称",
                    "医疗设备",
                    "接触人体",
                    "使用形式",
                    "程度",
                    "等级",
                    "来源",
                ]
            } else {
                &[
                    "id",
                    "name",
                    "medical",
                    "contact",
                    "usage_form",
                    "level",
                    "grade",
                    "source",
                ]
            };
            table::print(
                header,
                classifier.classes().iter().map(|c| {
                    let a = c.attributes;
                    let yes_no = |b: bool| match (zh, b) {
                        (true, true) => "是",
                        (true, false) => "否",
                        (false, true) => "yes",
                        (false, false) => "no",
                    };
                    vec![
                        c.id.clone(),
                        if zh {
                            c.name_zh.clone()
                        } else {
                            c.name.clone()
                        },
                        yes_no(c.medical).to_string(),
                        a.map_or("-".into(), |a| yes_no(a.contact()).to_string()),
                        a.map_or("-".into(), |a| names(zh, a.form_name()).to_string()),
                        a.map_or("-".into(), |a| names(zh, a.level_name()).to_string()),
                        c.grade.map_or("-".into(), |g| g.to_string()),
                        format!("{}:{}", c.file, c.line),
                    ]
                }),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The asset list given, else the config's (none when empty, or the
/// default and absent).
fn assets_given(given: Option<PathBuf>, cfg: &medtap::config::Config) -> Option<PathBuf> {
    match given {
        Some(a) => Some(a),
        None => {
            let a = &cfg.identity.assets;
            let absent = a.as_os_str().is_empty()
                || (a == std::path::Path::new(medtap::config::DEFAULT_ASSETS_PATH) && !a.exists());
            (!absent).then(|| a.clone())
        }
    }
}

/// Compiles the policy (shipped, then the directory's policy.toml) as a
/// sensor start would, against the classes and the asset list.
fn check_policy(
    dir: Option<&std::path::Path>,
    assets: Option<&std::path::Path>,
    cfg: &medtap::config::Config,
    report: &mut rules::CheckReport,
) {
    // Classes and assets were checked above; their problems are reported
    // there, and the policy is checked against what did load.
    let Ok((classifier, _)) = rules::load(dir) else {
        return;
    };
    let list = assets.and_then(|a| medtap::device::assets::AssetList::load(a).ok());
    let now = medtap::time::now();
    let cx = medtap::policy::rules::Context {
        classes: classifier.classes(),
        assets: list.as_ref(),
        internal: cfg.identity.networks(),
        now,
    };
    match medtap::policy::rules::load(dir, &cx) {
        Ok(p) => {
            report.ok.push(format!(
                "{} (built in): ok",
                medtap::policy::rules::BUILTIN_FILE
            ));
            if let Some(f) = p.files.get(1) {
                let expired = p
                    .suppressions
                    .iter()
                    .filter(|s| s.until.is_some_and(|u| u < now))
                    .count();
                report.ok.push(format!(
                    "{f}: ok, {} allow entries in all, {} enforced classes, {} suppression(s){}",
                    p.entries.len(),
                    p.classes.values().filter(|c| !c.entries.is_empty()).count(),
                    p.suppressions.len(),
                    if expired > 0 {
                        format!(" ({expired} expired: see `medtap rules suppressions`)")
                    } else {
                        String::new()
                    }
                ));
            }
        }
        Err(e) => report
            .problems
            .extend(e.to_string().lines().map(str::to_string)),
    }
}

/// The rules directory given, else the config's (none when empty or the
/// default is absent).
fn rules_dir(given: Option<PathBuf>, cfg: &medtap::config::Config) -> Result<Option<PathBuf>> {
    match given {
        Some(d) if d.as_os_str().is_empty() => Ok(None),
        Some(d) => Ok(Some(d)),
        None => Ok(cfg
            .policy
            .rules_dir()
            .map_err(anyhow::Error::msg)?
            .map(PathBuf::from)),
    }
}

/// An attribute's name in the standard's Chinese (Table B.1), or as is.
fn names(zh: bool, name: &str) -> &str {
    if !zh {
        return name;
    }
    match name {
        "energy_therapy" => "能量治疗",
        "diagnosis_monitoring" => "诊断监护",
        "fluid_delivery" => "输送体液",
        "ionizing_radiation" => "电离辐射",
        "implant" => "植入",
        "other" => "其他一般",
        "lab_instrument" => "实验室仪器设备",
        "standalone_software" => "独立软件",
        "disinfection" => "消毒设备",
        "other_auxiliary" => "其他辅助设备",
        "slight" => "轻微损伤",
        "injury" => "损伤",
        "serious" => "严重损伤",
        "none" => "基本不影响",
        "indirect" => "有间接影响",
        "important" => "有重要影响",
        other => other,
    }
}
