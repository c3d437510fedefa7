import type { IncomingMessage } from 'node:http';

/**
 * Which browser pages may open a WebSocket to us. Browsers send `Origin` on every upgrade and let
 * any page connect anywhere, so without this check a hostile page could talk to chatd with a
 * token it obtained (cross-site WebSocket hijacking). Clients that are not browsers send no Origin
 * and are always allowed: they authenticate with their token like everyone else.
 *
 * Same-origin pages (Origin's host:port equals the Host header: the page this server served) are
 * always allowed; `allowed` adds other origins (`scheme://host[:port]`, compared
 * case-insensitively), or `*` for any (e.g. the mesh's api-server serving the page for the chat
 * servers).
 */
export function originAllowed(req: Pick<IncomingMessage, 'headers'>, allowed: readonly string[] | undefined): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed?.includes('*')) return true;
  const normalized = normalizeOrigin(origin);
  if (normalized === undefined) return false;
  const host = req.headers.host;
  if (host !== undefined && new URL(normalized).host === host.toLowerCase()) return true;
  return allowed?.some((a) => normalizeOrigin(a) === normalized) ?? false;
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
