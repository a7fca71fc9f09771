"""A recorded stablecoin market played back as live best-bid/offer messages: the demo's view of
the March 2023 USDC depeg (Binance.US BTC/USD, BTC/USDC and BTC/USDT, 1-minute closes)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pegkeeper.domain.events import BboUpdated, bbo_topic, encode_event
from pegkeeper.ports import Bus, Clock

EXCHANGE = "binanceus"
MARKETS = (("BTC", "USD", "btcusd"), ("BTC", "USDC", "btcusdc"), ("BTC", "USDT", "btcusdt"))
BUNDLED = "binanceus-btc-usd-usdc-usdt-2023-03-08_15-1m.csv"


@dataclass(frozen=True, slots=True)
class MarketMinute:
    ts_ms: int
    closes: dict[str, str]  # column prefix -> close price text
    volumes: dict[str, str]


def bundled_depeg_path() -> Path:
    return Path(str(resources.files("pegkeeper.sim") / "data" / BUNDLED))


def load_market_minutes(path: Path) -> list[MarketMinute]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        minutes = []
        for number, row in enumerate(reader, start=2):
            try:
                minutes.append(
                    MarketMinute(
                        ts_ms=int(row["open_time_ms"]),
                        closes={p: row[f"{p}_close"] for _, _, p in MARKETS},
                        volumes={p: row[f"{p}_volume"] for _, _, p in MARKETS},
                    )
                )
            except (KeyError, ValueError) as error:
                raise ValueError(
                    f"{path}:{number}: expected open_time_ms and "
                    f"<market>_close/<market>_volume columns: {error}"
                ) from None
    return minutes


def bbo_messages(minute: MarketMinute, receive_ms: int) -> Iterator[tuple[str, BboUpdated]]:
    """A 1-minute close is the only price in the data, so it stands for both bid and ask."""
    for base, quote, prefix in MARKETS:
        price = minute.closes[prefix]
        yield (
            bbo_topic(EXCHANGE, base, quote),
            BboUpdated(
                exchange=EXCHANGE,
                base=base,
                quote=quote,
                bid=price,
                ask=price,
                ts_ms=minute.ts_ms,
                receive_ms=receive_ms,
                bid_size=minute.volumes[prefix],
                ask_size=minute.volumes[prefix],
            ),
        )


class MarketReplay:
    """Publishes one recorded minute every `interval_seconds` of the clock, looping forever;
    the first round starts `start_minute` minutes in."""

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        minutes: list[MarketMinute],
        interval_seconds: float,
        start_minute: int = 0,
    ) -> None:
        if not minutes:
            raise ValueError("the recorded market has no rows")
        if not 0 <= start_minute < len(minutes):
            raise ValueError(
                f"the replay cannot start at minute {start_minute}: the recording has "
                f"{len(minutes)} minutes"
            )
        self._start_minute = start_minute
        self._bus = bus
        self._clock = clock
        self._minutes = minutes
        self._interval_seconds = interval_seconds
        self.published = 0

    async def run(self) -> None:
        span_ms = self._minutes[-1].ts_ms - self._minutes[0].ts_ms + 60_000
        rounds = 0
        while True:
            for minute in self._minutes[self._start_minute if rounds == 0 else 0 :]:
                shifted = MarketMinute(
                    minute.ts_ms + rounds * span_ms, minute.closes, minute.volumes
                )
                for topic, message in bbo_messages(shifted, self._clock.now_ms()):
                    await self._bus.publish(topic, encode_event(message))
                self.published += 1
                await self._clock.sleep(self._interval_seconds)
            rounds += 1
