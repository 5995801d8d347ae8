// The Python `cent` HTTP API client against Herald configured like pycent's own CI
// (environment variables in Centrifugo's CENTRIFUGO_* form).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHerald } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.CENT_PYTHON;

test('the cent client works unchanged', { skip: python ? false : 'CENT_PYTHON not set (cargo test sets it)' }, async () => {
  const server = await startHerald({}, {
    env: {
      CENTRIFUGO_HTTP_API_KEY: 'api_key',
      CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_HISTORY_TTL: '300s',
      CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_HISTORY_SIZE: '100',
      CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_PRESENCE: 'true',
    },
  });
  try {
    const run = spawnSync(python, [join(here, 'cent/check.py'), `${server.base}/api`, 'api_key'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /ALL OK/);
  } finally {
    await server.stop();
  }
});
