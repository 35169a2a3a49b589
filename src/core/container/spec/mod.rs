//! OCI runtime specs: the default Linux spec containerd gives a container
//! ([`default_spec`], its Go `oci.GenerateSpec` plus the device rules `ctr
//! run` adds), merging an image config into a spec ([`apply_image_config`],
//! Go `oci.WithImageConfig`) with the user and group lookups of `WithUser`
//! and `WithAdditionalGIDs` (`user`), and checking, parsing, printing and
//! patching spec JSON ([`check`], [`parse`], [`to_json`], [`merge_patch`]).
//!
//! Everything here is pure: no daemon calls. Reading an image's config and
//! its `/etc/passwd` and `/etc/group` is the caller's job.

mod default;
mod image;
mod json;
mod user;

pub use default::{
    default_spec, Defaults, DEFAULT_CAPABILITIES, DEFAULT_PATH_ENV, DEFAULT_ROOTFS, OCI_VERSION,
};
pub use image::{apply_image_config, replace_or_append_env, set_args, set_default_path_env};
pub use json::{check, merge_patch, parse, to_json};
pub(crate) use json::{from_json_text, shape};

/// `items` as owned strings.
fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod testing {
    use oci_spec::image::ImageConfiguration;
    use oci_spec::runtime::Spec;
    use serde_json::{json, Value};

    use super::*;
    use crate::core::error::Result;

    pub(super) fn env(items: &[&str]) -> Vec<String> {
        strings(items)
    }

    pub(super) fn image(config: Value) -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap()
    }

    pub(super) fn user_of(spec: &Spec) -> (u32, u32, Vec<u32>) {
        let u = spec.process().as_ref().unwrap().user();
        (
            u.uid(),
            u.gid(),
            u.additional_gids().clone().unwrap_or_default(),
        )
    }

    pub(super) const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1::/:/bin/false\n\
        \n\
        app:x:1000:1001:App:/home/app:/bin/sh\n\
        weird:x:notanumber:7\n";
    pub(super) const GROUP: &str = "# comment\n\
        root:x:0:\n\
        daemon:x:1:app\n\
        wheel:x:10:root,app\n\
        app:x:1001:app\n\
        staff:x:50:\n";

    pub(super) fn with_user(user: &str) -> Result<(u32, u32, Vec<u32>)> {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        apply_image_config(
            &mut s,
            &image(json!({"User": user, "Cmd": ["sh"]})),
            Some(PASSWD),
            Some(GROUP),
        )?;
        Ok(user_of(&s))
    }
}
