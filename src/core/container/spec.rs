//! OCI runtime specs: the default Linux spec containerd 1.6 gives a container
//! (its Go `oci.GenerateSpec` plus the device rules `ctr run` adds), merging an
//! image config into a spec (Go `oci.WithImageConfig`, including the user and
//! group lookups of `WithUser` and `WithAdditionalGIDs`), and checking and
//! printing spec JSON.
//!
//! Everything here is pure: no daemon calls. Reading an image's config and
//! its `/etc/passwd` and `/etc/group` is the caller's job.

use std::path::PathBuf;

use oci_spec::image::{Config, ImageConfiguration};
use oci_spec::runtime::{
    Capability, Linux, LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespace,
    LinuxNamespaceType, LinuxResources, Mount, PosixRlimitBuilder, PosixRlimitType, Process, Root,
    Spec, User,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::core::daemon::ident;
use crate::core::error::{Code, Error, Result};

/// The `ociVersion` containerd 1.6 writes (the runtime-spec Go module it is
/// built with says `1.0.2-dev`).
pub const OCI_VERSION: &str = "1.0.2-dev";

/// What differs between the default specs of containerd versions (their Go
/// clients: `ctr` and the Go library make the spec, the daemon stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// `ociVersion`: the runtime-spec Go module the client was built with.
    pub oci_version: &'static str,
    /// Whether `/sys/devices/virtual/powercap` is masked (from 1.6.26,
    /// 1.7.11 and every 2.x: the RAPL power side channel).
    pub mask_powercap: bool,
}

impl Defaults {
    /// containerd 1.6 before 1.6.26 (Debian 12's 1.6.20).
    pub const V1_6: Defaults = Defaults {
        oci_version: OCI_VERSION,
        mask_powercap: false,
    };

    /// The defaults of the containerd whose version string is `version`
    /// ("1.6.20~ds1", "v1.7.24", "2.1.9+ds1"...), as its own `ctr` makes
    /// them. `ociVersion` is a property of the build: these are the values
    /// of Debian's builds (1.7: "1.2.0", where upstream's 1.7 binaries say
    /// "1.1.0"; 2.0: "1.2.0"; 2.1 and later: "1.2.1"). An unreadable version
    /// gets the newest defaults.
    pub fn for_daemon(version: &str) -> Defaults {
        let numbers: Vec<u64> = version
            .trim_start_matches('v')
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map_while(|n| n.parse().ok())
            .collect();
        let (major, minor, patch) = match numbers[..] {
            [major, minor, patch] => (major, minor, patch),
            _ => (u64::MAX, 0, 0),
        };
        match (major, minor) {
            (0, _) | (1, 0..=6) => Defaults {
                mask_powercap: (major, minor) == (1, 6) && patch >= 26,
                ..Defaults::V1_6
            },
            (1, _) => Defaults {
                oci_version: "1.2.0",
                mask_powercap: minor > 7 || patch >= 11,
            },
            (2, 0) => Defaults {
                oci_version: "1.2.0",
                mask_powercap: true,
            },
            _ => Defaults {
                oci_version: "1.2.1",
                mask_powercap: true,
            },
        }
    }
}

/// The environment a process gets when its image sets none.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The root filesystem path of a default spec, relative to the bundle.
pub const DEFAULT_ROOTFS: &str = "rootfs";

/// The capabilities a default process holds (bounding, effective and
/// permitted; neither inheritable nor ambient), in containerd's order.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Paths hidden from the container.
const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// Masked from containerd 1.6.26, 1.7.11 and 2.0 on (see [`Defaults`]).
const POWERCAP: &str = "/sys/devices/virtual/powercap";

/// Paths the container sees read-only.
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The default mounts: (destination, type, source, options).
const MOUNTS: [(&str, &str, &str, &[&str]); 7] = [
    ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
    (
        "/dev",
        "tmpfs",
        "tmpfs",
        &["nosuid", "strictatime", "mode=755", "size=65536k"],
    ),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ],
    ),
    (
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    ),
    (
        "/dev/mqueue",
        "mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
    ),
    (
        "/sys",
        "sysfs",
        "sysfs",
        &["nosuid", "noexec", "nodev", "ro"],
    ),
    (
        "/run",
        "tmpfs",
        "tmpfs",
        &["nosuid", "strictatime", "mode=755", "size=65536k"],
    ),
];

/// Character devices the device cgroup lets through after denying all:
/// (major, minor; `None` for every minor). /dev/null, random, full, tty,
/// zero, urandom, console, the pty slaves (136:*) and ptmx.
const ALLOWED_CHAR_DEVICES: [(i64, Option<i64>); 9] = [
    (1, Some(3)),
    (1, Some(8)),
    (1, Some(7)),
    (5, Some(0)),
    (1, Some(5)),
    (1, Some(9)),
    (5, Some(1)),
    (136, None),
    (5, Some(2)),
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `Some(v)` unless `v` is empty: Go's `omitempty` drops empty lists, so an
/// empty list and no list print the same there; here both become `None`.
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// A process with nothing set (Go's zero `specs.Process`): uid and gid 0,
/// empty cwd. (`Process::default()` fills in oci-spec's own defaults.)
fn empty_process() -> Process {
    let mut p = Process::default();
    p.set_terminal(None);
    p.set_console_size(None);
    p.set_user(User::default());
    p.set_args(None);
    p.set_command_line(None);
    p.set_env(None);
    p.set_cwd(PathBuf::new());
    p.set_capabilities(None);
    p.set_rlimits(None);
    p.set_no_new_privileges(None);
    p.set_apparmor_profile(None);
    p.set_oom_score_adj(None);
    p.set_selinux_label(None);
    p.set_io_priority(None);
    p.set_scheduler(None);
    p.set_exec_cpu_affinity(None);
    p
}

/// A Linux section with nothing set (`Linux::default()` fills in oci-spec's
/// own defaults).
fn empty_linux() -> Linux {
    let mut l = Linux::default();
    l.set_net_devices(None);
    l.set_uid_mappings(None);
    l.set_gid_mappings(None);
    l.set_sysctl(None);
    l.set_resources(None);
    l.set_cgroups_path(None);
    l.set_namespaces(None);
    l.set_devices(None);
    l.set_seccomp(None);
    l.set_rootfs_propagation(None);
    l.set_masked_paths(None);
    l.set_readonly_paths(None);
    l.set_mount_label(None);
    l.set_intel_rdt(None);
    l.set_memory_policy(None);
    l.set_personality(None);
    l.set_time_offsets(None);
    l
}

fn default_process() -> Result<Process> {
    let caps: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(caps.clone()));
    capabilities.set_effective(Some(caps.clone()));
    capabilities.set_permitted(Some(caps));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    // Every field is given, so the builder cannot fail.
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(1024u64)
        .soft(1024u64)
        .build()
        .map_err(|e| Error::internal(format!("building the default rlimit: {e}")))?;

    let mut p = empty_process();
    p.set_cwd(PathBuf::from("/"));
    p.set_capabilities(Some(capabilities));
    p.set_rlimits(Some(vec![nofile]));
    p.set_no_new_privileges(Some(true));
    Ok(p)
}

fn default_mounts() -> Vec<Mount> {
    MOUNTS
        .iter()
        .map(|(destination, typ, source, options)| {
            let mut m = Mount::default();
            m.set_destination(PathBuf::from(destination));
            m.set_typ(Some(typ.to_string()));
            m.set_source(Some(PathBuf::from(source)));
            m.set_options(Some(strings(options)));
            m.set_uid_mappings(None);
            m.set_gid_mappings(None);
            m
        })
        .collect()
}

fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(allow);
    d.set_typ(typ);
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some("rwm".to_string()));
    d
}

fn default_linux(defaults: &Defaults, namespace: &str, id: &str) -> Linux {
    let mut devices = vec![device_rule(false, None, None, None)];
    devices.extend(
        ALLOWED_CHAR_DEVICES
            .iter()
            .map(|&(major, minor)| device_rule(true, Some(LinuxDeviceType::C), Some(major), minor)),
    );
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(devices));

    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
    ]
    .into_iter()
    .map(|typ| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(None);
        n
    })
    .collect();

    let mut l = empty_linux();
    l.set_resources(Some(resources));
    l.set_cgroups_path(Some(PathBuf::from(format!("/{namespace}/{id}"))));
    l.set_namespaces(Some(namespaces));
    let mut masked = strings(&MASKED_PATHS);
    if defaults.mask_powercap {
        // containerd lists it after /sys/firmware, before /proc/scsi.
        masked.insert(masked.len() - 1, POWERCAP.to_string());
    }
    l.set_masked_paths(Some(masked));
    l.set_readonly_paths(Some(strings(&READONLY_PATHS)));
    l
}

/// The default Linux spec for container `id` in `namespace`, as the
/// containerd version of `defaults` makes it for `ctr run` / `ctr containers
/// create` (Go `GenerateSpec` with `WithDefaultUnixDevices`), before the
/// image config is applied:
///
/// - `ociVersion` of `defaults`; root `rootfs`, writable; no hostname.
/// - process: cwd `/`, uid 0, gid 0, no args and **no env** (containerd sets
///   none here: [`apply_image_config`] brings the image's env or the default
///   PATH; without an image use [`set_default_path_env`]);
///   [`DEFAULT_CAPABILITIES`] as bounding, effective and permitted sets;
///   `RLIMIT_NOFILE` 1024/1024; `noNewPrivileges`.
/// - mounts: `/proc`, `/dev` (tmpfs), `/dev/pts`, `/dev/shm`, `/dev/mqueue`,
///   `/sys` (read-only), `/run` (tmpfs).
/// - linux: pid, ipc, uts, mount and network namespaces; cgroups path
///   `/<namespace>/<id>`; the device cgroup denies all, then allows
///   /dev/null, random, full, tty, zero, urandom, console, ptmx and the ptys;
///   masked paths (`/proc/kcore`, `/sys/firmware`, ..., and the powercap
///   class where `defaults` says so) and read-only paths (`/proc/sys`,
///   `/proc/sysrq-trigger`, ...).
///
/// Errors: `InvalidArgument` when `namespace` or `id` is not a valid
/// containerd identifier.
pub fn default_spec(defaults: &Defaults, namespace: &str, id: &str) -> Result<Spec> {
    ident::validate("namespace", namespace)?;
    ident::validate("container id", id)?;
    let mut root = Root::default();
    root.set_path(PathBuf::from(DEFAULT_ROOTFS));
    root.set_readonly(None);

    let mut s = Spec::default();
    s.set_version(defaults.oci_version.to_string());
    s.set_root(Some(root));
    s.set_mounts(Some(default_mounts()));
    s.set_process(Some(default_process()?));
    s.set_hostname(None);
    s.set_domainname(None);
    s.set_hooks(None);
    s.set_annotations(None);
    s.set_linux(Some(default_linux(defaults, namespace, id)));
    s.set_solaris(None);
    s.set_windows(None);
    s.set_vm(None);
    s.set_zos(None);
    Ok(s)
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

/// A number as Go's `strconv.Atoi` reads it (optional sign, decimal digits).
fn atoi(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// One `/etc/passwd` line: name, uid, gid.
struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
}

/// One `/etc/group` line: name, gid, members.
struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// The entries of an `/etc/passwd` text, parsed as runc's user package does:
/// blank lines skipped, fields split at `:`, a bad number read as 0.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let num = |i: usize| f.get(i).and_then(|s| atoi(s)).unwrap_or(0);
            PasswdEntry {
                name: f[0].to_string(),
                uid: num(2),
                gid: num(3),
            }
        })
}

/// The entries of an `/etc/group` text (blank and `#` lines skipped).
fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            GroupEntry {
                name: f[0].to_string(),
                gid: f.get(2).and_then(|s| atoi(s)).unwrap_or(0),
                members: match f.get(3) {
                    Some(m) if !m.is_empty() => m.split(',').map(str::to_string).collect(),
                    _ => Vec::new(),
                },
            }
        })
}

/// The first user called `name`; an error when there is no `/etc/passwd` or
/// no such user in it.
fn user_by_name(passwd: Option<&str>, name: &str, userstr: &str) -> Result<PasswdEntry> {
    let text = passwd.ok_or_else(|| {
        Error::new(
            Code::NotFound,
            format!(
                "USER {userstr:?}: user {name:?} cannot be resolved: the image has no /etc/passwd"
            ),
        )
    })?;
    passwd_entries(text)
        .find(|u| u.name == name)
        .ok_or_else(|| {
            Error::new(
                Code::NotFound,
                format!("USER {userstr:?}: no user {name:?} in the image's /etc/passwd"),
            )
        })
}

/// The first user with `uid`, if the image has an `/etc/passwd` that lists it.
fn user_by_uid(passwd: Option<&str>, uid: i64) -> Option<PasswdEntry> {
    passwd_entries(passwd?).find(|u| u.uid == uid)
}

/// The gid of the first group called `name`; an error when there is no
/// `/etc/group` or no such group in it.
fn gid_by_name(group: Option<&str>, name: &str, userstr: &str) -> Result<u32> {
    let text = group.ok_or_else(|| {
        Error::new(
            Code::NotFound,
            format!(
                "USER {userstr:?}: group {name:?} cannot be resolved: the image has no /etc/group"
            ),
        )
    })?;
    group_entries(text)
        .find(|g| g.name == name)
        .map(|g| g.gid as u32)
        .ok_or_else(|| {
            Error::new(
                Code::NotFound,
                format!("USER {userstr:?}: no group {name:?} in the image's /etc/group"),
            )
        })
}

/// Puts the primary gid first in the additional gids unless already there
/// (Go `ensureAdditionalGids`).
fn ensure_primary_gid(user: &mut User, mut gids: Vec<u32>) {
    let gid = user.gid();
    if !gids.contains(&gid) {
        gids.insert(0, gid);
    }
    user.set_additional_gids(Some(gids));
}

/// Sets uid and gid from an image's `USER` (Go `WithUser`): `uid` (gid from
/// the passwd entry of that uid, else 0), `name` (uid and gid from its passwd
/// entry), or `user:group` where each side is a number or a name (a name is
/// looked up in /etc/passwd or /etc/group; the group is not taken from the
/// user's entry: `name:` means gid 0).
fn set_user(
    user: &mut User,
    userstr: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<()> {
    let parts: Vec<&str> = userstr.split(':').collect();
    let (uid, gid) = match parts[..] {
        [one] => match atoi(one) {
            Some(uid) => {
                let gid = user_by_uid(passwd, i64::from(uid as u32)).map_or(0, |u| u.gid as u32);
                (uid as u32, gid)
            }
            None => {
                let u = user_by_name(passwd, one, userstr)?;
                (u.uid as u32, u.gid as u32)
            }
        },
        [u, g] => {
            let uid = match atoi(u) {
                Some(n) => n as u32,
                None if u.is_empty() => 0,
                None => user_by_name(passwd, u, userstr)?.uid as u32,
            };
            let gid = match atoi(g) {
                Some(n) => n as u32,
                None if g.is_empty() => 0,
                None => gid_by_name(group, g, userstr)?,
            };
            (uid, gid)
        }
        _ => {
            return Err(Error::invalid(format!(
                "invalid USER {userstr:?}: expected user, uid, user:group, uid:gid, uid:group or user:gid"
            )))
        }
    };
    user.set_uid(uid);
    user.set_gid(gid);
    ensure_primary_gid(user, Vec::new());
    Ok(())
}

/// Sets the additional gids (Go `WithAdditionalGIDs`): the primary gid, then
/// the gid of every group in /etc/group that lists the user as a member (but
/// is not named after the user). `who` is a uid (named through /etc/passwd;
/// a uid it does not list gets no extra groups) or a user name.
fn set_additional_gids(user: &mut User, who: &str, passwd: Option<&str>, group: Option<&str>) {
    let name = match atoi(who) {
        Some(uid) => match user_by_uid(passwd, uid) {
            Some(u) => u.name,
            None => return ensure_primary_gid(user, Vec::new()),
        },
        None => who.to_string(),
    };
    let gids = group
        .map(|text| {
            group_entries(text)
                .filter(|g| g.name != name && g.members.contains(&name))
                .map(|g| g.gid as u32)
                .collect()
        })
        .unwrap_or_default();
    ensure_primary_gid(user, gids);
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

/// What kind of JSON value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why `v` does not deserialize as an optional `T`, if it does not.
///
/// Parsed from `v`'s text rather than from `v`: oci-spec's deserializers
/// then exist once in the library, for text (`parse` needs that one for the
/// positions), instead of once more for `Value`s (about 150 KB of code).
fn field_error<T: DeserializeOwned>(v: &Value) -> Option<String> {
    from_json_text::<Option<T>>(&v.to_string()).err()
}

/// `text` as a `T`, or serde's message without the position (which in a
/// value taken out of a larger text would not say where it is).
///
/// The one way the library deserializes oci-spec's runtime types (see
/// [`field_error`]).
pub(crate) fn from_json_text<T: DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    serde_json::from_str::<T>(text).map_err(|e| {
        let message = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        match message.strip_suffix(&at) {
            Some(bare) => bare.to_string(),
            None => message,
        }
    })
}

/// The first top-level member of a spec object that does not deserialize,
/// and why, to name the field in an error.
fn bad_member(obj: &serde_json::Map<String, Value>) -> Option<(String, String)> {
    use oci_spec::runtime as rt;
    obj.iter().find_map(|(k, v)| {
        let why = match k.as_str() {
            "root" => field_error::<Root>(v),
            "mounts" => field_error::<Vec<Mount>>(v),
            "process" => field_error::<shape::Process>(v),
            "hostname" | "domainname" => field_error::<String>(v),
            "hooks" => field_error::<rt::Hooks>(v),
            "annotations" => field_error::<std::collections::HashMap<String, String>>(v),
            "linux" => field_error::<Linux>(v),
            "solaris" => field_error::<rt::Solaris>(v),
            "windows" => field_error::<rt::Windows>(v),
            "vm" => field_error::<rt::VM>(v),
            "zos" => field_error::<rt::ZOS>(v),
            _ => None,
        };
        why.map(|w| (k.clone(), w))
    })
}

/// Checks that `json` is an OCI runtime spec.
///
/// Errors are `InvalidArgument`: text that is not JSON (serde's message,
/// with line and column); a value that is not an object; a missing, non
/// string or empty `ociVersion` (oci-spec alone would accept `{}`, taking
/// every member as optional: containerd and runc need the version, so it is
/// required here); a member of the wrong shape, named (e.g. `"process":
/// invalid type: ...`), with the position of the problem.
///
/// Members oci-spec does not know are ignored, as the runtime spec asks. The
/// check follows oci-spec's types, which are a little stricter than Go's in
/// places (e.g. `process.cwd` is required, capability names must be known).
pub fn check(json: &str) -> Result<()> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("spec is not valid JSON: {e}")))?;
    let not_spec = |why: String| Error::invalid(format!("not an OCI runtime spec: {why}"));
    let Value::Object(obj) = &value else {
        return Err(not_spec(format!(
            "expected a JSON object, found {}",
            kind(&value)
        )));
    };
    match obj.get("ociVersion") {
        None => return Err(not_spec("\"ociVersion\" is missing".to_string())),
        Some(Value::String(v)) if v.trim().is_empty() => {
            return Err(not_spec("\"ociVersion\" is empty".to_string()))
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(not_spec(format!(
                "\"ociVersion\" must be a string, found {}",
                kind(other)
            )))
        }
    }
    serde_json::from_str::<shape::Spec>(json)
        .map(drop)
        .map_err(|e| {
            let at = format!("at line {} column {}", e.line(), e.column());
            match bad_member(obj) {
                Some((member, why)) => not_spec(format!("{member:?}: {why} ({at})")),
                None => not_spec(e.to_string()),
            }
        })
}

/// [`check`]s `json` and returns it parsed. Not used by the C functions
/// (which only check), so oci-spec's `Process` deserializer, with its regex,
/// stays out of the C library.
pub fn parse(json: &str) -> Result<Spec> {
    check(json)?;
    serde_json::from_str(json).map_err(|e| Error::invalid(e.to_string()))
}

/// oci-spec's `Spec` and `Process` for reading only, with the same members,
/// names and types (oci-spec's own for everything inside), except that
/// `process.execCPUAffinity` is checked here: oci-spec checks it with a
/// regular expression, and its deserializer would bring the regex crate
/// into the library (about 400 KB of its 4 MiB). A test holds the two to
/// the same answers.
pub(crate) mod shape {
    #![allow(dead_code)] // read to check, not to use
    use std::collections::HashMap;
    use std::path::PathBuf;

    use oci_spec::runtime as rt;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Spec {
        #[serde(default, rename = "ociVersion")]
        version: String,
        #[serde(default)]
        root: Option<rt::Root>,
        #[serde(default)]
        mounts: Option<Vec<rt::Mount>>,
        #[serde(default)]
        process: Option<Process>,
        #[serde(default)]
        hostname: Option<String>,
        #[serde(default)]
        domainname: Option<String>,
        #[serde(default)]
        hooks: Option<rt::Hooks>,
        #[serde(default)]
        annotations: Option<HashMap<String, String>>,
        #[serde(default)]
        linux: Option<rt::Linux>,
        #[serde(default)]
        solaris: Option<rt::Solaris>,
        #[serde(default)]
        windows: Option<rt::Windows>,
        #[serde(default)]
        vm: Option<rt::VM>,
        #[serde(default)]
        zos: Option<rt::ZOS>,
        #[serde(default)]
        uid_mappings: Option<Vec<rt::LinuxIdMapping>>,
        #[serde(default)]
        gid_mappings: Option<Vec<rt::LinuxIdMapping>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Process {
        #[serde(default)]
        terminal: Option<bool>,
        #[serde(default)]
        console_size: Option<rt::Box>,
        user: rt::User,
        #[serde(default)]
        pub args: Option<Vec<String>>,
        #[serde(default)]
        command_line: Option<String>,
        #[serde(default)]
        env: Option<Vec<String>>,
        pub cwd: PathBuf,
        #[serde(default)]
        capabilities: Option<rt::LinuxCapabilities>,
        #[serde(default)]
        rlimits: Option<Vec<rt::PosixRlimit>>,
        #[serde(default)]
        no_new_privileges: Option<bool>,
        #[serde(default)]
        apparmor_profile: Option<String>,
        oom_score_adj: Option<i32>,
        #[serde(default)]
        selinux_label: Option<String>,
        #[serde(default)]
        io_priority: Option<rt::LinuxIOPriority>,
        #[serde(default)]
        scheduler: Option<rt::Scheduler>,
        #[serde(rename = "execCPUAffinity", default)]
        exec_cpu_affinity: Option<ExecCpuAffinity>,
    }

    #[derive(Deserialize)]
    struct ExecCpuAffinity {
        #[serde(default, deserialize_with = "cpu_list")]
        initial: Option<String>,
        #[serde(default, rename = "final", deserialize_with = "cpu_list")]
        last: Option<String>,
    }

    /// A list of CPUs as `0-3,7`: numbers or ranges, comma-separated.
    fn cpu_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let value: Option<String> = Option::deserialize(d)?;
        if let Some(s) = &value {
            if !is_cpu_list(s) {
                return Err(serde::de::Error::custom(format!(
                    "Invalid execCPUAffinity format: {s}"
                )));
            }
        }
        Ok(value)
    }

    fn is_cpu_list(s: &str) -> bool {
        let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
        s.split(',').all(|item| match item.split_once('-') {
            Some((from, to)) => number(from) && number(to),
            None => number(item),
        })
    }
}

/// `spec` as compact JSON, deterministic: object members in name order, and
/// capability lists (which oci-spec keeps as sets) sorted by name.
///
/// Errors: `Internal` if serialization fails (it does not for specs built
/// from oci-spec's types).
pub fn to_json(spec: &Spec) -> Result<String> {
    let mut v = serde_json::to_value(spec)
        .map_err(|e| Error::internal(format!("serializing the spec: {e}")))?;
    if let Some(Value::Object(caps)) = v.pointer_mut("/process/capabilities") {
        for list in caps.values_mut() {
            if let Value::Array(items) = list {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    serde_json::to_string(&v).map_err(|e| Error::internal(format!("serializing the spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(items: &[&str]) -> Vec<String> {
        strings(items)
    }

    fn image(config: Value) -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap()
    }

    fn user_of(spec: &Spec) -> (u32, u32, Vec<u32>) {
        let u = spec.process().as_ref().unwrap().user();
        (
            u.uid(),
            u.gid(),
            u.additional_gids().clone().unwrap_or_default(),
        )
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1::/:/bin/false\n\
        \n\
        app:x:1000:1001:App:/home/app:/bin/sh\n\
        weird:x:notanumber:7\n";
    const GROUP: &str = "# comment\n\
        root:x:0:\n\
        daemon:x:1:app\n\
        wheel:x:10:root,app\n\
        app:x:1001:app\n\
        staff:x:50:\n";

    fn with_user(user: &str) -> Result<(u32, u32, Vec<u32>)> {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        apply_image_config(
            &mut s,
            &image(json!({"User": user, "Cmd": ["sh"]})),
            Some(PASSWD),
            Some(GROUP),
        )?;
        Ok(user_of(&s))
    }

    #[test]
    fn the_default_spec_is_containerds() {
        let s = default_spec(&Defaults::V1_6, "default", "x1").unwrap();
        let all: Vec<&str> = {
            let mut v = vec![
                "CAP_AUDIT_WRITE",
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_MKNOD",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW",
                "CAP_SETFCAP",
                "CAP_SETGID",
                "CAP_SETPCAP",
                "CAP_SETUID",
                "CAP_SYS_CHROOT",
            ];
            v.sort();
            v
        };
        let dev = |major: i64, minor: Option<i64>| match minor {
            Some(m) => {
                json!({"allow": true, "type": "c", "major": major, "minor": m, "access": "rwm"})
            }
            None => json!({"allow": true, "type": "c", "major": major, "access": "rwm"}),
        };
        let want = json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "user": {"uid": 0, "gid": 0},
                "cwd": "/",
                "capabilities": {"bounding": all, "effective": all, "permitted": all},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc",
                 "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                 "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
            ],
            "linux": {
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    dev(1, Some(3)), dev(1, Some(8)), dev(1, Some(7)), dev(5, Some(0)),
                    dev(1, Some(5)), dev(1, Some(9)), dev(5, Some(1)), dev(136, None),
                    dev(5, Some(2))
                ]},
                "cgroupsPath": "/default/x1",
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                               {"type": "mount"}, {"type": "network"}],
                "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                    "/proc/sysrq-trigger"]
            }
        });
        let got: Value = serde_json::from_str(&to_json(&s).unwrap()).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn default_spec_checks_its_identifiers() {
        for (ns, id) in [("", "c"), ("ns", ""), ("a/b", "c"), ("ns", "../x")] {
            let e = default_spec(&Defaults::V1_6, ns, id).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{ns:?} {id:?}");
        }
    }

    #[test]
    fn to_json_is_deterministic_and_round_trips() {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        apply_image_config(&mut s, &image(json!({"Cmd": ["sh"]})), None, None).unwrap();
        let a = to_json(&s).unwrap();
        for _ in 0..5 {
            assert_eq!(to_json(&parse(&a).unwrap()).unwrap(), a);
        }
        assert_eq!(parse(&a).unwrap(), s);
    }

    #[test]
    fn parse_rejects_what_is_not_json() {
        let e = parse("{\"ociVersion\": \"1.0.2\",\n  \"process\": }").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(
            e.message.starts_with("spec is not valid JSON: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 2 column"), "{}", e.message);
        let e = parse("").unwrap_err();
        assert!(e.message.contains("EOF"), "{}", e.message);
    }

    #[test]
    fn parse_rejects_json_that_is_not_a_spec() {
        let cases = [
            ("[]", "expected a JSON object, found an array"),
            ("\"x\"", "expected a JSON object, found a string"),
            ("null", "found null"),
            ("{}", "\"ociVersion\" is missing"),
            ("{\"ociVersion\": 5}", "\"ociVersion\" must be a string, found a number"),
            ("{\"ociVersion\": \" \"}", "\"ociVersion\" is empty"),
            (
                "{\"ociVersion\": \"1.0.2\", \"process\": {\"cwd\": \"/\", \"user\": {\"uid\": \"root\"}}}",
                "\"process\": invalid type: string \"root\", expected u32 (at line 1 column",
            ),
            (
                "{\"ociVersion\": \"1.0.2\", \"mounts\": {}}",
                "\"mounts\": invalid type: map, expected a sequence",
            ),
            (
                "{\"ociVersion\": \"1.0.2\", \"hostname\": [1]}",
                "\"hostname\": invalid type",
            ),
            (
                "{\"ociVersion\": \"1.0.2\", \"linux\": {\"namespaces\": [{\"type\": \"bogus\"}]}}",
                "\"linux\": unknown variant `bogus`",
            ),
            ("{\"ociVersion\": \"1.0.2\", \"process\": {\"user\": {}}}", "missing field `cwd`"),
        ];
        for (json, want) in cases {
            let e = parse(json).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{json}");
            assert!(
                e.message.starts_with("not an OCI runtime spec: "),
                "{json}: {}",
                e.message
            );
            assert!(e.message.contains(want), "{json}: {}", e.message);
        }
    }

    /// `shape`'s answers are oci-spec's: for each text, both accept it or
    /// both refuse it with the same words.
    #[test]
    fn the_check_agrees_with_oci_spec() {
        let full = to_json(&default_spec(&Defaults::V1_6, "ns", "c").unwrap()).unwrap();
        let mut texts = vec![full.clone()];
        let process = |p: &str| format!("{{\"ociVersion\": \"1.0.2\", \"process\": {p}}}");
        for p in [
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/"}"#,
            r#"{"user": {"uid": 0, "gid": 0}}"#,
            r#"{"cwd": "/"}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": "0-3,7", "final": "1"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": "0-"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"final": "1,,2"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"final": "a"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": ""}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": null}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "consoleSize": {"height": 1, "width": 2}, "terminal": true}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "oomScoreAdj": "x"}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "noNewPrivileges": 1}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "commandLine": "a b", "apparmorProfile": "p", "selinuxLabel": "l"}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 1}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "scheduler": {"policy": "SCHED_OTHER"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "scheduler": {"policy": "bogus"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "capabilities": {"bounding": ["CAP_NOPE"]}}"#,
        ] {
            texts.push(process(p));
        }
        texts.push(r#"{"ociVersion": "1.0.2", "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}"#.into());
        texts.push(r#"{"ociVersion": "1.0.2", "gidMappings": 3}"#.into());
        let mut refused = 0;
        for text in &texts {
            let ours = serde_json::from_str::<shape::Spec>(text)
                .map(drop)
                .map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Spec>(text)
                .map(drop)
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
            refused += usize::from(ours.is_err());
        }
        assert!(
            refused >= 10 && refused < texts.len() - 5,
            "{refused} of {}",
            texts.len()
        );
        let p =
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": "0-"}}"#;
        let e = check(&process(p)).unwrap_err();
        assert!(
            e.message
                .contains("\"process\": Invalid execCPUAffinity format: 0-"),
            "{}",
            e.message
        );
    }

    #[test]
    fn parse_accepts_a_minimal_spec_and_ignores_unknown_members() {
        let s =
            parse("{\"ociVersion\": \"1.0.2\", \"somethingNew\": {\"a\": 1}, \"hostname\": null}")
                .unwrap();
        assert_eq!(s.version(), "1.0.2");
        assert!(s.process().is_none() && s.hostname().is_none());
    }

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

/// Applies an RFC 7386 JSON merge patch to a spec and checks the result is
/// still an OCI runtime spec: objects merge key by key, `null` removes a
/// key, anything else replaces. Returns the patched spec as JSON.
pub fn merge_patch(spec_json: &str, patch_json: &str) -> Result<String> {
    fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
        let serde_json::Value::Object(patch) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = serde_json::Value::Object(Default::default());
        }
        let target = target.as_object_mut().expect("made an object above");
        for (k, v) in patch {
            if v.is_null() {
                target.remove(k);
            } else {
                merge(
                    target.entry(k.clone()).or_insert(serde_json::Value::Null),
                    v,
                );
            }
        }
    }
    check(spec_json).map_err(|e| e.context("spec_json"))?;
    let mut spec: serde_json::Value = serde_json::from_str(spec_json)
        .map_err(|e| Error::invalid(format!("spec_json is not valid JSON: {e}")))?;
    let patch: serde_json::Value = serde_json::from_str(patch_json)
        .map_err(|e| Error::invalid(format!("patch_json is not valid JSON: {e}")))?;
    merge(&mut spec, &patch);
    let out = spec.to_string();
    check(&out).map_err(|e| e.context("the patched spec"))?;
    Ok(out)
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    #[test]
    fn merge_patch_sets_replaces_and_removes() {
        let spec = to_json(&default_spec(&Defaults::V1_6, "default", "m1").unwrap()).unwrap();
        let out = merge_patch(
            &spec,
            r#"{"process":{"terminal":true,"args":["top"]},"hostname":"box","linux":{"maskedPaths":null}}"#,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["process"]["args"], serde_json::json!(["top"]));
        assert_eq!(v["process"]["cwd"], "/", "untouched members stay");
        assert_eq!(v["hostname"], "box");
        assert!(v["linux"].get("maskedPaths").is_none());
        let e = merge_patch(&spec, r#"{"ociVersion":null}"#).unwrap_err();
        assert!(e.message.starts_with("the patched spec"), "{}", e.message);
        let e = merge_patch(&spec, "{").unwrap_err();
        assert!(
            e.message.starts_with("patch_json is not valid JSON"),
            "{}",
            e.message
        );
        let e = merge_patch("[]", "{}").unwrap_err();
        assert!(e.message.starts_with("spec_json"), "{}", e.message);
    }

    #[test]
    fn defaults_follow_the_daemon_version() {
        let cases = [
            ("1.6.20~ds1", "1.0.2-dev", false),
            ("v1.6.26", "1.0.2-dev", true),
            ("1.7.10", "1.2.0", false),
            ("1.7.24~ds1", "1.2.0", true),
            ("2.0.5", "1.2.0", true),
            ("2.1.9+ds1", "1.2.1", true),
            ("3.0.0", "1.2.1", true),
            ("garbage", "1.2.1", true),
        ];
        for (version, oci, powercap) in cases {
            let d = Defaults::for_daemon(version);
            assert_eq!(
                (d.oci_version, d.mask_powercap),
                (oci, powercap),
                "{version}"
            );
            let s = default_spec(&d, "ns", "c").unwrap();
            assert_eq!(s.version(), oci);
            let masked = s.linux().as_ref().unwrap().masked_paths().clone().unwrap();
            assert_eq!(
                masked.contains(&POWERCAP.to_string()),
                powercap,
                "{version}"
            );
            assert_eq!(masked.last().map(String::as_str), Some("/proc/scsi"));
        }
    }
}
