import { SignJWT } from 'jose';
import { SERVICE_ROLE_CLAIM } from './principal';

/**
 * Signs HS256 tokens: dev tokens for `POST /v1/dev/token` and service tokens for processes of the
 * mesh that share the secret. Production user tokens come from the embedding team's login.
 */
export class TokenIssuer {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly opts: { ttlSec: number; issuer?: string; audience?: string },
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async userToken(userId: string): Promise<string> {
    return this.sign(new SignJWT({}).setSubject(userId));
  }

  async serviceToken(name: string): Promise<string> {
    return this.sign(new SignJWT({ [SERVICE_ROLE_CLAIM]: 'service' }).setSubject(name));
  }

  private async sign(jwt: SignJWT): Promise<string> {
    jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime(`${this.opts.ttlSec}s`);
    if (this.opts.issuer) jwt.setIssuer(this.opts.issuer);
    if (this.opts.audience) jwt.setAudience(this.opts.audience);
    return jwt.sign(this.key);
  }
}
