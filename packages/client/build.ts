import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, type BuildOptions } from 'esbuild';

/**
 * Builds the SDK package `@chat-mesh/client` (packages/client) from internal/client/index.ts:
 * dist/index.mjs (ESM) and dist/index.cjs (CommonJS), each one bundle with the generated code of
 * gen/ and @bufbuild/protobuf inside (no runtime dependency), and the declarations in dist/types.
 *
 * The bundles are built for `platform: 'neutral'`: nothing is assumed of Node, so an import of a
 * Node builtin (or of `ws`, which needs them) anywhere in what index.ts reaches fails the build;
 * and a use of Node's `Buffer` or `process` global in internal/client, which a bundler cannot
 * see, fails the check after it. Besides internal/client the bundle may hold only gen/ (whose
 * gRPC service definitions, never called here, name Buffer in their serializers) and
 * @bufbuild/protobuf (which feature-detects `process` before it uses it). `make sdk` runs this;
 * `npm pack packages/client` then packs it.
 */
const root = join(__dirname, '..', '..');
const dist = join(__dirname, 'dist');

/** Node-only globals our sources must not use (a browser has none of them). */
const NODE_GLOBALS = /\b(Buffer|process|__dirname|__filename|setImmediate|require)\b/;
/** What the bundles may contain. */
const ALLOWED_INPUTS = /^(internal\/client\/[a-z-]+\.ts|gen\/[a-z0-9_/]+\.ts|node_modules\/@bufbuild\/protobuf\/.*)$/;

export async function buildSdk(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  const common: BuildOptions = {
    entryPoints: [join(root, 'internal/client/index.ts')],
    bundle: true,
    platform: 'neutral',
    target: 'es2022',
    // gen/ builds gRPC client constructors at import time, which the SDK never uses: stubbed.
    alias: { '@grpc/grpc-js': join(root, 'internal/client/grpc-stub.ts') },
    mainFields: ['module', 'main'],
    sourcemap: true,
    logLevel: 'warning',
  };
  const { metafile } = await build({ ...common, format: 'esm', outfile: join(dist, 'index.mjs'), metafile: true });
  await build({ ...common, format: 'cjs', outfile: join(dist, 'index.cjs') });
  for (const input of Object.keys(metafile.inputs)) {
    const path = relative(root, join(root, input));
    if (!ALLOWED_INPUTS.test(path)) throw new Error(`the SDK bundle would contain ${path}: only internal/client, gen/ and @bufbuild/protobuf belong in it`);
    if (!path.startsWith('internal/client/')) continue;
    const hit = NODE_GLOBALS.exec(withoutComments(readFileSync(join(root, path), 'utf8')));
    if (hit) throw new Error(`${path} uses the Node global ${hit[1]}: everything internal/client/index.ts reaches must run in browsers`);
  }
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(__dirname, 'tsconfig.json')], { stdio: 'inherit' });
}

/** The source without its comments (roughly: enough for the check above, strings aside). */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

if (require.main === module) {
  buildSdk().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
