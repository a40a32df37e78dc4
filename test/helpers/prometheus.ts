// Parses Prometheus text with the official Python client's parser
// (prometheus_client.parser.text_string_to_metric_families; Debian's python3-prometheus-client,
// installed by tools/setup.sh), so /metrics is checked by a real Prometheus implementation.
import { execFileSync } from 'node:child_process';

export interface PromSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}
export interface PromFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: PromSample[];
}

const PYTHON = '/usr/bin/python3';
const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value if s.value == s.value and abs(s.value) != float("inf") else str(s.value)} for s in f.samples]})
print(json.dumps(out))
`;

/** Why the parser cannot run here, or undefined when it can. */
export function prometheusParserMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import prometheus_client.parser'], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `${PYTHON} with prometheus_client is not available (apt-get install python3-prometheus-client; tools/setup.sh does): ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Families by name (counters under their name without _total, as the parser names them). */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const json = execFileSync(PYTHON, ['-c', SCRIPT], { input: text, encoding: 'utf8' });
  return new Map((JSON.parse(json) as PromFamily[]).map((f) => [f.name, f]));
}

/** The value of the one sample named `name` whose labels include `labels`. */
export function sampleValue(families: Map<string, PromFamily>, family: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(family);
  const s = f?.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s || s.length === 0) return undefined;
  if (s.length > 1) throw new Error(`${name}${JSON.stringify(labels)}: ${s.length} samples`);
  return s[0].value;
}
