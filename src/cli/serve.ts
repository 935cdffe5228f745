import type { Command } from 'commander';

// Placeholder until the 'serve' command lands (owned by its issue); keeps the CLI wiring compiling.
export function registerServe(_program: Command): void {}
