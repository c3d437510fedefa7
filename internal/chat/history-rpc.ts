import { HistoryServiceDefinition } from '../../gen/chat/v1/history';
import { ChatError } from '../errors/chat-error';
import type { MessageStore } from '../history/message-store';
import { unaryMethods, type UnaryMethod } from '../rpc/unary-method';
import type { MessageService } from './message-service';

/** HistoryService RPCs: public reads through the access rules, the internal append for services. */
export function historyRpc(messages: MessageService, store: MessageStore): UnaryMethod[] {
  return unaryMethods(HistoryServiceDefinition, {
    appendMessage: {
      access: 'internal',
      handle: async (req) => {
        if (!req.message) throw ChatError.invalidArgument('message is required');
        return { created: (await store.append(req.message, req.participantIds)).created };
      },
    },
    listMessages: { access: 'public', handle: (req, caller) => messages.history(caller, req) },
    listConversations: { access: 'public', handle: (req, caller) => messages.conversations(caller, req.limit, req.beforeMessageId) },
  });
}
