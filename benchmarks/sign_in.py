"""What a password sign-in costs, and what the back-off and lockout cost a guesser.

On a real gallery file with the default settings (backoff_seconds 1, lockout_after 5,
lockout_minutes 30) and Argon2id at argon2-cffi's default parameters, as FaceDesk uses:

- the baseline, measured in the same run: one Argon2id verification alone, which is all
  a sign-in cost before the back-off (a first attempt never waits);
- a successful sign-in;
- a refused sign-in (wrong password, unknown user, locked user: the same Argon2 work);
- an attempt inside the back-off (refused without checking the password);
- a guesser's best rate: the wall-clock time to make `lockout_after` checked guesses
  (waiting out each back-off), after which the user is locked.

Medians of --repeat runs. Usage: .venv/bin/python benchmarks/sign_in.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from machine import cpu_model

from facedesk.app import accounts
from facedesk.errors import AccountError
from facedesk.store import Gallery

PASSWORD = "kettle-Orbit-9731"


def _timed(fn: object) -> float:
    start = time.perf_counter()
    with contextlib.suppress(AccountError):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        g = Gallery.open(Path(tmp) / "g.db", create=True)
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password=PASSWORD)
        admin.add_user("ann", "Ann Analyst", "analyst", password="velvet-Harbor-4402")
        s = accounts.settings(g)
        ok, wrong, unknown, backoff, base = [], [], [], [], []
        stored = g.conn.execute("SELECT password_hash FROM users WHERE id = 'admin'"
                                ).fetchone()[0]
        for _ in range(args.repeat):
            base.append(_timed(lambda: accounts._HASHER.verify(stored, PASSWORD)))
            ok.append(_timed(lambda: accounts.sign_in(g, "admin", PASSWORD)))
            unknown.append(_timed(lambda: accounts.sign_in(g, "nobody", "guess-1234")))
            wrong.append(_timed(lambda: accounts.sign_in(g, "ann", "guess-1234")))
            backoff.append(_timed(lambda: accounts.sign_in(g, "ann", "guess-1234")))
            admin.unlock_user("ann")
        # a guesser: lockout_after checked guesses, each after waiting out the back-off
        t = time.time()
        waited = 0.0
        start = time.perf_counter()
        for i in range(s.lockout_after):
            state = accounts.failure_state(g, "ann")
            blocked = state.blocked(s, t)
            if blocked is not None:
                waited += blocked[1]
                t += blocked[1] + 0.001
            _timed(lambda t=t, i=i: accounts.sign_in(g, "ann", f"guess-{i}", now=t))
        work = time.perf_counter() - start
        locked = "ann" in accounts.locked_users(g, now=t)
        g.close()

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):7.1f} ms"

    print(f"sign-in timing on {cpu_model()} ({args.repeat} runs each, medians)")
    print(f"  baseline: Argon2id verification alone  {med(base)}")
    print(f"  successful sign-in                     {med(ok)}")
    print(f"  refused: wrong password                {med(wrong)}")
    print(f"  refused: unknown user                  {med(unknown)}")
    print(f"  refused inside the back-off (no check) {med(backoff)}")
    print(f"defaults: backoff_seconds {s.backoff_seconds:g}, lockout_after {s.lockout_after}, "
          f"lockout_minutes {s.lockout_minutes}")
    print(f"  a guesser's {s.lockout_after} checked guesses take {waited + work:.1f} s "
          f"({waited:.1f} s of back-off), then the user is "
          f"{'locked' if locked else 'NOT locked'} for {s.lockout_minutes} minutes: "
          f"at most {s.lockout_after} guesses per {s.lockout_minutes} minutes "
          f"(~{s.lockout_after * 60 * 24 // (s.lockout_minutes or 1)} a day) per user")


if __name__ == "__main__":
    main()
