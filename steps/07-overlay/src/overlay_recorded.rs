//! The overlay layer's hooks, recorded (sys.rs in step 01): which calls a
//! container's root takes, in which order, with no root and no mount.

use super::*;
use step01_chroot::spec::Spec;
use step01_chroot::trace::Trace;
use step03_user_ns::idmap::IdKind;
use step03_user_ns::range::IdRange;

/// An image of two layers, run with container root remapped and `--rm`:
/// the parent claims the container's directory, makes the overlay's
/// three, gives the writable layer to container root, mounts; the child
/// binds the merged view onto itself (for pivot_root); cleanup unmounts.
#[test]
fn an_image_becomes_a_root_of_its_own() {
    let mut spec = Spec::new("t", "/r".into(), vec![], "/s".into());
    spec.id = "0123456789ab".into();
    spec.root_on_host = (100000, 100000);
    let map = |kind| IdMap::new(kind, vec![IdRange::one(0, 100000)]).unwrap();
    let lowers = vec!["/s/layers/base".into(), "/s/layers/top".into()];
    let maps = Some((map(IdKind::User), map(IdKind::Group)));
    let mut layer = Overlay::new(lowers, false, true, None, true, maps);
    let (trace, kernel) = Trace::recording();
    let mut cx = ParentCx {
        spec: &mut spec,
        trace,
    };
    layer.prepare(&mut cx).unwrap();
    let base = "/s/overlay/0123456789ab";
    let merged = format!("{base}/merged");
    assert_eq!(
        cx.spec.rootfs.to_str(),
        Some(merged.as_str()),
        "the new root"
    );
    let (child_trace, child) = Trace::recording();
    layer
        .enter(&ChildCx::standalone(cx.spec, child_trace))
        .unwrap();
    layer.released(&mut cx);
    layer.cleanup(&mut cx, None).unwrap();
    assert_eq!(
        kernel.shown(),
        [
            format!("mkdir({base:?}, 0710); chown(-1, 100000); owner"),
            format!("mkdir(\"{base}/upper\", 0755)"),
            format!("mkdir(\"{base}/work\", 0755)"),
            format!("mkdir({merged:?}, 0755)"),
            "idmap each lower layer with the container's maps, under /s/idmapped/0123456789ab"
                .into(),
            format!("chown(\"{base}/upper\", 100000, 100000)"),
            // The top layer first, in lowerdir.
            format!(
                "mount(\"overlay\", {merged:?}, \"overlay\", 0, \"lowerdir=/s/layers/top:\
                 /s/layers/base,upperdir={base}/upper,workdir={base}/work\")"
            ),
            format!("umount2({merged:?}, MNT_DETACH)"),
        ]
    );
    assert_eq!(
        child.shown(),
        [format!(
            "mount({merged:?}, {merged:?}, NULL, MS_BIND | MS_REC, NULL)"
        )]
    );
}
