import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jwtSubject } from './jwt-subject';

const token = (claims: unknown): string => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('jwtSubject', () => {
  it('reads sub without verifying, undefined when unreadable', () => {
    assert.equal(jwtSubject(token({ sub: 'alice' })), 'alice');
    assert.equal(jwtSubject(token({ sub: 'zoë-ü_?>' })), 'zoë-ü_?>', 'UTF-8, and base64url characters without padding');
    assert.equal(jwtSubject('garbage'), undefined);
    assert.equal(jwtSubject(token({ sub: 1 })), undefined);
    assert.equal(jwtSubject('h.%%%.s'), undefined);
  });
});
