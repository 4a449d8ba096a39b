// Starts Swagger UI on /api/docs: the page's only script of its own (the CSP allows no inline script).
// The document's URL comes from the page (`data-spec-url` on #swagger-ui).
;(() => {
  const root = document.getElementById('swagger-ui')
  const specUrl = root.dataset.specUrl

  /** The token pasted into Authorize, if any. */
  const bearer = () => {
    const auth = window.ui ? window.ui.authSelectors.authorized().toJS() : {}
    return auth.bearerAuth?.value
  }

  // The document depends on who asks (see public-view.ts): once a key or token is pasted into Authorize,
  // or removed, fetch it again with that credential so the page lists what the credential may call.
  const thenReload = (original, system) => (payload) => {
    const result = original(payload)
    system.specActions.download(specUrl)
    return result
  }

  // From 150 rows (tags plus open operations) Swagger UI switches to a virtual list that keeps only the
  // rows on screen in the page: the browser's find, links to an operation and anything reading the page
  // miss the rest. This is the plain list Swagger UI renders below that size, for every size; with tags
  // collapsed it stays light.
  const plainOperations = (React) => {
    const h = React.createElement
    return (props) => {
      const { specSelectors, getComponent } = props
      const tagged = specSelectors.taggedOperations()
      if (tagged.size === 0) return h('h3', null, 'No operations defined in spec!')
      const methods = specSelectors.validOperationMethods()
      const OperationContainer = getComponent('OperationContainer', true)
      const OperationTag = getComponent('OperationTag')
      return h(
        'div',
        null,
        tagged
          .map((tagObj, tag) =>
            h(
              OperationTag,
              {
                key: `operation-${tag}`,
                tagObj,
                tag,
                oas3Selectors: props.oas3Selectors,
                layoutSelectors: props.layoutSelectors,
                layoutActions: props.layoutActions,
                getConfigs: props.getConfigs,
                getComponent,
                specUrl: specSelectors.url(),
              },
              h(
                'div',
                { className: 'operation-tag-content' },
                tagObj
                  .get('operations')
                  .filter((op) => methods.indexOf(op.get('method')) !== -1)
                  .map((op) =>
                    h(OperationContainer, {
                      key: `${op.get('path')}-${op.get('method')}`,
                      specPath: op.get('specPath'),
                      op,
                      path: op.get('path'),
                      method: op.get('method'),
                      tag,
                    }),
                  )
                  .toArray(),
              ),
            ),
          )
          .valueSeq()
          .toArray(),
      )
    }
  }

  window.addEventListener('load', () => {
    window.ui = window.SwaggerUIBundle({
      url: specUrl,
      dom_id: '#swagger-ui',
      deepLinking: true,
      // Collapsed: the reference opens on its list of tags, one click from any operation.
      docExpansion: 'none',
      filter: true,
      tryItOutEnabled: true,
      // Never a validator badge: it sends the document's URL to validator.swagger.io.
      validatorUrl: null,
      // Without persistAuthorization: a secret key pasted here stays in memory, never in storage.
      requestInterceptor: (req) => {
        const token = req.loadSpec ? bearer() : undefined
        if (token) req.headers.Authorization = `Bearer ${token}`
        return req
      },
      plugins: [
        (system) => ({
          components: { operations: plainOperations(system.React) },
          statePlugins: { auth: { wrapActions: { authorize: thenReload, logout: thenReload } } },
        }),
      ],
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: 'BaseLayout',
    })
  })
})()
