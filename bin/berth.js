#!/usr/bin/env node
// The `berth` command: the compiled CLI lives in dist/ (built by `npm install`'s prepare step).
import '../dist/registry/cli/main.js';
