// tknp playground: chat and completion over the WebSocket protocol (/v1/stream), live tokens/s,
// and per-rank KV cache usage from /metrics. Plain browser JavaScript, no dependencies.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { ws: null, ready: null, busy: null, history: [], nextId: 0 };
  const KEY_PROTOCOL = 'openai-insecure-api-key.';

  function params() {
    const num = (id) => ($(id).value === '' ? undefined : Number($(id).value));
    const p = {
      temperature: num('temperature'), topP: num('topP'), topK: num('topK'), maxTokens: num('maxTokens'), seed: num('seed'),
      presencePenalty: num('presencePenalty'), frequencyPenalty: num('frequencyPenalty'), repetitionPenalty: num('repetitionPenalty'),
    };
    for (const k of Object.keys(p)) if (p[k] === undefined || Number.isNaN(p[k])) delete p[k];
    return p;
  }

  function mode() {
    return document.querySelector('input[name=mode]:checked').value;
  }

  function status(text) {
    $('status').textContent = text;
  }

  function headers() {
    const key = $('apiKey').value.trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  /** Opens (or reuses) the socket; the API key travels as a subprotocol, as OpenAI's Realtime API takes it. */
  function connect() {
    if (state.ws && state.ws.readyState <= 1) return state.ready;
    const key = $('apiKey').value.trim();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`;
    const ws = new WebSocket(url, key ? ['tknp', KEY_PROTOCOL + key] : ['tknp']);
    state.ws = ws;
    state.ready = new Promise((resolve, reject) => {
      ws.onopen = () => {
        status('ready');
        resolve(ws);
      };
      ws.onerror = () => reject(new Error('cannot connect to /v1/stream (wrong API key?)'));
    });
    ws.onclose = () => {
      if (state.busy) finish('connection closed');
      status('disconnected');
    };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    return state.ready;
  }

  function onMessage(m) {
    const b = state.busy;
    if (m.type === 'error') {
      status(`error: ${m.error.message}`);
      if (b && (m.id === undefined || m.id === b.id)) finish(null);
      return;
    }
    if (!b || m.id !== b.id) return;
    if (m.type === 'token') {
      b.tokens += m.tokenIds.length;
      b.first ??= performance.now();
      b.text += m.delta;
      $('output').textContent = b.text;
      const secs = (performance.now() - b.first) / 1000;
      if (secs > 0 && b.tokens > 1) $('tps').textContent = `${((b.tokens - 1) / secs).toFixed(1)} tokens/s`;
    } else if (m.type === 'done') {
      b.text = m.text;
      finish(m.finishReason === 'error' ? `error: ${m.error ? m.error.message : ''}` : `${m.finishReason} · ${m.usage.completionTokens} tokens`);
    }
  }

  function finish(text) {
    const b = state.busy;
    state.busy = null;
    $('send').disabled = false;
    $('abort').disabled = true;
    if (b) {
      if (b.chat && b.text) state.history.push({ role: 'assistant', content: b.text });
      if (b.chat) {
        addMessage('assistant', b.text);
        $('output').textContent = '';
      }
    }
    if (text) status(text);
  }

  function addMessage(role, text) {
    const div = document.createElement('div');
    div.className = `msg ${role}`;
    div.textContent = text;
    $('transcript').appendChild(div);
  }

  async function send() {
    const text = $('prompt').value;
    if (!text.trim() || state.busy) return;
    let ws;
    try {
      ws = await connect();
    } catch (e) {
      status(e.message);
      return;
    }
    const chat = mode() === 'chat';
    const id = `p${state.nextId++}`;
    const msg = { type: 'generate', id, params: params() };
    if (chat) {
      const system = $('system').value.trim();
      state.history.push({ role: 'user', content: text });
      msg.messages = [...(system ? [{ role: 'system', content: system }] : []), ...state.history];
      addMessage('user', text);
      $('prompt').value = '';
    } else {
      msg.prompt = text;
    }
    state.busy = { id, chat, text: '', tokens: 0, first: null };
    $('output').textContent = '';
    $('tps').textContent = '';
    $('send').disabled = true;
    $('abort').disabled = false;
    status('generating…');
    ws.send(JSON.stringify(msg));
  }

  function abort() {
    if (state.busy && state.ws) state.ws.send(JSON.stringify({ type: 'abort', id: state.busy.id }));
  }

  /** Per-rank KV usage bars from the Prometheus text of /metrics. */
  async function pollMetrics() {
    try {
      const r = await fetch('/metrics', { headers: headers() });
      if (!r.ok) throw new Error(String(r.status));
      const text = await r.text();
      const read = (name) => {
        const out = {};
        for (const m of text.matchAll(new RegExp(`^${name}\\{rank="(\\d+)"\\} (\\S+)$`, 'gm'))) out[m[1]] = Number(m[2]);
        return out;
      };
      const used = read('tknp:kv_blocks_used');
      const total = read('tknp:kv_blocks_total');
      const kv = $('kv');
      kv.textContent = '';
      for (const rank of Object.keys(total)) {
        const pct = total[rank] ? (100 * used[rank]) / total[rank] : 0;
        const el = document.createElement('div');
        el.className = 'rank';
        el.dataset.rank = rank;
        el.title = `rank ${rank}: ${used[rank]} / ${total[rank]} KV blocks`;
        el.innerHTML = '<span></span><div class="bar"><div></div></div>';
        el.firstChild.textContent = `KV rank ${rank} ${pct.toFixed(0)}%`;
        el.querySelector('.bar > div').style.width = `${pct}%`;
        kv.appendChild(el);
      }
    } catch {
      $('kv').textContent = 'metrics unavailable';
    }
  }

  async function loadModel() {
    try {
      const r = await fetch('/v1/models', { headers: headers() });
      const j = await r.json();
      $('model').textContent = r.ok ? `${j.data[0].id} · max ${j.data[0].max_model_len} tokens` : '(API key needed)';
    } catch {
      $('model').textContent = '';
    }
  }

  $('send').onclick = send;
  $('abort').onclick = abort;
  $('clear').onclick = () => {
    state.history = [];
    $('transcript').textContent = '';
    $('output').textContent = '';
  };
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send();
  });
  $('apiKey').addEventListener('change', () => {
    if (state.ws) state.ws.close();
    state.ws = null;
    loadModel();
    connect().catch((e) => status(e.message));
  });
  loadModel();
  connect().catch((e) => status(e.message));
  pollMetrics();
  setInterval(pollMetrics, 1000);
})();
