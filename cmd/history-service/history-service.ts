import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { GroupServiceDefinition } from '../../gen/chat/v1/group';
import { HistoryServiceService } from '../../gen/chat/v1/history';
import { serviceSecret, verifierFromConfig } from '../../internal/auth/auth-from-config';
import { ConversationAccess } from '../../internal/chat/conversation-access';
import { HistoryQueries } from '../../internal/chat/history-queries';
import { historyRpc } from '../../internal/chat/history-rpc';
import type { Config } from '../../internal/config/config';
import { closeAll, openCassandra, type Closer } from '../../internal/engines/open-engines';
import { GroupClient } from '../../internal/group/group-client';
import { CassandraMessageStore } from '../../internal/history/message-store-cassandra';
import { withConversationReceipts } from '../../internal/receipts/conversation-list-receipts';
import { ReceiptSummaries } from '../../internal/receipts/receipt-summaries';
import { CassandraReceiptStore } from '../../internal/receipts/receipt-store-cassandra';
import type { RunningProcess } from '../../internal/process/run-main';
import { serveProcess } from '../../internal/process/service-process';
import { grpcUnaryImplementation } from '../../internal/rpc/grpc-unary';
import { rpcClientFromConfig } from '../../internal/rpc/rpc-client-from-config';
import { MintedServiceToken } from '../../internal/rpc/service-token';
import { ChatMetrics } from '../../internal/telemetry/metrics';

/**
 * The history service: message pages, conversation lists and device cursors from Cassandra, with
 * group membership (for the access rules) from the group service. Wiring only.
 */
export async function startHistoryService(config: Config, log: Logger): Promise<RunningProcess> {
  const closers: Closer[] = [];
  try {
    const verifier = await verifierFromConfig(config);
    const credentials = new MintedServiceToken(serviceSecret(config), 'history-service', { issuer: config.jwtIssuer, audience: config.jwtAudience });
    const session = openCassandra(config, closers);
    const store = await CassandraMessageStore.open({ session });
    const groups = new GroupClient(rpcClientFromConfig(GroupServiceDefinition, config.groupServiceAddr!, config, credentials, closers));
    const access = new ConversationAccess(groups, store);
    const receiptStore = await CassandraReceiptStore.open({ session });
    const receipts = new ReceiptSummaries({ store: receiptStore, messages: store, access, maxUnreadCount: config.maxPageSize });
    const methods = withConversationReceipts(historyRpc(new HistoryQueries(store, access, config), store, receiptStore, config), receipts);
    return await serveProcess({
      name: 'history-service',
      config,
      log,
      metrics: new ChatMetrics({ service: 'history-service', instance: `${hostname()}:${config.grpcPort}` }),
      closers,
      grpcServices: [{ definition: HistoryServiceService, name: 'chat.v1.HistoryService', implementation: grpcUnaryImplementation(methods, verifier, log) }],
    });
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
