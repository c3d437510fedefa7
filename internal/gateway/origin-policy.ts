import type { IncomingMessage } from 'node:http';

/**
 * Which browser pages may open a WebSocket to us. Browsers send `Origin` on every upgrade and let
 * any page connect anywhere, so without this check a hostile page could talk to chatd with a
 * token it obtained (cross-site WebSocket hijacking). Clients that are not browsers send no Origin
 * and are always allowed: they authenticate with their token like everyone else.
 *
 * `allowed` undefined: only same-origin pages (Origin's host:port equals the Host header). A list:
 * exactly those origins (`scheme://host[:port]`, compared case-insensitively), or `*` for any.
 */
export function originAllowed(req: Pick<IncomingMessage, 'headers'>, allowed: readonly string[] | undefined): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed?.includes('*')) return true;
  const normalized = normalizeOrigin(origin);
  if (normalized === undefined) return false;
  if (allowed) return allowed.some((a) => normalizeOrigin(a) === normalized);
  const host = req.headers.host;
  return host !== undefined && new URL(normalized).host === host.toLowerCase();
}

/** `scheme://host[:port]` in lower case without a default port; undefined for anything else ("null", paths). */
function normalizeOrigin(origin: string): string | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') return undefined;
  return url.origin.toLowerCase();
}
