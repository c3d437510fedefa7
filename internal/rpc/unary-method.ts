import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Principal } from '../auth/principal';

/** The static side of a ts-proto message: binary and JSON codecs. */
export interface MessageType<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
}

/**
 * Who may call a method: `public` takes user (or service) tokens, `internal` only service
 * tokens (chat servers, the sync worker).
 */
export type Access = 'public' | 'internal';

/** One unary RPC, transport-free; served over gRPC and as a Connect-style JSON POST. */
export interface UnaryMethod<Req = unknown, Res = unknown> {
  /** e.g. "chat.v1.GroupService" */
  service: string;
  /** e.g. "CreateGroup" */
  name: string;
  /** The ts-proto key of the method, e.g. "createGroup". */
  key: string;
  access: Access;
  requestType: MessageType<Req>;
  responseType: MessageType<Res>;
  handle(req: Req, caller: Principal): Promise<Res>;
}

export interface MethodDef {
  name: string;
  requestType: MessageType<unknown>;
  responseType: MessageType<unknown>;
  requestStream: boolean;
  responseStream: boolean;
}

export interface ServiceDef {
  fullName: string;
  methods: Record<string, MethodDef>;
}

export type Req<M> = M extends { requestType: { decode(...a: never[]): infer R } } ? R : never;
export type Res<M> = M extends { responseType: { decode(...a: never[]): infer R } } ? R : never;
type UnaryKeys<D extends ServiceDef> = { [K in keyof D['methods']]: D['methods'][K]['requestStream'] extends false ? (D['methods'][K]['responseStream'] extends false ? K : never) : never }[keyof D['methods']];

/** Handlers for the unary methods of a generated service definition, typed from it. */
export type UnaryHandlers<D extends ServiceDef> = {
  [K in UnaryKeys<D>]: { access: Access; handle(req: Req<D['methods'][K]>, caller: Principal): Promise<Res<D['methods'][K]>> };
};

/** Binds handlers to the methods of a ts-proto generic service definition. */
export function unaryMethods<D extends ServiceDef>(definition: D, handlers: UnaryHandlers<D>): UnaryMethod[] {
  return Object.entries(handlers as Record<string, { access: Access; handle(req: unknown, caller: Principal): Promise<unknown> }>).map(([key, h]) => {
    const def = definition.methods[key];
    return {
      service: definition.fullName,
      name: def.name,
      key,
      access: h.access,
      requestType: def.requestType,
      responseType: def.responseType,
      handle: (req, caller) => h.handle(req, caller),
    };
  });
}
