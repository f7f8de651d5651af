#!/bin/sh
# Runs inside the VM as PID 1 (see run.sh): cgroup v2 scenarios of step 04,
# and smoke runs of steps 05 and 07, on a pure cgroup v2 hierarchy.
# Prints TAP-like lines and a closing "N passed, M failed", then powers off.
export PATH=/bin:/workshop
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
insmod /modules/overlay.ko 2>/dev/null
echo "workshop-vm: up, kernel $(uname -r); $(grep ' /sys/fs/cgroup ' /proc/mounts)"

passed=0
failed=0
n=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; sed 's/^/#   /' /tmp/out /tmp/err | tail -20; }
# run NAME EXPECTED_CODE CMD...: runs CMD, checks its exit code. A limit
# that does not hold may also mean a hang (memory.high instead of
# memory.max throttles instead of killing): 60 s at most.
run() {
    name=$1 want=$2; shift 2
    timeout 60 "$@" >/tmp/out 2>/tmp/err
    code=$?
    if [ "$code" = "$want" ]; then return 0; fi
    echo "#   $name: exit code $code, expected $want" >>/tmp/err
    return 1
}
R="--rootfs /rootfs"

# 1. the runtime sees v2, and writes the v2 files
if run "v2 detected" 0 04-cgroups $R --memory 32m --cpus 0.5 --pids-limit 20 -- /bin/true \
    && grep -q "cgroup v2" /tmp/err \
    && grep -q 'memory.max", "33554432") = 0' /tmp/err \
    && grep -q 'cpu.max", "50000 100000") = 0' /tmp/err \
    && grep -q 'pids.max", "20") = 0' /tmp/err; then
    ok "cgroup v2 detected; memory.max, cpu.max and pids.max written"
else not_ok "cgroup v2 detected; memory.max, cpu.max and pids.max written"; fi

# The trace of steps/04-cgroups/tests/trace.rs (TRACED there: keep the two
# in step), printed between markers for run.sh, which gives it to that
# file's the_v2_trace_made_in_the_vm_lane to check against its snapshot.
# The rootfs, state directory and cgroup parent have the names it redacts.
mkdir -p /srv/vm-rootfs /tmp/workshop-state-vm && chmod 711 /tmp/workshop-state-vm
mount -o bind /rootfs /srv/vm-rootfs
T="--rootfs /srv/vm-rootfs --state-dir /tmp/workshop-state-vm"
export WORKSHOP_CGROUP_PARENT=/workshop-tests-vm
# (a first run makes the parent, as the test's does)
if run "trace, first run" 0 04-cgroups $T -q --pids-limit 20 /bin/true \
    && run "trace" 0 04-cgroups $T --hostname traced --memory 64m --cpus 0.5 \
        --pids-limit 20 /bin/true; then
    echo "--- trace v2 ---"; cat /tmp/err; echo "--- end of trace v2 ---"
    ok "step 04's trace printed for its v2 snapshot"
else not_ok "step 04's trace printed for its v2 snapshot"; fi
unset WORKSHOP_CGROUP_PARENT
rmdir /sys/fs/cgroup/workshop-tests-vm 2>/dev/null
umount /srv/vm-rootfs

# 2. controllers handed down through cgroup.subtree_control
if grep -q memory /sys/fs/cgroup/workshop/cgroup.subtree_control \
    && grep -q pids /sys/fs/cgroup/workshop/cgroup.subtree_control \
    && grep -q cpu /sys/fs/cgroup/workshop/cgroup.subtree_control; then
    ok "controllers enabled in /workshop/cgroup.subtree_control"
else cat /sys/fs/cgroup/workshop/cgroup.subtree_control >/tmp/out 2>&1; : >/tmp/err; not_ok "controllers enabled in /workshop/cgroup.subtree_control"; fi

# ANCHOR: oom
# 3. the memory limit holds: OOM kill, exit 137, reported
if run "oom" 137 04-cgroups $R --memory 16m -- /usr/local/bin/probe eat 64m \
    && grep -q "killed by the OOM killer (memory limit 16 MiB)" /tmp/err; then
    ok "past --memory 16m: OOM-killed, exit 137, reported"
else not_ok "past --memory 16m: OOM-killed, exit 137, reported"; fi

# ANCHOR_END: oom

# 4. under the limit it works
if run "under" 0 04-cgroups $R -q --memory 16m -- /usr/local/bin/probe eat 4m; then
    ok "under --memory 16m: the same program finishes"
else not_ok "under --memory 16m: the same program finishes"; fi

# 5. the kernel has the limit while the container runs
timeout 60 04-cgroups $R -q --memory 32m -- /bin/sleep 3 &
sleep 1.5
limit=$(cat /sys/fs/cgroup/workshop/*/memory.max 2>/dev/null | head -n 1)
wait
if [ "$limit" = 33554432 ]; then ok "memory.max is 33554432 while it runs"
else echo "memory.max: '$limit'" >/tmp/out; : >/tmp/err; not_ok "memory.max is 33554432 while it runs"; fi

# 6. the fork bomb is contained by --pids-limit
if run "bomb" 0 04-cgroups $R --pids-limit 10 -- /bin/sh -c 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived' \
    && grep -q "pids: the limit of 10 was hit" /tmp/err && grep -q survived /tmp/out; then
    ok "fork bomb contained by --pids-limit 10"
else not_ok "fork bomb contained by --pids-limit 10"; fi

# 7. nothing left behind
left=$(find /sys/fs/cgroup/workshop -mindepth 1 -maxdepth 1 -type d | wc -l)
if [ "$left" = 0 ]; then ok "no container cgroup left"
else find /sys/fs/cgroup/workshop -mindepth 1 -maxdepth 1 -type d >/tmp/out; : >/tmp/err; not_ok "no container cgroup left"; fi

# 8. inside, the cgroup namespace shows /
if run "cgroupns" 0 04-cgroups $R -q -- /bin/cat /proc/self/cgroup && [ "$(cat /tmp/out)" = "0::/" ]; then
    ok "/proc/self/cgroup inside is 0::/"
else not_ok "/proc/self/cgroup inside is 0::/"; fi

# 9. step 05 on v2
if run "05" 0 05-pivot-root $R -q -- /bin/sh -c 'cat /proc/self/cgroup; ls /dev/null'; then
    ok "05-pivot-root runs"
else not_ok "05-pivot-root runs"; fi

# 10. step 07 on v2: an overlay of the rootfs. --userns=host: this VM's
# files live on a tmpfs, which Linux can idmap only from 6.3 on, and its
# Debian kernel is 6.1 (step 07 says so, and names this flag, without it).
if run "07" 0 07-overlay $R -q --rm --network none --userns host -- /bin/sh -c 'echo x > /written; cat /written' \
    && [ ! -e /rootfs/written ]; then
    ok "07-overlay runs, and its write stays in its layer"
else not_ok "07-overlay runs, and its write stays in its layer"; fi

echo "vm: $passed passed, $failed failed"
sync
poweroff -f
