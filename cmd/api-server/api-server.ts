import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { GroupServiceDefinition } from '../../gen/chat/v1/group';
import { HistoryServiceDefinition } from '../../gen/chat/v1/history';
import { SessionServiceDefinition } from '../../gen/chat/v1/session';
import { devIssuerFromConfig, serviceSecret, verifierFromConfig } from '../../internal/auth/auth-from-config';
import type { Config } from '../../internal/config/config';
import { closeAll, type Closer } from '../../internal/engines/open-engines';
import { createHttpApi } from '../../internal/httpapi/http-api';
import { forwardedMethods } from '../../internal/httpapi/forwarded-methods';
import { listen } from '../../internal/httpapi/listen';
import type { RunningProcess } from '../../internal/process/run-main';
import { rpcClientFromConfig } from '../../internal/rpc/rpc-client-from-config';
import { MintedServiceToken } from '../../internal/rpc/service-token';
import type { UnaryMethod } from '../../internal/rpc/unary-method';
import { ChatMetrics } from '../../internal/telemetry/metrics';

/**
 * The HTTP API of the mesh: the Connect-style routes of the group, history and session services,
 * each forwarded over gRPC with the caller's own token; the dev token endpoint in dev mode; the
 * web client. Also what chat servers serve next to /ws. Wiring only.
 */
export function meshHttpMethods(config: Config, closers: Closer[]): UnaryMethod[] {
  // Calls carry the caller's token; the service token is never used for forwarded calls.
  const credentials = new MintedServiceToken(serviceSecret(config), 'api-server', { issuer: config.jwtIssuer, audience: config.jwtAudience });
  return [
    ...forwardedMethods(GroupServiceDefinition, rpcClientFromConfig(GroupServiceDefinition, config.groupServiceAddr!, config, credentials, closers)),
    ...forwardedMethods(HistoryServiceDefinition, rpcClientFromConfig(HistoryServiceDefinition, config.historyServiceAddr!, config, credentials, closers)),
    ...forwardedMethods(SessionServiceDefinition, rpcClientFromConfig(SessionServiceDefinition, config.sessionServiceAddr!, config, credentials, closers)),
  ];
}

export async function startApiServer(config: Config, log: Logger): Promise<RunningProcess> {
  const closers: Closer[] = [];
  try {
    let ready = false;
    const http = createHttpApi({
      methods: meshHttpMethods(config, closers),
      verifier: await verifierFromConfig(config),
      devTokens: devIssuerFromConfig(config),
      ready: () => ready,
      maxBodyBytes: config.maxFrameBytes,
      log,
      staticDir: config.webDir,
      metrics: new ChatMetrics({ service: 'api-server', instance: `${hostname()}:${config.httpPort}` }),
    });
    const port = await listen(http, config.host, config.httpPort);
    closers.push(() => new Promise<void>((r) => http.close(() => r())));
    ready = true;
    log.info({ http: `http://${config.host}:${port}` }, 'api-server ready');
    return {
      stop: async () => {
        ready = false;
        await closeAll(closers);
      },
    };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
