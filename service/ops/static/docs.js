// Swagger UI for /docs, configured from the data attributes the page carries (no inline
// script, so the page's Content-Security-Policy allows scripts from this site only).
// Authorize: authorization code + PKCE with the docs client, the staff scopes preselected.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  var config = root.dataset;
  window.ui = SwaggerUIBundle({
    url: config.specUrl,
    domNode: root,
    oauth2RedirectUrl: window.location.origin + config.redirectPath,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  });
  window.ui.initOAuth({
    clientId: config.clientId,
    usePkceWithAuthorizationCodeGrant: true,
    scopes: config.scopes
  });
});
