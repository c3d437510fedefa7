import { posix } from 'node:path';
import { isFieldSet } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  MethodOptions_IdempotencyLevel,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  type FileDescriptorSet,
  type MethodDescriptorProto,
  type ServiceDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { DescriptorIndex, PATH, type DeclaredType } from './descriptor-index';

/** One Markdown file of the reference; `path` is relative to the output directory, with `/`. */
export interface DocPage {
  path: string;
  content: string;
}

export interface RenderOptions {
  /** Where the .proto files live, named in each page's header (e.g. `proto/`). */
  protoRoot: string;
  /** The command that regenerates the pages, named in each page's header. */
  regenerate: string;
}

const SCALARS: Partial<Record<FieldDescriptorProto_Type, string>> = {
  [FieldDescriptorProto_Type.DOUBLE]: 'double',
  [FieldDescriptorProto_Type.FLOAT]: 'float',
  [FieldDescriptorProto_Type.INT64]: 'int64',
  [FieldDescriptorProto_Type.UINT64]: 'uint64',
  [FieldDescriptorProto_Type.INT32]: 'int32',
  [FieldDescriptorProto_Type.FIXED64]: 'fixed64',
  [FieldDescriptorProto_Type.FIXED32]: 'fixed32',
  [FieldDescriptorProto_Type.BOOL]: 'bool',
  [FieldDescriptorProto_Type.STRING]: 'string',
  [FieldDescriptorProto_Type.BYTES]: 'bytes',
  [FieldDescriptorProto_Type.UINT32]: 'uint32',
  [FieldDescriptorProto_Type.SFIXED32]: 'sfixed32',
  [FieldDescriptorProto_Type.SFIXED64]: 'sfixed64',
  [FieldDescriptorProto_Type.SINT32]: 'sint32',
  [FieldDescriptorProto_Type.SINT64]: 'sint64',
};

const IDEMPOTENCY: Partial<Record<MethodOptions_IdempotencyLevel, string>> = {
  [MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS]: 'no side effects',
  [MethodOptions_IdempotencyLevel.IDEMPOTENT]: 'idempotent',
};

/**
 * Renders the API reference of every file in `set` (compiled with source info, so comments are
 * there): one page per .proto file plus README.md, an index of files and services. The output is a
 * pure function of the descriptors: the same protos always give byte-identical pages.
 */
export function renderApiDocs(set: FileDescriptorSet, opts: RenderOptions): DocPage[] {
  const index = new DescriptorIndex(set);
  const pages = index.files.map((file) => ({ path: pagePath(file), content: new FilePage(index, file, opts).render() }));
  return [{ path: 'README.md', content: renderIndex(index, opts) }, ...pages];
}

/** `chat/v1/gateway.proto` → `chat/v1/gateway.md`. */
export function pagePath(file: FileDescriptorProto): string {
  return file.name.replace(/\.proto$/, '') + '.md';
}

/** The anchor GitHub gives a heading: lower case, punctuation other than `-` and `_` dropped. */
export function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function header(source: string, opts: RenderOptions): string {
  return `<!-- Generated from ${source} by \`${opts.regenerate}\` (cmd/protodoc). Do not edit. -->\n`;
}

/**
 * Comment text as Markdown: `<` and `>` outside code spans are escaped, so `dm:<a>:<b>` stays text
 * instead of becoming HTML (and a line starting with `>` is not a quote).
 */
export function escapeHtml(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('');
}

/** A comment inside a table cell: one line, pipes escaped, paragraphs kept apart. */
function cell(text: string): string {
  return escapeHtml(text)
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' '))
    .join('<br><br>')
    .replace(/\|/g, '\\|');
}

/** The first sentence of a comment, for summaries. */
function firstSentence(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  const m = /^(.*?[.!?])(\s|$)/.exec(flat);
  return m ? m[1] : flat;
}

function renderIndex(index: DescriptorIndex, opts: RenderOptions): string {
  const out = [header(opts.protoRoot, opts), '# API reference', ''];
  out.push(`Every service, message and enum of the contracts in \`${opts.protoRoot}\`, with the comments written there.`, '');
  out.push('| file | package | services | messages | enums |', '| --- | --- | --- | --- | --- |');
  for (const file of index.files) {
    const link = `[${file.name}](${pagePath(file)})`;
    const services = file.service.map((s) => `[${s.name}](${pagePath(file)}#${slug(s.name)})`).join(', ');
    out.push(`| ${link} | \`${file.package}\` | ${services || '—'} | ${file.messageType.length} | ${file.enumType.length} |`);
  }
  for (const file of index.files) {
    file.service.forEach((service, i) => {
      out.push('', `## ${service.name}`, '');
      const about = index.comment(file, [PATH.fileService, i]);
      if (about) out.push(escapeHtml(firstSentence(about)), '');
      out.push(`Defined in [${file.name}](${pagePath(file)}).`, '');
      service.method.forEach((m, j) => {
        const summary = firstSentence(index.comment(file, [PATH.fileService, i, PATH.serviceMethod, j]));
        out.push(`- [\`${m.name}\`](${pagePath(file)}#${slug(`${service.name}.${m.name}`)})${summary ? `: ${escapeHtml(summary)}` : ''}`);
      });
    });
  }
  return out.join('\n') + '\n';
}

/** The page of one .proto file: its services, then its messages and enums in declaration order. */
class FilePage {
  private readonly out: string[] = [];
  private readonly path: string;

  constructor(
    private readonly index: DescriptorIndex,
    private readonly file: FileDescriptorProto,
    private readonly opts: RenderOptions,
  ) {
    this.path = pagePath(file);
  }

  render(): string {
    const { file } = this;
    this.out.push(header(posix.join(this.opts.protoRoot, file.name), this.opts), `# ${file.name}`, '');
    this.out.push(`Package \`${file.package}\`.${file.dependency.length ? ` Imports ${file.dependency.map((d) => `\`${d}\``).join(', ')}.` : ''}`, '');
    this.contents();
    file.service.forEach((s, i) => this.service(s, [PATH.fileService, i]));
    file.messageType.forEach((m, i) => this.message(m, `${file.package}.${m.name}`, [PATH.fileMessage, i]));
    file.enumType.forEach((e, i) => this.enum(e, `${file.package}.${e.name}`, [PATH.fileEnum, i]));
    return this.out.join('\n').replace(/\n+$/, '') + '\n';
  }

  private contents(): void {
    const { file } = this;
    const list = (label: string, names: string[]) => names.length && this.out.push(`- ${label}: ${names.map((n) => `[${n}](#${slug(n)})`).join(', ')}`);
    list('Services', file.service.map((s) => s.name));
    list('Messages', file.messageType.map((m) => m.name));
    list('Enums', file.enumType.map((e) => e.name));
    this.out.push('');
  }

  private section(heading: string, path: readonly number[]): void {
    this.out.push(`## ${heading}`, '');
    const about = this.index.comment(this.file, path);
    if (about) this.out.push(escapeHtml(about), '');
  }

  private service(service: ServiceDescriptorProto, path: number[]): void {
    this.section(service.name, path);
    service.method.forEach((m, j) => this.method(service, m, [...path, PATH.serviceMethod, j]));
  }

  private method(service: ServiceDescriptorProto, m: MethodDescriptorProto, path: number[]): void {
    this.out.push(`### ${service.name}.${m.name}`, '');
    const stream = (yes: boolean) => (yes ? 'stream ' : '');
    const facts = [`Request: ${stream(m.clientStreaming)}${this.typeRef(m.inputType)}`, `Response: ${stream(m.serverStreaming)}${this.typeRef(m.outputType)}`];
    const level = m.options ? IDEMPOTENCY[m.options.idempotencyLevel] : undefined;
    if (level) facts.push(`Declared ${level}`);
    if (m.options?.deprecated) facts.push('**Deprecated**');
    this.out.push(facts.join(' · '), '');
    const about = this.index.comment(this.file, path);
    if (about) this.out.push(escapeHtml(about), '');
  }

  private message(message: DescriptorProto, fullName: string, path: number[]): void {
    if (message.options?.mapEntry) return;
    this.section(this.localName(fullName), path);
    if (message.field.length === 0) this.out.push('No fields.', '');
    else {
      this.out.push('| field | JSON | number | type | description |', '| --- | --- | --- | --- | --- |');
      message.field.forEach((f, i) => {
        const notes = [this.index.comment(this.file, [...path, PATH.messageField, i])];
        if (isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) && !f.proto3Optional) notes.unshift(`One of \`${message.oneofDecl[f.oneofIndex].name}\`.`);
        if (f.options?.deprecated) notes.unshift('**Deprecated.**');
        this.out.push(`| \`${f.name}\` | \`${f.jsonName || f.name}\` | ${f.number} | ${this.fieldType(f)} | ${cell(notes.filter(Boolean).join(' '))} |`);
      });
      this.out.push('');
    }
    message.nestedType.forEach((m, i) => this.message(m, `${fullName}.${m.name}`, [...path, PATH.messageNested, i]));
    message.enumType.forEach((e, i) => this.enum(e, `${fullName}.${e.name}`, [...path, PATH.messageEnum, i]));
  }

  private enum(e: EnumDescriptorProto, fullName: string, path: number[]): void {
    this.section(this.localName(fullName), path);
    this.out.push('| name | number | description |', '| --- | --- | --- |');
    e.value.forEach((v, i) => this.out.push(`| \`${v.name}\` | ${v.number} | ${cell(this.index.comment(this.file, [...path, PATH.enumValue, i]))} |`));
    this.out.push('');
  }

  private fieldType(f: FieldDescriptorProto): string {
    const declared = f.typeName ? this.index.lookup(f.typeName) : undefined;
    if (declared?.kind === 'message' && declared.proto.options?.mapEntry) {
      const [key, value] = declared.proto.field;
      return `map&lt;${this.fieldType(key)}, ${this.fieldType(value)}&gt;`;
    }
    const base = SCALARS[f.type] ?? this.typeRef(f.typeName);
    if (f.label === FieldDescriptorProto_Label.REPEATED) return `repeated ${base}`;
    return f.proto3Optional ? `optional ${base}` : base;
  }

  /** A link to a declared message or enum, or the name of a type from outside the set. */
  private typeRef(typeName: string): string {
    const declared = this.index.lookup(typeName);
    if (declared) return `[${this.localName(declared.fullName)}](${this.href(declared)})`;
    const name = typeName.replace(/^\./, '');
    if (name.startsWith('google.protobuf.')) {
      return `[${name}](https://protobuf.dev/reference/protobuf/google.protobuf/#${slug(name.slice('google.protobuf.'.length))})`;
    }
    return `\`${name}\``;
  }

  private href(t: DeclaredType): string {
    const target = pagePath(t.file);
    const anchor = `#${slug(this.localName(t.fullName, t.file))}`;
    if (target === this.path) return anchor;
    return posix.relative(posix.dirname(this.path), target) + anchor;
  }

  /** A name relative to the package of `file` (this page's by default), else the full name. */
  private localName(fullName: string, file: FileDescriptorProto = this.file): string {
    const prefix = file.package ? `${file.package}.` : '';
    return fullName.startsWith(prefix) ? fullName.slice(prefix.length) : fullName;
  }
}
