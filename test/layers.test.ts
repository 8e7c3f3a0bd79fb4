import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/shared-data.ts';

const run = promisify(execFile);
const DEPCRUISE = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = path.join(PROJECT_ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Runs the project's layer rules over `dir` and returns what they refused. */
async function violations(dir: string, folders: string[]): Promise<Violation[]> {
  const out = await run(DEPCRUISE, ['--config', CONFIG, '--output-type', 'json', ...folders], { cwd: dir, maxBuffer: 64 << 20 }).catch(
    // depcruise exits non-zero when it finds errors; its JSON is on stdout all the same.
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  return (JSON.parse(out.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

/** A scratch tree with the project's folder names, so the rules see the same paths. */
function writeTree(root: string, files: Record<string, string>) {
  fs.writeFileSync(path.join(root, 'tsconfig.json'), fs.readFileSync(path.join(PROJECT_ROOT, 'tsconfig.json')));
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
}

describe('layer rules (.dependency-cruiser.cjs)', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-layers-'));
    writeTree(root, {
      'core/config.ts': "import { store } from '../store/db.ts';\nexport const config = store;\n",
      'models/embedder.ts': "import { config } from '../core/config.ts';\nexport const embedder = config;\n",
      'store/db.ts': "import { embedder } from '../models/embedder.ts';\nexport const store = embedder;\n",
      'ingest/pipeline.ts': "import { search } from '../retrieval/search.ts';\nexport const pipeline = search;\n",
      'retrieval/search.ts': "import { store } from '../store/db.ts';\nexport const search = store;\n",
      'answer/service.ts': "import { route } from '../api/app.ts';\nexport const answer = route;\n",
      'api/app.ts': "import { helper } from '../test/helpers/x.ts';\nexport const route = helper;\n",
      'test/helpers/x.ts': 'export const helper = 1;\n',
    });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('passes on the project itself', async () => {
    const found = await violations(PROJECT_ROOT, [
      'core',
      'models',
      'store',
      'ingest',
      'retrieval',
      'answer',
      'facade',
      'api',
      'eval',
      'testkit',
      'cli',
      'bench',
      'test',
      'console',
    ]);
    expect(found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  it('refuses upward imports, imports between ingest and retrieval, imports of test/, and cycles', async () => {
    const found = await violations(root, ['core', 'models', 'store', 'ingest', 'retrieval', 'answer', 'api', 'test']);
    const byRule = (name: string) => found.filter((v) => v.rule.name === name).map((v) => `${v.from} → ${v.to}`);
    expect(byRule('core-imports-only-downward')).toEqual(['core/config.ts → store/db.ts']);
    expect(byRule('answer-imports-only-downward')).toEqual(['answer/service.ts → api/app.ts']);
    expect(byRule('ingest-and-retrieval-are-siblings')).toEqual(['ingest/pipeline.ts → retrieval/search.ts']);
    expect(byRule('nothing-imports-test')).toEqual(['api/app.ts → test/helpers/x.ts']);
    // core → store → models → core is a cycle; every edge of it is reported once.
    expect(byRule('no-cycles').length).toBeGreaterThan(0);
    // The legal imports (models → core, retrieval → store) raise nothing of their own.
    expect(found.filter((v) => v.from === 'models/embedder.ts' && v.rule.name !== 'no-cycles')).toEqual([]);
    expect(found.filter((v) => v.from === 'retrieval/search.ts')).toEqual([]);
  });

  it('keeps console/ a leaf: it imports only itself, and nothing imports it', async () => {
    const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'ragline-layers-console-'));
    try {
      writeTree(tree, {
        'console/dom.js': 'export const h = 1;\n',
        'console/app.js': "import { h } from './dom.js';\nimport { route } from '../api/app.ts';\nexport const app = [h, route];\n",
        'api/app.ts': "import { h } from '../console/dom.js';\nexport const route = h;\n",
      });
      const found = await violations(tree, ['console', 'api']);
      const byRule = (name: string) => found.filter((v) => v.rule.name === name).map((v) => `${v.from} → ${v.to}`);
      expect(byRule('console-is-a-leaf')).toEqual(['console/app.js → api/app.ts']);
      expect(byRule('nothing-imports-console')).toEqual(['api/app.ts → console/dom.js']);
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });
});
