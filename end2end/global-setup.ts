// Starts the SMTP sink the app delivers to, then waits until the server answers, so no
// test races its start-up (bounded: 120 s). The returned function stops the sink.
import { baseURL } from "./playwright.config";
import { startMailSink } from "./mail-sink";

export default async function globalSetup(): Promise<() => Promise<void>> {
  const stopMailSink = await startMailSink();
  const deadline = Date.now() + 120_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${baseURL}/login`);
      if (response.ok) return stopMailSink;
      lastError = new Error(`status ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stopMailSink();
  throw new Error(`the server at ${baseURL} did not come up: ${String(lastError)}`);
}
