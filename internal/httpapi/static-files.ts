import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves the files under `rootDir` for GET and HEAD (the web client: `/` is `index.html`).
 * Only files inside the root are served: the path is decoded once, must not contain NUL or `..`
 * segments, and the resolved path must stay under the root. Unknown extensions and directories
 * are 404, so nothing but the built client leaves the directory. Everything is `no-cache`
 * (revalidated with Last-Modified), so a rebuilt client is picked up on the next load.
 * Resolves true when it answered, false when there is no such file (the caller answers 404).
 */
export function staticFiles(rootDir: string): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const root = resolve(rootDir);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const file = resolvePath(root, (req.url ?? '/').split('?')[0] ?? '/');
    const type = file && CONTENT_TYPES[extname(file).toLowerCase()];
    if (!file || !type) return false;
    let info;
    try {
      info = await stat(file);
    } catch {
      return false;
    }
    if (!info.isFile()) return false;
    const modified = info.mtime.toUTCString();
    const headers = {
      'content-type': type,
      'cache-control': 'no-cache',
      'last-modified': modified,
      'x-content-type-options': 'nosniff',
    };
    if (req.headers['if-modified-since'] === modified) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': info.size });
    if (req.method === 'HEAD') return void res.end(), true;
    await new Promise<void>((done) => {
      const stream = createReadStream(file);
      stream.on('error', () => {
        res.destroy();
        done();
      });
      stream.on('end', done);
      stream.pipe(res);
    });
    return true;
  };
}

/** The file a URL path names under `root`, or undefined when it is malformed or escapes it. */
export function resolvePath(root: string, urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (path.includes('\0') || path.includes('\\') || !path.startsWith('/')) return undefined;
  if (path.split('/').some((segment) => segment === '..')) return undefined;
  if (path.endsWith('/')) path += 'index.html';
  const file = resolve(join(root, path));
  return file.startsWith(root + sep) ? file : undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A handler that tries the static files first (when configured), then `fallback`. */
export function staticOr(serve: ReturnType<typeof staticFiles> | undefined, fallback: Handler): Handler {
  return async (req, res) => {
    if (!serve || !(await serve(req, res))) await fallback(req, res);
  };
}
