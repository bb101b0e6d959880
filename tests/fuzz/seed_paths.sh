#!/usr/bin/env bash
# seed_paths.sh - fuzz_dwarf's corpus patches the bytes of a program built
# from tests/fuzz/elf_seed.c, so the same input must meet the same bytes in
# every checkout. Builds the seed (build/fuzz/elf_seed.h, the array the
# harness includes) in two copies of this tree at paths of different length,
# the second entered through a symlink (the compiler prefers a logical $PWD),
# and compares them byte for byte with each other and with this tree's.
# Prints one line: "PASS: fuzz/seed_path_independent" or "FAIL: ...: why".
set -u
cd "$(dirname "$0")/../.."
name=fuzz/seed_path_independent
top=$(pwd -P)
tmp=$(mktemp -d /tmp/mo-seed.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $name: $*"
	exit 1
}

copy_tree() { # dest
	mkdir -p "$1"
	tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$1" -xf - ||
		fail "cannot copy the tree to $1"
}

a=$tmp/a
b=$tmp/a-much-longer-directory-name/with/more/levels/memobserver
copy_tree "$a"
copy_tree "$b"
ln -s "$b" "$tmp/link"

(cd "$a" && make -s build/fuzz/elf_seed.h) > "$tmp/a.log" 2>&1 ||
	fail "building the seed in $a: $(tail -1 "$tmp/a.log")"
(cd "$tmp/link" && make -s build/fuzz/elf_seed.h) > "$tmp/b.log" 2>&1 ||
	fail "building the seed in $tmp/link: $(tail -1 "$tmp/b.log")"

for d in "$a" "$b"; do
	if grep -aqF "$d" "$d/build/fuzz/elf_seed" ||
	   grep -aqF "$tmp" "$d/build/fuzz/elf_seed"; then
		fail "the seed built in $d names its directory"
	fi
done
cmp -s "$a/build/fuzz/elf_seed.h" "$b/build/fuzz/elf_seed.h" ||
	fail "seeds built in $a and $b differ: $(cmp "$a/build/fuzz/elf_seed" "$b/build/fuzz/elf_seed" 2>&1)"
if [ -f build/fuzz/elf_seed.h ]; then
	cmp -s build/fuzz/elf_seed.h "$a/build/fuzz/elf_seed.h" ||
		fail "build/fuzz/elf_seed.h differs from a seed built in $a (stale build? make build/fuzz/elf_seed.h)"
fi
echo "PASS: $name ($(stat -c %s "$a/build/fuzz/elf_seed") bytes, same at both paths)"
