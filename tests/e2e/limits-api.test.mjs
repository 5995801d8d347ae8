// http_api.rate_limit (Herald's): requests per second with the API key; past it HTTP 429.
// Requests without the key get 401 and spend nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, defaultConfig, api } from './harness.mjs';

test('http_api.rate_limit: past it 429, and keyless requests spend nothing', async () => {
  const config = defaultConfig();
  config.http_api.rate_limit = 1;
  const server = await startHerald(config);
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal((await api(server, 'info', {}, { key: 'wrong' })).status, 401);
    }
    assert.equal((await api(server, 'info')).status, 200, 'the one token is still there');
    // One request per second: 20 in a row meet an empty bucket unless they take 19 s.
    const statuses = [];
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${server.base}/api/publish`, {
        method: 'POST',
        headers: { 'X-API-Key': 'e2e-api-key' },
        body: JSON.stringify({ channel: 'news', data: { i } }),
      });
      statuses.push(response.status);
      if (response.status === 429) assert.equal(await response.text(), 'Too Many Requests\n');
      else await response.text();
    }
    assert.ok(statuses.includes(429), `${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 429), `${statuses}`);
  } finally {
    await server.stop();
  }
});
