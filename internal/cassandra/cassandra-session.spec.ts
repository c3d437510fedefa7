import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errors, types } from 'cassandra-driver';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import { CassandraDeadlineError, isLwtContention, toStoreError } from './cassandra-errors';
import { CassandraSession, parseContactPoints, type CassandraOptions } from './cassandra-session';

const base: CassandraOptions = { contactPoints: ['127.0.0.1:1'], localDataCenter: 'dc1', keyspace: 'chat' };

describe('parseContactPoints', () => {
  it('accepts hosts with and without ports', () => {
    assert.deepEqual(parseContactPoints(' 10.0.0.1:9042, cass-2 ,[::1]:19042,'), ['10.0.0.1:9042', 'cass-2', '[::1]:19042']);
  });
  it('rejects empty lists, bad hosts and bad ports, naming the entry', () => {
    assert.throws(() => parseContactPoints(' , '), /no Cassandra contact point/);
    assert.throws(() => parseContactPoints('a:0'), /"a:0"/);
    assert.throws(() => parseContactPoints('a:70000'), /"a:70000"/);
    assert.throws(() => parseContactPoints('http://a'), /"http:\/\/a"/);
  });
});

describe('CassandraSession options', () => {
  it('validates what ends up in CQL text or driver settings', () => {
    const bads: Partial<CassandraOptions>[] = [
      { keyspace: 'Chat' },
      { keyspace: 'chat-1' },
      { keyspace: 'a'.repeat(49) },
      { localDataCenter: "dc'1" },
      { requestTimeoutMs: 0 },
      { replication: { class: 'SimpleStrategy', replicationFactor: 0 } },
      { replication: { class: 'NetworkTopologyStrategy', dataCenters: {} } },
      { replication: { class: 'NetworkTopologyStrategy', dataCenters: { "x'": 1 } } },
    ];
    for (const bad of bads) {
      assert.throws(() => new CassandraSession({ ...base, ...bad }), RangeError, JSON.stringify(bad));
    }
    const ok = new CassandraSession({ ...base, replication: { class: 'NetworkTopologyStrategy', dataCenters: { dc1: 3 } } });
    assert.equal(ok.table('messages'), 'chat.messages');
  });
});

describe('toStoreError', () => {
  const code = (err: unknown) => toStoreError(err, 'x').code;
  it('maps reachability failures to UNAVAILABLE and keeps the cause', () => {
    const noHost = new errors.NoHostAvailableError({});
    const mapped = toStoreError(noHost, 'read message');
    assert.equal(mapped.code, ErrorCode.ERROR_CODE_UNAVAILABLE);
    assert.equal(mapped.cause, noHost);
    assert.match(mapped.message, /read message/);
    assert.equal(code(new errors.OperationTimedOutError('slow')), ErrorCode.ERROR_CODE_UNAVAILABLE);
    assert.equal(code(new CassandraDeadlineError('x', 5)), ErrorCode.ERROR_CODE_UNAVAILABLE);
    assert.equal(code(new errors.ResponseError(types.responseErrorCodes.writeTimeout, 'timeout')), ErrorCode.ERROR_CODE_UNAVAILABLE);
    assert.equal(code(new errors.ResponseError(types.responseErrorCodes.unavailableException, 'down')), ErrorCode.ERROR_CODE_UNAVAILABLE);
    const socket = Object.assign(new errors.DriverInternalError('Socket was closed'), { isSocketError: true });
    assert.equal(code(socket), ErrorCode.ERROR_CODE_UNAVAILABLE);
  });
  it('maps queries the server refuses, and anything else, to INTERNAL', () => {
    assert.equal(code(new errors.ResponseError(types.responseErrorCodes.syntaxError, 'bad')), ErrorCode.ERROR_CODE_INTERNAL);
    assert.equal(code(new errors.ResponseError(types.responseErrorCodes.invalid, 'no table')), ErrorCode.ERROR_CODE_INTERNAL);
    assert.equal(code(new TypeError('cannot encode')), ErrorCode.ERROR_CODE_INTERNAL);
    const chat = ChatError.notFound('x');
    assert.equal(toStoreError(chat, 'x'), chat);
  });
  it('tells a contended lightweight transaction from other failures', () => {
    const cas = Object.assign(new errors.ResponseError(types.responseErrorCodes.writeTimeout, 't'), { writeType: 'CAS' });
    const plain = Object.assign(new errors.ResponseError(types.responseErrorCodes.writeTimeout, 't'), { writeType: 'SIMPLE' });
    const serialRead = Object.assign(new errors.ResponseError(types.responseErrorCodes.readTimeout, 't'), { consistencies: types.consistencies.localSerial });
    assert.equal(isLwtContention(toStoreError(cas, 'x')), true);
    assert.equal(isLwtContention(serialRead), true);
    assert.equal(isLwtContention(toStoreError(plain, 'x')), false);
    assert.equal(isLwtContention(new errors.NoHostAvailableError({})), false);
  });
});
