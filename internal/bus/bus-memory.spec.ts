import pino from 'pino';
import { MemoryBus } from './bus-memory';
import { busContract } from './bus.contract';

busContract('memory', () => Promise.resolve(new MemoryBus(pino({ level: 'silent' }))));
