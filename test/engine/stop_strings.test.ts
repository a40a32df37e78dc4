import { describe, expect, it } from 'vitest';
import { StopStrings } from '../../src/engine/stop_strings.js';
import { Rng } from '../../src/util/rng.js';

describe('StopStrings', () => {
  it('holds back a possible stop-string prefix and cuts the output before the stop', () => {
    const s = new StopStrings(['\n\nQ:', 'END']);
    // The longest stop string has 4 characters, so the last 3 are always held back.
    expect(s.push('Hello')).toBe('He');
    expect(s.push(' world\n')).toBe('llo wor');
    expect(s.push('\nQ')).toBe('ld');
    expect(s.stopped).toBe(false);
    expect(s.push(': next')).toBe('');
    expect(s.stopped).toBe(true);
    expect(s.output).toBe('Hello world');
    expect(s.push('more')).toBe('');
  });

  it('streams exactly the final text, whatever the chunking', () => {
    const rng = new Rng(7);
    const text = 'the quick brown fox STOP jumps over';
    for (let trial = 0; trial < 50; trial++) {
      const s = new StopStrings(['STOP', 'zzz']);
      let out = '';
      let i = 0;
      while (i < text.length && !s.stopped) {
        const n = rng.int(1, 4);
        out += s.push(text.slice(i, i + n));
        i += n;
      }
      out += s.flush();
      expect(out).toBe('the quick brown fox ');
    }
  });

  it('without stop strings emits everything at once', () => {
    const s = new StopStrings([]);
    expect(s.push('abc')).toBe('abc');
    expect(s.flush()).toBe('');
  });
});
