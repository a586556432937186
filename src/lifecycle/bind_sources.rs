//! Bind sources inside the bundle's rootfs, under ward's user namespace.
//!
//! runc resolves such a source in the container's tree as mounted so far
//! (its "container bind-mount source": a source that exists only through an
//! earlier mount of the spec). ward mounts the rootfs id-mapped elsewhere
//! (`/run/ward-rootfs/N/root`), where the earlier mounts land, so the path
//! the spec gives names the bare image instead: rebase it onto the mapped
//! root. The mapped root is id-mapped already, so such a bind needs no
//! staging of its own.

use std::path::Path;

use oci_spec::runtime::Spec;

use crate::policy::idmap;

/// Points bind sources under `image_rootfs` (absolute, or relative to
/// `bundle_dir`) at the same path under `mapped_root`. Binds the spec asks to
/// id-map themselves are left alone: an id-mapped mount cannot be id-mapped
/// again, so they keep being staged from the image (runc's "container idmap
/// source" is not covered).
pub fn rebase_onto_mapped_root(
    spec: &mut Spec,
    bundle_dir: &Path,
    image_rootfs: &Path,
    mapped_root: &Path,
) {
    let Some(mut mounts) = spec.mounts().clone() else {
        return;
    };
    for m in mounts
        .iter_mut()
        .filter(|m| idmap::is_bind(m) && !idmap::spec_idmap(m))
    {
        let Some(src) = m.source().clone() else {
            continue;
        };
        let abs = if src.is_absolute() {
            src
        } else {
            bundle_dir.join(src)
        };
        if let Ok(rel) = abs.strip_prefix(image_rootfs) {
            m.set_source(Some(mapped_root.join(rel)));
        }
    }
    spec.set_mounts(Some(mounts));
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    #[test]
    fn sources_under_the_image_move_to_the_mapped_root() {
        let mut spec = Spec::default();
        let bind = |src: &str| {
            MountBuilder::default()
                .destination("/x")
                .typ("bind")
                .source(src)
                .options(vec!["bind".to_string()])
                .build()
                .unwrap()
        };
        spec.set_mounts(Some(vec![
            bind("/b/rootfs/mnt/x"),
            bind("rootfs/mnt/y"),
            bind("/b/data"),
            bind("/b/rootfsX/z"),
            {
                let mut m = bind("/b/rootfs/mnt/i");
                m.set_options(Some(vec!["bind".to_string(), "idmap".to_string()]));
                m
            },
        ]));
        rebase_onto_mapped_root(
            &mut spec,
            Path::new("/b"),
            Path::new("/b/rootfs"),
            Path::new("/run/ward-rootfs/0/root"),
        );
        let srcs: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.source().clone().unwrap())
            .collect();
        assert_eq!(srcs[0], Path::new("/run/ward-rootfs/0/root/mnt/x"));
        assert_eq!(srcs[1], Path::new("/run/ward-rootfs/0/root/mnt/y"));
        assert_eq!(srcs[2], Path::new("/b/data"));
        assert_eq!(srcs[3], Path::new("/b/rootfsX/z"));
        assert_eq!(srcs[4], Path::new("/b/rootfs/mnt/i"));
    }
}
