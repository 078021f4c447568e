from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.live import EVENTS, Hub, sse_frame


@given(
    event=st.sampled_from(EVENTS),
    payload=st.dictionaries(st.text(), st.text()),
    event_id=st.integers(0, 10**9),
)
def test_a_frame_parses_back_to_its_event_id_and_json(
    event: str, payload: dict[str, str], event_id: int
) -> None:
    frame = sse_frame(event, json.dumps(payload), event_id).decode()
    assert frame.endswith("\n\n") and "\n\n" not in frame[:-2]
    fields: dict[str, list[str]] = {}
    for line in frame[:-2].split("\n"):
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    assert fields["event"] == [event] and fields["id"] == [str(event_id)]
    assert json.loads("\n".join(fields["data"])) == payload


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="nope"):
        sse_frame("nope", "{}")


async def test_a_client_that_falls_behind_is_cut_off_not_the_others() -> None:
    hub = Hub(queue_size=3, keepalive_s=60)
    slow, fast = hub.stream(first=b"hi"), hub.stream(first=b"hi")
    assert await anext(slow) == b"hi" and await anext(fast) == b"hi"
    assert hub.clients == 2
    for i in range(5):
        hub.publish("heartbeat", json.dumps({"n": i}))
        assert json.dumps({"n": i}) in (await anext(fast)).decode()
    assert [frame async for frame in slow] == []  # queue dropped, stream ended
    assert hub.clients == 1
    hub.close()
    assert [frame async for frame in fast] == []
    assert hub.clients == 0


async def test_a_quiet_stream_sends_keepalives() -> None:
    hub = Hub(keepalive_s=0.01)
    stream = hub.stream()
    assert (await anext(stream)).startswith(b":")
    await stream.aclose()
    assert hub.clients == 0
