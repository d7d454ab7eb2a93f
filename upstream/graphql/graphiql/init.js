// Starts GraphiQL against the endpoint that served this page (the
// gateway's /graphql). Credentials go in the Headers tab, e.g.
// {"Authorization": "Bearer hbc_…"}; they are never stored by the page.
(function () {
  var url = window.location.pathname;
  var fetcher = GraphiQL.createFetcher({ url: url });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultEditorToolsVisibility: true,
    shouldPersistHeaders: false,
    defaultHeaders: '{"Authorization": "Bearer <your API key>"}',
    defaultQuery: '{\n  chantiers(first: 5) {\n    nodes { id nom statut affectations(first: 3) { user { nom } } }\n    pageInfo { hasNextPage endCursor }\n  }\n}\n',
  }));
})();
