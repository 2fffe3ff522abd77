// The OAuth2 token endpoint (RFC 6749 §4.4 client credentials, §2.3.1 client
// authentication, §5.1/§5.2 responses) and the JWKS that verifies its tokens. The token
// endpoint answers RFC 6749's `{ "error": … }` format, not RFC 9457 problems, so its input
// is validated by hand in the handler (the schema only documents it) and its errors,
// including an unparsable body, never reach the application's problem+json handler.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/index.ts';

type OAuthError = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope';

const PARAM_CHARS_MAX = 1_024;
const AUTHORIZATION_CHARS_MAX = 4_096;
const JWKS_MAX_AGE_SECONDS = 300;
const BASIC_CHALLENGE = 'Basic realm="patron"';
const TOKEN_PARAMS = ['grant_type', 'client_id', 'client_secret', 'scope'] as const;
type TokenParam = (typeof TOKEN_PARAMS)[number];

const oauthErrorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'string',
      enum: ['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope'],
    },
    error_description: { type: 'string' },
  },
} as const;

const tokenRouteSchema = {
  operationId: 'issueToken',
  tags: ['auth'],
  summary: 'Issue an access token (OAuth2 client credentials)',
  description:
    'RFC 6749 §4.4. Form-encoded or JSON body. Authenticate with HTTP Basic ' +
    '(form-urlencoded client id and secret) or with client_id and client_secret in the ' +
    'body, not both. Without scope the token carries all of the client’s scopes.',
  security: [],
  consumes: ['application/x-www-form-urlencoded', 'application/json'],
  body: {
    type: 'object',
    // Documentation only: the handler validates, so that a malformed request gets RFC
    // 6749's error format.
    properties: {
      grant_type: { type: 'string', enum: ['client_credentials'] },
      client_id: { type: 'string' },
      client_secret: { type: 'string' },
      scope: { type: 'string', description: 'Space-separated subset of the client’s scopes.' },
    },
    required: ['grant_type'],
    examples: [
      {
        grant_type: 'client_credentials',
        client_id: 'demo',
        client_secret: 'demo-secret',
        scope: 'events:write members:read',
      },
    ],
  },
  response: {
    200: {
      description: 'The access token (RFC 6749 §5.1).',
      type: 'object',
      required: ['access_token', 'token_type', 'expires_in', 'scope'],
      properties: {
        access_token: { type: 'string' },
        token_type: { type: 'string', enum: ['Bearer'] },
        expires_in: { type: 'integer' },
        scope: { type: 'string' },
      },
      examples: [
        {
          access_token: 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9.eyJ9.c2ln',
          token_type: 'Bearer',
          expires_in: 900,
          scope: 'events:write members:read',
        },
      ],
    },
    400: {
      description: 'Malformed request, unsupported grant type or scope outside the client’s.',
      ...oauthErrorSchema,
      examples: [{ error: 'invalid_scope', error_description: 'scope exceeds the client’s' }],
    },
    401: {
      description: 'Client authentication failed.',
      ...oauthErrorSchema,
      examples: [{ error: 'invalid_client' }],
    },
  },
};

const jwksRouteSchema = {
  operationId: 'getJwks',
  tags: ['auth'],
  summary: 'Public keys that verify access tokens (RFC 7517 JWK Set)',
  security: [],
  response: {
    200: {
      description: 'The JWK Set.',
      type: 'object',
      required: ['keys'],
      properties: {
        keys: {
          type: 'array',
          items: {
            type: 'object',
            required: ['kty', 'kid', 'alg', 'use'],
            properties: {
              kty: { type: 'string' },
              crv: { type: 'string' },
              x: { type: 'string' },
              kid: { type: 'string' },
              alg: { type: 'string' },
              use: { type: 'string' },
            },
          },
        },
      },
      examples: [
        {
          keys: [
            {
              kty: 'OKP',
              crv: 'Ed25519',
              x: 'XByizzONCxknbqqmMwKS26RntjfWyMoHHhCD6Zhxl24',
              kid: 'ezqkbGoQ3sNccRhB6R8_XPdDaFMMzyhIt1bv1_2lKuo',
              alg: 'EdDSA',
              use: 'sig',
            },
          ],
        },
      ],
    },
  },
};

class TokenRequestError {
  constructor(
    readonly error: OAuthError,
    readonly description: string,
    readonly basicUsed = false,
  ) {}
}

function sendError(reply: FastifyReply, failure: TokenRequestError): FastifyReply {
  const status = failure.error === 'invalid_client' ? 401 : 400;
  if (failure.basicUsed) reply.header('WWW-Authenticate', BASIC_CHALLENGE);
  return reply
    .code(status)
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache')
    .send({ error: failure.error, error_description: failure.description });
}

/** RFC 6749 §3.2 / Appendix B: parameters sent without a value are omitted, none repeats. */
function readParams(body: unknown): Partial<Record<TokenParam, string>> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new TokenRequestError(
      'invalid_request',
      'the body must be form-encoded or a JSON object',
    );
  }
  const params: Partial<Record<TokenParam, string>> = {};
  for (const name of TOKEN_PARAMS) {
    const value: unknown = (body as Record<string, unknown>)[name];
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string') {
      throw new TokenRequestError('invalid_request', `${name} must be a single string`);
    }
    if (value.length > PARAM_CHARS_MAX) {
      throw new TokenRequestError('invalid_request', `${name} is too long`);
    }
    params[name] = value;
  }
  return params;
}

/** application/x-www-form-urlencoded decoding, as §2.3.1 requires for Basic credentials. */
function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

interface Credentials {
  clientId: string;
  clientSecret: string;
  basicUsed: boolean;
}

function readCredentials(
  request: FastifyRequest,
  params: Partial<Record<TokenParam, string>>,
): Credentials {
  const header = request.headers.authorization;
  const basic = header !== undefined && /^basic(\s|$)/i.test(header);
  if (basic) {
    if (params.client_id !== undefined || params.client_secret !== undefined) {
      throw new TokenRequestError(
        'invalid_request',
        'use one client authentication method: HTTP Basic or the body, not both',
      );
    }
    const invalid = new TokenRequestError('invalid_client', 'malformed Basic credentials', true);
    if (header.length > AUTHORIZATION_CHARS_MAX) throw invalid;
    const encoded = header.slice('basic'.length).trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw invalid;
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalid;
    const clientId = formDecode(decoded.slice(0, colon));
    const clientSecret = formDecode(decoded.slice(colon + 1));
    if (!clientId || clientSecret === undefined) throw invalid;
    return { clientId, clientSecret, basicUsed: true };
  }
  if (params.client_id === undefined || params.client_secret === undefined) {
    throw new TokenRequestError('invalid_client', 'client authentication is required');
  }
  return { clientId: params.client_id, clientSecret: params.client_secret, basicUsed: false };
}

/** Errors before the handler (unparsable body, unsupported media type, body too large). */
function tokenErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return sendError(reply, new TokenRequestError('invalid_request', error.message));
  }
  throw error; // a bug: the application's handler turns it into a 500
}

export function registerOAuthRoutes(app: FastifyInstance, auth: AuthService): void {
  app.post('/oauth/token', {
    schema: tokenRouteSchema,
    // The schema documents the request; it must not validate it (Fastify would answer its
    // own error format) nor coerce it (Ajv would turn `["c1"]` into `"c1"`).
    validatorCompiler: () => () => true,
    errorHandler: tokenErrorHandler,
    handler: async (request, reply) => {
      try {
        const params = readParams(request.body);
        if (params.grant_type === undefined) {
          throw new TokenRequestError('invalid_request', 'grant_type is required');
        }
        const credentials = readCredentials(request, params);
        if (params.grant_type !== 'client_credentials') {
          throw new TokenRequestError(
            'unsupported_grant_type',
            'only client_credentials is supported',
            false,
          );
        }
        const outcome = await auth.issueToken({
          clientId: credentials.clientId,
          clientSecret: credentials.clientSecret,
          ...(params.scope !== undefined ? { scope: params.scope } : {}),
        });
        switch (outcome.status) {
          case 'invalid_client':
            throw new TokenRequestError(
              'invalid_client',
              'client authentication failed',
              credentials.basicUsed,
            );
          case 'invalid_scope':
            throw new TokenRequestError(
              'invalid_scope',
              'scope must be a space-separated subset of the client’s scopes',
            );
          case 'issued':
            return reply
              .code(200)
              .header('Cache-Control', 'no-store')
              .header('Pragma', 'no-cache')
              .send({
                access_token: outcome.accessToken,
                token_type: outcome.tokenType,
                expires_in: outcome.expiresIn,
                scope: outcome.scope,
              });
        }
      } catch (error) {
        if (error instanceof TokenRequestError) return sendError(reply, error);
        throw error;
      }
    },
  });

  app.get('/.well-known/jwks.json', {
    schema: jwksRouteSchema,
    handler: async (_request, reply) => {
      const jwks = await auth.jwks();
      return reply.header('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`).send(jwks);
    },
  });
}
