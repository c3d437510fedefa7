import type { Config } from '../config/config';
import { ConfigError } from '../config/config';
import { TokenIssuer } from './token-issuer';
import { TokenVerifier } from './token-verifier';

/** A dev-only HS256 secret, used when CHAT_DEV_MODE is on and no CHAT_JWT_SECRET is given. */
const DEV_SECRET = 'chat-mesh-dev-secret-do-not-use-in-production';

/** The HS256 secret in effect: CHAT_JWT_SECRET, or the dev secret in dev mode. */
export function hmacSecret(config: Config): string | undefined {
  return config.jwtSecret ?? (config.devMode ? DEV_SECRET : undefined);
}

/** The token verifier every process builds from the CHAT_JWT_ settings. */
export function verifierFromConfig(config: Config): Promise<TokenVerifier> {
  return TokenVerifier.create({
    algorithms: config.jwtAlgorithms,
    secret: hmacSecret(config),
    publicKeyFile: config.jwtPublicKeyFile,
    jwksUrl: config.jwtJwksUrl,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    clockToleranceSec: config.jwtClockToleranceSec,
  });
}

/** The dev token issuer behind POST /v1/dev/token: only in dev mode. */
export function devIssuerFromConfig(config: Config): TokenIssuer | undefined {
  const secret = hmacSecret(config);
  return config.devMode && secret ? new TokenIssuer(secret, { ttlSec: config.devTokenTtlSec, issuer: config.jwtIssuer, audience: config.jwtAudience }) : undefined;
}

/**
 * The secret processes of the mesh sign their service tokens with. Service-to-service calls are
 * HS256 with the shared secret (mTLS between services is a separate layer), so the mesh needs
 * one even when user tokens are RS256/ES256.
 */
export function serviceSecret(config: Config): string {
  const secret = hmacSecret(config);
  if (!secret) throw new ConfigError(['CHAT_JWT_SECRET is required in the mesh: services sign their calls to each other with it']);
  if (!config.jwtAlgorithms.includes('HS256')) throw new ConfigError(['CHAT_JWT_ALGORITHMS must include HS256 in the mesh: service tokens are HS256']);
  return secret;
}
