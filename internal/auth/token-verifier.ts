import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, errors, importSPKI, jwtVerify, type CryptoKey, type JWTHeaderParameters, type JWTPayload, type KeyObject, type FlattenedJWSInput } from 'jose';
import { ChatError } from '../errors/chat-error';
import { assertUserId } from '../conversation/conversation-id';
import { SERVICE_ROLE_CLAIM, type Principal } from './principal';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface TokenVerifierOptions {
  /** Pinned: a token signed with any other algorithm (including `none`) is rejected. */
  algorithms: readonly JwtAlgorithm[];
  /** HS256 secret. */
  secret?: string;
  /** PEM (SPKI) public key file for RS256 / ES256. */
  publicKeyFile?: string;
  /**
   * A JWKS endpoint for RS256 / ES256 (the identity provider's `jwks_uri`): keys are picked by the
   * token's `kid`, fetched on demand, cached, and refetched (at most every 30 s) for an unknown
   * `kid`, so the provider can rotate keys. Takes precedence over `publicKeyFile`.
   */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  clockToleranceSec: number;
}

/**
 * Verified service tokens remembered, so a service does not check the same HMAC or signature on
 * every RPC: a chat server reuses one token for minutes across thousands of calls.
 */
const VERIFIED_SERVICE_TOKENS = 256;

/** Verifies JWTs with jose against pinned algorithms; the `sub` is the user id. */
export class TokenVerifier {
  /** Service tokens already verified, oldest first; an entry is used only before its `exp`. */
  private readonly verifiedServices = new Map<string, Principal>();

  private constructor(
    private readonly opts: TokenVerifierOptions,
    private readonly hmacKey: CryptoKey | undefined,
    private readonly publicKey: CryptoKey | KeyObject | undefined,
    private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined,
  ) {}

  static async create(opts: TokenVerifierOptions): Promise<TokenVerifier> {
    // Imported once: given raw bytes, jose imports the key anew on every verify (a quarter of a
    // login's token check, profiled).
    const hmacKey = opts.secret ? await crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']) : undefined;
    const asym = opts.algorithms.find((a) => a !== 'HS256');
    const publicKey = asym && opts.publicKeyFile ? await importSPKI(readFileSync(opts.publicKeyFile, 'utf8'), asym) : undefined;
    const jwks = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 }) : undefined;
    return new TokenVerifier(opts, hmacKey, publicKey, jwks);
  }

  /** Verifies a token; throws UNAUTHENTICATED with a reason that is safe to show. */
  async verify(token: string): Promise<Principal> {
    if (!token) throw ChatError.unauthenticated('missing token');
    const known = this.verifiedServices.get(token);
    if (known && known.expiresAtMs !== undefined && Date.now() < known.expiresAtMs) return known;
    const principal = await this.verifyAnew(token);
    if (principal.kind === 'service') this.remember(principal);
    return principal;
  }

  private remember(principal: Principal & { token: string }): void {
    if (this.verifiedServices.size >= VERIFIED_SERVICE_TOKENS) this.verifiedServices.delete(this.verifiedServices.keys().next().value!);
    this.verifiedServices.set(principal.token, principal);
  }

  private async verifyAnew(token: string): Promise<Principal & { token: string }> {
    let payload: JWTPayload;
    try {
      const result = await jwtVerify(token, (header, jws) => this.keyFor(header, jws), {
        algorithms: [...this.opts.algorithms],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        clockTolerance: this.opts.clockToleranceSec,
        // A token without exp would hold a connection open forever: every token must expire.
        requiredClaims: ['exp'],
      });
      payload = result.payload;
    } catch (err) {
      // The key server being slow or down is not the caller's fault: retryable, not a bad token.
      if (err instanceof errors.JWKSTimeout || (this.jwks && !(err instanceof errors.JOSEError))) throw ChatError.unavailable('the token keys (JWKS) could not be fetched');
      throw ChatError.unauthenticated(reasonOf(err));
    }
    if (typeof payload.sub !== 'string') throw ChatError.unauthenticated('token has no sub');
    assertUserId(payload.sub, 'token sub');
    return {
      kind: payload[SERVICE_ROLE_CLAIM] === 'service' ? 'service' : 'user',
      id: payload.sub,
      expiresAtMs: payload.exp !== undefined ? payload.exp * 1000 : undefined,
      token,
    };
  }

  private keyFor(header: JWTHeaderParameters, jws: FlattenedJWSInput): Uint8Array | CryptoKey | KeyObject | Promise<CryptoKey> {
    const alg = header.alg;
    // jose has already refused algorithms outside the pinned list; HS256 never consults the JWKS.
    if (alg !== 'HS256' && this.jwks) return this.jwks(header, jws);
    const key = alg === 'HS256' ? this.hmacKey : this.publicKey;
    if (!key) throw new errors.JOSEAlgNotAllowed(`no key configured for ${alg ?? 'unknown'} tokens`);
    return key;
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `token claim "${err.claim}" rejected: ${err.reason}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof errors.JWKSNoMatchingKey) return 'token key id unknown';
  return 'invalid token';
}
