/**
 * A small, fast, typed validator for wire messages.
 *
 * Every wire message has one TypeScript type and one validator; the type is
 * inferred from the validator with {@link Infer}, so the two cannot drift.
 * Validators reject unknown object keys, check integer ranges and bound every
 * string, byte string, array and map by a maximum length.
 *
 * @module
 */

/** Raised inside validators; the codec turns it into a typed `bad_field` error. */
export class SchemaError extends Error {
  /** Path of the offending field, e.g. `body.entries[3].term`. */
  readonly path: string;
  /** Creates an error for the field at `path`. */
  constructor(path: string, message: string) {
    super(`${path || "value"}: ${message}`);
    this.name = "SchemaError";
    this.path = path;
  }
}

/** A validator: returns the value typed as `T` or throws {@link SchemaError}. */
export interface Schema<T> {
  /** Validates `value` found at `path` and returns it typed. */
  parse(value: unknown, path?: string): T;
  /** A short description used in error messages, e.g. `uint` or `string<=256`. */
  readonly describe: string;
  /** True when the field may be absent from an object. */
  readonly optional?: boolean;
}

/** The TypeScript type a schema validates. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (v instanceof Uint8Array) return "bytes";
  return typeof v;
}

function fail(path: string, expected: string, got: unknown): never {
  throw new SchemaError(path, `expected ${expected}, got ${typeName(got)}`);
}

/** A non-negative safe integer (log indexes, terms, sizes, ids). */
export const uint: Schema<number> = {
  describe: "uint",
  parse(v, path = "") {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(path, "uint", v);
    return v;
  },
};

/** A safe integer of either sign. */
export const int: Schema<number> = {
  describe: "int",
  parse(v, path = "") {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) fail(path, "int", v);
    return v;
  },
};

/** A finite number. */
export const num: Schema<number> = {
  describe: "number",
  parse(v, path = "") {
    if (typeof v !== "number" || !Number.isFinite(v)) fail(path, "number", v);
    return v;
  },
};

/** A boolean. */
export const bool: Schema<boolean> = {
  describe: "bool",
  parse(v, path = "") {
    if (typeof v !== "boolean") fail(path, "bool", v);
    return v;
  },
};

/** A string of at most `max` UTF-16 code units. */
export function str(max = 4096): Schema<string> {
  const describe = `string<=${max}`;
  return {
    describe,
    parse(v, path = "") {
      if (typeof v !== "string") fail(path, describe, v);
      if (v.length > max) throw new SchemaError(path, `string longer than ${max}`);
      return v;
    },
  };
}

/** A byte string of at most `max` bytes. */
export function bytes(max = 16 * 1024 * 1024): Schema<Uint8Array> {
  const describe = `bytes<=${max}`;
  return {
    describe,
    parse(v, path = "") {
      if (!(v instanceof Uint8Array)) fail(path, describe, v);
      if (v.byteLength > max) throw new SchemaError(path, `bytes longer than ${max}`);
      return v;
    },
  };
}

/** Exactly the value `lit`. */
export function literal<const L extends string | number | boolean>(lit: L): Schema<L> {
  const describe = JSON.stringify(lit);
  return {
    describe,
    parse(v, path = "") {
      if (v !== lit) fail(path, describe, v);
      return lit;
    },
  };
}

/** One of the given string values. */
export function oneOf<const L extends string>(values: readonly L[]): Schema<L> {
  const set = new Set<string>(values);
  const describe = values.map((x) => JSON.stringify(x)).join("|");
  return {
    describe,
    parse(v, path = "") {
      if (typeof v !== "string" || !set.has(v)) {
        throw new SchemaError(path, `expected one of ${describe}, got ${JSON.stringify(v)}`);
      }
      return v as L;
    },
  };
}

/** An array of at most `max` items, each validated by `item`. */
export function array<T>(item: Schema<T>, max = 65536): Schema<T[]> {
  const describe = `${item.describe}[]`;
  return {
    describe,
    parse(v, path = "") {
      if (!Array.isArray(v)) fail(path, "array", v);
      if (v.length > max) throw new SchemaError(path, `array longer than ${max}`);
      for (let i = 0; i < v.length; i++) item.parse(v[i], `${path}[${i}]`);
      return v as T[];
    },
  };
}

/** A string-keyed map with at most `max` entries. */
export function record<T>(
  value: Schema<T>,
  max = 65536,
  keyMax = 1024,
): Schema<Record<string, T>> {
  const describe = `map<string,${value.describe}>`;
  return {
    describe,
    parse(v, path = "") {
      if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
        fail(path, "map", v);
      }
      const keys = Object.keys(v);
      if (keys.length > max) throw new SchemaError(path, `map larger than ${max}`);
      const obj = v as Record<string, unknown>;
      for (const k of keys) {
        if (k.length > keyMax) throw new SchemaError(path, `map key longer than ${keyMax}`);
        value.parse(obj[k], `${path}.${k}`);
      }
      return obj as Record<string, T>;
    },
  };
}

/** Marks a schema as optional inside {@link object}: the key may be absent. */
export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return {
    describe: `${inner.describe}?`,
    optional: true,
    parse(v, path = "") {
      return v === undefined ? undefined : inner.parse(v, path);
    },
  };
}

/** Accepts `null` in addition to what `inner` accepts. */
export function nullable<T>(inner: Schema<T>): Schema<T | null> {
  return {
    describe: `${inner.describe}|null`,
    parse(v, path = "") {
      return v === null ? null : inner.parse(v, path);
    },
  };
}

/** Accepts any value. Use only where the payload is validated later by another layer. */
export const unknownValue: Schema<unknown> = {
  describe: "any",
  parse(v) {
    return v;
  },
};

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: undefined extends Infer<S[K]> ? K : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
/** The object type described by a shape: optional schemas become optional keys. */
export type ObjectOf<S extends Shape> =
  & { [K in RequiredKeys<S>]: Infer<S[K]> }
  & { [K in OptionalKeys<S>]?: Infer<S[K]> };

/** A plain object with exactly the keys of `shape` (unknown keys are rejected). */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  const keys = Object.keys(shape);
  const describe = `{${keys.join(",")}}`;
  return {
    describe,
    parse(v, path = "") {
      if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
        fail(path, "object", v);
      }
      const obj = v as Record<string, unknown>;
      for (const k in obj) {
        if (!Object.hasOwn(shape, k)) throw new SchemaError(path, `unknown field "${k}"`);
      }
      for (const k of keys) {
        const s = shape[k];
        const fieldPath = path ? `${path}.${k}` : k;
        if (!Object.hasOwn(obj, k)) {
          if (s.optional) continue;
          throw new SchemaError(fieldPath, `missing (expected ${s.describe})`);
        }
        s.parse(obj[k], fieldPath);
      }
      return obj as ObjectOf<S>;
    },
  };
}

/** Runs `schema` without throwing: a value or the error message. */
export function safeParse<T>(
  schema: Schema<T>,
  value: unknown,
): { ok: true; value: T } | { ok: false; error: SchemaError } {
  try {
    return { ok: true, value: schema.parse(value, "") };
  } catch (e) {
    if (e instanceof SchemaError) return { ok: false, error: e };
    return { ok: false, error: new SchemaError("", String(e)) };
  }
}
