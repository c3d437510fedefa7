import type { DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet, SourceCodeInfo_Location } from '@bufbuild/protobuf/wkt';

/** A message or enum declared in one of the documented files. */
export type DeclaredType =
  | { kind: 'message'; fullName: string; file: FileDescriptorProto; proto: DescriptorProto; path: number[] }
  | { kind: 'enum'; fullName: string; file: FileDescriptorProto; proto: EnumDescriptorProto; path: number[] };

/**
 * Field numbers of descriptor.proto used in SourceCodeInfo paths: a location's path walks from the
 * file through these to the element it describes.
 */
export const PATH = {
  fileMessage: 4,
  fileEnum: 5,
  fileService: 6,
  messageField: 2,
  messageNested: 3,
  messageEnum: 4,
  enumValue: 2,
  serviceMethod: 2,
} as const;

/**
 * The documented files of a FileDescriptorSet, with every declared type by full name (without the
 * leading dot) and every comment by its SourceCodeInfo path. Types from files outside the set
 * (imports such as google.protobuf.Timestamp) are not declared here; callers name them as they are.
 */
export class DescriptorIndex {
  readonly files: FileDescriptorProto[];
  private readonly types = new Map<string, DeclaredType>();
  private readonly locations = new Map<FileDescriptorProto, Map<string, SourceCodeInfo_Location>>();

  constructor(set: FileDescriptorSet) {
    // Sorted so the output never depends on the order the compiler listed the files in.
    this.files = [...set.file].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const file of this.files) {
      const byPath = new Map<string, SourceCodeInfo_Location>();
      for (const loc of file.sourceCodeInfo?.location ?? []) byPath.set(loc.path.join(','), loc);
      this.locations.set(file, byPath);
      const prefix = file.package ? `${file.package}.` : '';
      file.messageType.forEach((m, i) => this.addMessage(file, prefix, m, [PATH.fileMessage, i]));
      file.enumType.forEach((e, i) => this.addEnum(file, prefix, e, [PATH.fileEnum, i]));
    }
  }

  /** The type a field's `type_name` (".pkg.Name") refers to, if it is declared in the set. */
  lookup(typeName: string): DeclaredType | undefined {
    return this.types.get(typeName.replace(/^\./, ''));
  }

  /**
   * The comment attached to an element: its leading comment, else its trailing one, with the
   * single space after `//` removed from each line and surrounding blank lines dropped.
   */
  comment(file: FileDescriptorProto, path: readonly number[]): string {
    const loc = this.locations.get(file)?.get(path.join(','));
    if (!loc) return '';
    const raw = loc.leadingComments || loc.trailingComments || '';
    return raw
      .split('\n')
      .map((line) => line.replace(/^ /, '').trimEnd())
      .join('\n')
      .trim();
  }

  private addMessage(file: FileDescriptorProto, prefix: string, proto: DescriptorProto, path: number[]): void {
    const fullName = `${prefix}${proto.name}`;
    this.types.set(fullName, { kind: 'message', fullName, file, proto, path });
    proto.nestedType.forEach((m, i) => this.addMessage(file, `${fullName}.`, m, [...path, PATH.messageNested, i]));
    proto.enumType.forEach((e, i) => this.addEnum(file, `${fullName}.`, e, [...path, PATH.messageEnum, i]));
  }

  private addEnum(file: FileDescriptorProto, prefix: string, proto: EnumDescriptorProto, path: number[]): void {
    const fullName = `${prefix}${proto.name}`;
    this.types.set(fullName, { kind: 'enum', fullName, file, proto, path });
  }
}
