#!/usr/bin/env bash
# Install the OTLP test receiver's packages (tests/otlp/node_modules) exactly
# as package-lock.json pins them: from npm's cache when it holds them (no
# network), else from the registry. Nothing is done when the installed tree
# is the lock's already. Install scripts are not run: the receiver needs
# none. Exit 0 when installed; else the reason on stderr and exit 1.
set -u
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stamp=$dir/node_modules/.memobserver-lock

cmp -s "$dir/package-lock.json" "$stamp" 2> /dev/null && exit 0
command -v npm > /dev/null || { echo "npm not installed (scripts/setup.sh installs it)" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! timeout 300 npm ci --prefix "$dir" --prefer-offline --ignore-scripts --no-audit --no-fund \
	> "$log" 2>&1; then
	echo "npm ci failed (neither npm's cache nor the registry had the packages):" \
		"$(tail -3 "$log" | tr '\n' ' ' | cut -c1-300)" >&2
	exit 1
fi
cp "$dir/package-lock.json" "$stamp"
