// A real SMTP server for the browser tests (npm `smtp-server`), with every message parsed
// by `mailparser` and kept in memory. The app under test delivers to it over SMTP exactly
// as it would to a production relay; tests read what arrived through a small HTTP API:
//
//   GET /messages?to=<address>   → [{ to, subject, text, html, receivedAt }], oldest first
//
// It runs inside Playwright's runner process (started by global-setup.ts), so every
// worker sees the same mailbox.
import http from "node:http";
import { SMTPServer } from "smtp-server";
import { simpleParser } from "mailparser";

export type ReceivedMail = { to: string[]; subject: string; text: string; html: string; receivedAt: number };

export const smtpPort = Number(process.env.BULWARK_E2E_SMTP_PORT ?? "2525");
export const mailApiPort = Number(process.env.BULWARK_E2E_MAIL_API_PORT ?? "2526");

export async function startMailSink(): Promise<() => Promise<void>> {
  const inbox: ReceivedMail[] = [];

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          inbox.push({
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            subject: parsed.subject ?? "",
            text: parsed.text ?? "",
            html: typeof parsed.html === "string" ? parsed.html : "",
            receivedAt: Date.now(),
          });
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });

  const api = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname !== "/messages") {
      response.writeHead(404).end();
      return;
    }
    const to = url.searchParams.get("to")?.toLowerCase();
    const found = inbox.filter((mail) => !to || mail.to.includes(to));
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(found));
  });

  await new Promise<void>((resolve, reject) => {
    smtp.once("error", reject);
    smtp.listen(smtpPort, "127.0.0.1", () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    api.once("error", reject);
    api.listen(mailApiPort, "127.0.0.1", () => resolve());
  });

  return async () => {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await new Promise<void>((resolve) => api.close(() => resolve()));
  };
}
