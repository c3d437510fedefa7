import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { devIssuerFromConfig, verifierFromConfig } from '../../internal/auth/auth-from-config';
import type { Config } from '../../internal/config/config';
import { closeAll, type Closer } from '../../internal/engines/open-engines';
import { createHttpApi } from '../../internal/httpapi/http-api';
import { listen } from '../../internal/httpapi/listen';
import { meshHttpMethods } from '../../internal/httpapi/mesh-http-methods';
import type { RunningProcess } from '../../internal/process/run-main';
import { ChatMetrics } from '../../internal/telemetry/metrics';

/**
 * The HTTP API of the mesh: the Connect-style routes of the services (forwarded with the caller's
 * token), the dev token endpoint in dev mode, the web client, /metrics. Wiring only.
 */
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
      webWsUrls: config.webWsUrls,
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
