#!/usr/bin/env bash
# memobserver -- FIXTURE: a command traced from its first allocation, every
# hooked allocator function, exact bytes per leaking function, no freed one.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip command "$why"; exit 0; fi

run() { # name fixture [memobserver options] [:: fixture args]
	local name=$1 fx=$2
	shift 2
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != "::" ]; do opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	timeout 60 "$MO" --format json --min-age 0 "${opts[@]}" -o "$TMP/$name.json" -- "$FIX/$fx" "$@" \
		> "$TMP/$name.out" 2> "$TMP/$name.err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "memobserver exited $rc: $(head -c 300 "$TMP/$name.err")"
		return 1
	fi
}

run basic leak_basic && check command_leak_basic "$TMP/basic.json" "$TMP/basic.out"
if run cxx leak_cxx --min-size 1; then
	check command_cxx_new "$TMP/cxx.json" "$TMP/cxx.out"
	# frames name a library as its mappings do (the file reached, not
	# the symlinks of the path the loader searched)
	want=$(realpath "$(ldd "$FIX/leak_cxx" | awk '/libstdc\+\+/ { print $3 }')")
	got=$(python3 -c '
import json, sys
mods = {f.get("module") for l in open(sys.argv[1]) if l.startswith("{")
        for f in json.loads(l).get("stack", []) if "libstdc++" in (f.get("module") or "")}
print(" ".join(sorted(m for m in mods if m)))' "$TMP/cxx.json")
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		pass command_cxx_module_path
	else
		fail command_cxx_module_path "frames name '$got', the mapped file is '$want'"
	fi
fi
# C++ names demangled in every output; JSON keeps the raw name beside it
if run cxx_out leak_cxx --min-size 1 --folded "$TMP/cxx.folded" --flamegraph "$TMP/cxx.svg" \
	--pprof "$TMP/cxx.pb.gz" &&
	timeout 60 "$MO" --min-age 0 --min-size 1 -o "$TMP/cxx.txt" -- "$FIX/leak_cxx" \
		> /dev/null 2> "$TMP/cxx_txt.err"; then
	demangled="leak_new_object()" raw="_Z15leak_new_objectv" bad=""
	json_ok=$(python3 -c '
import json, sys
print(any(f.get("symbol") == sys.argv[2] and f.get("linkage_name") == sys.argv[3]
          for l in open(sys.argv[1]) if l.startswith("{")
          for f in json.loads(l).get("stack", [])))' "$TMP/cxx_out.json" "$demangled" "$raw")
	[ "$json_ok" = True ] || bad="$bad json"
	for f in cxx.txt cxx.folded cxx.svg; do
		grep -qF "$demangled" "$TMP/$f" && ! grep -qF "$raw" "$TMP/$f" || bad="$bad $f"
	done
	gzip -dc "$TMP/cxx.pb.gz" | grep -qaF "$demangled" || bad="$bad pprof"
	if [ -z "$bad" ]; then
		pass command_cxx_demangled_everywhere
	else
		fail command_cxx_demangled_everywhere "no $demangled (or the raw $raw) in:$bad"
	fi
fi
run threads leak_threads && check command_threads "$TMP/threads.json" "$TMP/threads.out"
run threads_libc leak_threads :: --libc-stacks &&
	check command_threads_libc_stacks "$TMP/threads_libc.json" "$TMP/threads_libc.out"
run noleak noleak && check command_noleak "$TMP/noleak.json" "$TMP/noleak.out" --no-leaks
if run exec leak_exec; then
	check command_exec "$TMP/exec.json" "$TMP/exec.out"
	# the exec'd program's allocator is the same file: probed once, not twice
	probes=$(python3 -c '
import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if "summary" in l][-1]["probes_attached"])' "$TMP/exec.json")
	if [ "$probes" = 9 ]; then pass command_exec_probes_once; else fail command_exec_probes_once "$probes probes attached, expected glibc's 9"; fi
fi
if run fork leak_fork :: --hold-ms 200; then
	child=$(awk '$1 == "CHILD" { print $2; exit }' "$TMP/fork.out")
	check command_fork_child "$TMP/fork.json" "$TMP/fork.out" --pid "$child"
fi

# The same with plain uprobe+uretprobe pairs (kernels without session uprobes).
MEMOBSERVER_NO_SESSION=1 run basic_fallback leak_basic &&
	check command_leak_basic_uretprobe "$TMP/basic_fallback.json" "$TMP/basic_fallback.out"
MEMOBSERVER_NO_SESSION=1 run cxx_fallback leak_cxx --min-size 1 &&
	check command_cxx_uretprobe "$TMP/cxx_fallback.json" "$TMP/cxx_fallback.out"

# A stripped C library (no .symtab, only .dynsym) found through
# LD_LIBRARY_PATH: memobserver must probe that copy, not the system one.
mkdir -p "$TMP/lib"
libc=$(ldd "$FIX/leak_basic" | awk '/libc.so.6/ { print $3 }')
if cp "$libc" "$TMP/lib/libc.so.6" && strip --strip-all "$TMP/lib/libc.so.6"; then
	LD_LIBRARY_PATH=$TMP/lib run stripped leak_basic &&
		check command_stripped_libc "$TMP/stripped.json" "$TMP/stripped.out"
else
	skip command_stripped_libc "cannot make a stripped libc copy"
fi
exit 0
