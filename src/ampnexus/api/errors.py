"""Every error is JSON with a `detail` a person can act on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ampnexus.domain.errors import (
    CommandFailed,
    CommandTimeout,
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    Unavailable,
)

_STATUS = (
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (Unavailable, 503),
    (CommandTimeout, 504),
)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        if isinstance(error, CommandFailed):
            return JSONResponse({"detail": str(error), "ocpp_error": error.code}, status_code=502)
        status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_describe(problem) for problem in error.errors()]
        return JSONResponse(
            {"detail": "; ".join(problems), "errors": _jsonable(error.errors())},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=error.headers
        )


def _describe(problem: Any) -> str:
    where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    return f"{where}: {problem.get('msg')}" if where else str(problem.get("msg"))


def _jsonable(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(problem.get("loc", ())),
            "msg": problem.get("msg"),
            "type": problem.get("type"),
        }
        for problem in errors
    ]
