#!/usr/bin/env bash
# Bad input: one clear line on stderr, a non-zero exit, no probe left behind,
# no output file left behind.
. "$(dirname "$0")/lib.sh"
why=$(bpf_unavailable); if [ -n "$why" ]; then skip errors "$why"; exit 0; fi

links0=$(links_now)
# expect NAME PATTERN -- memobserver args...
expect() {
	local name=$1 pat=$2
	shift 3
	"$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
	local rc=$?
	local lines
	lines=$(grep -c . "$TMP/$name.err")
	if [ $rc -eq 0 ]; then
		fail "$name" "exit status 0"
	elif ! grep -q -- "$pat" "$TMP/$name.err"; then
		fail "$name" "stderr lacks '$pat': $(head -c 200 "$TMP/$name.err")"
	elif [ "$lines" -gt 2 ]; then
		fail "$name" "$lines lines of errors: $(head -c 300 "$TMP/$name.err")"
	else
		pass "$name"
	fi
}

# a pid that surely does not exist: past pid_max
expect error_no_such_pid 'no such process' -- "$MO" -p 99999999
sleep 0.1 & gone=$!; wait $gone
expect error_exited_pid 'no such process' -- "$MO" -p "$gone"
expect error_bad_pid "invalid pid 'abc'" -- "$MO" -p abc
expect error_kernel_thread 'no user-space memory' -- "$MO" -p 2
expect error_self 'memobserver itself' -- bash -c 'exec "$0" -p $$' "$MO"
expect error_unknown_option 'unrecognized option' -- "$MO" --no-such-option
expect error_bad_size "invalid value '10Q' for --min-size" -- "$MO" --min-size 10Q
expect error_bad_duration "invalid value 'soon' for --min-age" -- "$MO" --min-age soon
expect error_bad_mode "invalid value 'fast' for --mode" -- "$MO" --mode fast
expect error_bad_format "invalid value 'xml' for --format" -- "$MO" --format xml
expect error_bad_sample "invalid value '0' for --sample" -- "$MO" --sample 0
expect error_bad_command 'command not found' -- "$MO" -- /no/such/program
expect error_unwritable_output 'cannot open output file' -- "$MO" -o /proc/nope/out -- /bin/true
printf 'mode = fast\n' > "$TMP/bad.conf"
expect error_bad_config "line 1" -- "$MO" --config "$TMP/bad.conf" -- /bin/true
expect error_missing_config "cannot read" -- "$MO" --config "$TMP/none.conf" -- /bin/true
if command -v setpriv > /dev/null; then
	expect error_no_privileges 'insufficient privileges' -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$MO" -- /bin/true
else
	skip error_no_privileges "setpriv not installed"
fi

# An output file is not left behind when the run cannot start.
"$MO" -o "$TMP/left.json" -p 99999999 2> /dev/null
if [ -e "$TMP/left.json" ]; then
	fail error_no_output_left "output file created for a failed run"
else
	pass error_no_output_left
fi

# A process without any allocator: a static program with no C library.
cat > "$TMP/noalloc.c" << 'SRC'
void _start(void)
{
	for (volatile unsigned long i = 0;; i++)
		__asm__ volatile("pause");
}
SRC
if gcc -O1 -static -nostdlib -o "$TMP/noalloc" "$TMP/noalloc.c" 2> "$TMP/noalloc.cc"; then
	"$TMP/noalloc" &
	na=$!
	expect error_no_allocator 'no allocator found' -- "$MO" -p "$na"
	kill "$na"
	wait "$na" 2> /dev/null
else
	skip error_no_allocator "cannot build a static program: $(head -c 100 "$TMP/noalloc.cc")"
fi

wait_until 50 links_back "$links0"
links1=$(links_now)
if [ "$links0" = "$links1" ]; then
	pass error_no_links_left
else
	fail error_no_links_left "bpf links before $links0, after $links1"
fi

# SIGKILL: the kernel drops every link with the process; nothing stays.
"$FIX/leak_basic" --hold-ms 20000 > "$TMP/k.out" 2>&1 &
f=$!
wait_for "$TMP/k.out" '^DONE' 50
"$MO" -v -p "$f" -o "$TMP/k.txt" 2> "$TMP/k.err" &
m=$!
wait_for "$TMP/k.err" observing 100
during=$(links_now)
kill -KILL "$m"
wait "$m" 2> /dev/null
wait_until 50 links_back "$links0"
after=$(links_now)
kill "$f"
wait "$f" 2> /dev/null
if [ "$during" -gt "$links0" ] && [ "$after" = "$links0" ] && [ "$(uprobes_now)" = 0 ]; then
	pass sigkill_leaves_nothing
else
	fail sigkill_leaves_nothing "links before $links0, during $during, after $after, uprobe_events $(uprobes_now)"
fi
exit 0
