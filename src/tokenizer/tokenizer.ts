// Tokenizer from a Hugging Face model directory: tokenizer.json through
// @huggingface/tokenizers, the chat template from tokenizer_config.json through
// @huggingface/jinja (a real Jinja implementation).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { ModelLoadError } from '../loader/errors.js';

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | string;
  readonly content: string;
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new ModelLoadError(path, `cannot read JSON: ${(e as Error).message}`);
  }
}

/** A special token in tokenizer_config.json is a string or { content: string }. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

export class Tokenizer {
  private readonly template: Template | undefined;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  /** Token ids that end generation (tokenizer's eos plus any passed from the model config). */
  readonly eosTokenIds: readonly number[];
  readonly vocabSize: number;

  private constructor(
    private readonly hf: HfTokenizer,
    private readonly config: Json,
    extraEos: readonly number[],
    readonly dir: string,
  ) {
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    const eos = new Set(extraEos);
    const eosId = this.eosToken !== undefined ? hf.token_to_id(this.eosToken) : undefined;
    if (eosId !== undefined) eos.add(eosId);
    this.eosTokenIds = [...eos];
    this.vocabSize = hf.get_vocab(true).size;
    const tpl = config.chat_template;
    const source = typeof tpl === 'string' ? tpl : Array.isArray(tpl) ? (tpl as { name: string; template: string }[]).find((t) => t.name === 'default')?.template : undefined;
    if (source) {
      try {
        this.template = new Template(source);
      } catch (e) {
        throw new ModelLoadError(join(dir, 'tokenizer_config.json'), `chat_template does not parse: ${(e as Error).message}`);
      }
    }
  }

  /** Loads tokenizer.json (+ tokenizer_config.json, chat_template.jinja if present) from `dir`. */
  static load(dir: string, extraEosTokenIds: readonly number[] = []): Tokenizer {
    const tokPath = join(dir, 'tokenizer.json');
    if (!existsSync(tokPath)) throw new ModelLoadError(tokPath, 'missing (tknp needs a tokenizer.json)');
    const tokJson = readJson(tokPath);
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(cfgPath) ? readJson(cfgPath) : {};
    const jinjaPath = join(dir, 'chat_template.jinja');
    if (config.chat_template === undefined && existsSync(jinjaPath)) config.chat_template = readFileSync(jinjaPath, 'utf8');
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(tokJson, config);
    } catch (e) {
      throw new ModelLoadError(tokPath, `unsupported tokenizer: ${(e as Error).message}`);
    }
    return new Tokenizer(hf, config, extraEosTokenIds, dir);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.hf.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? true, clean_up_tokenization_spaces: false });
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Renders the chat template (as transformers' apply_chat_template(tokenize=False)). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) throw new ModelLoadError(join(this.dir, 'tokenizer_config.json'), 'has no chat_template (run without --chat)');
    return this.template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      unk_token: tokenString(this.config.unk_token) ?? '',
      pad_token: tokenString(this.config.pad_token) ?? '',
    });
  }

  /** Token ids of a chat (the template already holds any BOS, so none is added). */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    return this.encode(this.applyChatTemplate(messages), { addSpecialTokens: false });
  }
}
