import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { ConnectionRegistry } from '../gateway/connection-registry';
import { pushEphemeral } from './ephemeral-events';
import type { EphemeralPublisher } from './ephemeral-publisher';

/** The EphemeralPublisher of one process (`chatd`): every device is in its own registry. */
export class LocalEphemeralPublisher implements EphemeralPublisher {
  constructor(private readonly registry: Pick<ConnectionRegistry, 'deliverEphemeral'>) {}

  publish(_conversationId: string, event: EphemeralEvent): Promise<void> {
    pushEphemeral(this.registry, [event]);
    return Promise.resolve();
  }
}
