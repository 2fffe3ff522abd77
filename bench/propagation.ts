// How long a publish takes to reach a second Patron process on the same database: publish a
// version through one process, then send events to the other until one names the new version.
// The baseline, measured in the same run, is one event's round trip to the second process with
// nothing published: propagation can be no faster than the request that observes it.
import { request } from 'undici';
import { sortedCopy, summarizeLatencies, type LatencySummary } from './report.ts';

export const PROPAGATION_PUBLISHES = 20;
/** Give up on one publish after this long: the target is 5 s. */
const PROPAGATION_WAIT_MS_MAX = 30_000;

export interface PropagationResult {
  publishes: number;
  /** From the publish's answer to the first event on the other process naming the new version. */
  propagationMs: LatencySummary;
  /** One event's round trip to the other process, with nothing published. */
  eventRoundTripMs: LatencySummary;
  /** Events the other process evaluated with the old version after the publish had answered. */
  staleEvents: number;
}

interface Json {
  [key: string]: unknown;
}

async function call(
  origin: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  token: string,
  body?: unknown,
): Promise<Json> {
  const res = await request(origin + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.body.json()) as Json;
  if (res.statusCode >= 300)
    throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
  return json;
}

export async function measurePropagation(
  publisher: string,
  observer: string,
  token: string,
  runId: string,
): Promise<PropagationResult> {
  let sent = 0;
  const event = () => {
    sent += 1;
    return {
      id: `prop-${runId}-${sent}`,
      type: 'purchase',
      memberId: `prop-${runId}`,
      occurredAt: new Date().toISOString(),
      amount: { value: '10.00', currency: 'EUR' },
    };
  };
  const roundTrips: number[] = [];
  for (let i = 0; i < PROPAGATION_PUBLISHES; i += 1) {
    const started = performance.now();
    await call(observer, 'POST', '/v1/events', token, event());
    roundTrips.push(performance.now() - started);
  }
  const current = await call(publisher, 'GET', '/v1/program', token);
  const document = current.document as Json;
  const propagation: number[] = [];
  let staleEvents = 0;
  for (let i = 0; i < PROPAGATION_PUBLISHES; i += 1) {
    document.name = `Bench program, publish ${i + 1}`;
    const published = await call(
      publisher,
      'PUT',
      `/v1/program?reason=bench+${i + 1}`,
      token,
      document,
    );
    const version = published.version as number;
    const since = performance.now();
    for (;;) {
      const answer = await call(observer, 'POST', '/v1/events', token, event());
      if ((answer.programVersion as number) >= version) break;
      staleEvents += 1;
      if (performance.now() - since > PROPAGATION_WAIT_MS_MAX) {
        throw new Error(
          `version ${version} did not reach the second process in ${PROPAGATION_WAIT_MS_MAX} ms`,
        );
      }
    }
    propagation.push(performance.now() - since);
  }
  return {
    publishes: PROPAGATION_PUBLISHES,
    propagationMs: summarizeLatencies(sortedCopy(Float64Array.from(propagation))),
    eventRoundTripMs: summarizeLatencies(sortedCopy(Float64Array.from(roundTrips))),
    staleEvents,
  };
}
