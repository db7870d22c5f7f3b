// ReDoc on this server's OpenAPI, from the vendored redoc bundle (system fonts: no web font fetched).
Redoc.init('/openapi.json', { theme: { typography: { fontFamily: 'sans-serif', headings: { fontFamily: 'sans-serif' } } } }, document.getElementById('redoc'));
