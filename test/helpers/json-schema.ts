/**
 * A small JSON Schema validator for the subset docs/schemas/ uses (draft 2020-12 keywords):
 * type, enum, const, properties, required, additionalProperties, items, minimum, minLength,
 * maxLength, oneOf, anyOf and $ref ("#/$defs/x" or "other.schema.json#/$defs/x" beside it).
 * A keyword outside the subset is an error, so a schema can never silently check less than it says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'examples', '$defs', 'default']);
const KEYWORDS = new Set(['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'minimum', 'minLength', 'maxLength', 'oneOf', 'anyOf', '$ref']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

export class SchemaSet {
  private readonly files = new Map<string, Schema>();

  constructor(private readonly dir: string) {}

  load(file: string): Schema {
    let s = this.files.get(file);
    if (!s) {
      s = JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as Schema;
      this.files.set(file, s);
    }
    return s;
  }

  /** The errors of `value` against `file` (empty when valid). */
  validate(file: string, value: unknown): string[] {
    const errors: string[] = [];
    this.check(this.load(file), value, '$', file, errors);
    return errors;
  }

  private resolve(ref: string, base: string): { schema: Schema; file: string } {
    const [filePart, pointer = ''] = ref.split('#');
    const file = filePart || base;
    let node: unknown = this.load(file);
    for (const seg of pointer.split('/').filter(Boolean)) node = (node as Schema)[seg];
    if (!node || typeof node !== 'object') throw new Error(`unresolvable $ref ${ref} (from ${base})`);
    return { schema: node as Schema, file };
  }

  private check(schema: Schema, v: unknown, path: string, file: string, errors: string[]): void {
    for (const k of Object.keys(schema)) {
      if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) throw new Error(`${file}: keyword "${k}" is outside the supported subset`);
    }
    if (typeof schema.$ref === 'string') {
      const r = this.resolve(schema.$ref, file);
      this.check(r.schema, v, path, r.file, errors);
    }
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
      if (!types.some((t) => typeMatches(v, t))) {
        errors.push(`${path}: expected ${types.join('|')}, got ${typeOf(v)}`);
        return;
      }
    }
    if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(v)) errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) errors.push(`${path}: ${JSON.stringify(v)} not in ${JSON.stringify(schema.enum)}`);
    if (typeof v === 'number' && typeof schema.minimum === 'number' && v < schema.minimum) errors.push(`${path}: ${v} < ${schema.minimum}`);
    if (typeof v === 'string') {
      if (typeof schema.minLength === 'number' && [...v].length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
      if (typeof schema.maxLength === 'number' && [...v].length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
    }
    if (Array.isArray(v) && schema.items && typeof schema.items === 'object') {
      v.forEach((item, i) => this.check(schema.items as Schema, item, `${path}[${i}]`, file, errors));
    }
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const req of (schema.required ?? []) as string[]) if (!(req in obj)) errors.push(`${path}: missing "${req}"`);
      for (const [k, val] of Object.entries(obj)) {
        if (props[k]) this.check(props[k], val, `${path}.${k}`, file, errors);
        else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property "${k}"`);
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') this.check(schema.additionalProperties as Schema, val, `${path}.${k}`, file, errors);
      }
    }
    for (const key of ['oneOf', 'anyOf'] as const) {
      const list = schema[key];
      if (!Array.isArray(list)) continue;
      const passing = list.filter((sub) => {
        const e: string[] = [];
        this.check(sub as Schema, v, path, file, e);
        return e.length === 0;
      }).length;
      if (key === 'oneOf' ? passing !== 1 : passing === 0) errors.push(`${path}: matches ${passing} of the ${key} alternatives`);
    }
  }
}
