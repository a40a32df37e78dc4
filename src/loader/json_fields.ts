// Typed reads of a JSON object's fields (config.json, generation_config.json) that throw one
// named error naming the file, the field and the value: a number must be a JSON number (a
// string "4096" is refused, not converted), an integer a safe integer, and so on. An absent or
// null field takes the default where there is one.
import type { ModelLoadError } from './errors.js';

type ErrorClass = new (file: string, problem: string, field?: string) => ModelLoadError;

export class JsonFields {
  constructor(
    readonly raw: Readonly<Record<string, unknown>>,
    readonly file: string,
    private readonly error: ErrorClass,
    /** Prefix of field names in messages (e.g. 'rope_scaling.'). */
    private readonly prefix = '',
  ) {}

  private fail(key: string, want: string, v: unknown): ModelLoadError {
    const field = this.prefix + key;
    return new this.error(this.file, `field '${field}' must be ${want}, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`, field);
  }

  private present(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** An integer >= min; absent or null: `def` (required when def is undefined). */
  int(key: string, def?: number, min = 1): number {
    if (!this.present(key) && def !== undefined) return def;
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw this.fail(key, `an integer >= ${min}`, v);
    return v;
  }

  /** An integer >= min, or null; absent: `def`. */
  intOrNull(key: string, min: number, def: number | null = null): number | null {
    if (this.raw[key] === undefined) return def;
    if (this.raw[key] === null) return null;
    return this.int(key, undefined, min);
  }

  /** A finite number in (lo, hi); absent or null: `def`. */
  num(key: string, def: number, lo: number, hi: number): number {
    if (!this.present(key)) return def;
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || !(v > lo && v < hi)) throw this.fail(key, lo === -Infinity && hi === Infinity ? 'a finite number' : `a number in (${lo}, ${hi})`, v);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    if (!this.present(key)) return def;
    const v = this.raw[key];
    if (typeof v !== 'boolean') throw this.fail(key, 'true or false', v);
    return v;
  }

  str(key: string, def: string): string {
    if (!this.present(key)) return def;
    const v = this.raw[key];
    if (typeof v !== 'string') throw this.fail(key, 'a string', v);
    return v;
  }

  /** A JSON object, or null when absent or null. */
  objectOrNull(key: string): Record<string, unknown> | null {
    if (!this.present(key)) return null;
    const v = this.raw[key];
    if (typeof v !== 'object' || Array.isArray(v)) throw this.fail(key, 'an object', v);
    return v as Record<string, unknown>;
  }

  /** A list of exactly `length` finite numbers > 0 (required). */
  positiveNumbers(key: string, length: number): number[] {
    const v = this.raw[key];
    if (!Array.isArray(v) || v.length !== length || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || !(x > 0))) {
      throw this.fail(key, `a list of ${length} numbers > 0`, Array.isArray(v) ? `a list of ${v.length}: ${JSON.stringify(v.slice(0, 4))}${v.length > 4 ? '…' : ''}` : v);
    }
    return v as number[];
  }

  /** Token ids: an id or a list of ids, each in [0, vocabSize); absent or null: []. */
  tokenIds(key: string, vocabSize: number): number[] {
    if (!this.present(key)) return [];
    const v = this.raw[key];
    const list = Array.isArray(v) ? v : [v];
    return list.map((id, i) => {
      const field = this.prefix + key + (Array.isArray(v) ? `[${i}]` : '');
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
        throw new this.error(this.file, `field '${field}' must be a token id (an integer >= 0), got ${JSON.stringify(id)}`, field);
      }
      if (id >= vocabSize) throw new this.error(this.file, `field '${field}' ${id} is outside the vocabulary (vocab_size ${vocabSize})`, field);
      return id;
    });
  }
}
