import pino from 'pino';
import { MemoryBus } from './bus-memory';
import { busBatchContract } from './bus-batch.contract';
import { busContract } from './bus.contract';

const memoryBus = () => Promise.resolve(new MemoryBus(pino({ level: 'silent' }), { delivery: { maxAttempts: 3, backoffMs: 1, maxBackoffMs: 10 } }));

busContract('memory', memoryBus);
busBatchContract('memory', memoryBus);
