import type { Command } from 'commander';

// Placeholder until the 'chat' command lands (owned by its issue); keeps the CLI wiring compiling.
export function registerChat(_program: Command): void {}
