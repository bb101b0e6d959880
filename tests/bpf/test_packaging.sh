#!/usr/bin/env bash
# Packaging: the systemd unit, man page, `make install`, Dockerfile and
# Kubernetes DaemonSet agree with the binary and with docs/privileges.md, and
# the capability sets documented there really run memobserver, the shipped
# one with its parser process as user nobody (root only).
# Docker and Kubernetes cannot run here: what can be checked without them is.
. "$(dirname "$0")/lib.sh"

UNIT=$ROOT/packaging/memobserver.service
MAN=$ROOT/packaging/memobserver.8
DOCKERFILE=$ROOT/packaging/Dockerfile
DS=$ROOT/packaging/kubernetes/daemonset.yaml
PRIV=$ROOT/docs/privileges.md

# A python3 that has PyYAML (Debian's python3-yaml is in /usr/bin).
PY=
for p in python3 /usr/bin/python3; do
	if command -v "$p" > /dev/null && "$p" -c 'import yaml' 2> /dev/null; then
		PY=$p
		break
	fi
done

# The documented sets, sorted, one per line: "CAP_BPF" ... required: what
# memobserver needs; shipped: what the unit, the DaemonSet and the docker
# run example grant, the same plus CAP_SETUID and CAP_SETGID for the parser
# process to become nobody.
required=$(sed -n 's/^required: *//p' "$PRIV" | tr ' ' '\n' | grep . | sort -u)
shipped=$(sed -n 's/^shipped: *//p' "$PRIV" | tr ' ' '\n' | grep . | sort -u)
if [ -z "$required" ] || [ -z "$shipped" ]; then
	fail packaging_privileges_doc "no 'required: CAP_...' or no 'shipped: CAP_...' line in docs/privileges.md"
elif [ "$shipped" != "$(printf '%s\nCAP_SETUID\nCAP_SETGID\n' "$required" | sort -u)" ] ||
	grep -qx 'CAP_SETUID\|CAP_SETGID' <<< "$required"; then
	fail packaging_privileges_doc "shipped [$(echo $shipped)] is not required [$(echo $required)] plus exactly CAP_SETUID CAP_SETGID"
else
	pass packaging_privileges_doc
fi

# --- YAML ------------------------------------------------------------------
if [ -z "$PY" ]; then
	skip packaging_yaml_parses "no python3 with the yaml module (Debian: python3-yaml)"
	skip packaging_daemonset_caps "needs python3-yaml"
	skip packaging_daemonset_shape "needs python3-yaml"
elif ! "$PY" -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$DS" \
	> "$TMP/yaml.err" 2>&1; then
	fail packaging_yaml_parses "$(tail -3 "$TMP/yaml.err" | tr '\n' ' ')"
else
	pass packaging_yaml_parses
	# capabilities added to the container, as CAP_ names
	"$PY" - "$DS" > "$TMP/ds.caps" 2> "$TMP/ds.err" << 'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = [d for d in docs if d.get("kind") == "DaemonSet"][0]
for c in ds["spec"]["template"]["spec"]["containers"]:
    sc = c.get("securityContext", {})
    if sc.get("privileged", False):
        sys.exit("container %s is privileged" % c["name"])
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        sys.exit("container %s does not drop ALL" % c["name"])
    for cap in sc.get("capabilities", {}).get("add", []):
        print(cap if cap.startswith("CAP_") else "CAP_" + cap)
EOF
	ds_caps=$(sort -u "$TMP/ds.caps")
	if [ -s "$TMP/ds.err" ]; then
		fail packaging_daemonset_caps "$(tail -1 "$TMP/ds.err")"
	elif [ "$ds_caps" != "$shipped" ]; then
		fail packaging_daemonset_caps "DaemonSet adds [$(echo $ds_caps)], docs/privileges.md ships [$(echo $shipped)]"
	else
		pass packaging_daemonset_caps
	fi
	"$PY" - "$DS" > "$TMP/ds.shape" 2>&1 << 'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
problems = []
ns = kinds.get("Namespace", {}).get("metadata", {}).get("name")
ds = kinds.get("DaemonSet")
if ns != "memobserver":
    problems.append("no Namespace memobserver")
if not ds:
    sys.exit("no DaemonSet")
if ds["metadata"].get("namespace") != "memobserver":
    problems.append("DaemonSet not in namespace memobserver")
tmpl = ds["spec"]["template"]
spec = tmpl["spec"]
if ds["spec"]["selector"]["matchLabels"].items() - tmpl["metadata"]["labels"].items():
    problems.append("selector does not match the pod labels")
if spec.get("hostPID") is not True:
    problems.append("hostPID is not true")
if not any(t.get("operator") == "Exists" and "key" not in t for t in spec.get("tolerations", [])):
    problems.append("no toleration for every taint")
ann = tmpl["metadata"].get("annotations", {})
if ann.get("prometheus.io/scrape") != "true":
    problems.append("prometheus.io/scrape is not \"true\"")
c = spec["containers"][0]
ports = [p["containerPort"] for p in c.get("ports", [])]
args = c.get("args", [])
metrics = args[args.index("--metrics") + 1] if "--metrics" in args else ""
if str(ann.get("prometheus.io/port")) not in [str(p) for p in ports]:
    problems.append("prometheus.io/port %s is not a containerPort %s" % (ann.get("prometheus.io/port"), ports))
if not metrics.startswith("0.0.0.0:") or metrics.split(":")[-1] != str(ann.get("prometheus.io/port")):
    problems.append("--metrics %r does not serve the annotated port on every address" % metrics)
for k in ("requests", "limits"):
    if not {"cpu", "memory"} <= set(c.get("resources", {}).get(k, {})):
        problems.append("resources.%s lacks cpu or memory" % k)
vols = {v["name"]: v for v in spec.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
for m in mounts.values():
    if m["name"] not in vols:
        problems.append("mount %s names no volume" % m["name"])
for path, ro in (("/sys/kernel/btf", True), ("/sys/kernel/tracing", False), ("/sys/fs/cgroup", True),
                 ("/var/log", True)):
    m = mounts.get(path)
    if not m:
        problems.append("%s is not mounted" % path)
    elif vols[m["name"]].get("hostPath", {}).get("path") != path:
        problems.append("%s is not the host's" % path)
    elif ro and not m.get("readOnly"):
        problems.append("%s is not read-only" % path)
print("; ".join(problems))
sys.exit(1 if problems else 0)
EOF
	if [ $? -eq 0 ]; then
		pass packaging_daemonset_shape
	else
		fail packaging_daemonset_shape "$(tr '\n' ' ' < "$TMP/ds.shape" | cut -c1-400)"
	fi
fi

# --- systemd unit ----------------------------------------------------------
# Every CapabilityBoundingSet= and AmbientCapabilities= line, merged per key.
unit_caps() {
	sed -n "s/^$1=//p" "$UNIT" | tr ' ' '\n' | grep . | sort -u
}
bad=
for key in CapabilityBoundingSet AmbientCapabilities; do
	got=$(unit_caps "$key")
	[ "$got" = "$shipped" ] || bad+="$key=[$(echo $got)] "
done
if [ -n "$bad" ]; then
	fail packaging_unit_caps "${bad}but docs/privileges.md ships [$(echo $shipped)]"
else
	pass packaging_unit_caps
fi

# the docker run example in the Dockerfile grants the same set
docker_caps=$(grep -o -- '--cap-add=[A-Z_][A-Z_]*' "$DOCKERFILE" | sed 's/--cap-add=/CAP_/' | sort -u)
if [ "$docker_caps" = "$shipped" ]; then
	pass packaging_dockerfile_caps
else
	fail packaging_dockerfile_caps "docker run example adds [$(echo $docker_caps)], shipped [$(echo $shipped)]"
fi

# The options of the unit's command line, the Dockerfile's CMD and the
# DaemonSet's args exist.
help_opts=$("$MO" --help 2> /dev/null | sed -n 's/^ \{2,\}\(-[A-Za-z], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' | sort -u)
if [ -z "$help_opts" ]; then
	fail packaging_help_options "no long options found in 'memobserver --help'"
else
	used=$( (sed -n 's/^ExecStart=//p' "$UNIT"; grep '^CMD' "$DOCKERFILE"; grep -- '- --' "$DS") |
		grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
	missing=$(comm -23 <(echo "$used") <(echo "$help_opts") | tr '\n' ' ')
	if [ -n "$missing" ]; then
		fail packaging_command_lines "options not in --help: $missing"
	else
		pass packaging_command_lines
	fi
fi

if ! command -v systemd-analyze > /dev/null; then
	skip packaging_unit_verify "systemd-analyze not installed"
elif [ ! -x "$MO" ]; then
	skip packaging_unit_verify "build/memobserver not built"
else
	# verify checks that ExecStart's binary exists: point it at the build
	mkdir -p "$TMP/unit"
	sed "s|^ExecStart=/usr/sbin/memobserver|ExecStart=$MO|" "$UNIT" > "$TMP/unit/memobserver.service"
	if systemd-analyze verify --man=no "$TMP/unit/memobserver.service" > "$TMP/verify.out" 2>&1 &&
		! grep -q . "$TMP/verify.out"; then
		pass packaging_unit_verify
	else
		fail packaging_unit_verify "$(head -5 "$TMP/verify.out" | tr '\n' ' ')"
	fi
fi

# --- man page --------------------------------------------------------------
if ! command -v groff > /dev/null; then
	skip packaging_man_renders "groff not installed (Debian: groff-base)"
else
	groff -man -Tutf8 -ww -t -P-cbou "$MAN" > "$TMP/man.txt" 2> "$TMP/man.err"
	if [ $? -ne 0 ] || [ -s "$TMP/man.err" ]; then
		fail packaging_man_renders "$(head -3 "$TMP/man.err" | tr '\n' ' ')"
	elif ! grep -q 'EXIT STATUS' "$TMP/man.txt"; then
		fail packaging_man_renders "rendered page lacks EXIT STATUS"
	else
		pass packaging_man_renders
	fi
fi
if [ -n "${help_opts:-}" ]; then
	# each option heads an item of its own (the line after a .TP); roff
	# writes a hyphen in an option as \-
	items=$(awk 'tp {print; tp = 0} /^\.TP/ {tp = 1}' "$MAN" | sed 's/\\-/-/g')
	missing=
	for o in $help_opts; do
		grep -q -- "$o\b" <<< "$items" || missing+="$o "
	done
	if [ -n "$missing" ]; then
		fail packaging_man_options "options in --help but not in the man page: $missing"
	else
		pass packaging_man_options
	fi
fi

# --- make install ----------------------------------------------------------
if [ ! -x "$MO" ]; then
	skip packaging_install "build/memobserver not built"
else
	dest=$TMP/destdir
	# -o: install what is built, do not rebuild it here
	if ! make -s -C "$ROOT" -o build/memobserver install PREFIX=/usr DESTDIR="$dest" \
		> "$TMP/install.out" 2>&1; then
		fail packaging_install "make install failed: $(tail -3 "$TMP/install.out" | tr '\n' ' ')"
	else
		expected="etc/memobserver/memobserver.conf
lib/systemd/system/memobserver.service
usr/sbin/memobserver
usr/share/man/man8/memobserver.8"
		got=$(cd "$dest" && find . -type f | sed 's|^\./||' | sort)
		echo "# edited" >> "$dest/etc/memobserver/memobserver.conf"
		make -s -C "$ROOT" -o build/memobserver install PREFIX=/usr DESTDIR="$dest" \
			> /dev/null 2>&1
		if [ "$got" != "$expected" ]; then
			fail packaging_install "installed [$(echo $got)], expected [$(echo $expected)]"
		elif [ "$(tail -1 "$dest/etc/memobserver/memobserver.conf")" != "# edited" ]; then
			fail packaging_install "a second install replaced the edited configuration"
		elif ! grep -q '^ExecStart=/usr/sbin/memobserver ' "$dest/lib/systemd/system/memobserver.service"; then
			fail packaging_install "installed unit does not start /usr/sbin/memobserver"
		elif ! cmp -s "$MO" "$dest/usr/sbin/memobserver"; then
			fail packaging_install "installed binary differs from build/memobserver"
		else
			pass packaging_install
		fi
	fi
fi

# --- Dockerfile ------------------------------------------------------------
# Stage n (1-based) of the Dockerfile, without comments.
stage() {
	awk -v n="$1" '/^FROM /{s++} s==n && !/^[[:space:]]*#/' "$DOCKERFILE"
}
# Package names of the apt-get install in stage n.
stage_pkgs() {
	stage "$1" | sed ':a;/\\$/{N;s/\\\n//;ba}' | grep 'apt-get install' |
		sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep . | sort -u
}
build_pkgs=$(stage_pkgs 1)
run_pkgs=$(stage_pkgs 2)
if [ -z "$build_pkgs" ] || [ -z "$run_pkgs" ]; then
	fail packaging_docker_parse "no apt-get install found in one of the two stages"
elif ! apt-cache show libc6 > /dev/null 2>&1; then
	skip packaging_docker_packages_exist "apt-cache has no package lists (run apt-get update)"
else
	missing=
	for p in $build_pkgs $run_pkgs; do
		apt-cache show --no-all-versions "$p" > /dev/null 2>&1 || missing+="$p "
	done
	if [ -n "$missing" ]; then
		fail packaging_docker_packages_exist "not in Debian's lists: $missing"
	else
		pass packaging_docker_packages_exist
	fi
fi

# The runtime stage provides every library the binary links (libc6 is in the
# base image).
if [ -x "$MO" ] && [ -n "$run_pkgs" ] && command -v readelf > /dev/null; then
	missing=
	for lib in $(readelf -d "$MO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
		pkg=$(dpkg -S "$(readlink -f "$path")" 2> /dev/null | head -1 | cut -d: -f1)
		[ -n "$path" ] && [ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2> /dev/null | head -1 | cut -d: -f1)
		if [ -z "$pkg" ]; then
			missing+="$lib(no package) "
		elif [ "$pkg" != libc6 ] && ! grep -qx "$pkg" <<< "$run_pkgs"; then
			missing+="$lib($pkg) "
		fi
	done
	if [ -n "$missing" ]; then
		fail packaging_docker_runtime_libs "linked but not installed by the runtime stage: $missing"
	else
		pass packaging_docker_runtime_libs
	fi
else
	skip packaging_docker_runtime_libs "needs build/memobserver and readelf"
fi

# The build stage installs what scripts/setup.sh installs for the build.
setup_pkgs=$(sed -n '/^PKGS=(/,/)/p' "$ROOT/scripts/setup.sh" | tr -d '()' | sed 's/PKGS=//' |
	tr ' \t' '\n\n' | grep . | sort -u)
extra=$(comm -23 <(echo "$build_pkgs") <(echo "$setup_pkgs") | tr '\n' ' ')
if [ -n "$extra" ]; then
	fail packaging_docker_build_pkgs "the build stage installs what scripts/setup.sh does not: $extra"
else
	pass packaging_docker_build_pkgs
fi

# The build stage's COPY lines bring everything `make build/memobserver`
# needs: build from exactly those files (Docker itself cannot run here).
ctx=$TMP/docker-context
mkdir -p "$ctx"
copy_ok=1
while read -r _ src dst; do
	if [ ! -e "$ROOT/$src" ]; then
		copy_ok=0
		echo "COPY source '$src' does not exist" > "$TMP/ctx.err"
		break
	fi
	if [ -d "$ROOT/$src" ]; then
		mkdir -p "$ctx/$dst"
		cp -a "$ROOT/${src%/}/." "$ctx/$dst"
	else
		case $dst in
		*/) mkdir -p "$ctx/$dst" ;;
		*) mkdir -p "$(dirname "$ctx/$dst")" ;;
		esac
		cp -a "$ROOT/$src" "$ctx/$dst"
	fi
done < <(stage 1 | grep -E '^COPY [^-]')
for src in $(stage 2 | sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p'); do
	[ -e "$ROOT/$src" ] || { copy_ok=0; echo "runtime COPY source '$src' does not exist" > "$TMP/ctx.err"; }
done
if [ $copy_ok = 0 ]; then
	fail packaging_docker_build_context "$(cat "$TMP/ctx.err")"
elif make -C "$ctx" -j"$(nproc)" build/memobserver > "$TMP/ctx.out" 2>&1 &&
	"$ctx/build/memobserver" --version > /dev/null 2>&1; then
	pass packaging_docker_build_context
else
	fail packaging_docker_build_context "make in the build stage's files failed: $(tail -3 "$TMP/ctx.out" | tr '\n' ' ')"
fi

# --- the documented capability set runs memobserver ----------------------
why=$(bpf_unavailable)
setcaps=$(echo $required | tr ' ' '\n' | sed 's/^CAP_/+/' | tr 'A-Z' 'a-z' | paste -sd, -)
if [ -n "$why" ]; then
	skip packaging_caps_run "$why"
elif ! command -v setpriv > /dev/null; then
	skip packaging_caps_run "setpriv not installed"
elif ! setpriv --inh-caps=-all,"$setcaps" --ambient-caps=-all,"$setcaps" \
	--bounding-set=-all,"$setcaps" true 2> /dev/null; then
	skip packaging_caps_run "this environment cannot grant $setcaps"
else
	# run_caps NAME CAPS ARGS...: memobserver as user id 0 with only CAPS.
	# Concurrent tracers on the host can make a session uprobe attach fail
	# with EINVAL: such runs are repeated, at most 3 times.
	run_caps() {
		local name=$1 caps=$2 a
		shift 2
		for a in 1 2 3; do
			setpriv --inh-caps=-all,"$caps" --ambient-caps=-all,"$caps" \
				--bounding-set=-all,"$caps" "$MO" --metrics off --min-age 0 "$@" \
				> "$TMP/$name.out" 2> "$TMP/$name.err"
			echo $? > "$TMP/$name.rc"
			grep -q 'another tracer' "$TMP/$name.err" || break
		done
	}
	run_caps caps_cmd "$setcaps" -- "$FIX/leak_basic"
	if [ "$(cat "$TMP/caps_cmd.rc")" = 0 ] && grep -q ' leak_malloc+' "$TMP/caps_cmd.out"; then
		pass packaging_caps_run_command
	else
		fail packaging_caps_run_command "exit $(cat "$TMP/caps_cmd.rc"): $(head -c 300 "$TMP/caps_cmd.err")"
	fi

	nobpf=$(echo "$setcaps" | tr ',' '\n' | grep -v '^+bpf$' | paste -sd, -)
	run_caps caps_nobpf "$nobpf" -- "$FIX/leak_basic"
	if [ "$(cat "$TMP/caps_nobpf.rc")" = 2 ] && grep -q 'insufficient privileges' "$TMP/caps_nobpf.err"; then
		pass packaging_caps_without_bpf
	else
		fail packaging_caps_without_bpf "exit $(cat "$TMP/caps_nobpf.rc"), wanted 2 and 'insufficient privileges': $(head -c 200 "$TMP/caps_nobpf.err")"
	fi

	# another user's process: needs CAP_SYS_PTRACE (its maps, its root). The
	# fixture allocates on SIGUSR1, sent once memobserver says it observes.
	for a in 1 2 3; do
		setpriv --reuid=65534 --regid=65534 --clear-groups "$FIX/leak_basic" \
			--wait-signal --hold-ms 300 > "$TMP/caps_pid.fx" 2>&1 &
		fx=$!
		wait_for "$TMP/caps_pid.fx" '^READY' 50
		setpriv --inh-caps=-all,"$setcaps" --ambient-caps=-all,"$setcaps" \
			--bounding-set=-all,"$setcaps" "$MO" -v --metrics off --min-age 0 -p "$fx" \
			> "$TMP/caps_pid.out" 2> "$TMP/caps_pid.err" &
		mo=$!
		wait_for "$TMP/caps_pid.err" 'observing' 100
		kill -USR1 "$fx" 2> /dev/null
		wait "$fx"
		# the target exited: memobserver ends with its report
		timeout 20 tail --pid="$mo" -f /dev/null
		kill "$mo" 2> /dev/null
		wait "$mo"
		echo $? > "$TMP/caps_pid.rc"
		grep -q 'another tracer' "$TMP/caps_pid.err" || break
	done
	if [ "$(cat "$TMP/caps_pid.rc")" = 0 ] && grep -q ' leak_malloc+' "$TMP/caps_pid.out"; then
		pass packaging_caps_run_other_user
	else
		fail packaging_caps_run_other_user "exit $(cat "$TMP/caps_pid.rc"): $(head -c 300 "$TMP/caps_pid.err")"
	fi
	# Kernels without session uprobes (before 6.13) take the uprobe +
	# uretprobe path; creating those needs CAP_SYS_ADMIN on kernels with
	# "perf: Revert to requiring CAP_SYS_ADMIN for uprobes" (docs/privileges.md).
	# MEMOBSERVER_NO_SESSION=1 takes that path here: the documented set plus
	# CAP_SYS_ADMIN must be enough for it.
	export MEMOBSERVER_NO_SESSION=1
	run_caps caps_plain "$setcaps,+sys_admin" -- "$FIX/leak_basic"
	unset MEMOBSERVER_NO_SESSION
	if [ "$(cat "$TMP/caps_plain.rc")" = 0 ] && grep -q ' leak_malloc+' "$TMP/caps_plain.out"; then
		pass packaging_caps_run_plain_uprobes
	else
		fail packaging_caps_run_plain_uprobes "exit $(cat "$TMP/caps_plain.rc"): $(head -c 300 "$TMP/caps_plain.err")"
	fi

	# The shipped set runs the parser process (src/lib/privsep.c) as
	# nobody; the required set alone leaves it user 0, with a warning.
	shipcaps=$(echo $shipped | tr ' ' '\n' | sed 's/^CAP_/+/' | tr 'A-Z' 'a-z' | paste -sd, -)
	user0='the parser process stays user 0'
	# parser_settled MO: the pid of MO's parser child (its command line
	# has --privsep-parser) into $TMP/parser.pid, once the child has
	# changed user (or not) and dropped its capabilities: its seccomp
	# filter is installed after both.
	parser_settled() {
		local p
		for p in $(pgrep -P "$1" -f 'privsep-parser'); do
			if grep -q '^Seccomp:[[:space:]]*2' "/proc/$p/status" 2> /dev/null; then
				echo "$p" > "$TMP/parser.pid"
				return 0
			fi
		done
		return 1
	}
	# parser_run NAME AMBIENT SETPRIV-OPTIONS...: memobserver -p on a held
	# fixture with the shipped set as bounding set (and as inheritable and
	# ambient set if AMBIENT is +all); the parser's Uid, Gid and CapEff
	# lines into $TMP/NAME.ids, the exit status into $TMP/NAME.rc.
	parser_run() {
		local name=$1 amb=-all a fx mo
		[ "$2" = +all ] && amb=-all,$shipcaps
		shift 2
		for a in 1 2 3; do
			: > "$TMP/$name.ids"
			"$FIX/leak_basic" --wait-signal > "$TMP/$name.fx" 2>&1 &
			fx=$!
			wait_for "$TMP/$name.fx" '^READY' 50
			setpriv "$@" --inh-caps="$amb" --ambient-caps="$amb" \
				--bounding-set=-all,"$shipcaps" "$MO" -v --metrics off --min-age 0 -p "$fx" \
				> "$TMP/$name.out" 2> "$TMP/$name.err" &
			mo=$!
			if wait_for "$TMP/$name.err" 'observing' 100 && wait_until 100 parser_settled "$mo"; then
				grep -E '^(Uid|Gid|CapEff):' "/proc/$(cat "$TMP/parser.pid")/status" \
					> "$TMP/$name.ids"
			fi
			kill -USR1 "$fx" 2> /dev/null
			wait "$fx"
			# the target exited: memobserver ends with its report
			timeout 20 tail --pid="$mo" -f /dev/null
			kill "$mo" 2> /dev/null
			wait "$mo"
			echo $? > "$TMP/$name.rc"
			grep -q 'another tracer' "$TMP/$name.err" || break
		done
	}
	# parser_nobody NAME: why run NAME's parser was not nobody, or nothing
	parser_nobody() {
		local ids=$TMP/$1.ids
		if [ ! -s "$ids" ]; then
			echo "$1: no settled parser child of memobserver (exit $(cat "$TMP/$1.rc")): $(head -c 200 "$TMP/$1.err")"
		elif [ "$(awk '($1 == "Uid:" || $1 == "Gid:") && ($2 " " $3 " " $4 " " $5) == "65534 65534 65534 65534"' "$ids" | wc -l)" != 2 ] ||
			! grep -q '^CapEff:[[:space:]]*0*$' "$ids"; then
			echo "$1: parser has $(tr '\t\n' ' ;' < "$ids")"
		elif grep -q "$user0" "$TMP/$1.err"; then
			echo "$1: memobserver warned: $(grep "$user0" "$TMP/$1.err" | head -c 200)"
		elif [ "$(cat "$TMP/$1.rc")" != 0 ] || ! grep -q ' leak_malloc+' "$TMP/$1.out"; then
			echo "$1: exit $(cat "$TMP/$1.rc"), leak_malloc not named: $(head -c 200 "$TMP/$1.err")"
		fi
	}
	if ! setpriv --inh-caps=-all,"$shipcaps" --ambient-caps=-all,"$shipcaps" \
		--bounding-set=-all,"$shipcaps" true 2> /dev/null; then
		skip packaging_caps_parser_nobody "this environment cannot grant $shipcaps"
	elif ! grep -q "$user0" "$TMP/caps_cmd.err"; then
		fail packaging_caps_parser_nobody "the required set alone did not warn '$user0': $(head -c 200 "$TMP/caps_cmd.err")"
	else
		# As Docker grants it (user 0 and a bounding set: an execve gives
		# root that set); as Kubernetes does (allowPrivilegeEscalation:
		# false is no_new_privs); as the unit does (AmbientCapabilities=,
		# NoNewPrivileges=, SecureBits=noroot-locked: an execve gives root
		# nothing, the child gets the two as ambient capabilities only).
		parser_run parser_docker -all
		parser_run parser_k8s -all --no-new-privs
		parser_run parser_unit +all --no-new-privs --securebits=+noroot,+noroot_locked
		why=$(parser_nobody parser_docker; parser_nobody parser_k8s; parser_nobody parser_unit)
		if [ -z "$why" ]; then
			pass packaging_caps_parser_nobody
		else
			fail packaging_caps_parser_nobody "$(echo "$why" | tr '\n' ' ' | cut -c1-600)"
		fi
	fi
fi
