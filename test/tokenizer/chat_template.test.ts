// Chat templates are untrusted code: rendered in a worker thread under a time limit, a heap
// limit, a range() cap and an output cap. A runaway template fails with a ChatTemplateError
// (the process survives) and the next render works again on a fresh thread.
import { Template } from '@huggingface/jinja';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatTemplateError } from '../../src/loader/errors.js';
import { ChatTemplate, DEFAULT_CHAT_TEMPLATE_LIMITS, type ChatTemplateLimits } from '../../src/tokenizer/chat_template.js';

const CHATML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const context = { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi ✓ 👋🏽' }], add_generation_prompt: true };

const open: ChatTemplate[] = [];
function template(source: string, limits: Partial<ChatTemplateLimits> = {}): ChatTemplate {
  const t = new ChatTemplate(source, '/m/tokenizer_config.json', { ...DEFAULT_CHAT_TEMPLATE_LIMITS, ...limits });
  open.push(t);
  return t;
}

function failure(fn: () => unknown): ChatTemplateError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChatTemplateError);
    return e as ChatTemplateError;
  }
  throw new Error('rendered without an error');
}

afterEach(() => {
  for (const t of open.splice(0)) t.close();
});

describe('ChatTemplate', () => {
  it("renders exactly what @huggingface/jinja renders in-process, again and again on one thread", () => {
    const t = template(CHATML);
    const want = new Template(CHATML).render(context);
    expect(want).toContain('<|im_start|>user\nHi ✓ 👋🏽<|im_end|>');
    for (let i = 0; i < 3; i++) expect(t.render(context)).toBe(want);
  });

  it('cuts off a loop that runs past the time limit, then renders again on a fresh thread', () => {
    const t = template("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}{{ messages[0]['content'] }}", { timeoutMs: 300 });
    const e = failure(() => t.render(context));
    expect(e.message).toBe('/m/tokenizer_config.json: chat template did not finish within 0.3 s or outgrew its 512 MiB heap (a runaway loop?); it was stopped');
    expect(e.field).toBe('chat_template');
    const ok = template(CHATML, { timeoutMs: 5000 });
    expect(ok.render(context)).toBe(new Template(CHATML).render(context));
  });

  it('stops a template that outgrows its heap (the thread dies, the process does not)', () => {
    // Doubles a string-backed list until the 64 MiB heap is exhausted.
    const hog = "{% set ns = namespace(xs=['" + 'x'.repeat(1000) + "']) %}{% for i in range(60) %}{% set ns.xs = ns.xs + ns.xs %}{% endfor %}{{ ns.xs | length }}";
    const t = template(hog, { heapMb: 64, timeoutMs: 1500 });
    expect(failure(() => t.render(context)).message).toMatch(/did not finish within 1.5 s or outgrew its 64 MiB heap|chat template failed: .*(memory|Invalid array length)/);
  });

  it('caps range() and the rendered text, and names a template that raises', () => {
    expect(failure(() => template('{% for i in range(100000000) %}{% endfor %}').render(context)).message).toMatch(/range\(\) of 100000000 items is more than the 1000000 a chat template may make/);
    expect(failure(() => template("{% for i in range(50) %}{{ 'abcdefghij' }}{% endfor %}", { maxOutputChars: 400 }).render(context)).message).toMatch(/rendered 500 characters, more than the 400/);
    expect(failure(() => template("{{ raise_exception('Conversation roles must alternate') }}").render(context)).message).toMatch(/chat template failed: Conversation roles must alternate$/);
    // range() keeps Jinja's semantics within the cap.
    expect(template('{% for i in range(2, 11, 3) %}{{ i }},{% endfor %}{% for i in range(3) %}{{ i }}{% endfor %}').render(context)).toBe('2,5,8,012');
  });

  it('refuses a template that does not parse, at once', () => {
    const e = failure(() => new ChatTemplate('{% if %}', '/m/chat_template.jinja'));
    expect(e.file).toBe('/m/chat_template.jinja');
    expect(e.message).toMatch(/chat_template does not parse/);
  });
});
