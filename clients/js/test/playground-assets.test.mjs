// The playground's built panel (internal/playground/assets/authgate, which
// the binary embeds) must be what the sources in clients/js build to:
// rebuild into a temporary folder and compare byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const js = join(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(js, '..', '..', 'internal', 'playground', 'assets', 'authgate');

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath ?? d.path, d.name)))
    .sort();
}

test('the playground panel embedded in the binary is built from the current sources (npm run build:playground)', () => {
  const out = mkdtempSync(join(tmpdir(), 'authgate-panel-'));
  try {
    execFileSync(join(js, 'node_modules', '.bin', 'tsc'), ['-p', join(js, 'playground', 'tsconfig.json'), '--outDir', out], { stdio: 'inherit' });
    const built = [...files(out), 'playground/panel.css'].sort();
    assert.deepEqual(files(committed), built, 'the same files');
    for (const f of built) {
      const want = f === 'playground/panel.css' ? readFileSync(join(js, 'playground', 'panel.css')) : readFileSync(join(out, f));
      assert.ok(readFileSync(join(committed, f)).equals(want), `${f} is stale: run npm run build:playground in clients/js and commit`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
