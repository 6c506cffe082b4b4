"""Lake fixtures: the same tests run on a local folder and on S3 (moto's server on loopback)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from hk_core.lake import Lake

# Dummies: botocore must find credentials in the environment, never in ~/.aws or on IMDS.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a loopback port for the session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_PROFILE", raising=False)
        for key, value in AWS_ENV.items():
            env.setenv(key, value)
        # Port 0: the server binds a free port itself, and we read back which.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        _, port = server.get_host_and_port()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def make_bucket(endpoint_url: str) -> str:
    import boto3

    bucket = f"hk-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path) -> Lake:
    """An empty lake: a tmp_path folder, or a fresh bucket on moto (``s3://<bucket>/lake``)."""
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    endpoint_url = request.getfixturevalue("moto_s3")
    return Lake(f"s3://{make_bucket(endpoint_url)}/lake", s3_endpoint_url=endpoint_url)
