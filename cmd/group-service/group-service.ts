import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { GroupServiceService } from '../../gen/chat/v1/group';
import { verifierFromConfig } from '../../internal/auth/auth-from-config';
import type { Config } from '../../internal/config/config';
import { closeAll, leasedWorkerIds, openCassandra, openRedis, type Closer } from '../../internal/engines/open-engines';
import { groupRpc } from '../../internal/group/group-rpc';
import { GroupService } from '../../internal/group/group-service';
import { CassandraGroupStore } from '../../internal/group/group-store-cassandra';
import type { RunningProcess } from '../../internal/process/run-main';
import { serveProcess } from '../../internal/process/service-process';
import { grpcUnaryImplementation } from '../../internal/rpc/grpc-unary';
import { ChatMetrics } from '../../internal/telemetry/metrics';

/** The group service: groups and memberships in Cassandra, group ids from a leased worker id. Wiring only. */
export async function startGroupService(config: Config, log: Logger): Promise<RunningProcess> {
  const closers: Closer[] = [];
  try {
    const verifier = await verifierFromConfig(config);
    const store = await CassandraGroupStore.open({ session: openCassandra(config, closers) });
    const ids = await leasedWorkerIds(await openRedis(config, log, closers), config, log, closers);
    const groups = new GroupService({ store, limits: config, nextId: () => ids.nextString() });
    return await serveProcess({
      name: 'group-service',
      config,
      log,
      metrics: new ChatMetrics({ service: 'group-service', instance: `${hostname()}:${config.grpcPort}` }),
      closers,
      grpcServices: [{ definition: GroupServiceService, name: 'chat.v1.GroupService', implementation: grpcUnaryImplementation(groupRpc(groups, config), verifier, log) }],
    });
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
