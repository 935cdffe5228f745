import type { Command } from 'commander';

// Placeholder until the 'db' command lands (owned by its issue); keeps the CLI wiring compiling.
export function registerDb(_program: Command): void {}
