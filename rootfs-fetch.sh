#!/usr/bin/env bash
# Gets the root filesystem the workshop's containers run in.
#
#   ./rootfs-fetch.sh              Alpine's minirootfs (pinned, sha256-checked) into rootfs/;
#                                  falls back to --busybox when the download fails (offline)
#   ./rootfs-fetch.sh --busybox    a tiny rootfs made of the host's static busybox
#   ./rootfs-fetch.sh --force      throw away what is there and build it again
#   ./rootfs-fetch.sh --dest DIR   put it somewhere else (the tests use target/test-rootfs)
#
# Running it again does nothing when the rootfs is already there (idempotent).
set -euo pipefail

ALPINE_VERSION=3.20.3
ALPINE_BRANCH=v3.20
# sha256 of alpine-minirootfs-$ALPINE_VERSION-$ARCH.tar.gz, from Alpine's release page.
declare -A ALPINE_SHA256=(
    [x86_64]=d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c
    [aarch64]=041fa34a81788242df9e78fa69b97ab45b8ec47ddbf88864755610414a7bf3de
)

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/rootfs"
mode=alpine
force=0

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
say() { printf '\033[1mrootfs-fetch:\033[0m %s\n' "$*" >&2; }
die() { printf 'rootfs-fetch: error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --busybox) mode=busybox ;;
        --alpine) mode=alpine ;;
        --force) force=1 ;;
        --dest) [ $# -ge 2 ] || die "--dest needs a directory"; dest=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

[ "$(uname -s)" = Linux ] || die "containers need Linux; on $(uname -s), run the workshop in a Linux VM"

# The marker says which kind of rootfs is there; its presence means "complete".
marker="$dest/.workshop-rootfs"
if [ -f "$marker" ] && [ "$force" = 0 ]; then
    say "$dest is already there ($(cat "$marker")); use --force to rebuild it"
    exit 0
fi

# Never delete a directory this script did not make.
if [ -e "$dest" ] && [ ! -f "$marker" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
    die "$dest exists but was not made by this script; move it away or pass --dest DIR"
fi

# Build into a temporary directory next to the destination, then rename it:
# an interrupted run never leaves a half-made rootfs behind.
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d "$dest.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT

fetch_alpine() {
    local arch url sum tarball
    arch=$(uname -m)
    sum=${ALPINE_SHA256[$arch]:-}
    [ -n "$sum" ] || { say "no pinned Alpine minirootfs for $arch"; return 1; }
    url="https://dl-cdn.alpinelinux.org/alpine/$ALPINE_BRANCH/releases/$arch/alpine-minirootfs-$ALPINE_VERSION-$arch.tar.gz"
    command -v curl >/dev/null || { say "curl is not installed"; return 1; }
    tarball="$work/alpine.tar.gz"
    say "downloading Alpine $ALPINE_VERSION ($arch)"
    # --progress-bar: one line that fills up while the ~3 MB arrive.
    curl --fail --location --connect-timeout 10 --max-time 300 --progress-bar \
        --output "$tarball" "$url" || { say "download failed: $url"; return 1; }
    echo "$sum  $tarball" | sha256sum --check --status ||
        die "sha256 mismatch for $url: the file is not the one this script pins"
    mkdir "$work/root"
    # --numeric-owner: the ids in the tarball, whatever the host's /etc/passwd says.
    tar --extract --gzip --numeric-owner --file "$tarball" --directory "$work/root"
    echo "alpine $ALPINE_VERSION $arch" >"$work/root/.workshop-rootfs"
}

find_static_busybox() {
    local bb words
    for bb in /bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox; do
        [ -x "$bb" ] || continue
        # A dynamic busybox would need the host's libc inside the rootfs.
        # (ldd exits 1 for a static binary, so read its words, not its status.)
        words=$(LC_ALL=C ldd "$bb" 2>&1 || true)
        case $words in
            *"not a dynamic executable"* | *"statically linked"*) echo "$bb"; return 0 ;;
        esac
    done
    return 1
}

# A static busybox comes from the host's packages: scripts/host-setup
# installs it (with the host's package manager, when root) or says how.
install_busybox() {
    "$here/scripts/host-setup" rootfs || die "no static busybox: see the line above for the fix"
}

make_busybox() {
    local bb root=$work/root applet
    bb=$(find_static_busybox) || { install_busybox; bb=$(find_static_busybox) || die "busybox was installed but is not static"; }
    say "building a busybox rootfs from $bb"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,run}
    chmod 1777 "$root/tmp"
    chmod 700 "$root/root"
    cp "$bb" "$root/bin/busybox"
    # One symlink per applet (sh, ls, ps, mount, ...), where busybox would put it.
    "$bb" --list-full | while read -r applet; do
        [ "$applet" = bin/busybox ] && continue
        mkdir -p "$root/$(dirname "$applet")"
        ln -sf /bin/busybox "$root/$applet"
    done
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
    cat >"$root/etc/os-release" <<EOF
NAME="Workshop BusyBox"
ID=workshop-busybox
PRETTY_NAME="Workshop BusyBox rootfs ($("$bb" | head -n 1 | cut -d' ' -f2))"
EOF
    echo workshop >"$root/etc/hostname"
    # As an image has them; from step 05 on, the runtime mounts its own over them.
    printf '127.0.0.1\tlocalhost\n' >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"
    echo "busybox $("$bb" | head -n 1 | cut -d' ' -f2)" >"$root/.workshop-rootfs"
}

# The few device nodes every program expects (a shell's `cmd &` reads
# /dev/null, for one). Steps 01 to 04 use the rootfs's /dev as it is; step
# 05 mounts a fresh /dev instead. Making device nodes needs root (mknod(2)).
make_dev_nodes() {
    local dev=$work/root/dev node
    mkdir -p "$dev"
    if [ "$(id -u)" != 0 ]; then
        say "not root: $dest/dev stays empty, so /dev/null is missing in steps 01-04"
        say "  (run this script with sudo and --force to create the basic device nodes)"
        return 0
    fi
    for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
        set -- $node
        rm -f "$dev/$1"
        mknod -m 666 "$dev/$1" c "$2" "$3"
    done
}

if [ "$mode" = alpine ]; then
    if ! fetch_alpine; then
        say "falling back to --busybox (offline, or no pinned image for this machine)"
        rm -rf "$work/root"
        make_busybox
    fi
else
    make_busybox
fi

make_dev_nodes
rm -rf "$dest"
mv "$work/root" "$dest"
say "ready: $dest ($(cat "$dest/.workshop-rootfs"))"
say "try: cargo run --bin 01-chroot -- /bin/ls /"
