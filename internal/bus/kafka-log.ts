import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';

/**
 * kafkajs' logs into our pino logger, warn and above (the client is created with
 * `logLevel.WARN`). A protocol error response is logged by kafkajs' connection as an error even
 * when it is retried or expected (a rebalance, a topic that already exists): those go out as
 * warnings, since the operation that finally fails reaches its caller, who logs it.
 */
/**
 * kafkajs wants unlimited retries for an idempotent producer; the bus bounds every call instead
 * (a publish that gave up rejects, and the caller retries), which it knows: not worth a warning on
 * every start.
 */
const BOUNDED_RETRIES_WARNING = 'Limiting retries for the idempotent producer';

export function kafkaLogCreator(log: Logger): logCreator {
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
      const bindings = { kafkajs: namespace, ...fields };
      const responseError = namespace === 'Connection' && message.startsWith('Response ');
      if (message.startsWith(BOUNDED_RETRIES_WARNING)) log.debug(bindings, message);
      else if (level === logLevel.ERROR && !responseError) log.error(bindings, message);
      else if (level === logLevel.ERROR || level === logLevel.WARN) log.warn(bindings, message);
      else log.debug(bindings, message);
    };
}
