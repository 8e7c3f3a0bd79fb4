#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx ragline` works without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exit(await main());
