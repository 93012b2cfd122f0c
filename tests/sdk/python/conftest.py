"""pytest wiring: one real acs-emulator process for the whole session.

Why the emulator starts in ``pytest_sessionstart`` and not lazily inside the fixture:
the SDKs are used unmodified, so they must trust the emulator's self-signed certificate
through the environment, exactly as an application would:

* sync clients (requests) read ``REQUESTS_CA_BUNDLE`` on every request;
* aio clients (aiohttp) use a default SSL context that aiohttp builds **once, when
  ``aiohttp.connector`` is imported**, from ``SSL_CERT_FILE``.

Test modules import the SDKs at collection time, so the bundle's path has to be in
``os.environ`` before collection starts. ``pytest_sessionstart`` runs before collection.

Both variables point at the emulator's CA bundle (its certificate plus the machine's trusted
roots), as the README tells users to. The machine may export REQUESTS_CA_BUNDLE / SSL_CERT_FILE
pointing at the system bundle; they are replaced for the duration of the session and restored
afterwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from acs_emulator import Emulator, EmulatorStartError

# Environment overridden while the session runs (restored in pytest_sessionfinish).
_saved_env: dict[str, str | None] = {}
_emulator: Emulator | None = None


def _set_env(name: str, value: str) -> None:
    _saved_env.setdefault(name, os.environ.get(name))
    os.environ[name] = value


def pytest_sessionstart(session: pytest.Session) -> None:
    global _emulator
    if "aiohttp.connector" in sys.modules:
        pytest.exit(
            "aiohttp was imported before the emulator started, so its default SSL context cannot "
            "trust the emulator certificate via SSL_CERT_FILE. Do not import aiohttp in plugins/conftests.",
            returncode=pytest.ExitCode.INTERNAL_ERROR,
        )
    timeout = float(os.environ.get("ACS_EMULATOR_START_TIMEOUT", "20"))
    try:
        _emulator = Emulator(start_timeout=timeout).start()
    except EmulatorStartError as err:
        pytest.exit(str(err), returncode=pytest.ExitCode.INTERNAL_ERROR)

    _set_env("REQUESTS_CA_BUNDLE", _emulator.bundle_path)  # requests (sync clients)
    _set_env("SSL_CERT_FILE", _emulator.bundle_path)  # OpenSSL default paths (aiohttp, aio clients)
    # Never send loopback traffic through a proxy the machine may configure.
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    _set_env("NO_PROXY", no_proxy)
    _set_env("no_proxy", no_proxy)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _emulator
    if _emulator is not None:
        _emulator.stop()
        _emulator = None
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()


def pytest_report_header(config: pytest.Config) -> str | None:
    if _emulator is None:
        return None
    return f"acs-emulator: {_emulator.binary} at {_emulator.https_endpoint} and {_emulator.http_endpoint}"


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    """The session's emulator: https_endpoint, http_endpoint, connection_string, access_key,
    cert_path, bundle_path."""
    assert _emulator is not None, "the emulator is started in pytest_sessionstart"
    return _emulator


@pytest.fixture(autouse=True)
def _fresh_emulator_state(emulator: Emulator):
    """Every test starts from an empty emulator (POST /_emulator/reset over plain HTTP)."""
    if not emulator.is_running():
        pytest.fail("acs-emulator is no longer running.\n" + emulator.output_tail())
    emulator.reset()
    yield
    if not emulator.is_running():
        pytest.fail("acs-emulator died during the test.\n" + emulator.output_tail())


# --------------------------------------------------------------------------- Identity clients
# Each client fixture is parametrized over the two ways an application reaches the emulator:
#   * "https-connection-string": XClient.from_connection_string(<connection string from the banner>),
#     TLS trusted through REQUESTS_CA_BUNDLE / SSL_CERT_FILE;
#   * "http-key-credential": XClient("http://127.0.0.1:<port>", AzureKeyCredential(key)) on the
#     plain-HTTP listener (the Python connection-string parser always forces https).
# The SDKs are imported inside the fixtures on purpose: conftest.py is imported before
# pytest_sessionstart, and nothing may pull in aiohttp before SSL_CERT_FILE is set.
TRANSPORTS = ["https-connection-string", "http-key-credential"]


def _identity_client(cls, emulator: Emulator, transport: str):
    from azure.core.credentials import AzureKeyCredential

    if transport == "https-connection-string":
        client = cls.from_connection_string(emulator.connection_string)
        assert client._endpoint.startswith("https://")  # noqa: SLF001 - guard: this case must use TLS
        return client
    return cls(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))


@pytest.fixture(params=TRANSPORTS)
def identity_client(request, emulator: Emulator):
    """A sync ``azure.communication.identity.CommunicationIdentityClient`` bound to the emulator."""
    from azure.communication.identity import CommunicationIdentityClient

    # The sync client of azure-communication-identity 1.5.0 has no close()/context manager.
    return _identity_client(CommunicationIdentityClient, emulator, request.param)


@pytest_asyncio.fixture(params=TRANSPORTS)
async def async_identity_client(request, emulator: Emulator):
    """An ``azure.communication.identity.aio.CommunicationIdentityClient`` (aiohttp) bound to the emulator."""
    from azure.communication.identity.aio import CommunicationIdentityClient

    async with _identity_client(CommunicationIdentityClient, emulator, request.param) as client:
        yield client


# --------------------------------------------------------------------------- SMS clients
# The same two transports as Identity. The emulator owns +18005550100 (its default --phone-number).
def _sms_client(cls, emulator: Emulator, transport: str):
    from azure.core.credentials import AzureKeyCredential

    if transport == "https-connection-string":
        client = cls.from_connection_string(emulator.connection_string)
        assert client._endpoint.startswith("https://")  # noqa: SLF001 - guard: this case must use TLS
        return client
    return cls(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))


@pytest.fixture(params=TRANSPORTS)
def sms_client(request, emulator: Emulator):
    """A sync ``azure.communication.sms.SmsClient`` bound to the emulator."""
    from azure.communication.sms import SmsClient

    return _sms_client(SmsClient, emulator, request.param)


@pytest_asyncio.fixture(params=TRANSPORTS)
async def async_sms_client(request, emulator: Emulator):
    """An ``azure.communication.sms.aio.SmsClient`` (aiohttp) bound to the emulator."""
    from azure.communication.sms.aio import SmsClient

    async with _sms_client(SmsClient, emulator, request.param) as client:
        yield client


# --------------------------------------------------------------------------- Email clients
# The same two transports as Identity. The emulator's default sender is on its Azure-managed
# domain, DoNotReply@<resource id>.azurecomm.net (printed in its ready block).
def _email_client(cls, emulator: Emulator, transport: str):
    from azure.core.credentials import AzureKeyCredential

    if transport == "https-connection-string":
        client = cls.from_connection_string(emulator.connection_string)
        assert client._config.endpoint.startswith("https://")  # noqa: SLF001 - guard: this case must use TLS
        return client
    return cls(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))


@pytest.fixture(params=TRANSPORTS)
def email_client(request, emulator: Emulator):
    """A sync ``azure.communication.email.EmailClient`` bound to the emulator."""
    from azure.communication.email import EmailClient

    return _email_client(EmailClient, emulator, request.param)


@pytest_asyncio.fixture(params=TRANSPORTS)
async def async_email_client(request, emulator: Emulator):
    """An ``azure.communication.email.aio.EmailClient`` (aiohttp) bound to the emulator."""
    from azure.communication.email.aio import EmailClient

    async with _email_client(EmailClient, emulator, request.param) as client:
        yield client


# --------------------------------------------------------------------------- Phone Numbers clients
# The same two transports as Identity; SIP routing is a client of the same package.
def _pn_client(cls, emulator: Emulator, transport: str):
    from azure.core.credentials import AzureKeyCredential

    if transport == "https-connection-string":
        return cls.from_connection_string(emulator.connection_string)
    return cls(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))


@pytest.fixture(params=TRANSPORTS)
def phone_numbers_client(request, emulator: Emulator):
    """A sync ``azure.communication.phonenumbers.PhoneNumbersClient`` bound to the emulator."""
    from azure.communication.phonenumbers import PhoneNumbersClient

    return _pn_client(PhoneNumbersClient, emulator, request.param)


@pytest.fixture(params=TRANSPORTS)
def sip_routing_client(request, emulator: Emulator):
    """A sync ``azure.communication.phonenumbers.siprouting.SipRoutingClient`` bound to the emulator."""
    from azure.communication.phonenumbers.siprouting import SipRoutingClient

    return _pn_client(SipRoutingClient, emulator, request.param)


# --------------------------------------------------------------------------- dedicated emulators
# Fixture files and scenario rules change an emulator for its whole life: a reset brings fixture
# data back and keeps the rules (only their counters and states go back to the start), and rule
# names are unique per process. Tests of fixtures and scenarios therefore get an emulator of
# their own (it starts in milliseconds) instead of the shared session one.
FIXTURES_DIR = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture
def start_emulator(monkeypatch):
    """A factory: ``start_emulator("--fixtures", path, ...)`` starts a dedicated emulator with
    these extra flags, stopped when the test ends.

    Sync clients (requests) read ``REQUESTS_CA_BUNDLE`` on every request, so the test's
    environment is pointed at the newest dedicated emulator's certificate: use sync clients (or
    plain HTTP) with these emulators; aio clients trust only the session emulator.
    """
    started: list[Emulator] = []
    timeout = float(os.environ.get("ACS_EMULATOR_START_TIMEOUT", "20"))

    def start(*extra_args: str) -> Emulator:
        emulator = Emulator(extra_args=tuple(str(a) for a in extra_args), start_timeout=timeout).start()
        started.append(emulator)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.bundle_path)
        return emulator

    yield start
    for emulator in started:
        alive = emulator.is_running()
        tail = emulator.output_tail()
        emulator.stop()
        if not alive:
            pytest.fail("a dedicated acs-emulator died during the test.\n" + tail)
