"""Every fault mode shows up the way the SDK sees it, counted exactly by the emulator."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import (
    DecodeError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpResponse

from akv_emulator import Emulator, FaultError

from .conftest import AsyncClientFactory, ClientFactory


@pytest.fixture(autouse=True)
def _seeded(emulator: Emulator) -> None:
    emulator.set_secret("kv1", "a", "value-a")
    emulator.set_secret("kv1", "b", "value-b")


def test_fixed_latency_delays_answers(emulator: Emulator, make_client: ClientFactory) -> None:
    """A fixed latency delays every secret request by at least that long."""
    client = make_client()
    client.get_secret("a")
    emulator.inject("kv1", latency=0.3)
    started = time.monotonic()
    assert client.get_secret("a").value == "value-a"
    assert 0.3 <= time.monotonic() - started < 0.3 + 1.0


def test_latency_range_for_one_secret(emulator: Emulator, make_client: ClientFactory) -> None:
    """A (lo, hi) latency on one secret delays it within range and leaves others alone."""
    client = make_client()
    client.get_secret("a")
    emulator.inject("kv1", secret="A", latency=(2.0, 2.1))
    started = time.monotonic()
    client.get_secret("a")
    assert 2.0 <= time.monotonic() - started < 2.1 + 1.0
    started = time.monotonic()
    client.get_secret("b")
    assert time.monotonic() - started < 1.0  # undelayed, with a machine-noise margin


def test_throttle_is_retried_after_retry_after(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """429 with Retry-After: 1 makes the SDK's default policy wait >= 1 s, then succeed."""
    client = make_client()
    client.get_secret("a")  # the challenge and token round trips happen here
    emulator.inject("kv1", throttle=(1, 1.0), retry_after=1)
    emulator.reset_counters()
    client.get_secret("a")
    started = time.monotonic()
    assert client.get_secret("a").value == "value-a"
    assert 1.0 <= time.monotonic() - started < 1.0 + 1.5
    assert emulator.calls(op="get", status=200) == 2
    assert emulator.calls(op="get", status=429) == 1


def test_a_zero_retry_after_is_still_sent(emulator: Emulator, make_client: ClientFactory) -> None:
    """retry_after=0 is a value, not "unset": the 429 carries Retry-After: 0."""
    client = make_client(retry_total=0)
    client.get_secret("a")
    emulator.inject("kv1", throttle=(0, 60.0), retry_after=0)
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 429
    response = caught.value.response
    assert isinstance(response, HttpResponse)
    assert response.headers["Retry-After"] == "0"


def test_throttle_exhausts_the_sdk_retries(emulator: Emulator, make_client: ClientFactory) -> None:
    """Throttling every request: the SDK tries 1 + 3 times, then raises 429 Throttled."""
    client = make_client(retry_backoff_factor=0.01)
    client.get_secret("a")
    emulator.inject("kv1", throttle=(0, 60.0))
    emulator.reset_counters()
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 429
    assert emulator.calls(op="get", status=429) == 4


def test_hang_hits_the_read_timeout(emulator: Emulator, make_client: ClientFactory) -> None:
    """A hung vault never answers: the client's read timeout fires; clearing makes it work."""
    client = make_client(retry_total=0, read_timeout=0.5)
    client.get_secret("a")
    emulator.inject("kv1", hang=True)
    started = time.monotonic()
    with pytest.raises(ServiceResponseError):
        client.get_secret("a")
    assert 0.5 <= time.monotonic() - started < 0.5 + 1.0
    emulator.clear_faults("kv1")
    assert client.get_secret("a").value == "value-a"


def test_refused_outage_closes_and_reopens_the_port(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """outage='refuse' makes connections fail (ServiceRequestError); clearing reopens the port."""
    client = make_client(retry_total=0)
    client.get_secret("a")
    url = emulator.vault_url("kv1")
    emulator.inject("kv1", outage="refuse")
    with pytest.raises(ServiceRequestError):
        client.get_secret("a")
    emulator.clear_faults()
    assert emulator.vault_url("kv1") == url
    assert client.get_secret("a").value == "value-a"


def test_refuse_cannot_target_one_secret(emulator: Emulator) -> None:
    """A refused outage is a whole-port fault; asking it for one secret is a FaultError."""
    with pytest.raises(FaultError, match="refuse"):
        emulator.inject("kv1", secret="a", outage="refuse")


def test_503_outage_is_retried_then_raised(emulator: Emulator, make_client: ClientFactory) -> None:
    """outage='503' answers ServiceUnavailable; the SDK retries 3 times and raises 503."""
    client = make_client(retry_backoff_factor=0.01)
    client.get_secret("a")
    emulator.inject("kv1", outage="503")
    emulator.reset_counters()
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 503
    assert caught.value.error is not None
    assert caught.value.error.code == "ServiceUnavailable"
    assert emulator.calls(op="get", status=503) == 4


def test_error_rate_fails_a_fraction(emulator: Emulator, make_client: ClientFactory) -> None:
    """error_rate=0.5 answers roughly half the requests 500; counters match what the SDK saw."""
    client = make_client(retry_total=0)
    client.get_secret("a")
    emulator.inject("kv1", error_rate=0.5)
    emulator.reset_counters()
    statuses: list[int | None] = []
    for _ in range(40):
        try:
            client.get_secret("a")
            statuses.append(200)
        except HttpResponseError as error:
            statuses.append(error.status_code)
    failures = statuses.count(500)
    assert statuses.count(200) + failures == 40
    assert 5 <= failures <= 35
    assert emulator.calls(op="get", status=500) == failures
    assert emulator.calls(op="get", status=200) == 40 - failures


def test_per_secret_failure(emulator: Emulator, make_client: ClientFactory) -> None:
    """A status/code for one secret fails only that secret."""
    client = make_client(retry_total=0)
    emulator.inject("kv1", secret="a", status=403, code="AccessDenied")
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 403
    assert caught.value.error is not None
    assert caught.value.error.code == "AccessDenied"
    assert client.get_secret("b").value == "value-b"


def test_malformed_json_body(emulator: Emulator, make_client: ClientFactory) -> None:
    """malformed=True answers 200 with a body that is not JSON; the SDK fails to decode it."""
    client = make_client(retry_total=0)
    client.get_secret("a")
    emulator.inject("kv1", malformed=True)
    with pytest.raises(DecodeError):
        client.get_secret("a")
    assert emulator.calls(op="get", status=200) == 2


def test_clear_faults_restores_service(emulator: Emulator, make_client: ClientFactory) -> None:
    """After clear_faults the vault answers normally again."""
    client = make_client(retry_total=0)
    emulator.inject("kv1", status=500)
    with pytest.raises(HttpResponseError):
        client.get_secret("a")
    emulator.clear_faults()
    assert client.get_secret("a").value == "value-a"


async def test_async_client_sees_latency_and_503(
    emulator: Emulator, make_async_client: AsyncClientFactory
) -> None:
    """The async client sees injected latency and a 503 outage the same way."""
    client = make_async_client(retry_total=0)
    await client.get_secret("a")
    emulator.inject("kv1", latency=0.2)
    started = time.monotonic()
    await client.get_secret("a")
    assert 0.2 <= time.monotonic() - started < 0.2 + 1.0
    emulator.inject("kv1", outage="503")
    with pytest.raises(HttpResponseError) as caught:
        await client.get_secret("a")
    assert caught.value.status_code == 503
