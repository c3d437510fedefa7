import { execFileSync } from 'node:child_process';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, type FileDescriptorSet } from '@bufbuild/protobuf/wkt';

/**
 * The files of the buf workspace or module at `input`, compiled with source info (comments) and
 * without their imports. The buf binary pinned in devDependencies does the parsing, so this reads
 * exactly what `buf generate` and `buf lint` read.
 */
export function buildDescriptorSet(input: string): FileDescriptorSet {
  const buf = require.resolve('@bufbuild/buf/bin/buf');
  const bytes = execFileSync(process.execPath, [buf, 'build', input, '--exclude-imports', '--as-file-descriptor-set', '-o', '-'], { maxBuffer: 64 << 20 });
  return fromBinary(FileDescriptorSetSchema, bytes);
}
