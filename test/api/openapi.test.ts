import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server.ts';
import { VERSION } from '../../src/version.ts';

test('/openapi.json documents every registered route, with its answer, and nothing that does not exist', async () => {
  const s = await startServer();
  try {
    const res = await fetch(`${s.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as {
      openapi: string;
      info: { version: string };
      paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.version, VERSION);
    const asOpenApi = (url: string) => url.replace(/:(\w+)/g, '{$1}');
    const registered = s.mv.routes.map((r) => `${r.method} ${asOpenApi(r.url)}`).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(documented, registered, 'documented routes = registered routes');
    for (const route of s.mv.routes) {
      const op = doc.paths[asOpenApi(route.url)]![route.method.toLowerCase()]!;
      assert.ok(op.responses['200'] ?? op.responses['302'], `${route.method} ${route.url}: success answer documented`);
      if (route.url.startsWith('/api/')) assert.ok(op.responses.default, `${route.method} ${route.url}: failures documented`);
      if (route.public) assert.deepEqual(op.security, [], `${route.url} is documented as needing no key`);
    }
    // The multipart route, which has no body schema of its own, is described for readers.
    const part = doc.paths['/api/v1/rum_sourcemap/upload_part']!.post as unknown as { requestBody: { content: Record<string, unknown> } };
    assert.ok(part.requestBody.content['multipart/form-data']);
  } finally {
    await s.close();
  }
});

test('answers are checked against the document: a drifted shape is caught', async () => {
  const s = await startServer();
  try {
    // The helper validates every JSON answer; an answer off the document must make it throw.
    const { OpenApiChecker } = await import('../helpers/openapi-check.ts');
    const checker = new OpenApiChecker(s.url);
    await checker.check('GET', '/healthz', 200, (await s.get(`${s.url}/healthz`, null)).body);
    await assert.rejects(
      checker.check('POST', '/api/v1/rum_sourcemap/delete', 200, {
        code: 200,
        content: 'yes',
        errorCode: '',
        message: '',
        success: true,
        traceId: 't',
      }),
      /does not match \/openapi\.json/,
    );
    await assert.rejects(checker.check('POST', '/api/v1/rum_sourcemap/multipart_upload_init', 200, { code: 200 }), /does not match/);
  } finally {
    await s.close();
  }
});
