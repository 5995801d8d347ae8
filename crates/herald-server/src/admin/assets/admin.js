// Herald admin UI: plain DOM, no framework. Every call goes to the server's admin endpoints
// (relative URLs, so the page works under any admin.handler_prefix); the token lives in
// sessionStorage and travels in the Authorization header, never in a URL.
'use strict';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('herald-admin-token') || '';
let live = null;
let nextCursor = '';

function headers() {
  return { 'Content-Type': 'application/json', Authorization: `token ${token}` };
}

function showApp(on) {
  $('login-section').hidden = on;
  $('app').hidden = !on;
  $('logout').hidden = !on;
  if (on) {
    refresh();
  } else {
    stopLive();
    $('password').focus();
  }
}

async function api(method, body = {}) {
  const response = await fetch(`admin/api/${method}`, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
  if (response.status === 401) {
    logout();
    throw new Error('session expired: log in again');
  }
  if (!response.ok) throw new Error(`${method}: HTTP ${response.status}`);
  const answer = await response.json();
  if (answer.error) throw new Error(`${method}: ${answer.error.message} (${answer.error.code})`);
  return answer.result;
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function uptime(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`;
}

async function refreshNodes() {
  const result = await api('info');
  const body = $('nodes').tBodies[0];
  body.replaceChildren();
  for (const node of result.nodes || []) {
    const row = body.insertRow();
    row.dataset.uid = node.uid;
    for (const value of [node.name, node.version, uptime(node.uptime || 0), node.num_clients, node.num_users, node.num_channels, node.num_subs]) {
      cell(row, String(value ?? 0));
    }
  }
}

async function refreshChannels() {
  const result = await api('channels', { pattern: $('channels-pattern').value });
  const body = $('channels').tBodies[0];
  body.replaceChildren();
  for (const [name, info] of Object.entries(result.channels || {})) {
    const row = body.insertRow();
    cell(row, name, 'mono');
    cell(row, String(info.num_clients || 0));
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Watch';
    button.setAttribute('aria-label', `Watch ${name}`);
    button.addEventListener('click', () => {
      $('live-channel').value = name;
      startLive(name);
    });
    cell(row, '').appendChild(button);
  }
}

async function refresh() {
  try {
    await Promise.all([refreshNodes(), refreshChannels()]);
  } catch (err) {
    console.warn(err);
  }
}

// Live view: the SSE stream read with fetch, so the token goes in a header.
async function startLive(channel) {
  stopLive();
  const controller = new AbortController();
  live = controller;
  $('live-messages').replaceChildren();
  $('live-stop').disabled = false;
  $('live-status').textContent = `Connecting to ${channel}…`;
  try {
    const response = await fetch(`admin/live?channel=${encodeURIComponent(channel)}`, { headers: headers(), signal: controller.signal });
    if (!response.ok) {
      $('live-status').textContent = `Cannot watch ${channel}: ${(await response.text()).trim() || response.status}`;
      return;
    }
    $('live-status').textContent = `Watching ${channel}`;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (line.startsWith('data: ')) showMessage(JSON.parse(line.slice(6)));
        }
      }
    }
    if (live === controller) $('live-status').textContent = `Stopped watching ${channel} (the server ended the stream)`;
  } catch (err) {
    if (live === controller && err.name !== 'AbortError') $('live-status').textContent = `Live view failed: ${err.message}`;
  }
}

function showMessage(push) {
  const item = document.createElement('li');
  const publication = push.pub || {};
  const data = publication.data !== undefined ? JSON.stringify(publication.data) : `(binary) ${publication.b64data || ''}`;
  const offset = publication.offset ? ` #${publication.offset}` : '';
  item.textContent = `${new Date().toLocaleTimeString()} ${push.channel}${offset}: ${data}`;
  $('live-messages').appendChild(item);
  item.scrollIntoView({ block: 'nearest' });
}

function stopLive() {
  if (live) {
    live.abort();
    live = null;
    $('live-status').textContent = 'Stopped';
  }
  $('live-stop').disabled = true;
}

async function publish(event) {
  event.preventDefault();
  const status = $('publish-status');
  let data;
  try {
    data = JSON.parse($('publish-data').value);
  } catch (err) {
    status.textContent = `Data is not valid JSON: ${err.message}`;
    return;
  }
  try {
    const result = await api('publish', { channel: $('publish-channel').value, data });
    status.textContent = `Published${result.offset ? ` at offset ${result.offset}` : ''}`;
  } catch (err) {
    status.textContent = `Publish failed: ${err.message}`;
  }
}

async function findConnections(cursor) {
  const status = $('connections-status');
  const body = $('connections').tBodies[0];
  if (!cursor) body.replaceChildren();
  try {
    const result = await api('connections', { user: $('connections-user').value, limit: 100, cursor });
    const entries = Object.entries(result.connections || {});
    for (const [client, c] of entries) {
      const row = body.insertRow();
      row.dataset.client = client;
      cell(row, client, 'mono');
      cell(row, c.user || '(anonymous)');
      cell(row, c.transport);
      cell(row, c.protocol);
      cell(row, c.ip || '');
      cell(row, Object.keys((c.state && c.state.channels) || {}).join(', '), 'mono');
      cell(row, new Date(c.connected_at_ms).toLocaleString());
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'danger';
      button.textContent = 'Disconnect';
      button.setAttribute('aria-label', `Disconnect ${client}`);
      button.addEventListener('click', () => disconnect(c.user, client, row));
      cell(row, '').appendChild(button);
    }
    nextCursor = result.next_cursor || '';
    $('connections-more').hidden = !nextCursor;
    status.textContent = `${body.rows.length} connection(s) shown${nextCursor ? ', more on the next page' : ''}`;
  } catch (err) {
    status.textContent = `Could not list connections: ${err.message}`;
  }
}

async function disconnect(user, client, row) {
  try {
    await api('disconnect', { user, client });
    row.remove();
    $('connections-status').textContent = `Disconnected ${client}`;
  } catch (err) {
    $('connections-status').textContent = `Disconnect failed: ${err.message}`;
  }
}

async function login(event) {
  event.preventDefault();
  $('login-error').textContent = '';
  const response = await fetch('admin/auth', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ password: $('password').value }) });
  if (!response.ok) {
    $('login-error').textContent = response.status === 401 ? 'Wrong password' : `Login failed: HTTP ${response.status}`;
    return;
  }
  token = (await response.json()).token;
  sessionStorage.setItem('herald-admin-token', token);
  $('password').value = '';
  showApp(true);
}

function logout() {
  token = '';
  sessionStorage.removeItem('herald-admin-token');
  showApp(false);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('refresh').addEventListener('click', refresh);
  $('channels-form').addEventListener('submit', (e) => { e.preventDefault(); refreshChannels(); });
  $('live-form').addEventListener('submit', (e) => { e.preventDefault(); startLive($('live-channel').value); });
  $('live-stop').addEventListener('click', stopLive);
  $('publish-form').addEventListener('submit', publish);
  $('connections-form').addEventListener('submit', (e) => { e.preventDefault(); findConnections(''); });
  $('connections-more').addEventListener('click', () => findConnections(nextCursor));
  setInterval(() => { if (!$('app').hidden) refresh(); }, 5000);
  // With admin.insecure any token works; otherwise a stored one is tried and a 401 logs out.
  showApp(Boolean(token));
});
