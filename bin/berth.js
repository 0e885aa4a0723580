#!/usr/bin/env node
// The `berth` command: the compiled CLI (built by `npm install`'s prepare step; see cli-entry.js).
import { cliEntry } from './cli-entry.js';

await import(cliEntry);
