import { MemorySendClaims } from './send-claims-memory';
import { sendClaimsContract } from './send-claims.contract';

// One process: "separate holders" share the map, as all connections of one chatd would.
const shared = new Map<string, MemorySendClaims>();
sendClaimsContract('memory', () => ({
  claims: (ttlMs, sequenceTtlMs) => {
    const key = `${ttlMs}/${sequenceTtlMs}`;
    let c = shared.get(key);
    if (!c) shared.set(key, (c = new MemorySendClaims({ ttlMs, sequenceTtlMs })));
    return c;
  },
}));
