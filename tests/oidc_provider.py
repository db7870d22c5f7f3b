"""A small OpenID Connect provider for the single sign-on tests, built from authlib's own server
components (Flask integration, authorization code grant with the OpenID Connect and PKCE extensions)
and run as a process of its own on a free port:

    python -m tests.oidc_provider PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI USERS_JSON

USERS_JSON maps usernames to {"password": ..., "roles": [...]}. The login page is a form; the ID
token is signed with an RSA key made at start and published at /jwks.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey

PAGE = """<!doctype html><form method="post" action="/authorize?{query}">
<input name="username"><input name="password" type="password"><button>log in</button></form>"""


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uri

    def get_allowed_scope(self, scope):
        return " ".join(s for s in scope.split() if s in ("openid", "profile", "email"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


def create_app(issuer: str, client: Client, users: dict[str, dict]) -> Flask:
    app = Flask(__name__)
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
    codes: dict[str, Code] = {}

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code, req):
            data = req.payload.data
            codes[code] = Code(
                code,
                req.client.client_id,
                req.payload.redirect_uri,
                req.payload.scope,
                req.user,
                data.get("nonce"),
                data.get("code_challenge"),
                data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code, client_):
            found = codes.get(code)
            return found if found and found.client_id == client_.client_id else None

        def delete_authorization_code(self, authorization_code):
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return authorization_code.user

    class IdToken(OpenIDCode):
        def exists_nonce(self, nonce, req):
            return any(c.nonce == nonce for c in codes.values())

        def resolve_client_private_key(self, client_):
            return key

        def get_client_algorithm(self, client_):
            return "RS256"

        def get_encode_header(self, client_):
            return {"alg": "RS256", "kid": "test-key"}

        def get_client_claims(self, client_):
            return {"iss": issuer, "aud": [client_.get_client_id()], "exp": int(time.time()) + 300}

        def generate_user_info(self, user, scope):
            return UserInfo(sub=f"id-{user}", preferred_username=user, roles=users[user]["roles"])

    server = AuthorizationServer(
        app, query_client=lambda cid: client if cid == client.client_id else None, save_token=lambda t, r: None
    )
    server.register_grant(CodeGrant, [IdToken(require_nonce=True), CodeChallenge(required=True)])

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            jwks_uri=f"{issuer}/jwks",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
        )

    @app.get("/jwks")
    def jwks():
        return jsonify(keys=[key.as_dict(private=False)])

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        if request.method == "GET":
            server.get_consent_grant(end_user=None)  # refuses a bad client, redirect, PKCE or nonce
            return PAGE.format(query=request.query_string.decode())
        name = request.form.get("username", "")
        known = users.get(name)
        if known is None or not secrets.compare_digest(request.form.get("password", ""), known["password"]):
            return server.create_authorization_response(grant_user=None)  # access_denied back to the client
        return server.create_authorization_response(grant_user=name)

    @app.post("/token")
    def token():
        return server.create_token_response()

    return app


if __name__ == "__main__":
    port, client_id, client_secret, redirect_uri, users_json = sys.argv[1:6]
    issuer = f"http://127.0.0.1:{port}"
    provider = create_app(issuer, Client(client_id, client_secret, redirect_uri), json.loads(users_json))
    provider.run(host="127.0.0.1", port=int(port), threaded=True)
