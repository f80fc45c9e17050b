"""Injected faults, reproducible from a seed: by probability, by script, or both.

A spec is comma-separated `key=value` pairs, lists joined by `+`:

    seed=7,p=0.05,kinds=500+503+reset+slow+truncate+429bare
    script=503+ok+reset,on=follow+unfollow
    p=0.1,slow=2.5

- `seed` (int, default 0): the same seed and the same request order give the same faults.
- `p` (0..1, default 0): chance that a request gets a fault, drawn from `kinds`.
- `kinds` (default all): any of 500, 502, 503, 504, reset, slow, truncate, 429bare.
- `script`: faults for the next requests in order, before `p` applies; `ok` is no fault.
- `slow` (seconds, default 35): how long a slow response is held over loopback (past a
  30 s client timeout by default).
- `on` (default all): endpoint groups that get faults (followers, following, follow,
  unfollow, me, lookup). The admin API and the OAuth endpoints never do.

What each fault does, and whether the request was carried out first:
- 500, 503: a problem JSON body; 502, 504: an HTML page as a proxy sends it. Not carried out.
- 429bare: 429 with the usual body but without any `x-rate-limit-*` header. Not carried out.
- reset: the connection is dropped with no response (in-process: `httpx.ReadError`).
  Not carried out.
- slow: carried out (a follow happens), then the answer is held `slow` seconds over
  loopback; in-process it raises `httpx.ReadTimeout` at once.
- truncate: carried out, then the 200 body is cut in half (valid HTTP, broken JSON).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ("500", "502", "503", "504", "reset", "slow", "truncate", "429bare")
BEFORE = frozenset(("500", "502", "503", "504", "reset", "429bare"))
GROUPS = frozenset(("followers", "following", "follow", "unfollow", "me", "lookup"))


@dataclass
class FaultPlan:
    """Which requests fail and how; `next_fault` draws for one request."""

    seed: int = 0
    p: float = 0.0
    kinds: tuple[str, ...] = KINDS
    script: list[str] = field(default_factory=list)
    slow_seconds: float = 35.0
    groups: frozenset[str] = GROUPS
    spec: str = ""
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Read a spec string; ValueError with a one-line reason when it is malformed."""
        plan = cls(spec=spec)
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec: expected key=value, got {part!r}")
            try:
                if key == "seed":
                    plan.seed = int(value)
                elif key == "p":
                    plan.p = float(value)
                    if not 0.0 <= plan.p <= 1.0:
                        raise ValueError
                elif key == "kinds":
                    plan.kinds = _names(value, KINDS, "kind")
                elif key == "script":
                    plan.script = list(_names(value, (*KINDS, "ok"), "kind"))
                elif key == "slow":
                    plan.slow_seconds = float(value)
                elif key == "on":
                    plan.groups = frozenset(_names(value, tuple(sorted(GROUPS)), "group"))
                else:
                    raise KeyError(key)
            except KeyError:
                raise ValueError(
                    f"fault spec: unknown key {key!r} (seed, p, kinds, script, slow, on)"
                ) from None
            except ValueError as error:
                reason = str(error) or f"bad value {value!r} for {key}"
                raise ValueError(f"fault spec: {reason}") from None
        if not plan.kinds:
            raise ValueError("fault spec: kinds is empty")
        plan._rng = random.Random(plan.seed)
        return plan

    def next_fault(self, group: str) -> str | None:
        """The fault for the next request of `group`, or None."""
        if group not in self.groups:
            return None
        if self.script:
            kind = self.script.pop(0)
            return None if kind == "ok" else kind
        if self.p <= 0.0:
            return None
        if self._rng.random() < self.p:
            return self._rng.choice(self.kinds)
        return None


def _names(value: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(n for n in value.split("+") if n)
    for name in names:
        if name not in allowed:
            raise ValueError(f"unknown {what} {name!r} (one of {', '.join(allowed)})")
    return names
