#!/usr/bin/env node
// Entry point of the `riskstream` command: runs the compiled CLI (npm run build).
import { main } from '../dist/cli/riskstream.js';

process.exitCode = await main(process.argv.slice(2));
