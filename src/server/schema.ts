/**
 * A tiny declarative schema for request parameters: every field typed and bounded, unknown fields
 * refused. Checked once by the router before any handler runs, so handlers get typed, trusted input.
 */
import { SecureChatError } from '../errors.js';

export type FieldSpec =
  | { type: 'string'; max: number; min?: number; pattern?: RegExp; optional?: boolean }
  | { type: 'integer'; min?: number; max?: number; optional?: boolean }
  | { type: 'boolean'; optional?: boolean };

export type Schema = Record<string, FieldSpec>;

type FieldValue<F extends FieldSpec> = F extends { type: 'string' } ? string : F extends { type: 'integer' } ? number : boolean;

export type Params<S extends Schema> = {
  [K in keyof S as S[K] extends { optional: true } ? never : K]: FieldValue<S[K]>;
} & {
  [K in keyof S as S[K] extends { optional: true } ? K : never]?: FieldValue<S[K]>;
};

function fail(field: string, why: string): never {
  throw new SecureChatError('bad_request', `Field "${field}" ${why}.`, { details: { field } });
}

/** Validates `input` (fields other than `type` and `id`) against `schema`; returns only known fields. */
export function validateParams<S extends Schema>(schema: S, input: Record<string, unknown>): Params<S> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (key === 'type' || key === 'id') continue;
    if (!Object.prototype.hasOwnProperty.call(schema, key)) fail(key, 'is not allowed');
  }
  for (const [key, spec] of Object.entries(schema)) {
    const value = input[key];
    if (value === undefined || value === null) {
      if (!spec.optional) fail(key, 'is required');
      continue;
    }
    switch (spec.type) {
      case 'string':
        if (typeof value !== 'string') fail(key, 'must be a string');
        if (value.length > spec.max) fail(key, `must be at most ${spec.max} characters`);
        if (value.length < (spec.min ?? 0)) fail(key, `must be at least ${spec.min} characters`);
        if (spec.pattern && !spec.pattern.test(value)) fail(key, 'has an invalid format');
        break;
      case 'integer':
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(key, 'must be an integer');
        if (spec.min !== undefined && value < spec.min) fail(key, `must be ≥ ${spec.min}`);
        if (spec.max !== undefined && value > spec.max) fail(key, `must be ≤ ${spec.max}`);
        break;
      case 'boolean':
        if (typeof value !== 'boolean') fail(key, 'must be true or false');
        break;
    }
    out[key] = value;
  }
  return out as Params<S>;
}
