import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:https';
import WebSocket from 'ws';
import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';
import { TestCa } from '../../internal/testing/test-certs';
import { TestChatd } from './testing/chatd-harness';

/** CHAT_TLS_CERT_FILE / CHAT_TLS_KEY_FILE: chatd serves https and wss on its HTTP port, and nothing in plaintext. */
describe('chatd over TLS', () => {
  let chatd: TestChatd;
  let ca: TestCa;
  let port = '';
  before(async () => {
    ca = TestCa.create('edge-ca');
    const cert = ca.issue('chatd');
    chatd = await TestChatd.start({ tlsCertFile: cert.certFile, tlsKeyFile: cert.keyFile });
    port = new URL(chatd.httpUrl).port;
  });
  after(async () => chatd.stop());

  it('answers https and opens a session over wss for a client that trusts the certificate', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => get(`https://127.0.0.1:${port}/healthz`, { ca: ca.ca.cert }, (res) => resolve(res.statusCode)).on('error', reject));
    assert.equal(status, 200);
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: ca.ca.cert });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(ConnectRequest.encode({ requestId: 'h', frame: { $case: 'hello', value: { token: await chatd.token('tls-user'), deviceId: 'd', lastSeen: {}, resumeAfter: {} } } }).finish());
    const first = await new Promise<ConnectResponse>((resolve) => ws.once('message', (data) => resolve(ConnectResponse.decode(data as Buffer))));
    assert.equal(first.frame?.$case, 'welcome');
    ws.close();
  });

  it('refuses plaintext ws and clients that do not trust the certificate', async () => {
    const plain = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await assert.rejects(new Promise((resolve, reject) => plain.once('open', resolve).once('error', reject)));
    const untrusting = new WebSocket(`wss://127.0.0.1:${port}/ws`);
    await assert.rejects(new Promise((resolve, reject) => untrusting.once('open', resolve).once('error', reject)), /self-signed|unable to verify|certificate/);
  });
});
