//! The default Linux spec of containerd's Go client (`oci.GenerateSpec`
//! plus the device rules `ctr run` adds), as each daemon version's own `ctr`
//! makes it ([`Defaults`]).

use std::path::PathBuf;

use oci_spec::runtime::{
    Capability, Linux, LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespace,
    LinuxNamespaceType, LinuxResources, Mount, PosixRlimitBuilder, PosixRlimitType, Process, Root,
    Spec, User,
};

use super::strings;
use crate::core::daemon::ident;
use crate::core::error::{Error, Result};

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

/// A process with nothing set (Go's zero `specs.Process`): uid and gid 0,
/// empty cwd. (`Process::default()` fills in oci-spec's own defaults.)
pub(super) fn empty_process() -> Process {
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
///   none here: [`apply_image_config`](super::apply_image_config) brings the image's env or the default
///   PATH; without an image use [`set_default_path_env`](super::set_default_path_env));
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::core::container::spec::to_json;
    use crate::core::error::Code;

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
