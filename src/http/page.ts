/**
 * The status page at `/` (with `ui: true`): one self-contained HTML
 * document, no build step and no external fetch (its content security
 * policy forbids any), for an operator to keep open: the newest tasks with
 * status and result, live; a task's tree and messages; the current leader
 * and the queue depth. The HTML holds no data, so it is served without
 * auth; its API calls ask for a token when the API wants one.
 *
 * @module
 */
import { PAGE_BODY, PAGE_STYLE } from "./_page_html.ts";
import { PAGE_SCRIPT } from "./_page_script.ts";

/** The whole page. */
export const PAGE: string = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Drydock statemgmt</title>
<style>${PAGE_STYLE}</style></head>
<body>${PAGE_BODY}<script>${PAGE_SCRIPT}</script></body></html>
`;

const CSP = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** `GET /`: the page. */
export function pageRoute(): Response {
  return new Response(PAGE, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    },
  });
}
