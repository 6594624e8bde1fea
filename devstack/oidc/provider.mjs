// devstack's OpenID Connect provider: the certified `oidc-provider` package with a login page.
//
// Usage: node provider.mjs <config.json>
// The config (written by devstack/oidc/__init__.py) names the issuer, the port, the clients,
// the access-token lifetime and the users file. The users file is read again at every login,
// token refresh and userinfo request, so a test that rewrites it changes a user's groups (or
// disables the user) at the provider while it runs.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function readUsers() {
  return JSON.parse(readFileSync(config.users_file, 'utf8')).users;
}

function activeUser(name) {
  const user = Object.hasOwn(readUsers(), name) ? readUsers()[name] : undefined;
  return user && !user.disabled ? user : undefined;
}

async function findAccount(_ctx, sub) {
  const user = activeUser(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      // Read again: the groups are the ones of the moment the claims are asked for.
      const now = activeUser(sub) ?? user;
      return {
        sub,
        preferred_username: sub,
        name: now.name,
        email: `${sub}@devstack.invalid`,
        groups: now.groups,
        eduperson_entitlement: now.eduperson_entitlement,
      };
    },
  };
}

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
  format: 'jwk',
});

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  findAccount,
  jwks: { keys: [{ ...signingKey, kid: 'devstack', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'eduperson_entitlement'],
  // IAM sends `groups` with the profile; Check-in sends entitlements for their own scope.
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email'],
    eduperson_entitlement: ['eduperson_entitlement'],
  },
  pkce: { required: () => true },
  clockTolerance: 0, // one machine: an expired token is expired at once
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: config.access_token_ttl,
    AuthorizationCode: 60,
    IdToken: config.access_token_ttl,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Interaction: 600,
    Session: 24 * 3600,
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, clientId, error) {
  const message = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devstack identity provider</title>
<style>body{font-family:sans-serif;max-width:24rem;margin:4rem auto}
label,input,button{display:block;width:100%;margin:.4rem 0}.error{color:#b00}</style></head>
<body><h1>devstack identity provider</h1>
<p>Sign in to <strong>${escapeHtml(clientId)}</strong>.</p>${message}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form></body></html>`;
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The consent a first-party platform gives itself: every scope and claim the client asked for.
async function grantConsent(interaction) {
  const { prompt, params, session } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'This sign-in link does not match your session.');
  if (details.prompt.name === 'consent') {
    const grantId = await grantConsent(details);
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }
  if (action !== 'login' || req.method !== 'POST') {
    return send(res, 200, loginPage(uid, details.params.client_id, ''));
  }
  const form = await readForm(req);
  const username = form.get('username') ?? '';
  const user = activeUser(username);
  if (!user || user.password !== form.get('password')) {
    return send(res, 401, loginPage(uid, details.params.client_id, 'Unknown user or wrong password.'));
  }
  return provider.interactionFinished(req, res, { login: { accountId: username } }, {
    mergeWithLastSubmission: false,
  });
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login))?\/?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  interaction(req, res, match[1], match[2]).catch((error) => {
    console.error(`interaction ${match[1]}: ${error.message}`);
    if (!res.headersSent) send(res, 400, `Sign-in failed: ${escapeHtml(error.message)}. Start again from the hub.`);
  });
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`devstack OIDC provider listening: ${config.issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
