"""Microsoft Entra ID authentication against the emulator's built-in token authority, through the
unmodified azure-identity credentials and the azure-communication-identity and -sms clients.

Apps change nothing but configuration: the emulator's HTTPS URL is the authority (MSAL appends the
tenant) with instance discovery disabled, or, for managed identity, two environment variables
(IDENTITY_ENDPOINT, IDENTITY_HEADER) point azure-identity at the emulator's App Service style
endpoint. Bearer tokens only travel over HTTPS (azure-core refuses http).
"""

from __future__ import annotations

import pytest

from acs_emulator import Emulator

TENANT = "acacacac-0000-4000-8000-00000000000a"
CLIENT_ID = "acacacac-0000-4000-8000-00000000000c"
CLIENT_SECRET = "acs-emulator-client-secret"
IDENTITY_HEADER = "acs-emulator-identity-header"
USER_PREFIX = "8:acs:acacacac-0000-4000-8000-000000000001_"

# Variables that would make DefaultAzureCredential pick another credential first.
_AZURE_ENV = [
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
]


def authority(emulator: Emulator) -> str:
    return emulator.https_endpoint.rstrip("/")


@pytest.fixture
def clean_azure_env(monkeypatch):
    for name in _AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def managed_identity_env(clean_azure_env, emulator: Emulator):
    clean_azure_env.setenv("IDENTITY_ENDPOINT", emulator.http_endpoint.rstrip("/") + "/msi/token")
    clean_azure_env.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    return clean_azure_env


def _check_identity_operations(client) -> None:
    user, token = client.create_user_and_token(scopes=["chat"])
    assert user.properties["id"].startswith(USER_PREFIX)
    assert token.token.count(".") == 2
    again = client.get_token(user, scopes=["voip"])
    assert again.token != token.token
    client.revoke_tokens(user)
    client.delete_user(user)


def test_client_secret_credential_with_the_emulator_as_authority(emulator, clean_azure_env):
    from azure.communication.identity import CommunicationIdentityClient
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        TENANT, CLIENT_ID, CLIENT_SECRET, authority=authority(emulator), disable_instance_discovery=True
    )
    _check_identity_operations(CommunicationIdentityClient(emulator.https_endpoint, credential))


@pytest.mark.asyncio
async def test_async_client_secret_credential_with_the_emulator_as_authority(emulator, clean_azure_env):
    from azure.communication.identity.aio import CommunicationIdentityClient
    from azure.identity.aio import ClientSecretCredential

    async with ClientSecretCredential(
        TENANT, CLIENT_ID, CLIENT_SECRET, authority=authority(emulator), disable_instance_discovery=True
    ) as credential:
        async with CommunicationIdentityClient(emulator.https_endpoint, credential) as client:
            user, token = await client.create_user_and_token(scopes=["chat"])
            assert user.properties["id"].startswith(USER_PREFIX)
            await client.delete_user(user)


def test_default_azure_credential_with_environment_variables(emulator, clean_azure_env):
    from azure.communication.identity import CommunicationIdentityClient
    from azure.identity import DefaultAzureCredential

    clean_azure_env.setenv("AZURE_TENANT_ID", TENANT)
    clean_azure_env.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    clean_azure_env.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    clean_azure_env.setenv("AZURE_AUTHORITY_HOST", authority(emulator))
    credential = DefaultAzureCredential(disable_instance_discovery=True)
    _check_identity_operations(CommunicationIdentityClient(emulator.https_endpoint, credential))


def test_default_azure_credential_with_the_managed_identity_endpoint(emulator, managed_identity_env):
    from azure.communication.identity import CommunicationIdentityClient
    from azure.identity import DefaultAzureCredential

    _check_identity_operations(CommunicationIdentityClient(emulator.https_endpoint, DefaultAzureCredential()))


@pytest.mark.asyncio
async def test_async_managed_identity_credential(emulator, managed_identity_env):
    from azure.communication.identity.aio import CommunicationIdentityClient
    from azure.identity.aio import ManagedIdentityCredential

    async with ManagedIdentityCredential() as credential:
        async with CommunicationIdentityClient(emulator.https_endpoint, credential) as client:
            user = await client.create_user()
            assert user.properties["id"].startswith(USER_PREFIX)


def test_a_wrong_client_secret_fails_in_the_credential(emulator, clean_azure_env):
    from azure.communication.identity import CommunicationIdentityClient
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        TENANT, CLIENT_ID, "wrong", authority=authority(emulator), disable_instance_discovery=True
    )
    with pytest.raises(ClientAuthenticationError) as err:
        CommunicationIdentityClient(emulator.https_endpoint, credential).create_user()
    assert "AADSTS7000215" in str(err.value)


def test_a_wrong_identity_header_fails_in_the_credential(emulator, managed_identity_env):
    from azure.communication.identity import CommunicationIdentityClient
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ManagedIdentityCredential

    managed_identity_env.setenv("IDENTITY_HEADER", "wrong")
    with pytest.raises(ClientAuthenticationError):
        CommunicationIdentityClient(emulator.https_endpoint, ManagedIdentityCredential()).create_user()


def _check_sms(client, emulator: Emulator) -> None:
    results = client.send(from_="+18005550100", to=["+14255550123", "+14255550124"], message="hello via Entra ID")
    assert [r.successful for r in results] == [True, True]
    assert all(r.message_id for r in results)
    sent = {m["to"] for m in emulator.sent_sms()}
    assert sent == {"+14255550123", "+14255550124"}


def test_sms_with_a_client_secret_credential(emulator, clean_azure_env):
    from azure.communication.sms import SmsClient
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        TENANT, CLIENT_ID, CLIENT_SECRET, authority=authority(emulator), disable_instance_discovery=True
    )
    _check_sms(SmsClient(emulator.https_endpoint, credential), emulator)


def test_sms_with_default_azure_credential_and_managed_identity(emulator, managed_identity_env):
    from azure.communication.sms import SmsClient
    from azure.identity import DefaultAzureCredential

    _check_sms(SmsClient(emulator.https_endpoint, DefaultAzureCredential()), emulator)


@pytest.mark.asyncio
async def test_async_sms_with_managed_identity(emulator, managed_identity_env):
    from azure.communication.sms.aio import SmsClient
    from azure.identity.aio import ManagedIdentityCredential

    async with ManagedIdentityCredential() as credential:
        async with SmsClient(emulator.https_endpoint, credential) as client:
            results = await client.send(from_="+18005550100", to="+14255550125", message="aio via Entra ID")
            assert results[0].successful
