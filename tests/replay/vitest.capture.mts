// `npm run replay:capture`: records fresh histories from real runs into tests/replay/histories/.
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.mts';

export default defineConfig({ ...base, test: { ...base.test, include: ['tests/replay/capture-histories.ts'] } });
