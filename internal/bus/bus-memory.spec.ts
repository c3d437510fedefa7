import pino from 'pino';
import { MemoryBus } from './bus-memory';
import { busContract } from './bus.contract';

busContract('memory', () => Promise.resolve(new MemoryBus(pino({ level: 'silent' }), { delivery: { maxAttempts: 3, backoffMs: 1, maxBackoffMs: 10 } })));
