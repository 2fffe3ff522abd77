// The V8 flags the server runs with: `npm start` passes them, and the bench and the tests
// start Patron with the same (a test checks that package.json's start script does).
//
// A larger young generation: a batch of 500 events allocates its parsed body, rows and
// traces, which stay alive across the batch's round trips to the database; with V8's default
// semi-space of 16 MB the scavenger copied much of it, and promoted the rest to the old
// generation. Measured over 500-event batches on PostgreSQL (alternating runs), the event
// path's CPU per event: 83-101 µs at 16 MB, 89-90 µs at 32 MB, 76-81 µs at 64 MB.
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
