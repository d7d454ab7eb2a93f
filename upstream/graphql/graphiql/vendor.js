// Copies the built GraphiQL, React and ReactDOM files from node_modules
// into assets/, which upstream/graphql embeds (go:embed). Run after
// `npm ci`: the versions are package-lock.json's, so the result is
// reproducible. Nothing is loaded from a CDN at run time.
const fs = require('fs');
const path = require('path');

const files = [
  ['graphiql/graphiql.min.js', 'graphiql.min.js'],
  ['graphiql/graphiql.min.css', 'graphiql.min.css'],
  ['graphiql/LICENSE', 'LICENSE.graphiql'],
  ['react/umd/react.production.min.js', 'react.production.min.js'],
  ['react/LICENSE', 'LICENSE.react'],
  ['react-dom/umd/react-dom.production.min.js', 'react-dom.production.min.js'],
  ['react-dom/LICENSE', 'LICENSE.react-dom'],
];
const out = path.join(__dirname, 'assets');
fs.mkdirSync(out, { recursive: true });
for (const [from, to] of files) {
  let body = fs.readFileSync(path.join(__dirname, 'node_modules', from), 'utf8');
  // Source maps are not vendored: drop the comment that would fetch one.
  body = body.replace(/\n?\/[/*]# sourceMappingURL=[^\n]*\s*$/, '\n');
  fs.writeFileSync(path.join(out, to), body);
  console.log(to, body.length);
}
