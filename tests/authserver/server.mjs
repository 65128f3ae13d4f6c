// Local OAuth 2.0 authorization server for keycard-serve integration tests.
// oidc-provider does discovery, JWKS, client authentication and RFC 9068 JWT access tokens;
// this file adds the RFC 8693 token-exchange grant and a small /__test/ control surface.
// Usage: node server.mjs <config.json>; prints one line "LISTENING <issuer>" when ready.
import { generateKeyPair } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { format, promisify } from 'node:util';

import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';

// oidc-provider warns through console.* and prints its Node-version warning at import time,
// so console is redirected before the dynamic import: stdout carries only the LISTENING line.
const EXPECTED_WARNINGS = [/Unsupported runtime/, /in-memory adapter/];
for (const level of ['log', 'info', 'warn', 'error']) {
  console[level] = (...args) => {
    const line = format(...args);
    if (!EXPECTED_WARNINGS.some((re) => re.test(line))) process.stderr.write(`${line}\n`);
  };
}
const { default: Provider, errors } = await import('oidc-provider');

const generateKeyPairAsync = promisify(generateKeyPair);
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const INBOUND_SCOPES = 'mcp:tools read write calendar:write admin';
const DOWNSTREAM_SCOPES = 'mail.read mail.send read write calendar.read calendar.write';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const exchangeTTL = config.exchange_ttl ?? 300;
const userTokenTTL = config.user_token_ttl ?? 3600;
const userByClient = new Map(config.clients.filter((c) => c.user).map((c) => [c.client_id, c.user]));

const stats = { token_exchange: 0, jwks: 0, metadata: 0 };
const signingKeys = []; // private JWKs, newest first; all stay published
const exchanged = new WeakMap(); // token-exchange token -> {sub, act}, applied by the JWT customizer
let issuer;
let provider;
let handle;
let publishedKeys;

async function newSigningKey() {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' };
  jwk.kid = await calculateJwkThumbprint(jwk);
  signingKeys.unshift(jwk);
  return jwk.kid;
}

// "inbound" = an MCP server under test on loopback; "downstream" = an https API it calls.
function resourceKind(resource) {
  const url = URL.parse(resource);
  if (url?.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(url.hostname)) return 'inbound';
  if (url?.protocol === 'https:' && !url.hostname.startsWith('denied.')) return 'downstream';
  return undefined;
}

function resourceServerInfo(resource) {
  const kind = resourceKind(resource);
  if (!kind) throw new errors.InvalidTarget();
  return {
    audience: resource,
    scope: kind === 'inbound' ? INBOUND_SCOPES : DOWNSTREAM_SCOPES,
    accessTokenFormat: 'jwt',
    accessTokenTTL: kind === 'inbound' ? userTokenTTL : exchangeTTL,
    jwt: { sign: { alg: 'RS256', kid: signingKeys[0].kid } },
  };
}

function clientMetadata({ client_id: clientId, client_secret: secret, jwks, grant_types: grants }) {
  const common = { client_id: clientId, grant_types: grants, redirect_uris: [], response_types: [] };
  return jwks
    ? { ...common, token_endpoint_auth_method: 'private_key_jwt', jwks }
    : { ...common, token_endpoint_auth_method: 'client_secret_basic', client_secret: secret };
}

async function tokenExchange(ctx) {
  const { params, client } = ctx.oidc;
  if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('only access tokens can be requested');
  }
  let subject;
  try {
    ({ payload: subject } = await jwtVerify(params.subject_token, publishedKeys, {
      issuer, typ: 'at+jwt', algorithms: ['RS256'], requiredClaims: ['sub', 'exp', 'aud'],
    }));
  } catch (err) {
    throw new errors.InvalidRequest(`invalid subject_token (${err.code ?? err.message})`);
  }
  const audiences = [subject.aud].flat();
  if (!audiences.length || !audiences.every((aud) => resourceKind(aud) === 'inbound')) {
    throw new errors.InvalidRequest('subject_token audience is not an MCP server');
  }
  const resources = [params.resource ?? []].flat();
  if (resources.length !== 1) throw new errors.InvalidTarget('exactly one resource is required');
  if (resourceKind(resources[0]) !== 'downstream') {
    throw new errors.InvalidTarget('resource is not a downstream API');
  }
  const allowed = new Set(DOWNSTREAM_SCOPES.split(' '));
  const scopes = params.scope ? params.scope.split(' ') : [];
  const denied = scopes.filter((scope) => !allowed.has(scope));
  if (denied.length) throw new errors.InvalidScope('requested scope is not allowed', denied.join(' '));

  const token = new provider.ClientCredentials({ client, scope: scopes.join(' ') || undefined });
  token.resourceServer = new provider.ResourceServer(resources[0], resourceServerInfo(resources[0]));
  exchanged.set(token, { sub: subject.sub, act: { sub: client.clientId } });
  ctx.body = {
    access_token: await token.save(),
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: token.expiration,
    ...(token.scope ? { scope: token.scope } : {}),
  };
}

// A rotation builds a fresh Provider with the larger key set (the public API has no way to add
// keys at runtime). The in-memory adapter's storage is module-global, so jti replay state survives.
function buildProvider() {
  const next = new Provider(issuer, {
    clients: config.clients.map(clientMetadata),
    jwks: { keys: signingKeys },
    clientAuthMethods: ['client_secret_basic', 'private_key_jwt'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (ctx, resource) => resourceServerInfo(resource),
      },
    },
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
    formats: {
      customizers: {
        // token.extra is overwritten by extraTokenClaims at save time, so claims are set here.
        jwt(ctx, token, jwt) {
          const exchange = exchanged.get(token);
          if (exchange) Object.assign(jwt.payload, exchange);
          else if (userByClient.has(token.clientId)) jwt.payload.sub = userByClient.get(token.clientId);
        },
      },
    },
  });
  next.registerGrantType(
    TOKEN_EXCHANGE,
    tokenExchange,
    ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'scope'],
    ['resource'],
  );
  next.use(async (ctx, nextMiddleware) => {
    try {
      await nextMiddleware();
    } finally {
      const route = ctx.oidc?.route;
      if (route === 'jwks') stats.jwks += 1;
      if (route === 'discovery') stats.metadata += 1;
      if (route === 'token' && ctx.oidc.params?.grant_type === TOKEN_EXCHANGE) stats.token_exchange += 1;
    }
  });
  publishedKeys = createLocalJWKSet({
    keys: signingKeys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
  });
  provider = next;
  handle = next.callback();
}

async function testRoute(req, res) {
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const route = `${req.method} ${new URL(req.url, issuer).pathname}`;
  if (route === 'GET /__test/stats') return json(200, stats);
  if (route === 'POST /__test/reset') {
    for (const key of Object.keys(stats)) stats[key] = 0;
    return json(200, stats);
  }
  if (route === 'POST /__test/rotate') {
    const kid = await newSigningKey();
    buildProvider();
    return json(200, { kid });
  }
  return json(404, { error: 'not_found' });
}

await newSigningKey();
const server = createServer((req, res) => {
  if (req.url.startsWith('/__test/')) {
    testRoute(req, res).catch((err) => {
      console.error(err);
      res.writeHead(500).end();
    });
  } else {
    handle(req, res);
  }
});
server.listen(config.port ?? 0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  buildProvider();
  process.stdout.write(`LISTENING ${issuer}\n`);
});
