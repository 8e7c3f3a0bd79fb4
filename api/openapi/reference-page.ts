/**
 * The API reference page: plain HTML and a small script that fetches /openapi.json and lists every
 * operation with its parameters, body and response schemas. Everything is inline, so it works
 * offline and behind a strict network policy (no CDN).
 */
export const REFERENCE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ragline API reference</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d232b; }
  h2 { border-bottom: 1px solid #d8dde3; padding-bottom: .25rem; margin-top: 2rem; }
  details { border: 1px solid #d8dde3; border-radius: 6px; margin: .5rem 0; padding: .4rem .8rem; }
  summary { cursor: pointer; }
  .method { display: inline-block; min-width: 4.2rem; font-weight: 700; text-transform: uppercase; }
  .get { color: #1565c0; } .post { color: #2e7d32; } .delete { color: #c62828; }
  code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
  pre { background: #f4f6f8; padding: .6rem; overflow: auto; border-radius: 4px; }
</style>
</head>
<body>
<h1>Ragline API</h1>
<p id="intro">Loading <a href="/openapi.json">/openapi.json</a>…</p>
<main id="ops"></main>
<script>
(async () => {
  const spec = await (await fetch('/openapi.json')).json();
  document.getElementById('intro').textContent = spec.info.description + ' (OpenAPI ' + spec.openapi + ', version ' + spec.info.version + ')';
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ??= []).push({ path, method, op });
  }
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  const json = (value) => el('pre', {}, JSON.stringify(value, null, 2));
  const main = document.getElementById('ops');
  for (const [tag, ops] of Object.entries(byTag)) {
    main.append(el('h2', {}, tag));
    for (const { path, method, op } of ops) {
      const box = el('details', {}, el('summary', {}, el('span', { className: 'method ' + method }, method), el('code', {}, path), ' — ' + op.summary));
      if (op.parameters) box.append(el('h4', {}, 'Parameters'), json(op.parameters));
      if (op.requestBody) box.append(el('h4', {}, 'Request body'), json(op.requestBody.content));
      for (const [status, r] of Object.entries(op.responses)) box.append(el('h4', {}, 'Response ' + status), json(r.content));
      main.append(box);
    }
  }
})().catch((err) => { document.getElementById('intro').textContent = 'Could not load the spec: ' + err; });
</script>
</body>
</html>
`;
