import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolvePath, staticFiles, staticOr } from './static-files';

/** A raw GET (fetch would normalize `..` away before sending). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('staticFiles', () => {
  let dir: string;
  let server: Server;
  let port: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'static-'));
    mkdirSync(join(dir, 'site', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'site', 'index.html'), '<!doctype html><title>chat</title>');
    writeFileSync(join(dir, 'site', 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'site', 'assets', 'style.css'), 'body{}');
    writeFileSync(join(dir, 'site', 'notes.secret'), 'no');
    writeFileSync(join(dir, 'outside.txt'), 'secret');
    const serve = staticOr(staticFiles(join(dir, 'site')), (_req, res) => Promise.resolve(void res.writeHead(404).end('nope')));
    server = createServer((req, res) => void serve(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / and files with their content types', async () => {
    assert.deepEqual(await get(port, '/'), { status: 200, type: 'text/html; charset=utf-8', body: '<!doctype html><title>chat</title>' });
    assert.equal((await get(port, '/app.js?v=1')).type, 'text/javascript; charset=utf-8');
    assert.equal((await get(port, '/assets/style.css')).type, 'text/css; charset=utf-8');
    assert.deepEqual(await get(port, '/app.js', 'HEAD'), { status: 200, type: 'text/javascript; charset=utf-8', body: '' });
  });

  it('never leaves the directory and serves only known types', async () => {
    for (const path of ['/../outside.txt', '/assets/../../outside.txt', '/%2e%2e/outside.txt', '/..%2foutside.txt', '/%2e%2e%5coutside.txt', '/notes.secret', '/missing.js', '/assets', '/%E0%A4%A']) {
      assert.equal((await get(port, path)).status, 404, path);
    }
    assert.equal((await get(port, '/', 'POST')).status, 404);
    assert.equal(resolvePath('/srv/web', '/a/../../etc/passwd'), undefined);
    assert.equal(resolvePath('/srv/web', '/x\0.js'), undefined);
    assert.equal(resolvePath('/srv/web', '/a/b.js'), '/srv/web/a/b.js');
  });
});
