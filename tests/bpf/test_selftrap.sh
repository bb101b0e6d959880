#!/usr/bin/env bash
# memobserver never traps on its own allocations: it allocates with its own
# copy of jemalloc, so the allocator probes it places in the C library of
# every process (the precise tier, system-wide) are never hit by its own
# process, under load (process churn, a hot allocation loop, scrapes).
# The control is the same program linked without it, which must trap.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip selftrap "$why"; exit 0; fi
if [ ! -x "$ROOT/build/memobserver-libc-malloc" ]; then
	skip selftrap "build/memobserver-libc-malloc not built"
	exit 0
fi

# run BINARY NAME: memobserver system-wide with allocator probes under load;
# prints "self_hits allocator_calls" from its last scrape
run() {
	local bin=$1 name=$2 port=$((20000 + RANDOM % 20000)) mp fx i
	"$bin" --tier precise --metrics "127.0.0.1:$port" --min-age 0 --interval 500ms -q \
		-o /dev/null 2> "$TMP/$name.err" &
	mp=$!
	# ready when the endpoint answers (it opens once the probes are placed)
	# (the control traps on its own mallocs while it reads every running
	# program's unwind rows: its start takes minutes on a loaded machine)
	if ! curl -sf --retry 240 --retry-delay 1 --retry-max-time 240 --retry-connrefused \
		"http://127.0.0.1:$port/healthz" > /dev/null; then
		kill "$mp" 2> /dev/null
		echo "not-started"
		return
	fi
	"$FIX/hot_alloc" --seconds 8 > "$TMP/$name.fx" &
	fx=$!
	# memobserver's own work: exits to reclaim, stacks to name, scrapes
	for i in $(seq 150); do /bin/true; done
	for i in $(seq 20); do curl -sf "http://127.0.0.1:$port/metrics" > "$TMP/$name.m" || true; done
	wait "$fx"
	curl -sf "http://127.0.0.1:$port/metrics" > "$TMP/$name.m"
	kill -TERM "$mp"
	wait "$mp"
	printf '%s %s\n' \
		"$(sed -n 's/^memobserver_self_probe_hits_total \([0-9]*\)$/\1/p' "$TMP/$name.m")" \
		"$(sed -n 's/^memobserver_allocator_calls_total \([0-9]*\)$/\1/p' "$TMP/$name.m")"
}

read -r self calls <<< "$(run "$MO" own)"
read -r cself ccalls <<< "$(run "$ROOT/build/memobserver-libc-malloc" control)"
echo "FIGURES selftrap: own allocator: ${self:-?} self hits, ${calls:-?} allocator calls seen;" \
	"libc malloc: ${cself:-?} self hits, ${ccalls:-?} calls" >&2
if [ "${calls:-0}" -gt 0 ] && [ "${self:-x}" = 0 ]; then
	pass selftrap_own_allocations_not_probed
else
	fail selftrap_own_allocations_not_probed "self hits ${self:-none}, calls ${calls:-none}: $(tail -c 300 "$TMP/own.err")"
fi
if [ "${cself:-0}" -gt 0 ]; then
	pass selftrap_control_counts_self_hits
else
	fail selftrap_control_counts_self_hits "the control linked with the C library's malloc showed ${cself:-no} self hits: $(tail -c 300 "$TMP/control.err")"
fi
