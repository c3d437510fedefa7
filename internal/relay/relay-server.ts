import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RelayRequest, RelayResponse } from '../../gen/chat/v1/relay';
import type { TokenVerifier } from '../auth/token-verifier';
import { ChatError } from '../errors/chat-error';
import { authenticate } from '../rpc/authenticate';
import { bearerOf, toServiceError } from '../rpc/grpc-unary';
import { dispatchBatch, type ServerInbox } from './server-inbox';

export interface RelayServerOptions {
  serverId: string;
  verifier: TokenVerifier;
  /** Where each batch goes (the same inbox as the delivery topic's). */
  inbox: ServerInbox;
  log: Logger;
}

/**
 * RelayService.Relay: the receiving end of a peer's stream. Each batch is handed to the server's
 * inbox (which pushes it to its connections) and then acknowledged, in arrival order, in the same
 * turn (the ack means "handed to the local connections", which is all the relay promises;
 * durability is the message log's).
 * The sender's flow control rests on this: it writes more only as acks come back, and takes a
 * peer that acknowledges nothing for its ack timeout for dead. Work here is per batch where it
 * can be (one clock read, one ack); what remains per delivery is the push itself.
 */
export function relayServiceImplementation(opts: RelayServerOptions): UntypedServiceImplementation {
  return {
    relay: (call: ServerDuplexStream<RelayRequest, RelayResponse>) => {
      const refuse = (err: unknown) => call.emit('error', Object.assign(new Error(), toServiceError(err, opts.log, 'RelayService/Relay')));
      let opened = false;
      const early: RelayRequest[] = [];
      const handle = (req: RelayRequest) => {
        const frame = req.frame;
        if (!opened) {
          if (frame?.$case !== 'open') return refuse(ChatError.invalidArgument('the first relay frame must be open'));
          if (frame.value.targetServerId !== opts.serverId) return refuse(ChatError.invalidArgument(`this is ${opts.serverId}, not ${frame.value.targetServerId}`));
          opened = true;
          return;
        }
        if (frame?.$case !== 'batch') return refuse(ChatError.invalidArgument('expected a batch'));
        dispatchBatch(opts.inbox, frame.value, 'relay');
        call.write({ batchId: frame.value.batchId });
      };
      // Frames that arrive while the token is checked wait; none is handled unauthenticated.
      let authed = false;
      call.on('data', (req: RelayRequest) => (authed ? handle(req) : early.push(req)));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
      authenticate(opts.verifier, bearerOf(call.metadata), 'internal').then(
        () => {
          authed = true;
          for (const req of early.splice(0)) handle(req);
        },
        refuse,
      );
    },
  };
}
