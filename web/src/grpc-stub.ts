/**
 * Stands in for @grpc/grpc-js in the browser bundle: the generated code in gen/ builds gRPC client
 * constructors at import time, which the web client never uses (it speaks JSON frames over
 * WebSocket and Connect JSON over fetch). esbuild aliases the package to this file.
 */
export class Client {}

export function makeGenericClientConstructor(): typeof Client {
  return Client;
}
