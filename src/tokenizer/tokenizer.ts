// Tokenizer from a Hugging Face model directory: tokenizer.json through
// @huggingface/tokenizers, the chat template from tokenizer_config.json (or chat_template.jinja)
// through @huggingface/jinja (a real Jinja implementation), rendered under limits
// (chat_template.ts). Files are read as untrusted input (loader/model_files.ts).
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChatTemplateError, ModelFileError, TokenizerError } from '../loader/errors.js';
import { exists, MAX_CONFIG_JSON_BYTES, MAX_TOKENIZER_JSON_BYTES, readJsonObject, readModelFile } from '../loader/model_files.js';
import { tokenizerIdLimit } from '../loader/tokenizer_vocab.js';
import { ChatTemplate, type ChatTemplateLimits } from './chat_template.js';

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | string;
  readonly content: string;
}

type Json = Record<string, unknown>;

/** A special token in tokenizer_config.json is a string or { content: string }. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

export class Tokenizer {
  private readonly template: ChatTemplate | undefined;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  /** Token ids that end generation (tokenizer's eos plus any passed from the model config). */
  readonly eosTokenIds: readonly number[];
  /** Distinct tokens (added tokens included). */
  readonly vocabSize: number;

  private constructor(
    private readonly hf: HfTokenizer,
    private readonly config: Json,
    /** One past the largest token id: ids this tokenizer can produce or decode are below it. */
    readonly idLimit: number,
    extraEos: readonly number[],
    readonly dir: string,
    templateFile: string,
    templateLimits?: ChatTemplateLimits,
  ) {
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    const eos = new Set(extraEos);
    const eosId = this.eosToken !== undefined ? hf.token_to_id(this.eosToken) : undefined;
    if (eosId !== undefined) eos.add(eosId);
    this.eosTokenIds = [...eos];
    this.vocabSize = hf.get_vocab(true).size;
    const source = templateSource(config, templateFile);
    if (source) this.template = new ChatTemplate(source, templateFile, templateLimits);
  }

  /** Loads tokenizer.json (+ tokenizer_config.json, chat_template.jinja if present) from `dir`. */
  static load(dir: string, extraEosTokenIds: readonly number[] = [], templateLimits?: ChatTemplateLimits): Tokenizer {
    const tokPath = join(dir, 'tokenizer.json');
    if (!exists(tokPath)) throw new ModelFileError(tokPath, 'missing (tknp needs a tokenizer.json)');
    const tokJson = readJsonObject(tokPath, MAX_TOKENIZER_JSON_BYTES);
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = exists(cfgPath) ? readJsonObject(cfgPath) : {};
    const jinjaPath = join(dir, 'chat_template.jinja');
    const fileTemplate = config.chat_template === undefined && exists(jinjaPath) ? readModelFile(jinjaPath, MAX_CONFIG_JSON_BYTES).toString('utf8') : undefined;
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(tokJson, config);
    } catch (e) {
      throw new TokenizerError(tokPath, `unsupported tokenizer: ${(e as Error).message}`);
    }
    const withTemplate = fileTemplate === undefined ? config : { ...config, chat_template: fileTemplate };
    return new Tokenizer(hf, withTemplate, tokenizerIdLimit(tokJson), extraEosTokenIds, dir, fileTemplate === undefined ? cfgPath : jinjaPath, templateLimits);
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
    if (!this.template) throw new ChatTemplateError(join(this.dir, 'tokenizer_config.json'), 'has no chat_template (run without --chat)', 'chat_template');
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

  /** Stops the chat template's rendering thread, if one runs. */
  close(): void {
    this.template?.close();
  }
}

/** The chat template's source: a string, or the entry named "default" of a list of named templates. */
function templateSource(config: Json, file: string): string | undefined {
  const tpl = config.chat_template;
  if (tpl == null) return undefined;
  if (typeof tpl === 'string') return tpl || undefined;
  if (Array.isArray(tpl) && tpl.every((t) => t && typeof t === 'object' && typeof (t as Json).name === 'string' && typeof (t as Json).template === 'string')) {
    return (tpl as { name: string; template: string }[]).find((t) => t.name === 'default')?.template;
  }
  throw new ChatTemplateError(file, `field 'chat_template' must be a string or a list of {name, template}, got ${JSON.stringify(tpl).slice(0, 80)}`, 'chat_template');
}
