#!/usr/bin/env node
// Garbage collection for a long-running process (`BATON_V8_FLAGS`, empty for V8's defaults): a heap grows to
// 1.5 times what it kept at its last full collection instead of V8's up to 4 times, and the young generation of
// the threads started after this line (the workflow thread) stays small. With V8's defaults `baton dev` held
// 520 MiB after 6,000 tasks, a third of it garbage no collection had been asked for; with these 385 MiB, and the
// load benchmark's CPU of `baton dev` 0.3 cores instead of 0.4 (README, Benchmark). Set before anything else:
// a thread's heap takes its flags when it starts.
require('node:v8').setFlagsFromString(process.env.BATON_V8_FLAGS ?? '--heap-growing-percent=50 --max-semi-space-size=4');
// Runs the TypeScript sources directly (no build step): tsx compiles them on load.
require('tsx/cjs/api').register();
require('../cli/main.ts');
