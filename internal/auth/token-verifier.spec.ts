import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, importPKCS8, type CryptoKey } from 'jose';
import { TokenIssuer } from './token-issuer';
import { TokenVerifier } from './token-verifier';

const secret = 's'.repeat(32);
const hs = (claims: Record<string, unknown> = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m');

describe('TokenVerifier', () => {
  it('accepts an HS256 token and reads sub as the user id', async () => {
    const v = await TokenVerifier.create({ algorithms: ['HS256'], secret, clockToleranceSec: 0 });
    const token = await new TokenIssuer(secret, { ttlSec: 60 }).userToken('alice');
    const p = await v.verify(token);
    assert.equal(p.id, 'alice');
    assert.equal(p.kind, 'user');
    assert.ok(p.expiresAtMs! > Date.now());
  });

  it('marks service tokens', async () => {
    const v = await TokenVerifier.create({ algorithms: ['HS256'], secret, clockToleranceSec: 0 });
    const p = await v.verify(await new TokenIssuer(secret, { ttlSec: 60 }).serviceToken('chat-server-1'));
    assert.equal(p.kind, 'service');
  });

  it('checks a service token once while it is valid, a user token every time', async () => {
    const v = await TokenVerifier.create({ algorithms: ['HS256'], secret, clockToleranceSec: 30 });
    const issuer = new TokenIssuer(secret, { ttlSec: 60 });
    const service = await issuer.serviceToken('chat-server-1');
    assert.equal(await v.verify(service), await v.verify(service));
    const user = await issuer.userToken('alice');
    assert.notEqual(await v.verify(user), await v.verify(user));
    // Past its exp but inside the clock tolerance: accepted, yet never served from memory.
    const late = await hs({ chat_role: 'service' }).setSubject('chat-server-2').setExpirationTime(Math.floor(Date.now() / 1000) - 5).sign(new TextEncoder().encode(secret));
    assert.notEqual(await v.verify(late), await v.verify(late));
  });

  it('rejects bad signatures, expiry, alg none, wrong iss/aud and missing sub', async () => {
    const v = await TokenVerifier.create({ algorithms: ['HS256'], secret, issuer: 'me', audience: 'chat', clockToleranceSec: 5 });
    const key = new TextEncoder().encode(secret);
    const good = () => hs().setSubject('bob').setIssuer('me').setAudience('chat');
    await v.verify(await good().setExpirationTime('1m').sign(key));
    await assert.rejects(v.verify(await good().sign(new TextEncoder().encode('x'.repeat(32)))), /signature invalid/);
    await assert.rejects(v.verify(await good().setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(key)), /expired/);
    await assert.rejects(v.verify(await good().setNotBefore(Math.floor(Date.now() / 1000) + 60).sign(key)), /nbf/);
    await assert.rejects(v.verify(new UnsecuredJWT({}).setSubject('bob').setIssuer('me').setAudience('chat').encode()), /UNAUTH|invalid|not allowed/);
    await assert.rejects(v.verify(await hs().setSubject('bob').setIssuer('other').setAudience('chat').sign(key)), /iss/);
    await assert.rejects(v.verify(await hs().setSubject('bob').setIssuer('me').setAudience('x').sign(key)), /aud/);
    await assert.rejects(v.verify(await hs().setIssuer('me').setAudience('chat').sign(key)), /no sub/);
    await assert.rejects(v.verify(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setIssuer('me').setAudience('chat').sign(key)), /exp/, 'a token that never expires');
    await assert.rejects(v.verify(await hs().setSubject('has:colon').setIssuer('me').setAudience('chat').sign(key)), /sub/);
    await assert.rejects(v.verify(''), /missing token/);
    await assert.rejects(v.verify('garbage'), /invalid token/);
  });

  it('verifies ES256 with a public key file and refuses HS256 when not pinned', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const dir = mkdtempSync(join(tmpdir(), 'jwt-'));
    const file = join(dir, 'pub.pem');
    writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }));
    const v = await TokenVerifier.create({ algorithms: ['ES256'], publicKeyFile: file, clockToleranceSec: 0 });
    const pk = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'ES256');
    const p = await v.verify(await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('carol').setExpirationTime('1m').sign(pk));
    assert.equal(p.id, 'carol');
    await assert.rejects(v.verify(await hs().setSubject('carol').sign(new TextEncoder().encode(secret))), /not allowed/);
  });

  it('verifies RS256 and ES256 with keys from a JWKS endpoint, chosen by kid', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const rotated = await generateKeyPair('ES256');
    const keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' }];
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
      const v = await TokenVerifier.create({ algorithms: ['RS256', 'ES256'], jwksUrl: url, clockToleranceSec: 0 });
      const sign = (alg: string, kid: string, key: CryptoKey, sub: string) => new SignJWT({}).setProtectedHeader({ alg, kid }).setSubject(sub).setExpirationTime('1m').sign(key);
      assert.equal((await v.verify(await sign('RS256', 'rsa-1', rsa.privateKey, 'dora'))).id, 'dora');
      assert.equal((await v.verify(await sign('ES256', 'ec-1', ec.privateKey, 'eve'))).id, 'eve');
      assert.equal(fetches, 1, 'the key set is cached');
      await assert.rejects(v.verify(await sign('ES256', 'ec-1', rotated.privateKey, 'eve')), /signature invalid/, 'a key the set does not hold');
      await assert.rejects(v.verify(await sign('ES256', 'ec-2', rotated.privateKey, 'eve')), /UNAUTH|key id unknown|invalid/, 'an unknown kid');
      await assert.rejects(v.verify(await hs().setSubject('eve').sign(new TextEncoder().encode(secret))), /not allowed/, 'HS256 is not pinned');
    } finally {
      server.close();
    }
  });
});
