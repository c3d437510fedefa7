import { MemorySendClaims } from './send-claims-memory';
import { sendClaimsContract } from './send-claims.contract';

// One process: "separate holders" share the map, as all connections of one chatd would.
const shared = new Map<number, MemorySendClaims>();
sendClaimsContract('memory', () => ({
  claims: (ttlMs) => {
    let c = shared.get(ttlMs);
    if (!c) shared.set(ttlMs, (c = new MemorySendClaims({ ttlMs })));
    return c;
  },
}));
