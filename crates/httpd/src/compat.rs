//! Upstream flag compatibility, shared by the three servers' command lines: existing systemd
//! units and env files (`/etc/default/marathon`, `/etc/mesos-master/...`) must start them.
//!
//! - Every flag is also read from `MESOS_<FLAG>` (master, agent) or `MARATHON_<FLAG>`
//!   (scheduler) when not given on the command line ([`read_env`]).
//! - Mesos' `--no-<flag>` form of a boolean flag is `--<flag>=false` ([`mesos_negations`]).
//! - Marathon's boolean flags are switched on by an empty environment variable
//!   (`MARATHON_DISABLE_HA=`, [`parse_toggle`]).
//! - Each component lists the upstream flags it does not implement (a [`Table`]); [`Compat`]
//!   accepts them (hidden from `--help`) and [`Compat::warn_ignored`] names each one given, once,
//!   so none is silently ignored and none is fatal. Any other unknown flag stays an error.

use clap::builder::BoolishValueParser;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::ffi::OsString;
use std::marker::PhantomData;

/// How upstream spells a component's boolean flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Mesos: `--flag`, `--flag=true|false`, `--no-flag`; `MESOS_FLAG=true|false`.
    Mesos,
    /// Marathon: `--flag` and `--disable_flag`; `MARATHON_FLAG=` (empty) switches a flag on.
    Marathon,
}

/// Whether an upstream flag takes a value or is a boolean switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Value,
    /// A boolean flag; Marathon's also has its `disable_` twin.
    Switch,
    /// A boolean flag without a `disable_` twin (Marathon's `--disable_http` kind).
    Flag,
}

/// An upstream flag this implementation accepts but does not implement yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unimplemented {
    pub name: &'static str,
    pub takes: Takes,
}

/// An upstream flag taking a value.
pub const fn value(name: &'static str) -> Unimplemented {
    Unimplemented { name, takes: Takes::Value }
}

/// An upstream boolean flag.
pub const fn switch(name: &'static str) -> Unimplemented {
    Unimplemented { name, takes: Takes::Switch }
}

/// A boolean upstream flag without a `disable_` twin.
pub const fn flag(name: &'static str) -> Unimplemented {
    Unimplemented { name, takes: Takes::Flag }
}

/// A component's list of upstream flags it does not implement.
pub trait Table {
    const STYLE: Style;
    /// The environment variables' prefix, `MESOS_` or `MARATHON_` (`None`: command line only).
    const ENV_PREFIX: Option<&'static str>;
    fn flags() -> Vec<Unimplemented>;
}

/// The unimplemented upstream flags given (on the command line or in the environment), in the
/// table's order, as given (`--disable_checkpoint`, `--log_dir`).
pub struct Compat<T> {
    given: Vec<String>,
    table: PhantomData<fn() -> T>,
}

impl<T> Default for Compat<T> {
    fn default() -> Self {
        Self { given: Vec::new(), table: PhantomData }
    }
}

impl<T> Clone for Compat<T> {
    fn clone(&self) -> Self {
        Self { given: self.given.clone(), table: PhantomData }
    }
}

impl<T> std::fmt::Debug for Compat<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compat").field("given", &self.given).finish()
    }
}

impl<T> Compat<T> {
    /// The flags given, each as `--name`.
    pub fn given(&self) -> &[String] {
        &self.given
    }

    /// Logs one warning per unimplemented flag given.
    pub fn warn_ignored(&self) {
        for flag in &self.given {
            tracing::warn!("flag {flag} is accepted for compatibility but not implemented yet (ignored)");
        }
    }
}

fn id(name: &str) -> String {
    format!("compat-{name}")
}

/// The names an unimplemented flag is given by on the command line (Marathon's switches have a
/// `disable_` twin).
fn spellings<T: Table>(flag: &Unimplemented) -> Vec<String> {
    match (T::STYLE, flag.takes) {
        (Style::Marathon, Takes::Switch) => vec![flag.name.to_string(), format!("disable_{}", flag.name)],
        _ => vec![flag.name.to_string()],
    }
}

impl<T: Table> clap::FromArgMatches for Compat<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for flag in T::flags() {
            for name in spellings::<T>(&flag) {
                if matches.contains_id(&id(&name)) {
                    given.push(format!("--{name}"));
                }
            }
        }
        Ok(Self { given, table: PhantomData })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<T: Table> clap::Args for Compat<T> {
    fn augment_args(mut cmd: Command) -> Command {
        for flag in T::flags() {
            for name in spellings::<T>(&flag) {
                let mut arg = Arg::new(id(&name)).long(name.clone()).hide(true).required(false);
                arg = match (T::STYLE, flag.takes) {
                    (_, Takes::Value) => arg.action(ArgAction::Set).num_args(1),
                    (Style::Mesos, Takes::Switch | Takes::Flag) => arg
                        .action(ArgAction::Set)
                        .num_args(0..=1)
                        .default_missing_value("true")
                        .value_parser(BoolishValueParser::new()),
                    (Style::Marathon, Takes::Switch | Takes::Flag) => {
                        arg.action(ArgAction::Set).num_args(0).default_missing_value("").value_parser(parse_toggle)
                    }
                };
                if let Some(prefix) = T::ENV_PREFIX {
                    arg = arg.env(env_name(prefix, &name));
                }
                cmd = cmd.arg(arg);
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// `MESOS_` + `log_dir` = `MESOS_LOG_DIR`.
pub fn env_name(prefix: &str, flag: &str) -> String {
    format!("{prefix}{}", flag.to_ascii_uppercase())
}

/// A Marathon switch's value: empty (upstream's way to switch it on in the environment),
/// `true`/`yes`/`on`/`1` or `false`/`no`/`off`/`0`.
pub fn parse_toggle(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("invalid boolean '{text}': expected nothing, true or false")),
    }
}

/// Every flag of `cmd` (and of nothing else) without an environment variable of its own reads
/// `<prefix><FLAG>`; a flag with upstream's older names (clap aliases without `-`, such as
/// `slave_ping_timeout`) reads the first of those variables that is set.
pub fn read_env(cmd: Command, prefix: &str) -> Command {
    cmd.mut_args(|arg| {
        let Some(long) = arg.get_long().map(str::to_string) else {
            return arg;
        };
        if matches!(long.as_str(), "help" | "version") {
            return arg;
        }
        let mut names = vec![long.clone()];
        names.extend(
            arg.get_all_aliases().unwrap_or_default().into_iter().filter(|a| !a.contains('-')).map(str::to_string),
        );
        let set = names.iter().map(|n| env_name(prefix, n)).find(|v| std::env::var_os(v).is_some());
        match (set, arg.get_env().is_some()) {
            (Some(var), _) => arg.env(var),
            (None, true) => arg,
            (None, false) => arg.env(env_name(prefix, &long)),
        }
    })
}

/// Mesos' `--no-<flag>` of a boolean flag of `cmd` (one taking an optional value) becomes
/// `--<flag>=false`; anything else is left as it is.
pub fn mesos_negations(cmd: &Command, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            let Some(name) = a.to_str().and_then(|s| s.strip_prefix("--no-")) else {
                return a;
            };
            let switch = cmd.get_arguments().any(|arg| {
                let named = arg.get_long() == Some(name) || arg.get_all_aliases().is_some_and(|al| al.contains(&name));
                named && arg.get_num_args().is_some_and(|n| n.min_values() == 0 && n.max_values() == 1)
            });
            if switch { OsString::from(format!("--{name}=false")) } else { a }
        })
        .collect()
}

/// What is wrong with a component's compatibility table, for its tests: flags both implemented
/// (an argument of `cmd` or one of its aliases, `Compat`'s own hidden ones aside) and listed in
/// `unimplemented` (clap would panic at start), flags listed twice, and flags `upstream`
/// documents that are neither implemented nor listed. Empty when the table is right.
pub fn table_problems(cmd: &Command, unimplemented: &[Unimplemented], upstream: &[&str]) -> Vec<String> {
    let implemented: std::collections::BTreeSet<&str> = cmd
        .get_arguments()
        .filter(|a| !a.get_id().as_str().starts_with("compat-"))
        .flat_map(|a| a.get_long().into_iter().chain(a.get_all_aliases().unwrap_or_default()))
        .collect();
    let mut problems = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for flag in unimplemented {
        if implemented.contains(flag.name) {
            problems.push(format!("--{} is implemented and listed as unimplemented", flag.name));
        }
        if !listed.insert(flag.name) {
            problems.push(format!("--{} is listed twice", flag.name));
        }
    }
    for name in upstream {
        if !implemented.contains(name) && !listed.contains(name) {
            problems.push(format!("--{name} is documented upstream, neither implemented nor listed"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Clone, Copy, Default)]
    struct MesosTable;
    impl Table for MesosTable {
        const STYLE: Style = Style::Mesos;
        const ENV_PREFIX: Option<&'static str> = None;
        fn flags() -> Vec<Unimplemented> {
            vec![value("log_dir"), switch("hostname_lookup")]
        }
    }

    #[derive(Debug, Clone, Copy, Default)]
    struct MarathonTable;
    impl Table for MarathonTable {
        const STYLE: Style = Style::Marathon;
        const ENV_PREFIX: Option<&'static str> = None;
        fn flags() -> Vec<Unimplemented> {
            vec![value("logging_level"), switch("checkpoint")]
        }
    }

    #[derive(Debug, Parser)]
    struct Mesos {
        #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false, value_parser = BoolishValueParser::new())]
        strict: bool,
        #[command(flatten)]
        compat: Compat<MesosTable>,
    }

    #[derive(Debug, Parser)]
    struct Marathon {
        #[command(flatten)]
        compat: Compat<MarathonTable>,
    }

    fn mesos(args: &[&str]) -> Result<Mesos, clap::Error> {
        let cmd = <Mesos as clap::CommandFactory>::command();
        let args = mesos_negations(&cmd, args.iter().map(OsString::from));
        Mesos::try_parse_from(args)
    }

    #[test]
    fn unimplemented_mesos_flags_are_accepted_in_every_form_and_named() {
        let m = mesos(&["x", "--log_dir=/var/log", "--no-hostname_lookup", "--no-strict"]).expect("parse");
        assert_eq!(m.compat.given(), ["--log_dir", "--hostname_lookup"]);
        assert!(!m.strict);
        let m = mesos(&["x", "--hostname_lookup", "--strict"]).expect("parse");
        assert_eq!(m.compat.given(), ["--hostname_lookup"]);
        assert!(m.strict);
        assert!(mesos(&["x", "--hostname_lookup=maybe"]).is_err(), "a switch's value is still checked");
        assert!(mesos(&["x", "--no_such_flag=1"]).is_err(), "unknown flags stay errors");
        assert!(mesos(&["x", "--no-log_dir"]).is_err(), "a flag with a value has no --no- form");
        assert!(mesos(&["x"]).expect("parse").compat.given().is_empty());
    }

    #[test]
    fn marathon_switches_have_a_disable_twin_and_an_empty_value_is_true() {
        let m = Marathon::try_parse_from(["x", "--disable_checkpoint", "--logging_level", "warn"]).expect("parse");
        assert_eq!(m.compat.given(), ["--logging_level", "--disable_checkpoint"]);
        assert!(Marathon::try_parse_from(["x", "--checkpoint", "true"]).is_err(), "switches take no value");
        assert_eq!(parse_toggle(""), Ok(true));
        assert_eq!(parse_toggle("TRUE"), Ok(true));
        assert_eq!(parse_toggle("0"), Ok(false));
        assert!(parse_toggle("maybe").is_err());
    }

    #[test]
    fn table_problems_name_each_mistake() {
        let cmd = Command::new("c").arg(Arg::new("port").long("port").alias("old_port"));
        let table = [value("port"), value("cluster"), value("cluster")];
        let problems = table_problems(&cmd, &table, &["port", "old_port", "cluster", "ip"]);
        assert_eq!(
            problems,
            [
                "--port is implemented and listed as unimplemented",
                "--cluster is listed twice",
                "--ip is documented upstream, neither implemented nor listed",
            ]
        );
        assert!(table_problems(&cmd, &[value("cluster")], &["port", "cluster"]).is_empty());
    }
}
