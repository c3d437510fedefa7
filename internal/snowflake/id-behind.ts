/**
 * Thrown by a message appender when a draft's id is not above the newest id its conversation
 * already numbered (another chat server's clock runs ahead): nothing was stored, and the send is
 * to be retried with an id above `newestId`.
 */
export class IdBehind extends Error {
  constructor(readonly newestId: bigint) {
    super(`the conversation already holds message id ${newestId}, newer than this server's id`);
    this.name = 'IdBehind';
  }
}
