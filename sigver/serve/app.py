"""The HTTP API and web page of the verification service (FastAPI; the optional extra ``serve``).

==========================================  ============================================================
``GET /``                                   the web page (plain HTML and JavaScript, ``static/``)
``GET /health``, ``GET /version``           status, batching counts; sigver and model identity (SHA-256)
``GET /users``                              enrolled users
``POST /users/{id}``                        enrol from uploaded reference scans (multipart ``references``;
                                            form ``name``, ``target_far``; query ``replace``)
``GET /users/{id}``                         a user (query ``references=true``: their network inputs, PNG)
``DELETE /users/{id}``                      remove a user
``POST /users/{id}/verify``                 verify questioned scans (multipart ``images``; query
                                            ``preprocessed=true``: each network input as PNG)
``GET /openapi.json``, ``GET /docs``        the OpenAPI schema and its browser
==========================================  ============================================================

With a token, every ``/users`` request needs ``Authorization: Bearer TOKEN`` (401 without, 403 with another).
Errors are JSON ``{"detail": "<one line>"}``: 400 an unreadable or blank scan (the library's messages, naming
the uploaded file), 401 / 403 the token, 404 an unknown user, 409 a user that exists or was enrolled with
another model, 413 a request over the upload limit, 415 a body that is not ``multipart/form-data``, 422 bad
parameters or user ids, 500 a damaged store.
"""

import asyncio
import base64
import functools
import hmac
import json
import logging
from importlib import resources
from typing import Any, Dict, List, Optional

from starlette.exceptions import HTTPException

from ..errors import BlankImageError, ImageReadError, SigverError
from ..verify import EnrollmentError, ModelMismatchError, UserFileError
from .service import RequestError, VerificationService
from .store import StoreError, UserExistsError, UserIdError, UserNotFoundError

__all__ = ["create_app", "STATUS"]

log = logging.getLogger("sigver.serve")

#: HTTP status of each kind of error (the first match in this order)
STATUS = [(UserIdError, 422), (UserNotFoundError, 404), (UserExistsError, 409), (ModelMismatchError, 409),
          (ImageReadError, 400), (BlankImageError, 400), (EnrollmentError, 400), (UserFileError, 500),
          (StoreError, 500), (SigverError, 400)]

_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                     (b"x-frame-options", b"DENY")]
_PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
             "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class _TooLarge(HTTPException):
    """Raised while the body is read (an HTTPException, so that FastAPI's body parsing lets it through)."""

    def __init__(self, detail: str):
        super().__init__(413, detail)


def _json_response(status: int, detail: str, headers=()):
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *headers], body


class _Guard:
    """ASGI middleware, before any body is read: the bearer token on ``/users``, the upload limit (the
    ``Content-Length``, and the bytes actually received), and security headers on every response."""

    def __init__(self, app, token: Optional[str], max_bytes: int):
        self.app, self.token, self.max_bytes = app, token, int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refuse(scope)
        if refusal is not None:
            return await self._send(send, *refusal)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self._too_large())
            return message

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *_SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge as e:
            if not started:
                await self._send(send, *_json_response(413, e.detail))

    def _too_large(self) -> str:
        return (f"the request is larger than the upload limit of {self.max_bytes / 2 ** 20:g} MB "
                "(--max-upload-mb); send smaller or fewer scans")

    def _refuse(self, scope):
        headers = dict(scope.get("headers") or [])
        path = scope.get("path", "")
        if self.token is not None and (path == "/users" or path.startswith("/users/")):
            auth = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, given = auth.partition(" ")
            if not auth:
                return _json_response(401, "this server needs a token: send the header 'Authorization: Bearer "
                                      "TOKEN' (the token in the server's --token-file)",
                                      [(b"www-authenticate", b"Bearer")])
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                                                      self.token.encode("utf-8")):
                return _json_response(403, "wrong token: send the token in the server's --token-file as "
                                      "'Authorization: Bearer TOKEN'")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                return _json_response(400, "the Content-Length header is not a number")
            if too_big:
                return _json_response(413, self._too_large())
        return None

    @staticmethod
    async def _send(send, status, headers, body):
        await send({"type": "http.response.start", "status": status, "headers": headers + _SECURITY_HEADERS})
        await send({"type": "http.response.body", "body": body})


def _status(e: SigverError) -> int:
    if isinstance(e, RequestError):
        return e.status
    return next(code for cls, code in STATUS if isinstance(e, cls))


def _validation_message(errors) -> str:
    """FastAPI's validation errors as one line: ``where: what`` for each."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts).replace("\n", " ") or "invalid request"


def create_app(service: VerificationService, token: Optional[str] = None, max_upload_mb: float = 20.0):
    """The FastAPI application serving ``service``.

    Parameters
    ----------
    service : VerificationService
    token : str, optional
        Bearer token required on every ``/users`` request (None: no token; run on loopback only).
    max_upload_mb : float
        Largest request body, in MB (2**20 bytes); larger requests get 413 before their body is read.
    """
    from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.security import HTTPBearer
    from fastapi.staticfiles import StaticFiles

    from .. import __version__

    static = resources.files("sigver.serve") / "static"
    app = FastAPI(title="sigver verification service", version=__version__,
                  description="Enrol users from reference signatures and verify questioned signatures "
                              "(offline handwritten signature verification, sigver).")
    app.state.service = service
    bearer = HTTPBearer(auto_error=False, description="the token in the server's --token-file")  # schema only

    @app.exception_handler(SigverError)
    async def sigver_error(request: Request, e: SigverError):
        return JSONResponse({"detail": str(e).replace("\n", " ")}, status_code=_status(e))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        return JSONResponse({"detail": _validation_message(e.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        detail = str(e.detail)
        if e.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs"
        elif e.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /docs"
        return JSONResponse({"detail": detail}, status_code=e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):
        log.exception("error answering %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({type(e).__name__}); see the server's log"},
                            status_code=500)

    def multipart(request: Request) -> None:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "multipart/form-data":
            raise RequestError(f"expected a multipart/form-data body with the scans as files, got "
                               f"{kind or 'no content type'}", 415)

    async def run(executor, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args, **kwargs))

    async def read(files: List[UploadFile]) -> List[tuple]:
        return [(f.filename, await f.read()) for f in files]

    secured = [Depends(bearer)]

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(static / "index.html"), headers={"Content-Security-Policy": _PAGE_CSP,
                                                                 "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/health", summary="service status and batching counts")
    async def health() -> Dict[str, Any]:
        return service.health()

    @app.get("/version", summary="sigver version and model identity (SHA-256 of weights and file)")
    async def version() -> Dict[str, Any]:
        return service.version()

    @app.get("/users", dependencies=secured, summary="enrolled users")
    async def list_users() -> Dict[str, Any]:
        return {"users": await run(None, service.store.list)}

    @app.post("/users/{user_id:path}/verify", dependencies=secured + [Depends(multipart)],
              summary="verify questioned scans against a user")
    async def verify_user(user_id: str,
                          images: List[UploadFile] = File(..., description="questioned signatures"),
                          preprocessed: bool = Query(False, description="include each network input as base64 "
                                                                        "PNG (network_input_png)")):
        uploads = await read(images)
        return await run(service.workers, service.verify, user_id, uploads, preprocessed=preprocessed)

    @app.post("/users/{user_id:path}", dependencies=secured + [Depends(multipart)], status_code=201,
              summary="enrol a user from reference scans (2 or more)")
    async def enroll_user(user_id: str,
                          references: List[UploadFile] = File(..., description="genuine signatures of the user"),
                          name: Optional[str] = Form(None, max_length=200, description="display name (default: "
                                                                                        "the id)"),
                          target_far: Optional[float] = Form(None, ge=0.0, le=1.0, allow_inf_nan=False,
                                                             description="threshold at this false acceptance "
                                                                         "rate on development writers"),
                          replace: bool = Query(False, description="re-enrol an existing user")) -> Dict[str, Any]:
        uploads = await read(references)
        return await run(service.enroller, service.enroll, user_id, uploads, name=name, target_far=target_far,
                         replace=replace)

    @app.get("/users/{user_id:path}", dependencies=secured, summary="a user's threshold and enrolment details")
    async def get_user(user_id: str, references: bool = Query(False, description="include the references' "
                                                                                 "network inputs (base64 PNG)")):
        info = await run(None, service.store.info, user_id, references=references)
        for ref in info.get("references", []):
            ref["png"] = base64.b64encode(ref["png"]).decode("ascii")
        return info

    @app.delete("/users/{user_id:path}", dependencies=secured, summary="remove a user")
    async def delete_user(user_id: str) -> Dict[str, Any]:
        await run(None, service.store.delete, user_id)
        return {"deleted": user_id}

    app.add_middleware(_Guard, token=token, max_bytes=int(max_upload_mb * 2 ** 20))
    return app
