/**
 * Stands in for @grpc/grpc-js in the browser bundles (the web client's, the SDK package's): the
 * generated code in gen/ builds gRPC client constructors at import time, which no WebSocket or
 * HTTP client uses. esbuild aliases the package to this file; nothing imports it otherwise.
 */
export class Client {}

export function makeGenericClientConstructor(): typeof Client {
  return Client;
}
