#!/usr/bin/env bash
# System-wide from another root filesystem, as the image and the DaemonSet
# run it: memobserver in a chroot of its own (its libraries are copies, other
# files than the host's), in a private mount namespace with /proc, /sys and
# /dev of the host, sharing the host's pids. A leaking host process started
# afterwards must be seen with its exact leaks: the host's C library is
# probed through /proc/PID/root, not mistaken for the root's own copy.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip otherroot "$why"; exit 0; fi
if ! command -v unshare > /dev/null || ! command -v chroot > /dev/null; then
	skip otherroot "needs unshare and chroot (util-linux, coreutils)"
	exit 0
fi

root=$TMP/root
mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/bin"
cp "$MO" "$root/bin/memobserver"
for lib in $(ldd "$MO" | grep -o '/[^ ]*'); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
libc=$(ldd "$MO" | awk '$1 ~ /^libc\.so/ {print $3}')
if [ "$(stat -Lc %d:%i "$libc")" = "$(stat -c %d:%i "$root$libc")" ]; then
	fail otherroot "the root's libc is the host's file"
	exit 0
fi

unshare -m sh -c "mount -t proc proc '$root/proc' && mount --rbind /sys '$root/sys' &&
	mount --rbind /dev '$root/dev' &&
	exec chroot '$root' /bin/memobserver -v --tier precise --metrics off --format json --min-age 0 \
	--duration 20s -o /tmp/sys.json" 2> "$TMP/root.err" &
mpid=$!
if ! wait_for "$TMP/root.err" 'observing' 300; then
	fail otherroot "memobserver did not start in the root: $(head -c 300 "$TMP/root.err")"
	kill "$mpid" 2>/dev/null
	exit 0
fi
"$FIX/leak_basic" --hold-ms 200 > "$TMP/a.out" 2>&1 &
a=$!
wait $a
# its exit processed (its leaks reported) before the stop, at most 10 s
wait_until 100 exit_seen "$root/tmp/sys.json" "$a" ||
	echo "note: memobserver had not reported the exit of $a after 10 s" >&2
# SIGINT to memobserver itself (unshare exec'd sh, which exec'd chroot, which
# exec'd memobserver: the same pid)
kill -INT "$mpid"
if ! wait "$mpid"; then
	fail otherroot "memobserver failed in the root: $(tail -c 300 "$TMP/root.err")"
	exit 0
fi
check otherroot_host_process_leaks "$root/tmp/sys.json" "$TMP/a.out" --pid "$a"
exit 0
