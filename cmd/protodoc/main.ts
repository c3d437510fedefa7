#!/usr/bin/env node
// `protodoc`: the API reference of the contracts, as Markdown, from the comments in the .proto
// files. `make gen` runs it after `buf generate`: `node --import tsx cmd/protodoc/main.ts`.
import { buildDescriptorSet } from './build-descriptor-set';
import { renderApiDocs } from './render-api-docs';
import { writePages } from './write-pages';

const USAGE = `usage: protodoc [--input DIR] [--out DIR]

Compiles the buf workspace at --input (default .) with source info, without imports, and writes
one Markdown page per .proto file plus README.md (an index) under --out (default docs/api).`;

function main(argv: string[]): void {
  let input = '.';
  let out = 'docs/api';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--input' && i + 1 < argv.length) input = argv[++i];
    else if (arg === '--out' && i + 1 < argv.length) out = argv[++i];
    else {
      const help = arg === '--help' || arg === '-h';
      process.stderr.write(`${help ? '' : `protodoc: unexpected argument ${arg}\n`}${USAGE}\n`);
      process.exit(help ? 0 : 2);
    }
  }
  const pages = renderApiDocs(buildDescriptorSet(input), { protoRoot: 'proto/', regenerate: 'make gen' });
  for (const path of writePages(out, pages)) process.stdout.write(`protodoc: ${out}/${path}\n`);
}

main(process.argv.slice(2));
