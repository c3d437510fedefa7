import { readFileSync } from 'node:fs';
import { errors, importSPKI, jwtVerify, type CryptoKey, type JWTPayload, type KeyObject } from 'jose';
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
  issuer?: string;
  audience?: string;
  clockToleranceSec: number;
}

/** Verifies JWTs with jose against pinned algorithms; the `sub` is the user id. */
export class TokenVerifier {
  private constructor(
    private readonly opts: TokenVerifierOptions,
    private readonly hmacKey: Uint8Array | undefined,
    private readonly publicKey: CryptoKey | KeyObject | undefined,
  ) {}

  static async create(opts: TokenVerifierOptions): Promise<TokenVerifier> {
    const hmacKey = opts.secret ? new TextEncoder().encode(opts.secret) : undefined;
    const asym = opts.algorithms.find((a) => a !== 'HS256');
    const publicKey = asym && opts.publicKeyFile ? await importSPKI(readFileSync(opts.publicKeyFile, 'utf8'), asym) : undefined;
    return new TokenVerifier(opts, hmacKey, publicKey);
  }

  /** Verifies a token; throws UNAUTHENTICATED with a reason that is safe to show. */
  async verify(token: string): Promise<Principal> {
    if (!token) throw ChatError.unauthenticated('missing token');
    let payload: JWTPayload;
    try {
      const result = await jwtVerify(token, (header) => this.keyFor(header.alg), {
        algorithms: [...this.opts.algorithms],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        clockTolerance: this.opts.clockToleranceSec,
      });
      payload = result.payload;
    } catch (err) {
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

  private keyFor(alg: string | undefined): Uint8Array | CryptoKey | KeyObject {
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
  return 'invalid token';
}
