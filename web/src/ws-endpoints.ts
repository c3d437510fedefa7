/**
 * Where the page's WebSocket goes. Served by chatd or a chat server: its own origin. Served by the
 * mesh's api-server (which has no /ws): one of the chat servers it lists in /web-config.json,
 * picked again at every reconnect, so clients spread over the servers and move off one that left.
 */
let listed: string[] = [];

export async function loadWsEndpoints(): Promise<void> {
  try {
    const res = await fetch('/web-config.json');
    if (!res.ok) return;
    const config = (await res.json()) as { wsUrls?: unknown };
    if (Array.isArray(config.wsUrls)) listed = config.wsUrls.filter((u): u is string => typeof u === 'string' && /^wss?:\/\//.test(u));
  } catch {
    // No config: same origin.
  }
}

export function pickWsUrl(): string {
  if (listed.length > 0) return listed[Math.floor(Math.random() * listed.length)];
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/ws`;
}
