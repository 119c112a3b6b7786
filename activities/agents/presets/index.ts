/** The coding-agent CLIs Baton runs out of the box, by preset name (`preset:` in agents.yaml). */
import { aiderPreset } from './aider';
import { claudeCodePreset } from './claude-code';
import { codexPreset } from './codex';
import { geminiPreset } from './gemini';
import type { CliPreset, CliPresetName } from './types';

export const CLI_PRESET_ADAPTERS: Record<CliPresetName, CliPreset> = {
  'claude-code': claudeCodePreset,
  codex: codexPreset,
  gemini: geminiPreset,
  aider: aiderPreset,
};
