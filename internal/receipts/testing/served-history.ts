import pino from 'pino';
import { HistoryServiceDefinition, HistoryServiceService } from '../../../gen/chat/v1/history';
import { TokenVerifier } from '../../auth/token-verifier';
import { ConversationAccess } from '../../chat/conversation-access';
import { HistoryQueries } from '../../chat/history-queries';
import { historyRpc } from '../../chat/history-rpc';
import { SqliteGroupStore } from '../../group/group-store-sqlite';
import { GroupService } from '../../group/group-service';
import { SqliteMessageStore } from '../../history/message-store-sqlite';
import { RpcClient } from '../../rpc/grpc-client';
import { startGrpcServer } from '../../rpc/grpc-server';
import { grpcUnaryImplementation } from '../../rpc/grpc-unary';
import { MintedServiceToken } from '../../rpc/service-token';
import { openSqliteDatabase } from '../../sqlite/sqlite-database';
import { SqliteReceiptStore } from '../receipt-store-sqlite';

const SECRET = 'served-history-test-secret-0123456789';
/** ListMessagesBatch pages per call at most, small so tests reach it. */
export const BATCH_MAX_PAGES = 8;

/** A HistoryService served over real gRPC, on SQLite in memory, and a client of it. */
export interface ServedHistory {
  rpc: RpcClient<typeof HistoryServiceDefinition>;
  /** The stores behind the service, to check what a call wrote. */
  messages: SqliteMessageStore;
  receipts: SqliteReceiptStore;
  /** Calls the server received, by method name (e.g. "AdvanceReceipts"). */
  calls: Map<string, number>;
  close(): Promise<void>;
}

/**
 * Serves `historyRpc` the way the history service does (service tokens, the one error table), on
 * the embedded stores, so the clients of the mesh (HistoryClient, ReceiptClient) can be tested
 * with their real protocol and handlers, without Cassandra.
 */
export async function serveHistory(): Promise<ServedHistory> {
  const log = pino({ level: 'silent' });
  const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
  const messages = new SqliteMessageStore({ db });
  const receipts = new SqliteReceiptStore({ db });
  let groupIds = 0;
  const groups = new GroupService({ store: new SqliteGroupStore({ db }), limits: { maxGroupSize: 10, maxGroupNameBytes: 64 }, nextId: () => String(++groupIds) });
  const queries = new HistoryQueries(messages, new ConversationAccess(groups, messages), { defaultPageSize: 10, maxPageSize: 10 });
  const verifier = await TokenVerifier.create({ algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 5 });
  const calls = new Map<string, number>();
  const server = await startGrpcServer({
    host: '127.0.0.1',
    port: 0,
    maxMessageBytes: 4 << 20,
    services: [{ definition: HistoryServiceService, name: 'chat.v1.HistoryService', implementation: grpcUnaryImplementation(historyRpc(queries, messages, receipts, { historyBatchMaxPages: BATCH_MAX_PAGES, historyBatchConcurrency: 4 }), verifier, log) }],
    onCall: (path) => {
      const name = path.slice(path.lastIndexOf('/') + 1);
      calls.set(name, (calls.get(name) ?? 0) + 1);
    },
  });
  const rpc = new RpcClient(HistoryServiceDefinition, { address: `127.0.0.1:${server.port}`, credentials: new MintedServiceToken(SECRET, 'chat-server-test'), timeoutMs: 5_000, maxAttempts: 1 });
  return {
    rpc,
    messages,
    receipts,
    calls,
    close: async () => {
      rpc.close();
      await server.close();
      db.close();
    },
  };
}
