import { createHash } from 'node:crypto'

/** The pages' only stylesheet, inlined and allowed by its hash in the CSP. No external assets. */
export const PAGE_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #59636e; --line: #d0d7de; --bg: #fff;
  --card: #f6f8fa; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d;
  --bg: #0d1117; --card: #151b23; --ok: #3fb950; --bad: #f85149; --warn: #d29922; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 44rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.35rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem .75rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem;
  margin: .5rem 0; }
.grant h3 { font-size: 1rem; margin: 0 0 .5rem; }
.banner { border: 2px solid var(--bad); color: var(--bad); border-radius: .5rem; padding: .5rem .75rem;
  font-weight: 600; margin: .5rem 0 1rem; }
.status { font-weight: 600; }
.status-pending { color: var(--warn); } .status-approved, .status-redeemed { color: var(--ok); }
.status-denied, .status-expired, .status-revoked { color: var(--bad); }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; margin: 1.25rem 0 .5rem; position: sticky; bottom: 0;
  background: var(--bg); padding: .75rem 0; border-top: 1px solid var(--line); }
button { font: inherit; font-weight: 600; padding: .75rem 1.5rem; border-radius: .5rem; border: 1px solid var(--line);
  cursor: pointer; min-width: 9rem; flex: 1 1 9rem; }
button.approve { background: var(--ok); color: #fff; border-color: var(--ok); }
button.deny { background: transparent; color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
#result { min-height: 1.5rem; margin: .5rem 0; font-weight: 600; }
#result[data-kind="error"] { color: var(--bad); } #result[data-kind="ok"] { color: var(--ok); }
.muted { color: var(--muted); font-size: .9rem; }
ul.plain { margin: .25rem 0; padding-left: 1.25rem; }
mark.uni { background: transparent; color: var(--bad); outline: 1px dashed var(--bad); }
mark.uni sup { font-size: .7em; margin-left: .1em; }
`

/** `'sha256-…'` of {@link PAGE_CSS}, for the Content-Security-Policy's style-src. */
export const PAGE_CSS_HASH = `'sha256-${createHash('sha256').update(PAGE_CSS, 'utf8').digest('base64')}'`
