// Swagger UI on this server's OpenAPI, from the vendored swagger-ui-dist: no validator badge (it
// would ask validator.swagger.io), nothing fetched from anywhere but this server.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
