/**
 * A minimal `Reflect` metadata API (`defineMetadata`, `getOwnMetadata`,
 * `getMetadata`, `hasOwnMetadata`, `hasMetadata`). `@peculiar/x509` depends on tsyringe,
 * which refuses to load unless these functions exist; the usual
 * `reflect-metadata` package is not among our dependencies. Installed only
 * when absent, and must be imported before `@peculiar/x509` (ES modules
 * evaluate their imports in source order).
 *
 * @module
 */

type Target = object;
type MetadataKey = unknown;
type PropertyKeyish = string | symbol | undefined;

const store = new WeakMap<Target, Map<PropertyKeyish, Map<MetadataKey, unknown>>>();

function ownMap(target: Target, prop: PropertyKeyish, create: boolean) {
  let byProp = store.get(target);
  if (!byProp) {
    if (!create) return undefined;
    byProp = new Map();
    store.set(target, byProp);
  }
  let byKey = byProp.get(prop);
  if (!byKey) {
    if (!create) return undefined;
    byKey = new Map();
    byProp.set(prop, byKey);
  }
  return byKey;
}

/** Metadata functions tsyringe expects on `Reflect`. */
export interface ReflectMetadataApi {
  /** Stores `value` under `key` for `target` (and optionally a property). */
  defineMetadata(key: MetadataKey, value: unknown, target: Target, prop?: PropertyKeyish): void;
  /** Whether `target` itself has metadata under `key`. */
  hasOwnMetadata(key: MetadataKey, target: Target, prop?: PropertyKeyish): boolean;
  /** Metadata stored on `target` itself. */
  getOwnMetadata(key: MetadataKey, target: Target, prop?: PropertyKeyish): unknown;
  /** Whether `target` or its prototype chain has metadata under `key`. */
  hasMetadata(key: MetadataKey, target: Target, prop?: PropertyKeyish): boolean;
  /** Metadata on `target` or, failing that, along its prototype chain. */
  getMetadata(key: MetadataKey, target: Target, prop?: PropertyKeyish): unknown;
}

const api: ReflectMetadataApi = {
  defineMetadata(key, value, target, prop) {
    ownMap(target, prop, true)!.set(key, value);
  },
  hasOwnMetadata(key, target, prop) {
    return ownMap(target, prop, false)?.has(key) ?? false;
  },
  getOwnMetadata(key, target, prop) {
    return ownMap(target, prop, false)?.get(key);
  },
  hasMetadata(key, target, prop) {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      if (api.hasOwnMetadata(key, t, prop)) return true;
    }
    return false;
  },
  getMetadata(key, target, prop) {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      const map = ownMap(t, prop, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  },
};

const reflect = Reflect as unknown as Partial<ReflectMetadataApi>;
if (typeof reflect.getMetadata !== "function") {
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(Reflect, name, { value: fn, configurable: true, writable: true });
  }
}
