import type { IncomingMessage } from 'node:http';
import { ChatError } from '../errors/chat-error';

/** Reads a request body up to `maxBytes`; a larger one is refused with TOO_LARGE (HTTP 413). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      req.resume();
      throw ChatError.tooLarge(`request body over ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
