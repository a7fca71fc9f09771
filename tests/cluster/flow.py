"""Users moving the wallet's dollars while a test breaks the cluster: liability changes posted
to a running pegkeeper's API from a thread, each with its own id, the balance never below 0."""

from __future__ import annotations

import random
import threading
import time

import httpx

OPENING_CENTS = 2_000_000  # 20 000 USD: 200 contracts of 100 USD


class LiabilityFlow:
    def __init__(self, url: str, seed: int, interval_seconds: float = 0.25) -> None:
        self._url = url
        self._random = random.Random(seed)
        self._interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.recorded: dict[str, int] = {}  # event id -> delta, as the API confirmed them
        self.balance_cents = 0
        self.failures: list[str] = []

    def start(self) -> None:
        self._post("flow-open", OPENING_CENTS)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        count = 0
        while not self._stop.wait(self._interval_seconds):
            count += 1
            # up to 8 % of the balance either way: the hedge leaves its band every few changes
            step = self._random.randint(1, max(1, self.balance_cents * 8 // 100))
            delta = step if self._random.random() < 0.5 else -step
            if self.balance_cents + delta < OPENING_CENTS // 4:
                delta = step
            elif self.balance_cents + delta > OPENING_CENTS * 2:
                delta = -step  # within what the simulated account's collateral can hedge
            self._post(f"flow-{count}", delta)

    def _post(self, event_id: str, delta_cents: int) -> None:
        body = {"id": event_id, "delta_cents": delta_cents, "memo": "flow"}
        for _ in range(50):  # the same id again is safe: recorded once
            try:
                answer = httpx.post(self._url + "/api/v1/liability/events", json=body, timeout=10)
            except httpx.HTTPError as error:
                self.failures.append(f"{event_id}: {error}")
                time.sleep(0.2)
                continue
            if answer.status_code in (200, 201):
                self.recorded[event_id] = delta_cents
                self.balance_cents += delta_cents
                return
            self.failures.append(f"{event_id}: {answer.status_code} {answer.text}")
            time.sleep(0.2)
