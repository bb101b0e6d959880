#!/usr/bin/env bash
# flame graph -- the SVG writer's output as a browser draws it: the unit
# test writes its demo graph, headless Chromium screenshots it, and the PNG
# must show a flame graph (many colours, a good share of them flame-warm).
# Needs no root and no BPF.
. "$(dirname "$0")/../bpf/lib.sh"

BIN=$ROOT/build/tests/test_flame
[ -x "$BIN" ] || { skip flamegraph_render "build/tests/test_flame not built"; exit 0; }
command -v chromium > /dev/null ||
	{ skip flamegraph_render "chromium not installed (scripts/setup.sh installs it)"; exit 0; }
command -v python3 > /dev/null || { skip flamegraph_render "python3 not installed"; exit 0; }

svg=$TMP/flame.svg
png=$TMP/flame.png
if ! MO_FLAME_SVG_OUT=$svg CMOCKA_MESSAGE_OUTPUT=stdout "$BIN" > "$TMP/unit.out" 2>&1 ||
	[ ! -s "$svg" ]; then
	fail flamegraph_render \
		"test_flame did not write $svg: $(grep -m3 -E 'FAILED|ERROR' "$TMP/unit.out")"
	exit 0
fi

# No network, no profile state, nothing kept: a throwaway user data dir.
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$TMP/profile" --screenshot="$png" --window-size=1200,600 \
	"file://$svg" > "$TMP/chromium.log" 2>&1
if [ ! -s "$png" ]; then
	fail flamegraph_render "chromium wrote no screenshot: $(tail -c 300 "$TMP/chromium.log")"
	exit 0
fi

# A PNG decoder in the standard library's terms (zlib + the five filters),
# so the check needs neither PIL nor ImageMagick.
why=$(python3 - "$png" 2>&1 << 'EOF'
import struct, sys, zlib

data = open(sys.argv[1], 'rb').read()
if data[:8] != b'\x89PNG\r\n\x1a\n':
    sys.exit('not a PNG')
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
if depth != 8 or ctype not in (2, 6) or interlace:
    sys.exit('unexpected PNG format: depth %d colour type %d' % (depth, ctype))
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, warm = bytearray(stride), set(), 0
for y in range(h):
    ftype = raw[y * (stride + 1)]
    row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if ftype == 1:
        for i in range(bpp, stride):
            row[i] = (row[i] + row[i - bpp]) & 0xff
    elif ftype == 2:
        row = bytearray((a + b) & 0xff for a, b in zip(row, prev))
    elif ftype == 3:
        for i in range(stride):
            row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xff
    elif ftype == 4:
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
    for i in range(0, stride, bpp):
        px = (row[i], row[i + 1], row[i + 2])
        colours.add(px)
        # The "hot" palette: red 205..255, green up to 230, blue up to 55.
        if px[0] >= 200 and px[2] <= 60 and px[1] < px[0]:
            warm += 1
    prev = row
if len(colours) <= 10:
    sys.exit('only %d distinct colours: blank or broken' % len(colours))
if warm < w * h // 50:
    sys.exit('only %d flame-coloured pixels of %d' % (warm, w * h))
EOF
)
rc=$?
if [ $rc -eq 0 ]; then
	pass flamegraph_render
else
	fail flamegraph_render "${why:-screenshot check failed (python3 exit $rc)}"
fi
