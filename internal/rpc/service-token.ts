import { TokenIssuer } from '../auth/token-issuer';

/** Where a process gets the bearer token it presents to the other services of the mesh. */
export interface ServiceCredentials {
  token(): Promise<string>;
}

/**
 * Service tokens minted from the mesh's shared HS256 secret (claim `chat_role: "service"`),
 * renewed when half their lifetime has passed so a call never carries an expiring token.
 */
export class MintedServiceToken implements ServiceCredentials {
  private readonly issuer: TokenIssuer;
  private current?: { token: Promise<string>; renewAtMs: number };

  constructor(
    secret: string,
    private readonly name: string,
    private readonly opts: { ttlSec?: number; issuer?: string; audience?: string; now?: () => number } = {},
  ) {
    this.issuer = new TokenIssuer(secret, { ttlSec: opts.ttlSec ?? 3600, issuer: opts.issuer, audience: opts.audience });
  }

  token(): Promise<string> {
    const now = (this.opts.now ?? Date.now)();
    if (!this.current || now >= this.current.renewAtMs) {
      this.current = { token: this.issuer.serviceToken(this.name), renewAtMs: now + ((this.opts.ttlSec ?? 3600) * 1000) / 2 };
    }
    return this.current.token;
  }
}
