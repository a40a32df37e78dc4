import { describe, expect, it } from 'vitest';
import { preprocess } from '../../src/gpu/shaders.js';

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

describe('WGSL preprocessor', () => {
  const src = ['a', '//#if X', 'x', '//#if !Y', 'notY', '//#else', 'y', '//#endif', '//#else', 'noX', '//#endif', '//#include lib1', 'z'].join('\n');
  const libs: Record<string, string> = { lib1: '//#if X\nlibX\n//#else\nlibNoX\n//#endif' };

  it('selects branches, nests, negates and includes with the same defines', () => {
    expect(lines(preprocess(src, new Set(['X']), 't', (n) => libs[n]))).toEqual(['a', 'x', 'notY', 'libX', 'z']);
    expect(lines(preprocess(src, new Set(['X', 'Y']), 't', (n) => libs[n]))).toEqual(['a', 'x', 'y', 'libX', 'z']);
    expect(lines(preprocess(src, new Set(), 't', (n) => libs[n]))).toEqual(['a', 'noX', 'libNoX', 'z']);
  });

  it('applies active //#replace directives (from includes too) to the whole shader', () => {
    const libs2: Record<string, string> = { ops: '//#if EMU\n//#replace load<A>( => emuLoad(\nfn emuLoad(o: u32) {}\n//#endif' };
    const body = 'let a = load<A>(1u);\n//#include ops\nlet b = load<A>(2u);';
    expect(lines(preprocess(body, new Set(['EMU']), 't', (n) => libs2[n]))).toEqual(['let a = emuLoad(1u);', 'fn emuLoad(o: u32) {}', 'let b = emuLoad(2u);']);
    expect(lines(preprocess(body, new Set(), 't', (n) => libs2[n]))).toEqual(['let a = load<A>(1u);', 'let b = load<A>(2u);']);
  });

  it('keeps line numbers of the source (removed lines become empty)', () => {
    expect(preprocess('a\n//#if X\nb\n//#endif\nc', new Set()).split('\n')).toEqual(['a', '', '', '', 'c']);
  });

  it('names the file and line of unbalanced directives and of includes it cannot resolve', () => {
    expect(() => preprocess('//#else', new Set(), 'k')).toThrow('k.wgsl:1: //#else without //#if');
    expect(() => preprocess('//#endif', new Set(), 'k')).toThrow('k.wgsl:1: //#endif without //#if');
    expect(() => preprocess('//#if A\nx', new Set(), 'k')).toThrow('k.wgsl: unterminated //#if');
    expect(() => preprocess('x\n//#include nope', new Set(), 'k')).toThrow("k.wgsl:2: cannot include 'nope'");
  });
});
