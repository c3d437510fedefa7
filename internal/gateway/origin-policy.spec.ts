import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { originAllowed } from './origin-policy';

const req = (origin: string | undefined, host = 'chat.example.com') => ({ headers: { host, ...(origin === undefined ? {} : { origin }) } });

describe('originAllowed', () => {
  it('by default allows clients without Origin and same-origin pages only', () => {
    assert.equal(originAllowed(req(undefined), undefined), true);
    assert.equal(originAllowed(req('https://chat.example.com'), undefined), true);
    assert.equal(originAllowed(req('http://127.0.0.1:8080', '127.0.0.1:8080'), undefined), true);
    assert.equal(originAllowed(req('https://CHAT.example.com:443', 'chat.example.com'), undefined), true, 'default port and case do not matter');
    assert.equal(originAllowed(req('https://evil.example'), undefined), false);
    assert.equal(originAllowed(req('http://127.0.0.1:9999', '127.0.0.1:8080'), undefined), false, 'another port is another origin');
    assert.equal(originAllowed(req('null'), undefined), false, 'sandboxed frames and file: pages');
    assert.equal(originAllowed(req('chrome-extension://abc'), undefined), false);
  });

  it('with a list also allows those origins, or any with *', () => {
    const list = ['https://app.example.com', 'http://localhost:3000'];
    assert.equal(originAllowed(req('https://app.example.com'), list), true);
    assert.equal(originAllowed(req('http://localhost:3000'), list), true);
    assert.equal(originAllowed(req('https://chat.example.com'), list), true, 'same-origin stays allowed');
    assert.equal(originAllowed(req('https://other.example.com'), list), false);
    assert.equal(originAllowed(req('https://app.example.com.evil.example'), list), false);
    assert.equal(originAllowed(req(undefined), list), true);
    assert.equal(originAllowed(req('https://anything.example'), ['*']), true);
  });
});
