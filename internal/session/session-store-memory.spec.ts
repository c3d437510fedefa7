import { MemorySessionStore } from './session-store-memory';
import { sessionStoreContract } from './session-store.contract';

sessionStoreContract('memory', () => Promise.resolve(new MemorySessionStore()));
