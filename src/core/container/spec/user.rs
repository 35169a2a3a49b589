//! The user and groups of an image's `USER` (Go `WithUser` and
//! `WithAdditionalGIDs`), looked up in the image's `/etc/passwd` and
//! `/etc/group` as containerd reads them.

use oci_spec::runtime::User;

use crate::core::error::{Code, Error, Result};

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
pub(super) fn set_user(
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
pub(super) fn set_additional_gids(
    user: &mut User,
    who: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) {
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
