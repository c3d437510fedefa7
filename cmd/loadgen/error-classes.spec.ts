import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorClass, errorClassesLine, errorsByClass } from './error-classes';
import type { RunResult } from './scenarios';

describe('errorClass', () => {
  it('names error frames by code, marks deadlines, keeps where they came from', () => {
    assert.equal(errorClass('error 11: chat.v1.SessionService/Heartbeat at 127.0.0.1:27101: Deadline exceeded after 3.4'), 'UNAVAILABLE (deadline exceeded)');
    assert.equal(errorClass('error 11: the message log did not accept the message; retry the send'), 'UNAVAILABLE');
    assert.equal(errorClass('hello: error 4: token rejected'), 'hello: UNAUTHENTICATED');
    assert.equal(errorClass('error 99: new'), 'code 99');
  });

  it('classes sockets by errno or HTTP status, keeps close codes, and old hello keys', () => {
    assert.equal(errorClass('socket: connect ECONNREFUSED 127.0.0.1:28081'), 'socket ECONNREFUSED');
    assert.equal(errorClass('socket: Unexpected server response: 503'), 'socket: HTTP 503');
    assert.equal(errorClass('closed 4008'), 'closed 4008');
    assert.equal(errorClass('hello: saved resume positions could not be read'), 'hello: error');
  });
});

describe('errorsByClass / errorClassesLine', () => {
  it('sums by class, most frequent first', () => {
    assert.deepEqual(errorsByClass({ 'error 11: a deadline exceeded': 2, 'error 11: b Deadline exceeded': 3, 'closed 4008': 9 }), [['closed 4008', 9], ['UNAVAILABLE (deadline exceeded)', 5]]);
  });

  it("says each target's classes and which came while connecting", () => {
    // Test fixtures: hand-built results.
    const r = (target: string, errors: Record<string, number>, connectErrors?: Record<string, number>): RunResult => ({ scenario: 'connections', target, label: 'fixture', connections: 0, connectFailed: 0, sent: 0, delivered: 0, deliveredPerSec: 0, durationS: 10, errors, connectErrors });
    assert.equal(errorClassesLine([r('mesh-empty', {}, {})]), undefined);
    assert.equal(
      errorClassesLine([r('mesh-idle', { 'hello: error 11: x deadline exceeded': 4, 'closed 4008': 1 }, { 'hello: error 11: x deadline exceeded': 4 }), r('mesh-idle', { 'closed 4008': 1 }, {})]),
      'Errors by code: mesh-idle: hello: UNAVAILABLE (deadline exceeded) ×4, closed 4008 ×2. Of these, while connecting: mesh-idle: hello: UNAVAILABLE (deadline exceeded) ×4.',
    );
  });
});
