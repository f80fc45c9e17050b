"""Exceptions raised by XClient; every one keeps X's problem `type`, `title` and `detail`.

* XAPIError                    base; `retryable` tells Prefect whether re-running may help
  + BadRequest 400
  |   + InvalidPaginationToken  X rejected a saved `pagination_token`: restart the listing
  + Unauthorized 401           bad, revoked or expired credentials (also a failed refresh)
  + Forbidden 403
  |   + UserSuspended           200 + errors array: the account is suspended
  + NotFound 404
  |   + UserNotFound            200 + errors array: no such account (or deactivated)
  + RateLimitError 429
  |   + RateLimited             15-minute window spent, reset too far away (retryable)
  |   + DailyCapReached         24-hour cap spent (user or app); park until reset_at, never retry
  |   + RateLimitUnknown        429 without usable headers, after bounded backoff (retryable)
  |   + UsageCapExceeded        monthly/daily product usage cap (not retryable)
  + ServerError 5xx            after bounded retries (retryable)
  + TransportError             timeouts, resets, truncated bodies, after retries (retryable)
  + MissingCredentials         settings lack what the call needs (not an HTTP error)
  + LoginFailed                `followflow auth login` could not finish (denied, timeout, state)

Messages name the method, path, status and X's title/detail; never a header or a token.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from followflow.xapi.models import Problem

DailyCap = Literal["user", "app", "unknown"]


class XAPIError(Exception):
    """Any failure of an X API call, with X's problem fields when X sent them."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        problem: Problem | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.problem = problem

    @property
    def type(self) -> str | None:
        return self.problem.type if self.problem else None

    @property
    def title(self) -> str | None:
        return self.problem.title if self.problem else None

    @property
    def detail(self) -> str | None:
        return self.problem.detail if self.problem else None


class BadRequest(XAPIError):
    """400: X rejected the request's parameters or body."""


class InvalidPaginationToken(BadRequest):
    """400 naming `pagination_token`: the saved token is no longer valid; start over."""


class Unauthorized(XAPIError):
    """401: credentials missing, wrong, revoked or expired (run `followflow auth login`)."""


class Forbidden(XAPIError):
    """403: the credentials may not do this (app-only on a user endpoint, no write access...)."""


class UserSuspended(Forbidden):
    """The account asked about is suspended (X answers 200 with an errors array)."""


class NotFound(XAPIError):
    """404: no such route or resource."""


class UserNotFound(NotFound):
    """The account asked about does not exist or is deactivated (200 with an errors array)."""


class RateLimitError(XAPIError):
    """A 429 of any kind; `reset_at` is epoch seconds when known."""

    def __init__(
        self,
        message: str,
        *,
        reset_at: float | None,
        status_code: int | None = 429,
        problem: Problem | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, problem=problem)
        self.reset_at = reset_at


class RateLimited(RateLimitError):
    """The 15-minute window is spent and its reset is beyond `max_rate_limit_wait_s`."""

    retryable = True


class DailyCapReached(RateLimitError):
    """A 24-hour cap is spent; nothing helps before `reset_at`. Park, never sleep-and-retry.

    `cap` says whose cap: "user" (per account), "app" (all accounts of the app), or
    "unknown" when X sent a 429 with window calls left but no 24-hour headers; then
    `reset_at` is a conservative now + 24 h.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        reset_at: float,
        cap: DailyCap,
        status_code: int | None = 429,
        problem: Problem | None = None,
    ) -> None:
        super().__init__(message, reset_at=reset_at, status_code=status_code, problem=problem)
        self.reset_at: float = reset_at
        self.cap = cap


class RateLimitUnknown(RateLimitError):
    """429s without a usable `x-rate-limit-reset`, still failing after bounded backoff."""

    retryable = True


class UsageCapExceeded(RateLimitError):
    """X's product usage cap (`usage-capped` problem): only a plan change or a new period helps."""


class ServerError(XAPIError):
    """5xx from X, still failing after bounded retries."""

    retryable = True


class TransportError(XAPIError):
    """Timeouts, connection resets or truncated bodies, still failing after bounded retries."""

    retryable = True


class MissingCredentials(XAPIError):
    """The settings lack the credentials this call needs; the message says which to set."""


class LoginFailed(XAPIError):
    """The OAuth 2.0 login did not complete; the message says why and what to try."""


BY_STATUS: dict[int, type[XAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
}


def problem_from_body(body: Any) -> Problem | None:
    """The RFC 7807 problem in an error body, or the v1.1 `{"errors": [{code, message}]}` one."""
    if not isinstance(body, dict):
        return None
    if "title" in body or "type" in body or "detail" in body:
        return Problem.from_dict(body)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return Problem.from_dict(errors[0])
    return None


def is_pagination_token_problem(body: Any) -> bool:
    """True when a 400 body blames the `pagination_token` parameter."""
    if not isinstance(body, dict):
        return False
    for item in body.get("errors") or ():
        if not isinstance(item, dict):
            continue
        if "pagination_token" in (item.get("parameters") or {}):
            return True
        # Only a message *about* the parameter: "not one of [...,pagination_token,...]" is not.
        if str(item.get("message", "")).startswith("The `pagination_token` query parameter"):
            return True
    return False


def error_for_status(status_code: int, body: Any, where: str) -> XAPIError:
    """The typed error for a non-2xx, non-429 response (`where` is "METHOD /path")."""
    problem = problem_from_body(body)
    summary = _summary(problem)
    message = f"{where}: HTTP {status_code}{summary}"
    if status_code == 400 and is_pagination_token_problem(body):
        return InvalidPaginationToken(message, status_code=status_code, problem=problem)
    if status_code >= 500:
        return ServerError(message, status_code=status_code, problem=problem)
    cls = BY_STATUS.get(status_code, XAPIError)
    return cls(message, status_code=status_code, problem=problem)


def error_for_user_problem(problem: Problem, where: str) -> XAPIError:
    """The error for a 200 whose errors array says the account itself is unusable."""
    message = f"{where}: {problem.title or 'error'}: {problem.detail or ''}".rstrip(": ")
    if problem.account_state == "suspended":
        return UserSuspended(message, status_code=200, problem=problem)
    if problem.account_state == "deactivated":
        return UserNotFound(message, status_code=200, problem=problem)
    return XAPIError(message, status_code=200, problem=problem)


def _summary(problem: Problem | None) -> str:
    if problem is None:
        return ""
    parts = [p for p in (problem.title, problem.detail) if p]
    if not parts and problem.message:
        parts = [problem.message]
    return f" {': '.join(parts)}" if parts else ""
