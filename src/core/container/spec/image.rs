//! Merging an image config into a spec (Go `oci.WithImageConfig`): env,
//! args, working directory and user, and the process edits `ctr run` makes
//! (args, the default `PATH`).

use std::path::PathBuf;

use oci_spec::image::{Config, ImageConfiguration};
use oci_spec::runtime::{Process, Spec};

use super::default::{empty_process, DEFAULT_PATH_ENV};
use super::user::{set_additional_gids, set_user};
use crate::core::error::{Error, Result};

/// `Some(v)` unless `v` is empty: Go's `omitempty` drops empty lists, so an
/// empty list and no list print the same there; here both become `None`.
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The spec's process, created empty when the spec has none.
fn process_of(spec: &mut Spec) -> &mut Process {
    spec.process_mut().get_or_insert_with(empty_process)
}

/// Replaces the process args with `args` (creating an empty process when the
/// spec has none) and drops any Windows `commandLine`, as Go
/// `WithProcessArgs`. An empty `args` leaves the spec without args.
pub fn set_args(spec: &mut Spec, args: Vec<String>) {
    let p = process_of(spec);
    p.set_args(non_empty(args));
    p.set_command_line(None);
}

/// Sets `PATH` to the default ([`DEFAULT_PATH_ENV`]) in the process env,
/// replacing an existing `PATH` and keeping every other variable (Go
/// `WithDefaultPathEnv`). For specs made without an image, whose process
/// otherwise has no PATH to find a command by name.
pub fn set_default_path_env(spec: &mut Spec) {
    let p = process_of(spec);
    let env = replace_or_append_env(
        p.env().as_deref().unwrap_or_default(),
        &[DEFAULT_PATH_ENV.to_string()],
    );
    p.set_env(non_empty(env));
}

/// The name of an `env` entry: the part before the first `=`, or all of it.
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// containerd's env merge (Go `replaceOrAppendEnvValues`): starts from
/// `defaults`; each override `KEY=VALUE` replaces the default of the same key
/// or is appended; an override `KEY` without `=` removes the default `KEY`.
/// Only keys of `defaults` are matched (an appended override is not replaced
/// by a later one), and empty entries are dropped, as upstream.
pub fn replace_or_append_env(defaults: &[String], overrides: &[String]) -> Vec<String> {
    let mut out: Vec<String> = defaults.to_vec();
    let index_of = |key: &str| defaults.iter().rposition(|e| env_key(e) == key);
    for o in overrides {
        match (o.contains('='), index_of(env_key(o))) {
            (false, Some(i)) => out[i].clear(),
            (false, None) => {}
            (true, Some(i)) => out[i] = o.clone(),
            (true, None) => out.push(o.clone()),
        }
    }
    out.retain(|e| !e.is_empty());
    out
}

/// Merges an image config into `spec`, as containerd 1.6's Go
/// `WithImageConfig` does for Linux:
///
/// - env: the image's `Env` (or [`DEFAULT_PATH_ENV`] when it has none),
///   overridden by the spec's existing env entries with
///   [`replace_or_append_env`] (so variables set in the spec win);
/// - args: `Entrypoint` followed by `Cmd`;
/// - cwd: `WorkingDir`, or `/`;
/// - user: the image's `User` in any of the forms `uid`, `name`, `uid:gid`,
///   `name:group`, `uid:group`, `name:gid` (names resolved from `passwd`
///   and `group`, the contents of the image's /etc/passwd and /etc/group,
///   `None` when the image has no such file); no `User` means root;
/// - additional gids: the primary gid plus every group of `group` listing
///   the user as a member.
///
/// `passwd` is needed for a user name and also read for a numeric uid (to
/// find its primary gid and name); `group` for a group name and for the
/// additional gids. Upstream always reads both files; pass them whenever the
/// image has them to get containerd's result.
///
/// The stop signal is not part of the spec (containerd keeps it as the
/// container label `io.containerd.image.config.stop-signal`).
///
/// Errors (the spec is left unchanged): `InvalidArgument` when the spec has
/// no `linux` section or `User` has more than one `:`; `NotFound` when a
/// user or group name is not in the given file, or the file is `None`.
pub fn apply_image_config(
    spec: &mut Spec,
    image: &ImageConfiguration,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<()> {
    if spec.linux().is_none() {
        return Err(Error::invalid(
            "the spec has no linux section: only Linux specs take an image config here",
        ));
    }
    let none = Config::default();
    let config = image.config().as_ref().unwrap_or(&none);
    let mut p = spec.process().clone().unwrap_or_else(empty_process);

    let defaults = match config.env() {
        Some(env) if !env.is_empty() => env.clone(),
        _ => vec![DEFAULT_PATH_ENV.to_string()],
    };
    let env = replace_or_append_env(&defaults, p.env().as_deref().unwrap_or_default());
    p.set_env(non_empty(env));

    let mut args = config.entrypoint().clone().unwrap_or_default();
    args.extend(config.cmd().iter().flatten().cloned());
    p.set_args(non_empty(args));

    let cwd = match config.working_dir().as_deref() {
        Some(d) if !d.is_empty() => d,
        _ => "/",
    };
    p.set_cwd(PathBuf::from(cwd));

    let user = p.user_mut();
    match config.user().as_deref() {
        Some(u) if !u.is_empty() => {
            set_user(user, u, passwd, group)?;
            let uid = user.uid().to_string();
            set_additional_gids(user, &uid, passwd, group);
        }
        _ => set_additional_gids(user, "root", passwd, group),
    }

    spec.set_process(Some(p));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::core::container::spec::testing::*;
    use crate::core::container::spec::{default_spec, parse, to_json, Defaults};
    use crate::core::error::Code;

    #[test]
    fn env_merging_follows_containerd() {
        let d = env(&["PATH=/bin", "A=1", "B=2", "C"]);
        assert_eq!(
            replace_or_append_env(&d, &env(&["B=3", "D=4", "A", "PATH=/x"])),
            env(&["PATH=/x", "B=3", "C", "D=4"])
        );
        // Only default keys are replaced or removed; empty entries go.
        assert_eq!(
            replace_or_append_env(&env(&["A=1", ""]), &env(&["E=1", "E=2", "E", "F=", "C"])),
            env(&["A=1", "E=1", "E=2", "F="])
        );
        // A value may hold '='.
        assert_eq!(
            replace_or_append_env(&env(&["A=1"]), &env(&["A=x=y"])),
            env(&["A=x=y"])
        );
        assert_eq!(replace_or_append_env(&[], &[]), Vec::<String>::new());
    }

    #[test]
    fn image_env_comes_first_and_spec_env_wins() {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        process_of(&mut s).set_env(Some(env(&["B=spec", "C=spec", "A"])));
        let cfg = image(json!({"Env": ["PATH=/img", "A=img", "B=img"], "Cmd": ["sh"]}));
        apply_image_config(&mut s, &cfg, None, None).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(
            p.env().clone().unwrap(),
            env(&["PATH=/img", "B=spec", "C=spec"])
        );

        // No image env: the default PATH.
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        apply_image_config(&mut s, &image(json!({})), None, None).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.env().clone().unwrap(), env(&[DEFAULT_PATH_ENV]));
        assert_eq!(p.args(), &None);
        assert_eq!(p.cwd(), &PathBuf::from("/"));
        assert_eq!(user_of(&s), (0, 0, vec![0]));
    }

    #[test]
    fn args_are_entrypoint_then_cmd_and_cwd_is_the_working_dir() {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        let cfg = image(json!({
            "Entrypoint": ["/init", "--"], "Cmd": ["run", "x"], "WorkingDir": "/srv"
        }));
        apply_image_config(&mut s, &cfg, None, None).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().clone().unwrap(), env(&["/init", "--", "run", "x"]));
        assert_eq!(p.cwd(), &PathBuf::from("/srv"));

        set_args(&mut s, env(&["echo", "hi"]));
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().clone().unwrap(), env(&["echo", "hi"]));
        assert_eq!(
            p.cwd(),
            &PathBuf::from("/srv"),
            "set_args changes only args"
        );
        set_args(&mut s, vec![]);
        assert_eq!(s.process().as_ref().unwrap().args(), &None);
    }

    #[test]
    fn set_args_creates_a_missing_process() {
        let mut s = parse("{\"ociVersion\": \"1.0.2\"}").unwrap();
        set_args(&mut s, env(&["/bin/true"]));
        let v: Value = serde_json::from_str(&to_json(&s).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"ociVersion": "1.0.2",
                   "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/true"], "cwd": ""}})
        );
    }

    #[test]
    fn default_path_env_replaces_only_path() {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        set_default_path_env(&mut s);
        assert_eq!(
            s.process().as_ref().unwrap().env().clone().unwrap(),
            env(&[DEFAULT_PATH_ENV])
        );
        process_of(&mut s).set_env(Some(env(&["A=1", "PATH=/x"])));
        set_default_path_env(&mut s);
        assert_eq!(
            s.process().as_ref().unwrap().env().clone().unwrap(),
            env(&["A=1", DEFAULT_PATH_ENV])
        );
    }

    #[test]
    fn user_forms_resolve_like_containerd() {
        // No user: root, plus the groups listing root as a member.
        assert_eq!(with_user("").unwrap(), (0, 0, vec![0, 10]));
        // uid: gid from passwd, else 0.
        assert_eq!(with_user("1000").unwrap(), (1000, 1001, vec![1001, 1, 10]));
        assert_eq!(with_user("4242").unwrap(), (4242, 0, vec![0]));
        assert_eq!(with_user("1").unwrap(), (1, 1, vec![1]));
        // name: uid and gid from passwd.
        assert_eq!(with_user("app").unwrap(), (1000, 1001, vec![1001, 1, 10]));
        assert_eq!(with_user("daemon").unwrap(), (1, 1, vec![1]));
        // uid:gid taken as they are.
        assert_eq!(with_user("1000:50").unwrap(), (1000, 50, vec![50, 1, 10]));
        assert_eq!(with_user("7:8").unwrap(), (7, 8, vec![8]));
        // name:group, uid:group, name:gid.
        assert_eq!(with_user("app:staff").unwrap(), (1000, 50, vec![50, 1, 10]));
        assert_eq!(with_user("1000:wheel").unwrap(), (1000, 10, vec![1, 10]));
        assert_eq!(with_user("app:3").unwrap(), (1000, 3, vec![3, 1, 10]));
        // An empty side is 0; the group is not taken from the user's entry.
        assert_eq!(with_user("app:").unwrap(), (1000, 0, vec![0, 1, 10]));
        assert_eq!(with_user(":staff").unwrap(), (0, 50, vec![50, 10]));
        // A bad number in passwd reads as 0.
        assert_eq!(with_user("weird").unwrap(), (0, 7, vec![7, 10]));
    }

    #[test]
    fn unknown_names_and_missing_files_are_errors() {
        let e = with_user("nobody").unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert!(
            e.message
                .contains("no user \"nobody\" in the image's /etc/passwd"),
            "{}",
            e.message
        );
        let e = with_user("app:nogroup").unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert!(e.message.contains("no group \"nogroup\""), "{}", e.message);
        let e = with_user("a:b:c").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(
            e.message.contains("invalid USER \"a:b:c\""),
            "{}",
            e.message
        );

        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        let before = s.clone();
        let e = apply_image_config(
            &mut s,
            &image(json!({"User": "app", "Cmd": ["x"]})),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert!(
            e.message.contains("the image has no /etc/passwd"),
            "{}",
            e.message
        );
        assert_eq!(s, before, "a failed merge leaves the spec unchanged");
        let e = apply_image_config(
            &mut s,
            &image(json!({"User": "0:wheel"})),
            Some(PASSWD),
            None,
        )
        .unwrap_err();
        assert!(
            e.message.contains("the image has no /etc/group"),
            "{}",
            e.message
        );

        // Numbers need no files.
        apply_image_config(&mut s, &image(json!({"User": "5:6"})), None, None).unwrap();
        assert_eq!(user_of(&s), (5, 6, vec![6]));
        apply_image_config(&mut s, &image(json!({"User": "5"})), None, None).unwrap();
        assert_eq!(user_of(&s), (5, 0, vec![0]));
    }

    #[test]
    fn image_config_needs_a_linux_spec() {
        let mut s = parse("{\"ociVersion\": \"1.0.2\"}").unwrap();
        let e = apply_image_config(&mut s, &image(json!({})), None, None).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("no linux section"), "{}", e.message);
    }
}
