#!/usr/bin/env bash
# The cgroup v2 lane: boots a Linux kernel under QEMU with a pure cgroup v2
# hierarchy (this machine and CI have v1, most learners have v2) and runs
# step 04's scenarios there, plus smoke runs of steps 05 and 07.
#
#   tests/vm/run.sh            build what is missing, boot, report; exit 0 iff all pass
#
# What it builds (under target/vm-lane, reused by later runs):
#   kernel/     Debian's kernel package, fetched with apt-get download and
#               unpacked with dpkg -x (no root file system is installed)
#   initramfs   busybox-static, the steps built as static binaries, the
#               busybox test rootfs with the probe, overlay.ko, and guest.sh
# The guest prints "ok N - ..." lines and "vm: N passed, M failed" on its
# serial console; this script reads them back, and the trace of step 04
# that the guest printed, which a test checks against its v2 snapshot.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=${WORKSHOP_VM_DIR:-$top/target/vm-lane}
mkdir -p "$work"
say() { printf 'vm-lane: %s\n' "$*" >&2; }
die() { printf 'vm-lane: error: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------
# qemu and a static busybox, from the host's packages (scripts/host-requirements).
"$top/scripts/host-setup" vm || die "the lane needs the tools named above"
bb=/bin/busybox

# --- kernel -----------------------------------------------------------------
kdir=$work/kernel
if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
    say "fetching Debian's kernel package"
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
    [ -n "$pkg" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
    rm -rf "$kdir" && mkdir -p "$kdir"
    (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
    dpkg -x "$work/$pkg"_*.deb "$kdir"
    rm -f "$work/$pkg"_*.deb
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n 1)
release=$(basename "$vmlinuz" | sed 's/^vmlinuz-//')
overlay_ko=$(find "$kdir/lib/modules/$release" -name overlay.ko | head -n 1)
[ -n "$overlay_ko" ] || die "no overlay.ko in the kernel package"

# --- static binaries of the steps --------------------------------------------
say "building the steps as static binaries (target/vm)"
triple="$(uname -m)-unknown-linux-gnu"
(cd "$top" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
    --target "$triple" --target-dir "$top/target/vm" \
    -p step04-cgroups -p step05-pivot-root -p step07-overlay -p workshop-probe)
bin=$top/target/vm/$triple/release

# --- initramfs ----------------------------------------------------------------
root=$work/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,workshop,modules,newroot,proc,sys,dev}
cp "$bb" "$root/bin/busybox"
cp "$bin/04-cgroups" "$bin/05-pivot-root" "$bin/07-overlay" "$root/workshop/"
cp "$overlay_ko" "$root/modules/"
"$top/rootfs-fetch.sh" --busybox --dest "$root/rootfs" >/dev/null 2>&1 || die "rootfs-fetch.sh --busybox failed"
mkdir -p "$root/rootfs/usr/local/bin"
cp "$bin/probe" "$root/rootfs/usr/local/bin/probe"
cp "$here/init" "$here/guest.sh" "$root/"
(cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null) | gzip -1 >"$work/initramfs.gz"

# --- boot -----------------------------------------------------------------------
console=$work/console.log
boot() { # ACCEL SECONDS
    : >"$console"
    timeout "$2" qemu-system-x86_64 -accel "$1" -machine q35 -m 1536 -smp 2 \
        -nographic -no-reboot -kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
        -append "console=ttyS0 panic=-1 quiet cgroup_no_v1=all rdinit=/init" \
        >"$console" 2>&1 || true
    grep -q '^vm: [0-9]* passed' "$console"
}
# KVM where it can boot a kernel; TCG (software emulation) otherwise. Here
# /dev/kvm exists but cannot boot a normal kernel, so KVM gets a short try.
if [ -w /dev/kvm ] && boot kvm 60; then
    say "booted with KVM"
else
    say "booting with TCG (software emulation; a few minutes)"
    boot tcg 900 || { tail -n 40 "$console" >&2; die "the guest did not finish (console: $console)"; }
fi

# --- report -------------------------------------------------------------------
tr -d '\r' <"$console" | grep -E '^(ok|not ok|#|vm:)|workshop-vm:' || true
summary=$(tr -d '\r' <"$console" | grep -E '^vm: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed/\1/')
[ "$failed" = 0 ] || die "$summary"

# --- step 04's v2 trace snapshot ----------------------------------------------
# The guest printed the trace between markers; the test compares it with
# steps/04-cgroups/tests/snapshots/trace__trace_v2.snap (insta, as every
# snapshot: INSTA_UPDATE=always to accept a change, after reading it).
trace=$work/trace-v2.txt
tr -d '\r' <"$console" | sed -n '/^--- trace v2 ---$/,/^--- end of trace v2 ---$/p' \
    | sed '1d;$d' >"$trace"
[ -s "$trace" ] || die "the guest printed no trace (console: $console)"
say "checking step 04's trace on cgroup v2 against its snapshot"
checked=$(cd "$top" && WORKSHOP_VM_TRACE=$trace cargo test --quiet -p step04-cgroups \
    --test trace -- --ignored --exact the_v2_trace_made_in_the_vm_lane 2>&1) \
    || { echo "$checked" >&2; die "step 04's v2 trace differs from its snapshot (see above)"; }
# (A renamed test would match nothing, and pass: one must have run.)
echo "$checked" | grep -q "1 passed" || { echo "$checked" >&2; die "the v2 trace test did not run"; }
