#!/usr/bin/env node
/** The `securechat` entry point. */
import { main } from './program.js';

await main(process.argv);
