import type { Command } from 'commander';

// Placeholder until the 'ca' command lands (owned by its issue); keeps the CLI wiring compiling.
export function registerCa(_program: Command): void {}
