// The bundle's archive helpers (tools/bundle/archive.ts): the executable xz recipe (x86 BCJ
// filter) unpacks with both unpackers run.sh may use (xz and Python's lzma), tar archives take
// replaced (stripped) files from another root, and stripping a shared object keeps it loadable.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressFile, hasXz, stripSharedObject, tarFiles } from '../../tools/bundle/archive.js';

const work = mkdtempSync(join(tmpdir(), 'tknp-bundle-archive-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
/** Says why a test checks nothing here, then skips it. */
function need(ok: boolean, why: string, ctx: { skip: () => void }): void {
  if (!ok) {
    console.log(`skipped: ${why}`);
    ctx.skip();
  }
}

describe('bundle archives', () => {
  it("compresses an executable with the x86 filter so that both xz and Python's lzma unpack it exactly", (ctx) => {
    need(hasXz() && has('python3'), 'needs xz and python3', ctx);
    const src = join(work, 'sh.bin'); // a small x86-64 executable
    copyFileSync(realpathSync('/bin/sh'), src);
    compressFile(src, `${src}.xz`, 'xz', 'executable');
    expect(execFileSync('xz', ['--robot', '--list', '-vv', `${src}.xz`], { encoding: 'utf8' })).toMatch(/x86/);
    expect(execFileSync('xz', ['-dc', `${src}.xz`])).toEqual(readFileSync(src));
    const py = 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))';
    execFileSync('python3', ['-c', py, `${src}.xz`, `${src}.py`]);
    expect(readFileSync(`${src}.py`)).toEqual(readFileSync(src));
  });

  it('takes the files named in `replaced` from the other root, and the rest from the project', () => {
    const [a, b] = [join(work, 'a'), join(work, 'b')];
    for (const d of [join(a, 'x'), join(b, 'x')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(a, 'x/keep.txt'), 'project');
    writeFileSync(join(a, 'x/lib.node'), 'unstripped');
    writeFileSync(join(b, 'x/lib.node'), 'stripped');
    const tgz = join(work, 'r.tar.gz');
    tarFiles(a, ['x/keep.txt', 'x/lib.node'], tgz, 'gz', { root: b, files: new Set(['x/lib.node']) });
    const out = join(work, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', tgz, '-C', out]);
    expect([readFileSync(join(out, 'x/keep.txt'), 'utf8'), readFileSync(join(out, 'x/lib.node'), 'utf8')]).toEqual(['project', 'stripped']);
  });

  it('strips a shared object smaller, and it still loads and runs', (ctx) => {
    need(has('cc') && has('objcopy') && has('python3'), 'needs cc, objcopy and python3', ctx);
    const c = join(work, 'lib.c');
    writeFileSync(c, 'static int twice(int x) { return 2 * x; }\nint tknp_answer(void) { return twice(21); }\n');
    const so = join(work, 'lib.so');
    execFileSync('cc', ['-g', '-shared', '-fPIC', '-o', so, c]);
    const small = join(work, 'lib.stripped.so');
    expect(stripSharedObject(so, small)).toBe(true);
    expect(statSync(small).size).toBeLessThan(statSync(so).size);
    const call = execFileSync('python3', ['-c', 'import ctypes, sys; print(ctypes.CDLL(sys.argv[1]).tknp_answer())', small], { encoding: 'utf8' });
    expect(call.trim()).toBe('42');
    // An already stripped object gains nothing: the caller keeps the original.
    expect(stripSharedObject(small, join(work, 'again.so'))).toBe(false);
  });
});
