import { ChatError } from '../errors/chat-error';
import type { RpcClient } from '../rpc/grpc-client';
import type { ServiceDef, UnaryMethod } from '../rpc/unary-method';

/**
 * The unary methods of a service of the mesh, answered by calling that service over gRPC with the
 * caller's own token: the HTTP API of the api-server and chat servers is a thin front, and every
 * rule (authentication, access, limits) is the service's. Streaming methods are not forwarded.
 */
export function forwardedMethods<D extends ServiceDef>(definition: D, client: RpcClient<D>): UnaryMethod[] {
  const out: UnaryMethod[] = [];
  for (const [key, m] of Object.entries(definition.methods)) {
    if (m.requestStream || m.responseStream) continue;
    out.push({
      service: definition.fullName,
      name: m.name,
      key,
      // Authentication is checked here (a token is required); the service checks the rest.
      access: 'public',
      requestType: m.requestType,
      responseType: m.responseType,
      handle: (req, caller) => {
        if (!caller.token) throw ChatError.unauthenticated('missing token');
        return (client.call as (k: string, r: unknown, o: { as: string }) => Promise<unknown>).call(client, key, req, { as: caller.token });
      },
    });
  }
  return out;
}
