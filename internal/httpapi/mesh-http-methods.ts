import { GroupServiceDefinition } from '../../gen/chat/v1/group';
import { HistoryServiceDefinition } from '../../gen/chat/v1/history';
import { SessionServiceDefinition } from '../../gen/chat/v1/session';
import { serviceSecret } from '../auth/auth-from-config';
import type { Config } from '../config/config';
import type { Closer } from '../engines/open-engines';
import { rpcClientFromConfig } from '../rpc/rpc-client-from-config';
import { MintedServiceToken } from '../rpc/service-token';
import type { UnaryMethod } from '../rpc/unary-method';
import { forwardedMethods } from './forwarded-methods';

/**
 * The HTTP API of the mesh (api-server, and chat servers next to /ws): the Connect routes of the
 * group, history and session services, each forwarded over gRPC with the caller's own token.
 */
export function meshHttpMethods(config: Config, closers: Closer[]): UnaryMethod[] {
  // Forwarded calls carry the caller's token; the service token only backs the client's defaults.
  const credentials = new MintedServiceToken(serviceSecret(config), 'api-server', { issuer: config.jwtIssuer, audience: config.jwtAudience });
  return [
    ...forwardedMethods(GroupServiceDefinition, rpcClientFromConfig(GroupServiceDefinition, config.groupServiceAddr!, config, credentials, closers)),
    ...forwardedMethods(HistoryServiceDefinition, rpcClientFromConfig(HistoryServiceDefinition, config.historyServiceAddr!, config, credentials, closers)),
    ...forwardedMethods(SessionServiceDefinition, rpcClientFromConfig(SessionServiceDefinition, config.sessionServiceAddr!, config, credentials, closers)),
  ];
}
