"""Prometheus remote write 1.0, encoded by hand.

The protobuf messages (prometheus/prompb/remote.proto and types.proto) are small enough to
encode without generated code:

    message WriteRequest { repeated TimeSeries timeseries = 1; ... }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; ... }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }

The body is snappy *block* compressed (not the framed format) and POSTed with the headers
the remote write 1.0 specification requires.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import cramjam
import requests

MAX_SAMPLES_PER_REQUEST = 5000
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "weft-promql-diff/1.0",
}

# Protobuf wire types.
_VARINT = 0
_I64 = 1
_LEN = 2


@dataclass
class Series:
    """One time series: its labels (including __name__) and its samples as (timestamp ms, value)."""

    labels: dict[str, str]
    samples: list[tuple[int, float]] = field(default_factory=list)

    def sorted_labels(self) -> list[tuple[str, str]]:
        """Labels sorted by name, as remote write requires."""
        return sorted(self.labels.items())


# ---------------------------------------------------------------------------------------------
# Protobuf encoding
# ---------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    """Unsigned LEB128; negative int64 values are encoded as their 64-bit two's complement."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field_number: int, wire_type: int) -> bytes:
    return _varint((field_number << 3) | wire_type)


def _len_field(field_number: int, payload: bytes) -> bytes:
    return _key(field_number, _LEN) + _varint(len(payload)) + payload


def encode_label(name: str, value: str) -> bytes:
    """Label{name=1, value=2}. Empty strings are omitted (proto3 default), as Go does."""
    out = b""
    if name:
        out += _len_field(1, name.encode("utf-8"))
    if value:
        out += _len_field(2, value.encode("utf-8"))
    return out


def encode_sample(timestamp_ms: int, value: float) -> bytes:
    """Sample{value=1 (double), timestamp=2 (int64)}. Both fields are always written."""
    return _key(1, _I64) + struct.pack("<d", value) + _key(2, _VARINT) + _varint(int(timestamp_ms))


def encode_timeseries(labels: Sequence[tuple[str, str]], samples: Iterable[tuple[int, float]]) -> bytes:
    """TimeSeries{labels=1, samples=2}; `labels` must already be sorted by name."""
    out = bytearray()
    for name, value in labels:
        out += _len_field(1, encode_label(name, value))
    for ts, value in samples:
        out += _len_field(2, encode_sample(ts, value))
    return bytes(out)


def encode_write_request(series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]]) -> bytes:
    """WriteRequest{timeseries=1} from (sorted labels, samples) pairs."""
    out = bytearray()
    for labels, samples in series:
        out += _len_field(1, encode_timeseries(labels, samples))
    return bytes(out)


def snappy_block(data: bytes) -> bytes:
    """Snappy block format (what remote write uses), not the framing format."""
    return bytes(cramjam.snappy.compress_raw(data))


# ---------------------------------------------------------------------------------------------
# Batching and sending
# ---------------------------------------------------------------------------------------------


def batches(series: Sequence[Series], max_samples: int = MAX_SAMPLES_PER_REQUEST) -> Iterator[list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]]:
    """Split all samples into requests of at most `max_samples` samples, in time order.

    Samples are emitted in global timestamp order (all series' samples at or before time t
    go before any sample after t), the way a Prometheus sending its WAL would: receivers that
    only accept in-order samples per series, or that bound how far back a sample may be
    relative to the newest one, accept everything.
    """
    events: list[tuple[int, int, float]] = []
    for idx, s in enumerate(series):
        for ts, value in s.samples:
            events.append((ts, idx, value))
    events.sort(key=lambda e: (e[0], e[1]))
    sorted_labels = [s.sorted_labels() for s in series]
    for start in range(0, len(events), max_samples):
        chunk = events[start:start + max_samples]
        per_series: dict[int, list[tuple[int, float]]] = {}
        for ts, idx, value in chunk:
            per_series.setdefault(idx, []).append((ts, value))
        yield [(sorted_labels[idx], samples) for idx, samples in per_series.items()]


class RemoteWriteError(AssertionError):
    """A remote write request was not answered with 2xx."""


def send(session: requests.Session, write_url: str, series: Sequence[Series],
         max_samples: int = MAX_SAMPLES_PER_REQUEST, timeout: float = 30.0) -> int:
    """POST all samples of `series` to `write_url`; returns the number of requests sent.

    Raises RemoteWriteError with the response body on any non-2xx answer.
    """
    n = 0
    for batch in batches(series, max_samples):
        body = snappy_block(encode_write_request(batch))
        r = session.post(write_url, data=body, headers=HEADERS, timeout=timeout)
        n += 1
        if not 200 <= r.status_code < 300:
            raise RemoteWriteError(
                f"remote write #{n} to {write_url} answered {r.status_code}: {r.text[:2000]}"
            )
    return n
