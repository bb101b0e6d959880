#!/usr/bin/env bash
# The parser process (src/lib/privsep.h, docs/privileges.md): memobserver reads
# traced processes' ELF and DWARF in a child that has no capability, a user
# other than root, no groups, no new privileges and a seccomp filter, and
# still names every frame of leak_basic's leaks exactly.
#
# A SIGSEGV to the parser (what a file that crashes libdw does) leaves
# memobserver running: the death is counted (memobserver_parser_failures_total
# {reason="died"}) and reported by one warning, a new parser, as confined,
# takes over, and the leaks made after the crash are named exactly too. No
# parser outlives memobserver. With `privsep = false` in a config file no
# parser runs and frames are named as before.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip privsep "$why"; exit 0; fi

# The parser children of memobserver pid $1 (one per line).
parsers_of() {
	local s
	for s in /proc/[0-9]*/status; do
		awk -v m="$1" '$1 == "Name:" { n = $2 } $1 == "PPid:" { p = $2 }
			END { exit !(n == "mo-parser" && p == m) }' "$s" 2> /dev/null &&
			basename "$(dirname "$s")"
	done
}

# confined PID: "" when the process is confined as it should be, else why not.
confined() {
	awk '
		$1 == "Uid:" || $1 == "Gid:" { for (i = 2; i <= 5; i++) if ($i == 0) bad = bad " " $1 "0" }
		$1 == "Groups:" && NF > 1 { bad = bad " groups" }
		$1 ~ /^Cap(Inh|Prm|Eff|Amb):$/ && $2 !~ /^0+$/ { bad = bad " " $1 $2 }
		$1 == "NoNewPrivs:" && $2 != 1 { bad = bad " NoNewPrivs" $2 }
		$1 == "Seccomp:" { seen = 1; if ($2 != 2) bad = bad " Seccomp" $2 }
		END { if (!seen) bad = bad " no Seccomp line"; printf "%s", bad }' "/proc/$1/status"
}

metric() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

port=$((19100 + RANDOM % 900))
while ss -ltn 2> /dev/null | grep -q ":$port "; do port=$((19100 + RANDOM % 900)); done

# ---- 1. confined, and frames named through it ------------------------------
"$FIX/leak_basic" --wait-signal --hold-ms 60000 > "$TMP/fx.out" 2>&1 &
fpid=$!
wait_for "$TMP/fx.out" '^READY' 50
"$MO" -v --format json --min-age 0 --metrics "127.0.0.1:$port" -p "$fpid" \
	-o "$TMP/run.json" 2> "$TMP/run.err" &
mpid=$!
if ! wait_for "$TMP/run.err" observing 300; then
	fail privsep_start "memobserver did not start: $(head -c 300 "$TMP/run.err")"
	exit 0
fi
first=$(parsers_of "$mpid")
if [ "$(echo "$first" | grep -c .)" != 1 ]; then
	fail privsep_confined "expected one parser process, found: ${first:-none}"
else
	bad=$(confined "$first")
	if [ -z "$bad" ]; then
		pass privsep_confined
	else
		fail privsep_confined "parser $first:$bad ($(grep -E '^(Uid|Groups|CapEff|Seccomp)' /proc/"$first"/status | tr '\t\n' ' ;'))"
	fi
fi

# ---- 2. the parser crashes: memobserver goes on, counts it, names frames ----
scrape_to "$port" "$TMP/before.prom"
died0=$(metric "$TMP/before.prom" 'memobserver_parser_failures_total{reason="died"}')
kill -SEGV "$first" 2> /dev/null
# it is memobserver's child: a zombie until memobserver reaps it
wait_until 50 sh -c "! grep -q '^State:.*[RSD]' /proc/$first/status 2> /dev/null"
kill -USR1 "$fpid"
wait_for "$TMP/fx.out" '^DONE' 100
# the leaks are named (through a new parser) once reported
wait_until 300 grep -q '"leak_malloc"' "$TMP/run.json"
if kill -0 "$mpid" 2> /dev/null; then
	pass privsep_crash_survived
else
	fail privsep_crash_survived "memobserver is gone: $(tail -c 300 "$TMP/run.err")"
fi
counted() {
	scrape_to "$port" "$TMP/after.prom" &&
		[ "$(metric "$TMP/after.prom" 'memobserver_parser_failures_total{reason="died"}')" = \
			$((${died0:-0} + 1)) ]
}
if wait_until 100 counted; then
	pass privsep_crash_counted
else
	fail privsep_crash_counted "died before ${died0:-?}, after $(metric "$TMP/after.prom" 'memobserver_parser_failures_total{reason="died"}')"
fi
second=$(parsers_of "$mpid")
if [ -n "$second" ] && [ "$second" != "$first" ] && [ -z "$(confined "$second")" ] &&
	[ "$(metric "$TMP/after.prom" memobserver_parser_starts_total)" -ge 2 ]; then
	pass privsep_restarted_confined
else
	fail privsep_restarted_confined "parser now '${second:-none}' (was $first): $( [ -n "$second" ] && confined "$second"), starts $(metric "$TMP/after.prom" memobserver_parser_starts_total)"
fi
kill "$fpid"
wait "$fpid" 2> /dev/null
kill -INT "$mpid"
wait "$mpid"
check privsep_symbols_exact "$TMP/run.json" "$TMP/fx.out"
# the death is reported once (a warning naming the dead parser), not per
# request or per file that followed it
n=$(grep -c "parser process $first " "$TMP/run.err")
if [ "$n" = 1 ]; then
	pass privsep_crash_reported_once
else
	fail privsep_crash_reported_once "$n warnings name parser $first: $(grep 'parser process' "$TMP/run.err" | head -3 | tr '\n' ';' | cut -c1-300)"
fi
left=""
for p in $first $second; do
	[ -d "/proc/$p" ] && left="$left $p"
done
if [ -z "$left" ]; then pass privsep_no_parser_left; else fail privsep_no_parser_left "still there:$left"; fi

# ---- 3. privsep = false: no parser, the same frames ------------------------
printf 'privsep = false\n' > "$TMP/off.conf"
"$FIX/leak_basic" --wait-signal --hold-ms 60000 > "$TMP/off.out" 2>&1 &
fpid=$!
wait_for "$TMP/off.out" '^READY' 50
"$MO" -v --config "$TMP/off.conf" --format json --min-age 0 --metrics off -p "$fpid" \
	-o "$TMP/off.json" 2> "$TMP/off.err" &
mpid=$!
if wait_for "$TMP/off.err" observing 300; then
	n=$(parsers_of "$mpid" | grep -c .)
	kill -USR1 "$fpid"
	wait_for "$TMP/off.out" '^DONE' 100
	wait_until 300 grep -q '"leak_malloc"' "$TMP/off.json"
	kill "$fpid"
	wait "$fpid" 2> /dev/null
	kill -INT "$mpid"
	wait "$mpid"
	if [ "$n" = 0 ]; then
		check privsep_off_in_process "$TMP/off.json" "$TMP/off.out"
	else
		fail privsep_off_in_process "$n parser process(es) with privsep = false"
	fi
else
	fail privsep_off_in_process "memobserver did not start: $(head -c 300 "$TMP/off.err")"
fi
