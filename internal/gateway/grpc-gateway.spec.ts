import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectRequest } from '../../gen/chat/v1/gateway';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import { gatewayService } from './grpc-gateway';

describe('GatewayService as served', () => {
  const decode = gatewayService(64).connect.requestDeserialize;

  it('caps client frames at CHAT_MAX_FRAME_BYTES whatever the port takes from peers', () => {
    const big = Buffer.from(ConnectRequest.encode({ requestId: 'r', frame: { $case: 'heartbeat', value: {} } }).finish());
    const ok = decode(big);
    assert.ok(!(ok instanceof ChatError));
    const tooLarge = decode(Buffer.concat([big, Buffer.alloc(64)]));
    assert.ok(tooLarge instanceof ChatError);
    assert.equal(tooLarge.code, ErrorCode.ERROR_CODE_TOO_LARGE);
    assert.match(tooLarge.message, /the limit is 64/);
  });

  it('answers undecodable bytes with MALFORMED_FRAME instead of failing the call', () => {
    const bad = decode(Buffer.from([0xff, 0xff, 0xff]));
    assert.ok(bad instanceof ChatError);
    assert.equal(bad.code, ErrorCode.ERROR_CODE_MALFORMED_FRAME);
  });
});
