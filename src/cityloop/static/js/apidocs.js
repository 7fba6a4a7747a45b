// /docs: Swagger UI over the OpenAPI document, from the page's data-url.
cityloop.boot('api-docs', (el) => {
  window.SwaggerUIBundle({ url: el.dataset.url, domNode: el, deepLinking: true });
  el.classList.add('loaded');
});
