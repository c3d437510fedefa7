import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, describeSettings, loadConfig } from './config';

describe('loadConfig', () => {
  it('applies defaults and parses types', () => {
    const c = loadConfig({ CHAT_DEV_MODE: 'true' });
    assert.equal(c.httpPort, 8080);
    assert.equal(c.devMode, true);
    assert.deepEqual(c.jwtAlgorithms, ['HS256']);
    assert.equal(c.maxGroupSize, 500);
  });

  it('names every bad variable', () => {
    assert.throws(
      () => loadConfig({ CHAT_HTTP_PORT: 'eighty', CHAT_MAX_GROUP_SIZE: '-1', CHAT_DEV_MODE: 'true' }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 2 && /CHAT_HTTP_PORT/.test(err.message) && /CHAT_MAX_GROUP_SIZE/.test(err.message),
    );
  });

  it('requires a secret outside dev mode', () => {
    assert.throws(() => loadConfig({}), /CHAT_JWT_SECRET is required/);
    assert.doesNotThrow(() => loadConfig({ CHAT_JWT_SECRET: 'x'.repeat(32) }));
  });

  it('rejects a short secret and unknown algorithms', () => {
    assert.throws(() => loadConfig({ CHAT_JWT_SECRET: 'short' }), /CHAT_JWT_SECRET/);
    assert.throws(() => loadConfig({ CHAT_DEV_MODE: '1', CHAT_JWT_ALGORITHMS: 'none' }), /CHAT_JWT_ALGORITHMS/);
  });

  it('lists every variable in the help text', () => {
    assert.match(describeSettings(), /CHAT_MAX_FRAME_BYTES/);
  });
});
