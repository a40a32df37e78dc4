// Entry point of a rank started by tknp's local launcher: the engine configuration comes in
// TKNP_ENGINE_CONFIG (JSON), the rank and rendezvous in the torchrun-style variables.
import { resolveEngineConfig, type EngineConfig } from '../engine/config.js';
import { launchEnv } from './launch_env.js';
import { runWorkerProcess } from './worker.js';

const raw = process.env.TKNP_ENGINE_CONFIG;
if (!raw) {
  process.stderr.write('rank_main: TKNP_ENGINE_CONFIG is not set (this entry point is started by the tknp launcher)\n');
  process.exit(2);
}
const config = resolveEngineConfig(JSON.parse(raw) as EngineConfig);
await runWorkerProcess(config, launchEnv());
