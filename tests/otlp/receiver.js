// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
//
// receiver.js - an OTLP/HTTP receiver for the tests, decoding with a schema
// memobserver did not write: the protobufjs code the OpenTelemetry
// JavaScript project generates from opentelemetry-proto and ships in
// @opentelemetry/otlp-transformer (pinned by package-lock.json).
//
// Every request is written to --out as one JSON line: the path, the
// Content-Type, the status answered, whether the body decoded, whether it
// held only fields the upstream schema knows (its re-encoding is exactly as
// long as the body), and the decoded request (64-bit integers as strings,
// enums by name, bytes as base64).
//
//   node receiver.js --out FILE [--port N] [--mode MODE]
//   MODE: ok (default) | slow:MS (answer 200 after MS) |
//         status:CODE:N (answer CODE to the first N requests, then 200) |
//         retry-after:SECONDS:N (503 with Retry-After to the first N, then 200)
// Prints "READY <port>" once listening; stops on SIGTERM.
'use strict';

const fs = require('fs');
const http = require('http');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const pb = root.opentelemetry.proto.collector;
const SIGNALS = {
	'/v1/metrics': [pb.metrics.v1.ExportMetricsServiceRequest,
			pb.metrics.v1.ExportMetricsServiceResponse],
	'/v1/logs': [pb.logs.v1.ExportLogsServiceRequest, pb.logs.v1.ExportLogsServiceResponse],
};

function arg(name, def) {
	const i = process.argv.indexOf(name);
	return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const out = arg('--out');
const port = Number(arg('--port', '0'));
const mode = arg('--mode', 'ok').split(':');
if (!out) {
	process.stderr.write('receiver: --out FILE is required\n');
	process.exit(2);
}
let served = 0;

function decode(path, body) {
	const rec = { bytes: body.length };
	const types = SIGNALS[path];
	if (!types) {
		rec.decoded = false;
		rec.error = 'unknown path';
		return rec;
	}
	try {
		const msg = types[0].decode(body);
		const why = types[0].verify(msg);
		rec.decoded = why === null;
		if (why !== null)
			rec.error = why;
		// unknown fields are skipped by decode and lost: a re-encoding of
		// another length means the body held fields upstream does not define
		rec.reencoded_bytes = types[0].encode(msg).finish().length;
		rec.only_known_fields = rec.reencoded_bytes === body.length;
		rec.request = types[0].toObject(msg, {
			longs: String, enums: String, bytes: String, defaults: false,
			arrays: true, objects: true, oneofs: true,
		});
	} catch (e) {
		rec.decoded = false;
		rec.error = String(e && e.message || e);
	}
	return rec;
}

function answer(req, res, path, body) {
	const n = ++served;
	let status = 200, delay = 0;
	const headers = {};
	if (mode[0] === 'slow')
		delay = Number(mode[1]);
	else if (mode[0] === 'status' && n <= Number(mode[2]))
		status = Number(mode[1]);
	else if (mode[0] === 'retry-after' && n <= Number(mode[2])) {
		status = 503;
		headers['Retry-After'] = mode[1];
	}
	const rec = decode(path, body);
	Object.assign(rec, {
		seq: n, path, method: req.method, content_type: req.headers['content-type'] || '',
		headers: req.headers, status, time_ms: Date.now(),
	});
	fs.appendFileSync(out, JSON.stringify(rec) + '\n');
	setTimeout(() => {
		let payload = Buffer.alloc(0);
		if (status === 200 && SIGNALS[path]) {
			payload = Buffer.from(SIGNALS[path][1].encode({}).finish());
			headers['Content-Type'] = 'application/x-protobuf';
		}
		headers['Content-Length'] = payload.length;
		res.writeHead(status, headers);
		res.end(payload);
	}, delay);
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => answer(req, res, req.url, Buffer.concat(chunks)));
});
server.listen(port, '127.0.0.1', () => {
	process.stdout.write(`READY ${server.address().port}\n`);
});
process.on('SIGTERM', () => {
	server.closeAllConnections();
	server.close(() => process.exit(0));
});
