#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step): tsx compiles them on load.
require('tsx/cjs/api').register();
require('../cli/main.ts');
