//! Images: getting them into containerd, knowing what they hold for a
//! platform, and getting them out again, done by the library itself over
//! the daemon's content, images, diff and snapshots services, as
//! containerd's Go client does (so it works alike on 1.6, 1.7 and 2.x).
//!
//! - [`oci`]: the OCI and Docker image model: media types, the one digest
//!   checker, the cap on metadata read whole, the JSON of descriptors,
//!   indexes and manifests.
//! - [`platform`]: platforms as Go's `platforms` package names and matches
//!   them, and the one matcher of an index's entries.
//! - [`walk`]: the one walk from an image's target through indexes to the
//!   manifest of a platform, whatever its blobs come from (registry,
//!   content store, archive).
//! - [`content`]: the content store: blobs read and written, streamed
//!   writers, labels.
//! - [`records`]: image records (get, list, tag, delete, make) and what an image
//!   holds for this machine (size, config, unpacked or not).
//! - [`pull`]: a pull from a registry into the content store, with
//!   [`progress`] for its caller.
//! - [`push`]: a push of an image record to a registry (the platforms whose
//!   content is in the store), reporting through [`progress`] too.
//! - [`unpack`]: layers applied into a snapshotter, chain id by chain id.
//! - [`snapshot`]: from an image name to a snapshot prepared on its rootfs
//!   (and files read from that rootfs through [`rootfs`]).
//! - [`archive`]: import and export of OCI layout and `docker save` tars.
//!
//! Owns: the image model and the platform choice; the leases of its own
//! operations (pull, import, unpack); the caches of resolved images and
//! rootfs files kept on the client. May call: `core::daemon` (the client,
//! leases, identifiers), `core::registry` (references and registry access,
//! for pulls, pushes and archive names), `core::error`, `core::files`,
//! `core::stall`, `core::cancel`.

pub mod archive;
pub mod content;
pub mod oci;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;
pub mod records;
pub mod rootfs;
pub mod snapshot;
pub mod unpack;
pub mod walk;
