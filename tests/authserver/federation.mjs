// Workload identity (issue 15): a client authenticates with a JWT its platform issued (a
// Kubernetes projected service-account token: iss = the cluster, sub = the service account),
// sent as an RFC 7523 client assertion. oidc-provider's private_key_jwt requires iss = sub =
// client_id, so this koa middleware verifies the platform token against the JWKS the test
// trusts and swaps it for a one-time assertion signed by a bridge key the client is registered
// with. Platform tokens are reusable until they expire (the kubelet rotates the file), so no
// jti replay check applies to them; an expired or unknown one gets 401 invalid_client.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as querystring from 'node:querystring';

import {
  SignJWT, createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify,
} from 'jose';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const BODY_LIMIT = 56 * 1024;
const BRIDGE_ALG = 'ES256';

// `clients`: config entries with `federated: {issuer, subject, audience?, jwks | jwks_file}`;
// `audience` defaults to this server's issuer. `getIssuer()` returns that issuer.
export async function federationBridge(clients, getIssuer) {
  const { publicKey, privateKey } = await generateKeyPair(BRIDGE_ALG);
  const bridgeJwk = { ...(await exportJWK(publicKey)), kid: 'federation-bridge', alg: BRIDGE_ALG, use: 'sig' };

  async function bridgeAssertion(clientId, issuer) {
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: BRIDGE_ALG, kid: bridgeJwk.kid })
      .setIssuer(clientId).setSubject(clientId).setAudience(issuer)
      .setIssuedAt().setExpirationTime('60s')
      .sign(privateKey);
  }

  // The client whose federation the platform token satisfies, else a reason (never the token).
  async function federatedClient(token, candidates, requestedId, issuer) {
    let reason = 'no federated client matches the assertion subject';
    for (const client of candidates) {
      const { federated } = client;
      if (requestedId !== undefined && requestedId !== client.client_id) continue;
      const jwks = federated.jwks_file ? JSON.parse(readFileSync(federated.jwks_file, 'utf8')) : federated.jwks;
      try {
        const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
          issuer: federated.issuer,
          audience: federated.audience ?? issuer,
          requiredClaims: ['exp', 'sub'],
        });
        if (payload.sub === federated.subject) return { client };
      } catch (err) {
        reason = `platform token rejected (${err.code ?? err.message})`;
      }
    }
    return { reason };
  }

  async function middleware(ctx, next) {
    if (ctx.method !== 'POST' || ctx.path !== '/token' || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    const raw = await readBody(ctx.req);
    const params = querystring.parse(raw);
    let body = raw;
    if (params.client_assertion_type === ASSERTION_TYPE && typeof params.client_assertion === 'string') {
      let claims = {};
      try {
        claims = decodeJwt(params.client_assertion);
      } catch {
        // not a JWT: oidc-provider reports it
      }
      const candidates = clients.filter((client) => client.federated.issuer === claims.iss);
      if (candidates.length) {
        const issuer = getIssuer();
        const { client, reason } = await federatedClient(params.client_assertion, candidates, params.client_id, issuer);
        if (!client) {
          ctx.status = 401;
          ctx.set('cache-control', 'no-store');
          ctx.body = { error: 'invalid_client', error_description: reason };
          return undefined;
        }
        params.client_id = client.client_id;
        params.client_assertion = await bridgeAssertion(client.client_id, issuer);
        body = querystring.stringify(params);
      }
    }
    // oidc-provider's body parser takes an already-read body from req.body.
    ctx.req.body = body;
    return next();
  }

  return { bridgeJwk, middleware };
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Error('request entity too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
