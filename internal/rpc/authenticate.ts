import type { Principal } from '../auth/principal';
import type { TokenVerifier } from '../auth/token-verifier';
import { ChatError } from '../errors/chat-error';
import type { Access } from './unary-method';

/** Reads a `Bearer <jwt>` authorization value (gRPC metadata or HTTP header) and checks access. */
export async function authenticate(verifier: TokenVerifier, authorization: string | undefined, access: Access): Promise<Principal> {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) throw ChatError.unauthenticated('missing "authorization: Bearer <token>"');
  const principal = await verifier.verify(m[1]);
  if (access === 'internal' && principal.kind !== 'service') throw ChatError.permissionDenied('this method is for services of the mesh');
  return principal;
}
