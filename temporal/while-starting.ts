/**
 * A Temporal frontend that has just opened (or reopened) its database accepts connections a moment before it
 * serves: until then every call is answered `Frontend is not healthy yet` (a few hundred ms on a dev server;
 * seen by a test that connected as soon as the port accepted). Whoever connects to a server it may have just
 * started goes through `whileStarting`.
 */
const STARTING = /not healthy yet/i;

/** Retries `call` while the server says it is starting, every 250 ms for up to `limitMs`; any other error is thrown at once. */
export async function whileStarting<T>(call: () => Promise<T>, limitMs = 30_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const starting = error instanceof Error && STARTING.test(error.message);
      if (!starting || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
