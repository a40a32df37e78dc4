// The playground page at / in real headless Chromium (Debian's chromium, driven by
// playwright-core; tools/setup.sh installs both): the page loads with the model's name and a KV
// usage bar per rank from /metrics, a completion streams text (the engine's greedy text for the
// same request, as far as it got) with a live tokens/s figure and is aborted; a chat turn streams
// its reply into the transcript. TKNP_SCREENSHOT=file.png saves a screenshot (docs/SERVING.md's).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LLM } from '../../src/engine/llm.js';
import type { RequestOutput } from '../../src/engine/llm_engine.js';
import { TknpServer } from '../../src/server/server.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { serverEngineOptions } from '../helpers/server.js';

const gpu = await testGpu();
const CHROMIUM = [process.env.TKNP_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));
const playwright = await import('playwright-core').catch((e: Error) => e);
const why = !gpu
  ? noGpuReason()
  : !CHROMIUM
    ? 'no Chromium (apt-get install chromium; tools/setup.sh does, or set TKNP_CHROMIUM)'
    : playwright instanceof Error
      ? `playwright-core did not load: ${playwright.message}`
      : undefined;
if (gpu && why) console.warn(`[tknp tests] playground browser test skipped: ${why}`);

describe.skipIf(why !== undefined)(`playground page in headless Chromium ${why ? `(skipped: ${why})` : ''}`, () => {
  let llm: LLM;
  let server: TknpServer;
  let browser: import('playwright-core').Browser;
  const prompt = 'Once upon a time, in a quiet village,';
  const chat = 'What is the best way to learn?';
  const refs: Record<string, RequestOutput> = {};

  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    refs.completion = (await llm.generate(prompt, { temperature: 0, maxTokens: 200, ignoreEos: true }))[0];
    refs.chat = (await llm.generate({ messages: [{ role: 'user', content: chat }] }, { temperature: 0, maxTokens: 24 }))[0];
    server = await TknpServer.start(llm.engine, { port: 0, log: () => {} });
    const pw = playwright as typeof import('playwright-core');
    browser = await pw.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await llm?.shutdown();
  });

  it('loads, streams a completion with tokens/s, aborts it, then chats', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(`document.getElementById('status').textContent === 'ready'`);
    await expect.poll(() => page.textContent('#model')).toMatch(/^tiny-llama · max 256 tokens/);
    await page.waitForSelector('#kv .rank[data-rank="0"]');

    // Completion: greedy, long enough to abort mid-way.
    await page.check('input[name=mode][value=completion]');
    await page.fill('#temperature', '0');
    await page.fill('#maxTokens', '200');
    await page.fill('#prompt', prompt);
    await page.click('#send');
    await page.waitForFunction(`document.getElementById('output').textContent.length > 20`);
    await page.waitForFunction(`/tokens\\/s$/.test(document.getElementById('tps').textContent)`);
    expect(await page.isEnabled('#abort')).toBe(true);
    await page.click('#abort');
    await page.waitForFunction(`/^abort · \\d+ tokens$/.test(document.getElementById('status').textContent)`);
    const streamed = (await page.textContent('#output')) ?? '';
    const n = Number(/(\d+) tokens/.exec((await page.textContent('#status'))!)![1]);
    expect(n).toBeLessThan(200);
    expect(refs.completion.text.startsWith(streamed), 'streamed text is a prefix of the greedy text').toBe(true);
    expect(streamed.length).toBeGreaterThan(20);
    expect(Number(/([\d.]+) tokens\/s/.exec((await page.textContent('#tps'))!)![1])).toBeGreaterThan(0);
    expect(await page.isEnabled('#send')).toBe(true);

    // Chat: the reply lands in the transcript after the user's message.
    await page.check('input[name=mode][value=chat]');
    await page.fill('#maxTokens', '24');
    await page.fill('#prompt', chat);
    if (process.env.TKNP_SCREENSHOT) await page.fill('#system', 'You are a helpful assistant.');
    else await page.fill('#system', '');
    await page.click('#send');
    await page.waitForFunction(`document.querySelectorAll('#transcript .assistant').length === 1`, undefined, { timeout: 30_000 });
    const msgs = await page.$$eval('#transcript .msg', (els) => els.map((e) => [e.className, e.textContent]));
    expect(msgs[0]).toEqual(['msg user', chat]);
    if (!process.env.TKNP_SCREENSHOT) expect(msgs[1]).toEqual(['msg assistant', refs.chat.text]);
    if (process.env.TKNP_SCREENSHOT) await page.screenshot({ path: process.env.TKNP_SCREENSHOT });
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
