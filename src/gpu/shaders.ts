// WGSL sources live in <package root>/shaders/<op>.wgsl. A tiny line preprocessor selects
// variants that WGSL `override` constants cannot express (f16 vs f32 types, subgroup paths):
//   //#if NAME      //#if !NAME      //#else      //#endif
//   //#include NAME   (inlines shaders/lib/NAME.wgsl, itself preprocessed with the same defines)
//   //#replace FROM => TO   (where active: every literal FROM in the whole shader becomes TO; lets one
//                          kernel body call subgroup-matrix builtins directly and still run emulated)
// Numbers (workgroup sizes, tile sizes) are WGSL `override` constants, set per pipeline.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findShaderDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'shaders')) && existsSync(join(dir, 'package.json'))) return join(dir, 'shaders');
    dir = dirname(dir);
  }
  throw new Error(`shaders/ not found above ${fileURLToPath(import.meta.url)}`);
}

export class ShaderLibrary {
  private readonly dir: string;
  private readonly sources = new Map<string, string>();
  constructor(dir = process.env.TKNP_SHADER_DIR ?? findShaderDir()) {
    this.dir = dir;
  }

  /** Raw WGSL text of shaders/<name>.wgsl. */
  source(name: string): string {
    let s = this.sources.get(name);
    if (s === undefined) {
      s = readFileSync(join(this.dir, `${name}.wgsl`), 'utf8');
      this.sources.set(name, s);
    }
    return s;
  }

  /** WGSL of <name> with the //#if blocks resolved for `defines`. */
  code(name: string, defines: ReadonlySet<string> = new Set()): string {
    return preprocess(this.source(name), defines, name, (lib) => this.source(`lib/${lib}`));
  }
}

export function preprocess(
  src: string,
  defines: ReadonlySet<string>,
  name = 'shader',
  include?: (lib: string) => string,
  depth = 0,
  replacements: [string, string][] = [],
): string {
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean; sawElse: boolean }[] = [];
  const active = () => (stack.length === 0 ? true : stack[stack.length - 1].active);
  src.split('\n').forEach((line, i) => {
    const inc = /^\s*\/\/#include\s+([\w/]+)/.exec(line);
    if (inc) {
      if (!include || depth > 8) throw new Error(`${name}.wgsl:${i + 1}: cannot include '${inc[1]}'`);
      if (active()) out.push(preprocess(include(inc[1]), defines, `lib/${inc[1]}`, include, depth + 1, replacements));
      return;
    }
    const rep = /^\s*\/\/#replace\s+(.+?)\s+=>\s+(.+?)\s*$/.exec(line);
    if (rep) {
      if (active()) replacements.push([rep[1], rep[2]]);
      out.push('');
      return;
    }
    const m = /^\s*\/\/#(if|else|endif)\b\s*(!?)(\w*)/.exec(line);
    if (!m) {
      out.push(active() ? line : '');
      return;
    }
    const [, kw, neg, sym] = m;
    if (kw === 'if') {
      const cond = defines.has(sym) !== (neg === '!');
      const parentActive = active();
      stack.push({ active: parentActive && cond, parentActive, sawElse: false });
    } else if (kw === 'else') {
      const top = stack[stack.length - 1];
      if (!top || top.sawElse) throw new Error(`${name}.wgsl:${i + 1}: //#else without //#if`);
      top.sawElse = true;
      top.active = top.parentActive && !top.active;
    } else {
      if (!stack.pop()) throw new Error(`${name}.wgsl:${i + 1}: //#endif without //#if`);
    }
    out.push('');
  });
  if (stack.length) throw new Error(`${name}.wgsl: unterminated //#if`);
  let code = out.join('\n');
  if (depth === 0) for (const [from, to] of replacements) code = code.split(from).join(to);
  return code;
}
