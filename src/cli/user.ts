import type { Command } from 'commander';

// Placeholder until the 'user' command lands (owned by its issue); keeps the CLI wiring compiling.
export function registerUser(_program: Command): void {}
