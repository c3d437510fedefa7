import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, importPKCS8 } from 'jose';
import { TokenIssuer } from './token-issuer';
import { TokenVerifier } from './token-verifier';

const secret = 's'.repeat(32);
const hs = (claims: Record<string, unknown> = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });

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
    const p = await v.verify(await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('carol').sign(pk));
    assert.equal(p.id, 'carol');
    await assert.rejects(v.verify(await hs().setSubject('carol').sign(new TextEncoder().encode(secret))), /not allowed/);
  });
});
