import type { ChatMessage } from '../../gen/chat/v1/message';
import type { Delivery } from '../chat/delivery';
import type { ConnectionRegistry } from './connection-registry';

/** Delivery in `chatd`: every device is connected to this process. */
export class LocalDelivery implements Delivery {
  constructor(private readonly registry: ConnectionRegistry) {}

  deliver(message: ChatMessage, recipientIds: readonly string[], excludeSessionId?: string): void {
    this.registry.deliverLocal(message, recipientIds, excludeSessionId);
  }
}
