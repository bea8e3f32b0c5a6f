"""Schemathesis hooks for the contract run (openapi/contract/run.sh)."""

import schemathesis


@schemathesis.check
def client_errors_are_problem_json(ctx, response, case):
    """API.md: every error is application/problem+json (RFC 9457) with a
    stable snake_case `code`. Holds for every 4xx, documented or not."""
    if not 400 <= response.status_code < 500:
        return None
    kind = response.headers.get("content-type", [""])
    kind = kind[0] if isinstance(kind, list) else kind
    if not kind.startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} answered as {kind!r}, not application/problem+json"
        )
    body = response.json()
    for field in ("type", "title", "status", "detail", "code"):
        if field not in body:
            raise AssertionError(f"the problem has no {field!r}: {body}")
    if body["status"] != response.status_code:
        raise AssertionError(f"status {body['status']} in a {response.status_code} answer")
    return None
